"""The NumPy backend's own promise: the generated module is readable, vectorised NumPy source."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc


def test_generated_source_is_readable_vectorised_numpy(tmp_path):
    x = gc.input("x", (None, 4))
    with gc.scope("dense"):
        w = gc.param("w", np.ones((4, 2), np.float32))
        h = gc.relu(x @ w, name="h")
    f = gc.compile(h, backend="numpy")
    f(x=np.ones((3, 4), np.float32))
    src = f.source
    assert "np.matmul(" in src and "dense/h" in src and "np.maximum(" in src
    assert not re.search(r"^\s*(for|while) ", src, re.M)  # no Python loop over elements
    path = tmp_path / "module.py"
    path.write_text(src)
    compile(src, str(path), "exec")


def test_the_spelling_table_covers_every_scalar_operation():
    from graphc.backends.numpy.spelling import SPELLINGS
    from graphc.scalar_ops import OPS

    leaves = {"arg", "axis", "const"}
    assert set(OPS) - leaves == set(SPELLINGS)


def test_a_training_step_allocates_nothing_after_its_first_call_but_its_outputs():
    import tracemalloc

    x, y = gc.input("x", (None, 64)), gc.input("y", (None,), gc.int64)
    model = gc.nn.Sequential(gc.nn.Linear(64, 128), gc.nn.Tanh(), gc.nn.Linear(128, 10))
    loss = gc.losses.cross_entropy(model(x), y)
    step = gc.compile(loss, updates=dict(gc.optim.Adam(model.parameters(), lr=1e-3).updates(loss)), backend="numpy")
    rng = np.random.default_rng(0)
    feeds = dict(x=rng.normal(size=(256, 64)).astype(np.float32), y=rng.integers(0, 10, 256))
    step(**feeds)  # the first call binds the module: its views and scratch arrays
    spec = step.backend.last
    assert spec.arena.nbytes > 256 * 1024 and spec.fn.workspace_bytes > 0
    tracemalloc.start()
    try:
        step(**feeds)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # NumPy's ufunc iterator may buffer 8192 elements of a broadcast operand at a time: a few such buffers, no array
    assert peak < 96 * 1024, peak
    assert current < 4 * 1024, current


def test_a_call_ignores_floating_point_warnings_inside_and_leaves_the_error_state_as_it_was():
    import warnings

    x = gc.input("x", (3,))
    idx = gc.input("i", (2,), gc.int64)
    f = gc.compile([gc.exp(x) / x, gc.take(x, idx)], backend="numpy")
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or 0/0 warning would fail the call
        out, _ = f(x=np.array([1000.0, 0.0, 1.0], np.float32), i=np.array([0, 1]))
    assert np.isinf(out[0]) and np.isinf(out[1])
    assert np.geterr() == before
    with pytest.raises(gc.IndexRangeError):  # a call stopped by a check restores the state too
        f(x=np.ones(3, np.float32), i=np.array([0, 7]))
    assert np.geterr() == before


def test_an_inference_call_reads_the_callers_arrays_in_place_and_a_training_step_stages_them():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.arange(6, dtype=np.float32).reshape(3, 2))
    y = gc.tanh(x @ w).T * 2.0
    infer = gc.compile(y, backend="numpy")
    data = np.random.default_rng(3).normal(size=(6, 3)).astype(np.float32)
    expected = np.tanh(data @ w.value).T * 2.0
    for given in (data, np.asfortranarray(data), data[::-1][::-1], np.repeat(data, 2, axis=0)[::2]):
        np.testing.assert_allclose(infer(x=given), expected, rtol=1e-6)
    assert infer.backend.last.in_place_inputs
    # a step that updates w, fed w's own storage as its input, computes from the values the call began with
    square = gc.input("m", (3, 2))
    loss = gc.sum(square * w)
    step = gc.compile([loss, square * 1.0], updates={w: w * 0.5}, backend="numpy")
    start = w.value.copy()
    got, echoed = step(m=w.value)
    assert not step.backend.last.in_place_inputs
    np.testing.assert_allclose(got, np.sum(start * start), rtol=1e-6)
    np.testing.assert_array_equal(echoed, start)
