"""Symbolic reverse-mode differentiation (`gc.grad`, `gc.vjp`): semantics, conventions, pruning,
numerically stable forms, the stated derivatives of the built-in elementwise ops (proved with
sympy), user-defined elementwise ops, and whole models (MLP, small CNN) against finite differences.

Expected values are computed independently here (NumPy closed forms, hand derivations).
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc import scalar, scalar_ops
from graphc.ops import REGISTRY as OPS  # the op objects themselves (gc.REGISTRY's entries take tensors)
from graphc.ops.elementwise import Elementwise


def rand(shape, seed=0, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def ev(t, **feeds):
    """Evaluate t (or a list), feeding only the inputs its graph has."""
    names = {n.attrs["name"] for n in gc.graph(t).inputs}
    return gc.evaluate(t, **{k: v for k, v in feeds.items() if k in names})


def ops_of(t) -> Counter:
    return Counter(n.op.name for n in gc.graph(t))


# ==========================================================================================
# fan-out, broadcasting, intermediates
# ==========================================================================================
def test_fan_out_contributions_are_summed():
    x = gc.input("x", (5,), "float64")
    y = gc.sum(x * x + gc.sin(x) + x * 3.0)
    xv = rand(5, 1)
    np.testing.assert_allclose(ev(gc.grad(y, x), x=xv), 2 * xv + np.cos(xv) + 3.0, rtol=1e-13)


def test_fan_out_of_an_intermediate():
    x = gc.input("x", (4,), "float64")
    h = gc.tanh(x)
    y = gc.sum(h * h + h)                                  # dy/dh = 2h + 1 from two consumers
    xv = rand(4, 2)
    t = np.tanh(xv)
    np.testing.assert_allclose(ev(gc.grad(y, x), x=xv), (2 * t + 1) * (1 - t * t), rtol=1e-13)
    # the tanh node is evaluated once: the gradient graph reuses it
    assert ops_of(gc.grad(y, x))["tanh"] == 1


def test_broadcasting_gradients_are_reduced_to_the_operand_shape():
    a = gc.input("a", (3, 1), "float64")
    b = gc.input("b", (4,), "float64")
    s = gc.input("s", (), "float64")
    w = rand((2, 3, 4), 3)
    y = gc.sum((a * b + s) * w)
    ga, gb, gs = gc.grad(y, [a, b, s])
    assert (ga.shape, gb.shape, gs.shape) == ((3, 1), (4,), ())
    av, bv = rand((3, 1), 4), rand(4, 5)
    got = ev([ga, gb, gs], a=av, b=bv, s=np.float64(0.5))
    np.testing.assert_allclose(got[0], (w * bv).sum(axis=(0, 2))[:, None], rtol=1e-13)
    np.testing.assert_allclose(got[1], (w * av).sum(axis=(0, 1)), rtol=1e-13)
    np.testing.assert_allclose(got[2], w.sum(), rtol=1e-13)


def test_broadcast_over_a_symbolic_batch():
    x = gc.input("x", (None, 3), "float64")
    bias = gc.input("bias", (3,), "float64")
    y = gc.sum(gc.square(x + bias))
    g = gc.grad(y, bias)
    assert g.shape == (3,)
    f = gc.compile(g)
    for n in (1, 4):
        xv = rand((n, 3), n)
        bv = rand(3, 9)
        np.testing.assert_allclose(gc.evaluate(g, x=xv, bias=bv), 2 * (xv + bv).sum(0), rtol=1e-13)
        np.testing.assert_allclose(f(x=xv, bias=bv), 2 * (xv + bv).sum(0), rtol=1e-13)
    # size-1 dims broadcast against the symbolic batch are summed over it
    b1 = gc.input("b1", (1, 3), "float64")
    s1 = gc.input("s1", (None, 1), "float64")
    gb, gs = gc.grad(gc.sum(gc.sin(x * b1 + s1)), [b1, s1])
    xv, bv, sv = rand((4, 3), 31), rand((1, 3), 32), rand((4, 1), 33)
    c = np.cos(xv * bv + sv)
    got = gc.evaluate([gb, gs], x=xv, b1=bv, s1=sv)
    np.testing.assert_allclose(got[0], (c * xv).sum(0, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(got[1], c.sum(1, keepdims=True), rtol=1e-13)
    # the gradient w.r.t. the batch input itself has the symbolic shape
    gx = gc.grad(y, x)
    assert len(gx.shape) == 2 and gx.shape[1] == 3 and not isinstance(gx.shape[0], int)


def test_gradient_with_respect_to_an_intermediate_tensor():
    x = gc.input("x", (2, 3), "float64")
    w = gc.input("w", (3, 4), "float64")
    h = x @ w
    y = gc.sum(gc.tanh(h) * rand((2, 4), 6))
    gh, gx, gw = gc.grad(y, [h, x, w])
    xv, wv = rand((2, 3), 7), rand((3, 4), 8)
    c = rand((2, 4), 6)
    dh = c * (1 - np.tanh(xv @ wv) ** 2)
    got = ev([gh, gx, gw], x=xv, w=wv)
    np.testing.assert_allclose(got[0], dh, rtol=1e-13)
    np.testing.assert_allclose(got[1], dh @ wv.T, rtol=1e-13)
    np.testing.assert_allclose(got[2], xv.T @ dh, rtol=1e-13)
    # the gradient w.r.t. the output itself is the seed
    assert ev(gc.grad(y, y)) == 1.0


def test_same_wrt_twice_and_gradients_live_in_the_same_graph():
    x = gc.input("x", (3,), "float64")
    h = gc.exp(x)
    y = gc.sum(h * x)
    g1, g2 = gc.grad(y, [x, x])
    assert g1.node is g2.node
    # the gradient graph contains the forward nodes themselves (same Node objects)
    nodes = set(gc.graph(g1).nodes)
    assert h.node in nodes and x.node in nodes
    xv = rand(3, 10)
    np.testing.assert_allclose(ev(g1, x=xv), np.exp(xv) * (1 + xv), rtol=1e-13)


def test_gradient_dtype_is_the_dtype_of_the_differentiated_tensor():
    x = gc.input("x", (4, 3), "float64")
    w = gc.param("w_mixed", rand((3, 2), 11).astype(np.float32))
    y = gc.sum(gc.tanh(x @ w))                              # float64 graph with a float32 parameter
    gw, gx = gc.grad(y, [w, x])
    assert gw.dtype == np.float32 and gx.dtype == np.float64
    xv = rand((4, 3), 12)
    expect = xv.T @ (1 - np.tanh(xv @ w.value.astype(np.float64)) ** 2)
    got = ev(gw, x=xv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expect, rtol=1e-6)


# ==========================================================================================
# integers, booleans, stop_gradient, disconnected
# ==========================================================================================
def test_no_gradient_with_respect_to_int_or_bool_values():
    i = gc.input("i", (3,), "int64")
    b = gc.input("b", (3,), "bool")
    x = gc.input("x", (3,), "float64")
    y = gc.sum(x * i + gc.where(b, x, 0.0))
    with pytest.raises(gc.DifferentiationError, match="int64"):
        gc.grad(y, i)
    with pytest.raises(gc.DifferentiationError, match="bool"):
        gc.grad(y, b)
    iv, bv = np.array([1, -2, 3]), np.array([True, False, True])
    np.testing.assert_array_equal(ev(gc.grad(y, x), i=iv, b=bv, x=np.zeros(3)), iv + bv)
    with pytest.raises(gc.DifferentiationError, match="not float"):
        gc.grad(gc.sum(i), x)


def test_argmax_and_integer_paths_contribute_nothing():
    x = gc.input("x", (4,), "float64")
    k = gc.cast(gc.argmax(x), "float64")                     # depends on x, but piecewise constant
    r = gc.cast(gc.cast(x * 10.0, "int64"), "float64")       # an integer round trip
    y = gc.sum(x * 2.0) + k * 5.0 + gc.sum(r)
    xv = np.array([0.3, 1.7, -0.2, 0.9])
    np.testing.assert_array_equal(ev(gc.grad(y, x), x=xv), [2.0, 2.0, 2.0, 2.0])
    with pytest.raises(gc.DifferentiationError, match="does not depend"):
        gc.grad(k * 5.0 + gc.sum(r), x, disconnected="raise")


def test_stop_gradient():
    x = gc.input("x", (3,), "float64")
    s = gc.stop_gradient(x * x)
    y = gc.sum(s * x)                                        # d/dx = s (the x*x path is stopped)
    xv = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(ev(gc.grad(y, x), x=xv), xv * xv)
    np.testing.assert_allclose(ev(gc.grad(y, s), x=xv), xv)  # s itself can still be differentiated
    with pytest.raises(gc.DifferentiationError):
        gc.grad(gc.sum(s), x, disconnected="raise")


def test_disconnected_gives_zeros_or_raises():
    a = gc.input("a", (2,), "float64")
    b = gc.input("b", (3, 2), "float32")
    y = gc.sum(a * a)
    ga, gb = gc.grad(y, [a, b])
    assert gb.shape == (3, 2) and gb.dtype == np.float32
    got = ev([ga, gb], a=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(got[0], [2.0, 4.0])
    np.testing.assert_array_equal(got[1], np.zeros((3, 2)))
    with pytest.raises(gc.DifferentiationError, match="'b'"):
        gc.grad(y, [a, b], disconnected="raise")
    with pytest.raises(ValueError):
        gc.grad(y, a, disconnected="ignore")


# ==========================================================================================
# vjp and the scalar requirement of grad
# ==========================================================================================
def test_vjp_with_explicit_cotangent():
    x = gc.input("x", (3, 2), "float64")
    y = x * x                                                 # non-scalar output
    c = rand((3, 2), 13)
    g = gc.vjp(y, x, c)
    xv = rand((3, 2), 14)
    np.testing.assert_allclose(ev(g, x=xv), 2 * xv * c, rtol=1e-13)
    # several outputs: the products add up; a cotangent may be a tensor (an input)
    ct = gc.input("ct", (2,), "float64")
    z = gc.sum(gc.sin(x), 0)
    g1, = gc.vjp([y, z], [x], [c, ct])
    ctv = rand(2, 15)
    np.testing.assert_allclose(ev(g1, x=xv, ct=ctv), 2 * xv * c + np.cos(xv) * ctv, rtol=1e-13)


def test_vjp_rejects_a_wrongly_shaped_or_missing_cotangent():
    x = gc.input("x", (3, 2), "float64")
    y = x * 2.0
    with pytest.raises(gc.DifferentiationError, match=r"\(2, 3\)"):
        gc.vjp(y, x, np.ones((2, 3)))                         # same size, transposed shape
    with pytest.raises(gc.DifferentiationError):
        gc.vjp(y, x, np.ones((6,)))
    with pytest.raises(gc.DifferentiationError, match="2 outputs but 1 cotangents"):
        gc.vjp([y, y], x, [np.ones((3, 2))])


def test_grad_of_a_non_scalar_output_raises_a_clear_error():
    x = gc.input("x", (3,), "float64")
    with pytest.raises(gc.DifferentiationError, match="scalar") as e:
        gc.grad(x * 2.0, x)
    assert "vjp" in str(e.value) and "(3,)" in str(e.value)
    # a size-1 output is accepted as a scalar
    np.testing.assert_array_equal(ev(gc.grad(gc.sum(x, keepdims=True), x), x=np.ones(3)), [1.0, 1.0, 1.0])


# ==========================================================================================
# conventions at non-differentiable points, routing ops
# ==========================================================================================
def test_relu_derivative_at_zero_is_zero():
    x = gc.input("x", (5,), "float64")
    g = gc.grad(gc.sum(gc.relu(x)), x)
    np.testing.assert_array_equal(ev(g, x=np.array([-1.0, 0.0, 2.0, -0.0, 1e-300])), [0, 0, 1, 0, 1])


def test_derivatives_at_zero_follow_the_documented_conventions():
    # leaky_relu and elu take the x <= 0 branch at 0; |x|' = sign(x) = 0 at 0; step' = sign' = 0
    x = gc.input("x", (3,), "float64")
    xv = np.array([0.0, 1.0, -1.0])
    for f, expect in [(lambda t: gc.leaky_relu(t, alpha=0.2), [0.2, 1.0, 0.2]),
                      (lambda t: gc.elu(t, alpha=1.7), [1.7, 1.0, 1.7 * np.exp(-1.0)]),
                      (gc.abs, [0.0, 1.0, -1.0]), (gc.step, [0.0, 0.0, 0.0]), (gc.sign, [0.0, 0.0, 0.0])]:
        np.testing.assert_allclose(ev(gc.grad(gc.sum(f(x)), x), x=xv), expect, rtol=1e-14)


def test_max_ties_split_evenly():
    x = gc.input("x", (2, 4), "float64")
    g = gc.grad(gc.sum(gc.max(x, 1) * np.array([1.0, 6.0])), x)
    xv = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, -1.0]])
    np.testing.assert_allclose(ev(g, x=xv), [[0, 0.5, 0.5, 0], [2, 2, 2, 0]])
    a = gc.input("a", (3,), "float64")
    b = gc.input("b", (3,), "float64")
    ga, gb = gc.grad(gc.sum(gc.maximum(a, b)), [a, b])
    got = ev([ga, gb], a=np.array([1.0, 2.0, 3.0]), b=np.array([1.0, 5.0, 0.0]))
    np.testing.assert_allclose(got, [[0.5, 0, 1], [0.5, 1, 0]])
    gm = gc.grad(gc.sum(gc.min(a)), a)
    np.testing.assert_allclose(ev(gm, a=np.array([2.0, 2.0, 2.0])), [1 / 3] * 3)


def test_max_pool_routes_the_gradient_to_the_argmax():
    # course worked example 2: [[1,2,3,1],[1,1,1,1],[2,3,1,6],[8,1,4,5]] -> [[2,3],[8,6]]
    x = gc.input("x", (1, 1, 4, 4), "float64")
    xv = np.array([[1, 2, 3, 1], [1, 1, 1, 1], [2, 3, 1, 6], [8, 1, 4, 5]], np.float64).reshape(1, 1, 4, 4)
    y = gc.max_pool2d(x, 2)
    np.testing.assert_array_equal(ev(y, x=xv).reshape(2, 2), [[2, 3], [8, 6]])
    g = gc.grad(gc.sum(y * np.array([[1.0, 10.0], [100.0, 1000.0]])), x)
    expect = np.zeros((4, 4))
    expect[0, 1], expect[0, 2], expect[3, 0], expect[2, 3] = 1, 10, 100, 1000
    np.testing.assert_array_equal(ev(g, x=xv).reshape(4, 4), expect)
    # a tied window shares it; average pooling spreads it evenly
    g_tie = gc.grad(gc.sum(gc.max_pool2d(x, 2)), x)
    np.testing.assert_allclose(ev(g_tie, x=np.ones((1, 1, 4, 4))), np.full((1, 1, 4, 4), 0.25))
    g_avg = gc.grad(gc.sum(gc.avg_pool2d(x, 2)), x)
    np.testing.assert_allclose(ev(g_avg, x=xv), np.full((1, 1, 4, 4), 0.25))


def test_convolution_kernel_gradient_sums_over_positions():
    # weight sharing: d sum(conv1d(x, w)) / d w[o, c, k] = sum over positions of the window entries
    x = gc.input("x", (2, 3, 9), "float64")
    w = gc.input("w", (4, 3, 3), "float64")
    gx, gw = gc.grad(gc.sum(gc.conv1d(x, w, stride=2, dilation=2)), [x, w])
    xv, wv = rand((2, 3, 9), 16), rand((4, 3, 3), 17)
    outs = (9 - 2 * 2 - 1) // 2 + 1
    expect_w = np.zeros((4, 3, 3))
    expect_x = np.zeros((2, 3, 9))
    for k in range(3):
        for p in range(outs):
            expect_w[:, :, k] += xv[:, :, 2 * p + 2 * k].sum(0)
            expect_x[:, :, 2 * p + 2 * k] += wv[:, :, k].sum(0)
    got = ev([gx, gw], x=xv, w=wv)
    np.testing.assert_allclose(got[0], expect_x, rtol=1e-13)
    np.testing.assert_allclose(got[1], expect_w, rtol=1e-13)


def test_take_and_slicing_scatter_add():
    x = gc.input("x", (4,), "float64")
    g = gc.grad(gc.sum(gc.take(x, np.array([0, 0, 2, -1, 3]))), x)
    np.testing.assert_array_equal(ev(g, x=np.zeros(4)), [2, 0, 1, 2])
    m = gc.input("m", (3, 4), "float64")
    gs = gc.grad(gc.sum(m[::2, 1:3]) + gc.sum(m[1] * 5.0), m)
    expect = np.zeros((3, 4))
    expect[::2, 1:3] = 1
    expect[1] += 5
    np.testing.assert_array_equal(ev(gs, m=np.zeros((3, 4))), expect)
    gh = gc.grad(gc.sum(gc.one_hot(np.array([1, 1, 3]), 4, dtype="float64") * m), m)
    np.testing.assert_array_equal(ev(gh, m=np.zeros((3, 4))), np.eye(4)[[1, 1, 3]])


def test_prod_gradient_is_exact_with_zeros():
    x = gc.input("x", (3, 3), "float64")
    g = gc.grad(gc.sum(gc.prod(x, 1)), x)
    xv = np.array([[2.0, 3.0, 4.0], [2.0, 0.0, 5.0], [0.0, 7.0, 0.0]])
    np.testing.assert_array_equal(ev(g, x=xv), [[12, 8, 6], [0, 10, 0], [0, 0, 0]])


def test_random_ops_pass_no_gradient_through_the_sample_and_dropout_passes_the_mask():
    x = gc.input("x", (200,), "float64")
    v = rand(200, 18)
    z = gc.normal((200,), seed=4, dtype="float64")
    g = gc.grad(gc.sum(z * x * v), x)
    np.testing.assert_allclose(ev(g, x=np.zeros(200)), ev(z) * v, rtol=1e-13)
    p = 0.3
    d = gc.dropout(x, p, seed=9)
    gd = gc.grad(gc.sum(d * v), x)
    out, grad = ev([d, gd], x=np.ones(200))
    mask = out != 0
    assert 0 < mask.sum() < 200
    np.testing.assert_allclose(out[mask], 1 / (1 - p))
    np.testing.assert_allclose(grad, mask * v / (1 - p), rtol=1e-13)
    # not training: the identity
    np.testing.assert_array_equal(ev(gc.grad(gc.sum(gc.dropout(x, p, training=False) * v), x), x=np.ones(200)), v)


# ==========================================================================================
# pruning: the backward graph contains only what the requested gradients need
# ==========================================================================================
def _mlp(act=gc.tanh, seed=0, dtype="float64", batch=5, labels=(0, 2, 1, 1, 0)):
    r = np.random.default_rng(seed)
    p = dict(W1=gc.param("W1", r.standard_normal((3, 4)), dtype=dtype), b1=gc.param("b1", r.standard_normal(4) * 0.1, dtype=dtype),
             W2=gc.param("W2", r.standard_normal((4, 3)), dtype=dtype), b2=gc.param("b2", r.standard_normal(3) * 0.1, dtype=dtype))
    x = gc.input("x", (batch, 3), "float64")
    h = act(x @ p["W1"] + p["b1"])
    logits = h @ p["W2"] + p["b2"]
    loss = -gc.mean(gc.sum(gc.log_softmax(logits) * gc.one_hot(np.array(labels), 3, dtype="float64"), 1))
    return x, p, h, loss


FORWARD_ONLY = ("tanh", "exp", "log", "max", "stop_gradient", "neg", "mean", "iota", "eq")


def test_backward_graph_reuses_forward_values():
    x, p, h, loss = _mlp()
    forward = gc.graph(loss)
    grads = gc.grad(loss, list(p.values()))
    joint = gc.Graph([loss.node] + [g.node for g in grads])
    fwd_count = Counter(n.op.name for n in forward)
    joint_count = Counter(n.op.name for n in joint)
    assert set(forward.nodes) <= set(joint.nodes)              # the very same forward nodes
    for op in FORWARD_ONLY:                                    # no forward computation is repeated
        assert joint_count[op] == fwd_count[op], op
    # backward matmuls: dL/dW2, dL/dh and dL/dW1 (none for dL/dx: x is not requested)
    assert joint_count["matmul"] == fwd_count["matmul"] + 3
    backward = [n for n in joint.nodes if n not in set(forward.nodes)]
    assert {n.op.name for n in backward} <= {"expr", "matmul", "transpose", "sum", "reshape", "broadcast_to",
                                             "add", "const", "cast"}
    # the tanh derivative reads the forward tanh output (1 - y^2), not a recomputed tanh
    tanh_bwd = [n for n in backward if n.op.name == "expr" and h.node in n.inputs]
    assert tanh_bwd and any(n.meta.get("local_derivative") == 1 - scalar.Y ** 2 for n in tanh_bwd)


def test_requesting_one_gradient_does_not_build_the_others():
    x, p, h, loss = _mlp()
    fwd = Counter(n.op.name for n in gc.graph(loss))
    g_w2 = gc.grad(loss, p["W2"])
    c = ops_of(g_w2)
    assert c["matmul"] == fwd["matmul"] + 1                    # only h^T @ dlogits
    nodes = gc.graph(g_w2).nodes
    # nothing of the first layer's backward pass: no transpose of x, no tanh-derivative node
    assert not any(n.op.name == "transpose" and n.inputs[0] is x.node for n in nodes)
    assert not any(n.op.name == "expr" and h.node in n.inputs for n in nodes)
    g_b2 = gc.grad(loss, p["b2"])
    assert ops_of(g_b2)["matmul"] == fwd["matmul"]             # no backward matmul at all
    # nor forward nodes the loss does not need for it (the mean/neg/log/mul branch of the value itself)
    both = gc.grad(loss, [p["W1"], p["W2"]])
    assert ops_of(both)["matmul"] == fwd["matmul"] + 3
    assert ops_of(both)["log"] == 0


def test_backward_graph_is_pruned_to_paths_between_wrt_and_output():
    x = gc.input("x", (3,), "float64")
    u = gc.input("u", (3,), "float64")
    side = gc.exp(u) * gc.sin(u)                               # depends on u only
    y = gc.sum(gc.tanh(x) * 2.0) + gc.sum(side)
    g = gc.grad(y, x)
    assert not {"exp", "sin"} & set(ops_of(g))                 # u's branch is not visited
    assert u.node not in set(gc.graph(g).nodes)


# ==========================================================================================
# course worked example 6
# ==========================================================================================
def test_course_worked_example_6_backprop_through_a_1_1_1_network():
    names = ("w1", "b1", "w2", "b2", "x", "y")
    w1, b1, w2, b2, x, y = (gc.input(n, (), "float64") for n in names)
    z1 = w1 * x + b1
    a1 = gc.sigmoid(z1)
    yhat = w2 * a1 + b2
    loss = (y - yhat) ** 2
    grads = gc.grad(loss, [w1, b1, w2, b2])
    f = gc.compile(grads)
    r = np.random.default_rng(2024)
    for _ in range(6):
        v = dict(zip(names, r.uniform(-2, 2, 6)))
        s = 1 / (1 + np.exp(-(v["w1"] * v["x"] + v["b1"])))
        yh = v["w2"] * s + v["b2"]
        dw1 = -2 * (v["y"] - yh) * v["w2"] * s * (1 - s) * v["x"]    # the published answer
        db1 = -2 * (v["y"] - yh) * v["w2"] * s * (1 - s)
        dw2 = -2 * (v["y"] - yh) * s
        db2 = -2 * (v["y"] - yh)
        np.testing.assert_allclose(f(**v), [dw1, db1, dw2, db2], rtol=1e-12)
        np.testing.assert_allclose(ev(grads[0], **v), dw1, rtol=1e-12)


# ==========================================================================================
# numerically stable forms (float32, inputs of magnitude 1e3)
# ==========================================================================================
BIG = np.array([[1e3, -1e3, 0.5, -2.0], [-1e3, 1e3, 999.0, -999.0]], np.float32)

STABLE = {
    "sigmoid": lambda t: gc.sum(gc.sigmoid(t)),
    "tanh": lambda t: gc.sum(gc.tanh(t)),
    "softplus": lambda t: gc.sum(gc.softplus(t)),
    "softmax": lambda t: gc.sum(gc.softmax(t) * np.arange(4.0)),
    "log_softmax": lambda t: gc.sum(gc.log_softmax(t) * np.arange(4.0)),
    "logsumexp": lambda t: gc.sum(gc.logsumexp(t, 1)),
    "mean_log_sigmoid": lambda t: gc.mean(gc.log(gc.sigmoid(t))),
    "binary_cross_entropy": lambda t: -gc.mean(TARGET * gc.log(gc.sigmoid(t)) + (1.0 - TARGET) * gc.log(1.0 - gc.sigmoid(t))),
}
TARGET = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], np.float32)


def _stable_expected(name, x):
    x = x.astype(np.float64)
    s = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    e = np.exp(x - x.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    w = np.arange(4.0)
    return {
        "sigmoid": s * (1 - s),
        "tanh": 1 - np.tanh(x) ** 2,
        "softplus": s,
        "softmax": sm * (w - (sm * w).sum(1, keepdims=True)),
        "log_softmax": w - sm * w.sum(),
        "logsumexp": sm,
        "mean_log_sigmoid": (1 - s) / x.size,
        "binary_cross_entropy": (s - TARGET) / x.size,
    }[name]


@pytest.mark.parametrize("how", ["evaluate", "reference", "numpy"])
@pytest.mark.parametrize("name", sorted(STABLE))
def test_stable_forms_have_finite_gradients_for_huge_inputs(name, how):
    x = gc.input("x", (2, 4), "float32")
    y = STABLE[name](x)
    g = gc.grad(y, x)
    if how == "evaluate":
        hvp = gc.grad(gc.sum(g * np.ones((2, 4))), x)            # and the second order too
        with np.errstate(all="raise"):                        # not even an intermediate overflow
            value, grad, second = gc.evaluate([y, g, hvp], x=BIG)
        assert np.all(np.isfinite(second))
    else:
        value, grad = gc.compile([y, g], backend=how, debug=True)(x=BIG)   # debug: NaN/Inf raises at its node
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and grad.dtype == np.float32
    np.testing.assert_allclose(grad, _stable_expected(name, BIG), rtol=1e-5, atol=1e-6)


def test_log_of_sigmoid_is_built_as_softplus():
    z = gc.input("z", (3,), "float64")
    for y in (gc.log(gc.sigmoid(z)), gc.log(1.0 - gc.sigmoid(z))):
        assert "log" not in ops_of(y) and "softplus" in ops_of(y)
    zv = np.array([-30.0, 0.3, 40.0])
    s = 1 / (1 + np.exp(-zv))
    np.testing.assert_allclose(ev(gc.log(gc.sigmoid(z)), z=zv), np.log(s), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(ev(gc.log(1.0 - gc.sigmoid(z)), z=zv), -np.logaddexp(0, zv), rtol=1e-13)
    # other logs are untouched
    assert "log" in ops_of(gc.log(2.0 - gc.sigmoid(z))) and "log" in ops_of(gc.log(z))


# ==========================================================================================
# the stated derivatives of the built-in elementwise ops are correct
# ==========================================================================================
def _stated_ops():
    return {n: op for n, op in OPS.items()
            if isinstance(op, Elementwise) and op.derivative_fn is not None and op.formula_fn.__module__.startswith("graphc.")}


# Ops whose formula has a kink (Heaviside/Max/sign): sympy.diff gives DiracDelta or Heaviside with
# sympy's own value at 0 (1/2), while graphc states its documented convention (relu'(0) = 0, sign' =
# step' = 0). They agree everywhere except at the kink, so they are compared numerically at random
# points away from it instead of symbolically.
KINKED = {"relu", "sign", "step"}
PIECEWISE_CONSTANT = {"floor", "ceil", "round", "floor_divide"}  # sympy cannot differentiate them; stated: 0
ATTRS = {"leaky_relu": {"alpha": 0.3}, "elu": {"alpha": 1.7}}


def test_every_stated_derivative_is_checked():
    assert set(_stated_ops()) >= KINKED
    assert {"sigmoid", "tanh", "exp", "softplus", "div", "pow", "maximum"} <= set(_stated_ops())


KINKED_BINARY = {"mod", "fmod"}  # sympy leaves Mod's derivative unevaluated: checked by finite differences below


@pytest.mark.parametrize("name", sorted(set(_stated_ops()) - KINKED - KINKED_BINARY - PIECEWISE_CONSTANT))
def test_stated_derivative_equals_sympy_diff(name):
    op = _stated_ops()[name]
    attrs = ATTRS.get(name, {})
    f = op.formula(**attrs)
    args = scalar.arg_symbols(op.arity)
    stated = op.derivatives(**attrs)
    assert len(stated) == op.arity
    for a, d in zip(args, stated):
        exact = sympy.diff(f, a)
        delta = d.subs(scalar.Y, f) - exact
        # sigmoid is graphc's named function; rewrite it to exponentials for simplify
        assert sympy.simplify(delta.rewrite(sympy.exp)) == 0, f"{name}: stated {d} but d/d{a} = {exact}"


@pytest.mark.parametrize("name", sorted(KINKED))
def test_stated_derivative_matches_away_from_the_kink(name):
    op = _stated_ops()[name]
    f = op.formula()
    (d,) = op.derivatives()
    exact = sympy.diff(f, scalar.X)
    xs = np.random.default_rng(1).uniform(-3, 3, 50)
    xs = xs[np.abs(xs) > 1e-3]
    f64 = np.dtype(np.float64)
    stated = lambda xs: scalar_ops.evaluate_formula(d.subs(scalar.Y, f), (scalar.X,), (xs,), f64, f64)  # noqa: E731
    stated_v = stated(xs)
    exact_v = np.array([float(exact.subs(scalar.X, v).replace(sympy.DiracDelta, lambda *a: 0)) for v in xs])
    np.testing.assert_allclose(stated_v, exact_v)
    # the convention at the kink itself
    assert float(stated(np.array([0.0]))[0]) == 0.0


def test_rounding_ops_state_a_zero_derivative():
    for name in PIECEWISE_CONSTANT:
        op = _stated_ops()[name]
        assert op.derivatives() == (0,) * op.arity, name


@pytest.mark.parametrize("name", sorted(KINKED_BINARY))
def test_the_stated_derivatives_of_remainders_match_finite_differences_away_from_their_jumps(name):
    op, fn = _stated_ops()[name], getattr(np, name)
    f = op.formula()
    a, b = scalar.arg_symbols(2)
    rng = np.random.default_rng(2)
    av, bv = rng.uniform(-5, 5, 200), rng.choice([-1, 1], 200) * rng.uniform(0.5, 2, 200)
    keep = (np.abs(fn(av, bv)) > 1e-3) & (np.abs(np.abs(fn(av, bv)) - np.abs(bv)) > 1e-3)
    av, bv = av[keep], bv[keep]
    f64 = np.dtype(np.float64)
    for n, d in enumerate(op.derivatives()):
        stated = scalar_ops.evaluate_formula(d.subs(scalar.Y, f), (a, b), (av, bv), f64, f64)
        h = 1e-6
        step = (h, 0) if n == 0 else (0, h)
        numeric = (fn(av + step[0], bv + step[1]) - fn(av - step[0], bv - step[1])) / (2 * h)
        np.testing.assert_allclose(stated, numeric, atol=1e-5)


def test_elementwise_derivatives_not_stated_come_from_sympy_diff():
    sin = gc.REGISTRY["sin"]
    assert sin.derivative_fn is None and sin.derivatives() == (sympy.cos(scalar.X),)
    gelu = gc.REGISTRY["gelu"]
    assert sympy.simplify(gelu.derivatives()[0] - sympy.diff(gelu.formula(), scalar.X)) == 0


# ==========================================================================================
# user-defined elementwise ops, and the expr nodes of the backward graph
# ==========================================================================================
def test_user_defined_elementwise_op_gets_its_gradient_automatically():
    swish = gc.elementwise("autodiff_test_swish", lambda x, beta=1.0: x / (1 + sympy.exp(-beta * x)), attrs=("beta",))
    bump = gc.elementwise("autodiff_test_bump", lambda a, b: a * sympy.exp(-b ** 2) + sympy.log(1 + a ** 2) * b)
    xv, bv = rand((3, 4), 20), rand(4, 21)
    gc.check_grad(lambda x: gc.sum(swish(x, beta=1.5) * rand((3, 4), 22)), [xv], tol=1e-6, eps=1e-5)
    gc.check_grad(lambda a, b: gc.sum(bump(a, b) * rand((3, 4), 23)), [xv, bv], tol=1e-6, eps=1e-5)
    # and second order
    gc.check_grad(lambda x: gc.sum(gc.grad(gc.sum(swish(x)), x) * rand((3, 4), 24)), [xv], tol=1e-6, eps=1e-5)
    # the closed form
    x = gc.input("x", (3, 4), "float64")
    s = 1 / (1 + np.exp(-1.5 * xv))
    np.testing.assert_allclose(ev(gc.grad(gc.sum(swish(x, beta=1.5)), x), x=xv), s + 1.5 * xv * s * (1 - s), rtol=1e-12)


def test_user_defined_op_with_a_stated_derivative_uses_it():
    cube = gc.elementwise("autodiff_test_cube", lambda x: x ** 3, derivative=lambda x, y: 3 * y / x)
    x = gc.input("x", (3,), "float64")
    g = gc.grad(gc.sum(cube(x)), x)
    bwd = [n for n in gc.graph(g) if n.op.name == "expr"]
    assert [n.meta["local_derivative"] for n in bwd] == [3 * scalar.Y / scalar.X]
    np.testing.assert_allclose(ev(g, x=np.array([1.0, -2.0, 0.5])), [3.0, 12.0, 0.75])


def test_backward_expr_nodes_carry_their_local_derivative():
    x = gc.input("x", (3,), "float64")
    w = gc.input("w", (3,), "float64")
    for fwd, expect in [(gc.sigmoid, scalar.Y * (1 - scalar.Y)), (gc.sin, sympy.cos(scalar.X)),
                        (gc.tanh, 1 - scalar.Y ** 2), (gc.exp, scalar.Y)]:
        y = fwd(x)
        g = gc.grad(gc.sum(y * w), x)
        locs = [n for n in gc.graph(g) if n.op.name == "expr" and "local_derivative" in n.meta]
        (node,) = [n for n in locs if x.node in n.inputs or y.node in n.inputs]
        assert node.meta["local_derivative"] == expect
        # the expr node computes g * local derivative from the forward value
        assert node.attrs["fn"].expr == scalar.G * expect
    gw = gc.grad(gc.sum(x * w), w)
    (node,) = [n for n in gc.graph(gw) if n.op.name == "expr"]
    assert node.meta["local_derivative"] == scalar.ARGS[0]    # d(a*b)/db = a


# ==========================================================================================
# whole models against finite differences
# ==========================================================================================
@pytest.mark.parametrize("act", [gc.tanh, gc.relu], ids=["tanh", "relu"])
def test_mlp_gradients_match_finite_differences(act):
    x, p, h, loss = _mlp(act=act, seed=3)
    xv = rand((5, 3), 30)
    # relu: keep the pre-activations away from the kink
    pre = xv @ p["W1"].value + p["b1"].value
    assert np.abs(pre).min() > 1e-3
    # the input is bound as a constant: substitute a const for it by differentiating w.r.t. it too
    report = gc.check_grad(loss, {x: xv, **{t: t.value for t in p.values()}}, eps=1e-5, tol=1e-6)
    assert set(report) == {"x", "W1", "b1", "W2", "b2"}


def test_small_cnn_gradients_match_finite_differences():
    r = np.random.default_rng(5)
    x = gc.input("img", (2, 1, 6, 6), "float64")
    k = gc.param("k", r.standard_normal((3, 1, 3, 3)), dtype="float64")
    kb = gc.param("kb", r.standard_normal(3) * 0.1, dtype="float64")
    fw = gc.param("fw", r.standard_normal((12, 4)) * 0.5, dtype="float64")
    fb = gc.param("fb", r.standard_normal(4) * 0.1, dtype="float64")
    c = gc.conv2d(x, k, kb, padding=0)                         # (2, 3, 4, 4)
    a = gc.relu(c)
    pooled = gc.max_pool2d(a, 2)                              # (2, 3, 2, 2)
    flat = gc.reshape(pooled, (2, 12))
    logits = flat @ fw + fb
    loss = -gc.mean(gc.sum(gc.log_softmax(logits) * gc.one_hot(np.array([1, 3]), 4, dtype="float64"), 1))
    xv = r.standard_normal((2, 1, 6, 6))
    cv = ev(c, img=xv)
    assert np.abs(cv).min() > 1e-3                            # away from relu's kink
    report = gc.check_grad(loss, {x: xv, k: k.value, kb: kb.value, fw: fw.value, fb: fb.value}, eps=1e-5, tol=1e-6)
    assert set(report) == {"img", "k", "kb", "fw", "fb"}
    # every parameter gets a nonzero gradient
    for gv in ev(gc.grad(loss, [k, kb, fw, fb]), img=xv):
        assert np.abs(gv).max() > 1e-6
