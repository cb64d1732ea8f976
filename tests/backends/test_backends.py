"""Every code-generating backend against the reference interpreter: every op of the registry sweep (forward
and gradients), random graphs, training steps with in-place updates, caching, debug mode. A backend joins by
registering itself (tests/support.py finds it)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.tensor import Tensor

from tests.ops.test_ops_reference import CASES
from tests.support import CODEGEN_BACKENDS

# float32 results may differ in the last bits (NumPy picks other loops for strided views); float64 is tight
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6), np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12),
       np.dtype(np.float16): dict(rtol=2e-3, atol=1e-3)}  # float16: one ulp, where float32 results differ by a few


def _assert_same(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, **TOL[want.dtype])


def _float_inputs(outs):
    return [Tensor.of(n) for n in gc.graph(outs).inputs if n.dtype.kind == "f"]


@pytest.mark.parametrize("op, build, tol", [pytest.param(*c.values, id=c.id, marks=c.marks) for c in CASES])
@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_backend_matches_reference_on_the_registry_sweep(op, build, tol, backend):
    out, feeds = build()[:2]
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    want = gc.compile(outs, backend="reference")(**feeds)
    got = gc.compile(outs, backend=backend)(**feeds)
    for g, w in zip(got, want):
        _assert_same(g, w)
    # gradients of a random projection of the float outputs, w.r.t. every float input
    float_outs = [o for o in outs if o.dtype.kind == "f"]
    wrt = _float_inputs(float_outs)
    if not float_outs or not wrt or op.startswith("random"):
        return
    rng = np.random.default_rng(0)
    values = [w for o, w in zip(outs, want) if o.dtype.kind == "f"]
    projections = [gc.input(f"proj{i}", o.shape, o.dtype) for i, o in enumerate(float_outs)]
    feeds = dict(feeds, **{f"proj{i}": rng.standard_normal(v.shape).astype(v.dtype) for i, v in enumerate(values)})
    loss = sum(gc.sum(o * p) for o, p in zip(float_outs, projections))
    grads = gc.grad(loss, wrt)
    all_inputs = [Tensor.of(n) for n in gc.graph(outs + projections).inputs]  # gradients' shapes may need them
    want_g = gc.compile(grads, backend="reference", inputs=all_inputs)(**feeds)
    got_g = gc.compile(grads, backend=backend, inputs=all_inputs)(**feeds)
    for g, w in zip(got_g, want_g):
        np.testing.assert_allclose(g, w, **(TOL[w.dtype] if w.dtype == np.float16 else dict(rtol=1e-4, atol=1e-5)))


UNARY = [gc.tanh, gc.sigmoid, gc.relu, gc.exp, gc.softplus, gc.gelu, gc.square, gc.neg, gc.abs, gc.sin]
BINARY = [gc.add, gc.sub, gc.mul, gc.maximum, gc.minimum]


@st.composite
def random_graphs(draw):
    """A random chain of elementwise, broadcasting, movement and reduction ops on two inputs."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = gc.input("x", (None, cols))
    y = gc.input("y", (1, cols))
    t = x
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "transpose2", "reduce", "reshape"]))
        if kind == "unary":
            t = draw(st.sampled_from(UNARY))(t)
        elif kind == "binary":
            t = draw(st.sampled_from(BINARY))(t, y if t.shape[-1:] == y.shape[-1:] and t.ndim == 2 else 0.5)
        elif kind == "transpose2" and t.ndim == 2:
            t = gc.transpose(gc.transpose(t) * 1.5)
        elif kind == "reduce" and t.ndim == 2:
            t = gc.sum(t, axis=draw(st.sampled_from([0, 1])), keepdims=True) + t
        elif kind == "reshape" and t.ndim == 2:
            t = gc.reshape(gc.reshape(t, (-1,)), (-1, cols)) if t.shape[-1] == cols else t
    return t, rows, cols


