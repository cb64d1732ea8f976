"""Donated updates: a parameter's new value is written straight into its buffer when nothing needs the old
value afterwards, and never when something does."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.passes.inplace import _is_copy


def _update_copies(fn):
    return [k for k in fn.program.kernels if k.writes.role in ("param", "state") and _is_copy(k)]


@pytest.mark.parametrize("make", [lambda p: gc.optim.SGD(p, lr=0.1, momentum=0.9), lambda p: gc.optim.Adam(p, lr=0.1)])
def test_sgd_and_adam_updates_need_no_copy(make):
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 2), np.float32))
    b = gc.param("b", np.zeros(2, np.float32))
    loss = gc.mean(gc.square(x @ w + b))
    fn = gc.compile(loss, updates=dict(make([w, b]).updates(loss)))
    fn(x=np.ones((4, 3), np.float32))
    weights = [k for k in _update_copies(fn) if k.writes.var in (w.variable, b.variable)]
    assert not weights


def test_an_old_value_still_read_later_is_never_overwritten_early():
    x = gc.input("x", (None, 2))
    a = gc.param("a", np.array([1.0, 2.0], np.float32))
    b = gc.param("b", np.array([10.0, 20.0], np.float32))
    new_a = a * 2.0
    out = gc.sum(x * a)       # reads a's old value
    fns = [gc.compile([out, a * 1.0], updates={a: new_a, b: b + a}, optimize=o) for o in (0, 2)]
    results = []
    for fn in fns:
        a.value[...] = [1.0, 2.0]
        b.value[...] = [10.0, 20.0]
        got = fn(x=np.ones((3, 2), np.float32))
        results.append((got, a.value.copy(), b.value.copy()))
    (g0, a0, b0), (g2, a2, b2) = results
    for u, v in zip(g0, g2):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a0, a2)
    np.testing.assert_array_equal(b2, [11.0, 22.0])  # b read a before a was updated
    np.testing.assert_array_equal(g2[1], [1.0, 2.0])  # the output is the value at the call's start
