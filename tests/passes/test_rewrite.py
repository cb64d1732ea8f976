"""The graph rewrites: each rule fires where it is exact and nowhere else, constants fold, and the
result computes what the unrewritten graph computes."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.ir import Graph
from graphc.passes import simplify


def _simplified(*outputs):
    g = simplify(Graph([o.node for o in outputs]))
    return g, g.pass_stats["rewrites"]


@pytest.mark.parametrize("build, rule", [
    (lambda x: x * 1.0, "mul_by_one"), (lambda x: 1.0 * x, "mul_by_one"), (lambda x: x + 0.0, "add_zero"),
    (lambda x: x - 0.0, "sub_zero"), (lambda x: x / 1.0, "div_by_one"), (lambda x: -(-x), "neg_neg"),
    (lambda x: gc.transpose(gc.transpose(x)), "transpose_transpose"),
    (lambda x: gc.reshape(gc.reshape(x, (-1,)), (-1, 3)), "reshape_reshape"),
    (lambda x: gc.where(gc.const(np.ones((2, 3), bool)), x, 2.0 * x), "where_constant_condition"),
])
def test_each_identity_returns_the_operand_itself(build, rule):
    x = gc.input("x", (2, 3))
    g, counts = _simplified(build(x))
    assert g.outputs[0] is x.node and counts.get(rule)


@pytest.mark.parametrize("build", [
    lambda x: x * 0.0,                                    # wrong for inf and NaN: never rewritten
    lambda x: x * gc.const(np.ones((4, 2, 3), np.float32)),  # broadcasts: the shape changes
    lambda x: x + gc.const(np.array([0.0, 1.0, 0.0], np.float32)),
    lambda x: gc.transpose(gc.transpose(x, (1, 0)) * 2.0),
])
def test_no_rule_fires_where_it_would_change_a_value_or_a_shape(build):
    x = gc.input("x", (2, 3))
    y = build(x)
    g, counts = _simplified(y)
    assert g.outputs[0].shape == y.node.shape and not {k: v for k, v in counts.items() if k != "constant_fold"}


def test_constants_fold_and_equal_nodes_merge():
    x = gc.input("x", (3,))
    c = gc.exp(gc.const(np.array([0.0, 1.0, 2.0], np.float32))) * 2.0
    g, counts = _simplified(x * c)
    assert counts["constant_fold"] == 2 and len(g) == 3  # x, the folded constant, the product
    np.testing.assert_allclose(gc.compile(x * c)(x=np.ones(3, np.float32)), 2 * np.exp([0, 1, 2]), rtol=1e-6)


def test_rewritten_steps_compute_what_optimize_0_computes_including_inf_and_nan():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.array([[1.0], [2.0], [3.0]], np.float32))
    loss = gc.sum(-(-(x * 1.0 @ w)) / 1.0 + 0.0)
    outs = [loss, gc.grad(loss, w), x * 0.0]
    data = np.array([[1, np.inf, -0.0], [np.nan, 2, 3]], np.float32)
    a, b = gc.compile(outs, optimize=0)(x=data), gc.compile(outs, optimize=1)(x=data)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    f = gc.compile(outs, optimize=1)
    f(x=data)
    stage = next(e for e in f.report() if e["stage"] == "simplify")
    assert stage["nodes_after"] < stage["nodes_before"] and stage["rewrites"]


@pytest.mark.parametrize("steps", [4, 9])
def test_the_slice_gradients_of_an_unrolled_loop_become_one_concatenation(steps):
    x = gc.input("x", (None, steps, 3))
    w = gc.param("w", np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3))
    h = gc.tanh(x[:, 0] @ w)
    for t in range(1, steps):
        h = gc.tanh(x[:, t] @ w + h)
    loss = gc.sum(h * h)
    g = gc.grad(loss, x)
    f0, f1 = gc.compile([g], optimize=0), gc.compile([g], optimize=1)
    data = np.random.default_rng(steps).normal(size=(2, steps, 3)).astype(np.float32)
    np.testing.assert_array_equal(f1(x=data)[0], f0(x=data)[0])
    rules = next(e for e in f1.report() if e["stage"] == "simplify")["rewrites"]
    assert rules["adjacent_unslices_concat"] == steps - 1 and rules["whole_unslice"] == 1
    assert not any(k.label.startswith("unslice") for k in f1.program.kernels)  # no full-size buffer per step