def random_graph_case(graph, seed):
    """(outputs: the value, a loss and its gradients; feeds for the inputs they read) of a random graph."""
    t, rows, cols = graph
    rng = np.random.default_rng(seed)
    feeds = dict(x=rng.uniform(-2, 2, (rows, cols)).astype(np.float32), y=rng.uniform(-2, 2, (1, cols)).astype(np.float32))
    loss = gc.sum(t * t)
    outs = [t, loss] + gc.grad(loss, _float_inputs([t]))
    return outs, {k: v for k, v in feeds.items() if k in {n.attrs["name"] for n in gc.graph(outs).inputs}}


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
@settings(max_examples=40, deadline=None)
@given(random_graphs(), st.integers(0, 2 ** 16))
def test_random_graphs_agree(backend, graph, seed):
    outs, feeds = random_graph_case(graph, seed)
    got, want = gc.compile(outs, backend=backend)(**feeds), gc.compile(outs, backend="reference")(**feeds)
    # float32: a transcendental within an ulp or two of NumPy's (the LLVM backend's own) shifts a gradient whose
    # terms cancel by a few ulps of the terms, so the absolute tolerance follows the largest value in play
    scale = max(float(np.max(np.abs(w))) for w in want if w.size)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * max(1.0, scale))


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_logistic_regression_training_matches_hand_computed_steps(backend):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(32, 3)).astype(np.float32)
    Y = (rng.random((32, 1)) < 0.5).astype(np.float32)
    x, y = gc.input("x", (None, 3)), gc.input("y", (None, 1))
    w0, b0 = rng.normal(size=(3, 1)).astype(np.float32), np.zeros(1, np.float32)
    w, b = gc.param("w", w0), gc.param("b", b0)
    p = gc.sigmoid(x @ w + b)
    loss = gc.mean(-(y * gc.log(p) + (1 - y) * gc.log(1 - p)))
    gw, gb = gc.grad(loss, [w, b])
    lr = 0.3
    step = gc.compile(loss, updates={w: w - lr * gw, b: b - lr * gb}, backend=backend)
    hw, hb = w0.astype(np.float64), b0.astype(np.float64)
    for _ in range(25):
        step(x=X, y=Y)
        q = 1 / (1 + np.exp(-(X @ hw + hb)))
        hw, hb = hw - lr * X.T @ (q - Y) / len(X), hb - lr * np.mean(q - Y, axis=0)  # BCE-with-sigmoid gradient
    np.testing.assert_allclose(w.value, hw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.value, hb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_updates_are_simultaneous_and_in_place(backend):
    a = gc.param("a", np.array([1.0, 2.0], np.float32))
    b = gc.param("b", np.array([10.0, 20.0], np.float32))
    storage = a.value
    swap = gc.compile([], updates={a: b, b: a + 1}, backend=backend)
    swap()
    np.testing.assert_array_equal(a.value, [10.0, 20.0])
    np.testing.assert_array_equal(b.value, [2.0, 3.0])  # read a before a was overwritten
    assert a.value is storage  # the parameter's array object is updated in place


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_second_call_with_same_shapes_reuses_the_program(backend):
    x = gc.input("x", (None, 4))
    w = gc.param("w", np.ones((4, 2), np.float32))
    f = gc.compile(gc.tanh(x @ w), backend=backend)
    f(x=np.ones((3, 4), np.float32))
    f(x=np.zeros((3, 4), np.float32))
    assert f.backend.lowerings == 1
    f(x=np.ones((5, 4), np.float32))  # a new batch size is a new specialisation
    assert f.backend.lowerings == 2
    f(x=np.ones((3, 4), np.float32))
    assert f.backend.lowerings == 2


def _mlp_and_cnn():
    rng = np.random.default_rng(3)
    x = gc.input("img", (None, 1, 8, 8))
    labels = gc.input("labels", (None,), gc.int64)
    k = gc.param("k", rng.normal(size=(4, 1, 3, 3)).astype(np.float32) * 0.3)
    kb = gc.param("kb", np.zeros(4, np.float32))
    h = gc.max_pool2d(gc.relu(gc.conv2d(x, k, kb, padding=1)), 2)
    w = gc.param("w", rng.normal(size=(64, 10)).astype(np.float32) * 0.1)
    logits = gc.reshape(h, (-1, 64)) @ w
    loss = -gc.mean(gc.sum(gc.one_hot(labels, 10) * gc.log_softmax(logits), axis=1))
    feeds = dict(img=rng.normal(size=(5, 1, 8, 8)).astype(np.float32), labels=rng.integers(0, 10, 5))
    return loss, [k, kb, w], feeds


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_cnn_training_step_matches_reference(backend):
    loss, params, feeds = _mlp_and_cnn()
    grads = gc.grad(loss, params)
    start = [p.value.copy() for p in params]
    results = {}
    for name in ("reference", backend):
        for p, s in zip(params, start):
            p.value = s
        step = gc.compile(loss, updates={p: p - 0.1 * g for p, g in zip(params, grads)}, backend=name)
        losses = [float(step(**feeds)) for _ in range(3)]
        results[name] = (losses, [p.value.copy() for p in params])
    np.testing.assert_allclose(results[backend][0], results["reference"][0], rtol=1e-5)
    for a, b in zip(results[backend][1], results["reference"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert results[backend][0][2] < results[backend][0][0]  # it learns


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_debug_mode_names_the_first_non_finite_kernel(backend):
    x = gc.input("x", (3,))
    y = gc.log(x, name="bad_log") * 2.0
    f = gc.compile(y, backend=backend, debug=True)
    with pytest.raises(gc.errors.NonFiniteError, match="bad_log"):
        f(x=np.array([1.0, -1.0, 2.0], np.float32))


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_matmul_of_mixed_float_dtypes_promotes_like_the_reference(backend):
    a = gc.input("a", (None, 3), gc.float64)
    w = gc.param("w_mixed", np.arange(6, dtype=np.float32).reshape(3, 2))
    b = gc.input("b", (2, 3), gc.float32)
    outs = [a @ w, w.T @ gc.cast(a, gc.float64).T, b @ a.T]
    feeds = dict(a=np.linspace(-1, 1, 12).reshape(4, 3), b=np.ones((2, 3), np.float32))
    for g, want in zip(gc.compile(outs, backend=backend)(**feeds), gc.compile(outs, backend="reference")(**feeds)):
        assert g.dtype == want.dtype == np.float64
        np.testing.assert_allclose(g, want, rtol=1e-12)


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_slices_of_a_reshaped_transpose_and_signed_zero_ties(backend):
    x = gc.input("x", (3, 4, 5))
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    y = gc.reshape(gc.transpose(x, (1, 0, 2)), (12, 5))
    outs = [y[1:], y[::-3, 1:4], gc.reshape(gc.transpose(x[:, ::-2, 1:]), (4, 6))[::-1, 1::2]]
    for g, w in zip(gc.compile(outs, backend=backend)(x=data), gc.compile(outs, backend="reference")(x=data)):
        np.testing.assert_array_equal(g, w)
    a, b = gc.input("a", (2,)), gc.input("b", (2,))
    f = gc.compile([1.0 / gc.maximum(a, b), 1.0 / gc.minimum(a, b)], backend=backend)
    hi, lo = f(a=np.array([-0.0, 0.0], np.float32), b=np.array([0.0, -0.0], np.float32))
    np.testing.assert_array_equal(hi, [np.inf, -np.inf])  # NumPy keeps the second operand on a tie
    np.testing.assert_array_equal(lo, [np.inf, -np.inf])


@pytest.mark.parametrize("backend", ["reference"] + CODEGEN_BACKENDS)
def test_an_integer_to_a_negative_runtime_power_is_refused_by_every_backend(backend):
    x, y = gc.input("x", (4,), gc.int64), gc.input("y", (4,), gc.int64)
    f = gc.compile(gc.pow(x, y), backend=backend)
    np.testing.assert_array_equal(f(x=np.array([2, 3, -1, 0]), y=np.array([3, 0, 3, 2])), [8, 1, -1, 0])
    with pytest.raises(gc.IndexRangeError, match="integer exponents"):
        f(x=np.array([2, 1, -1, 0]), y=np.array([-1, -2, -3, 2]))


@pytest.mark.parametrize("backend", ["reference"] + CODEGEN_BACKENDS)
def test_debug_mode_accepts_the_minus_infinity_a_max_pool_pads_with(backend):
    x = gc.input("x", (1, 3, 6))
    f = gc.compile(gc.max_pool1d(x, 3, 1, padding=1), backend=backend, debug=True)
    np.testing.assert_array_equal(f(x=np.ones((1, 3, 6), np.float32)), np.ones((1, 3, 6), np.float32))
    g = gc.compile(gc.log(x - 1.0), backend=backend, debug=True)
    with pytest.raises(gc.errors.NonFiniteError):  # an infinity the data makes is still caught
        g(x=np.ones((1, 3, 6), np.float32))
