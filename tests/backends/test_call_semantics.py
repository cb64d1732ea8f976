"""The semantics of a call, on every backend: outputs from the parameters as they were when the call started,
updates visible when it returns, arrays that belong to the caller, and threads that each get their own answers."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import graphc as gc
from tests.support import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_hold_the_values_from_before_the_updates(backend):
    x = gc.input("x", (3,))
    p = gc.param("p", np.zeros(3, np.float32))
    f = gc.compile([p, x * 2], updates={p: p + x}, backend=backend)
    before, doubled = f(x=np.ones(3, np.float32))
    np.testing.assert_array_equal(before, [0, 0, 0])
    np.testing.assert_array_equal(doubled, [2, 2, 2])
    np.testing.assert_array_equal(p.value, [1, 1, 1])
    before, _ = f(x=np.ones(3, np.float32))
    np.testing.assert_array_equal(before, [1, 1, 1])
    before[...] = 99  # the caller owns what it gets
    np.testing.assert_array_equal(p.value, [2, 2, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls_get_their_own_answers(backend):
    x = gc.input("x", (None, 4))
    w = gc.param("w", np.arange(8, dtype=np.float32).reshape(4, 2))
    f = gc.compile(gc.tanh(x @ w) * 3.0, backend=backend)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((64, 4)).astype(np.float32) for _ in range(16)]
    want = [np.tanh(b @ w.value) * 3.0 for b in batches]
    got = [None] * 16
    barrier = threading.Barrier(16)

    def work(i):
        barrier.wait()
        for _ in range(20):
            got[i] = f(x=batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-5, atol=1e-6)
