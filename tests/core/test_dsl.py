"""The DSL: the public API example, operator overloading, indexing, dtype promotion, scopes and
naming, printing, verify, structural hashing, the networkx view, user-defined elementwise ops,
and the random ops (determinism and statistics)."""
from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc.ir import Attrs, Graph, Node
from graphc.ops import REGISTRY as OPS  # the op objects, which nodes hold (gc.REGISTRY's entries take tensors)

_names = itertools.count()


def unique(prefix: str) -> str:
    """A fresh op name (registering the same name twice in one process raises)."""
    return f"{prefix}_{next(_names)}_{id(object())}"


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


# =============================================================================================
# the public API example, exactly as written
# =============================================================================================
PUBLIC_EXAMPLE = '''
import numpy as np, graphc as gc
x = gc.input("x", (None, 2))
y = gc.input("y", (None, 1))
w = gc.param("w", np.array([[0.1], [-0.2]], np.float32))
b = gc.param("b", np.array([0.2], np.float32))
h = gc.sigmoid(x @ w + b)
loss = gc.mean(0.5 * (h - y) ** 2)
f = gc.compile([h, loss], backend="reference")
h_val, loss_val = f(x=np.ones((4, 2), np.float32), y=np.zeros((4, 1), np.float32))
w.value
import sympy
softsign = gc.elementwise("softsign", lambda t: t / (1 + sympy.Abs(t)))
s = softsign(x)
'''


def test_public_example_runs_exactly_as_written():
    report = textwrap.dedent('''
        import json
        s_val = gc.evaluate(s, x=np.array([[-3.0, 0.5]], np.float32))
        print(json.dumps(dict(h=h_val.tolist(), h_dtype=str(h_val.dtype), h_shape=list(h_val.shape),
                              loss=float(loss_val), loss_shape=list(np.shape(loss_val)), loss_dtype=str(loss_val.dtype),
                              w=w.value.tolist(), b=b.value.tolist(), s=s_val.tolist(), s_dtype=str(s.dtype),
                              s_shape=str(s.shape))))
    ''')
    proc = subprocess.run([sys.executable, "-c", PUBLIC_EXAMPLE + report], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    h = _sigmoid(1 * 0.1 + 1 * -0.2 + 0.2)
    assert r["h_shape"] == [4, 1] and r["h_dtype"] == "float32"
    np.testing.assert_allclose(r["h"], [[h]] * 4, rtol=1e-6)
    assert r["loss_shape"] == [] and r["loss_dtype"] == "float32"
    np.testing.assert_allclose(r["loss"], 0.5 * h * h, rtol=1e-6)
    np.testing.assert_allclose(r["w"], [[0.1], [-0.2]], rtol=1e-7)  # no updates were requested
    np.testing.assert_allclose(r["b"], [0.2], rtol=1e-7)
    np.testing.assert_allclose(r["s"], [[-3 / 4, 0.5 / 1.5]], rtol=1e-6)
    assert r["s_dtype"] == "float32" and r["s_shape"] == "(N, 2)"


def test_public_example_in_process_numbers():
    x = gc.input("x", (None, 2))
    y = gc.input("y", (None, 1))
    w = gc.param("w", np.array([[0.1], [-0.2]], np.float32))
    b = gc.param("b", np.array([0.2], np.float32))
    h = gc.sigmoid(x @ w + b)
    loss = gc.mean(0.5 * (h - y) ** 2)
    f = gc.compile([h, loss], backend="reference")
    rng = np.random.default_rng(1)
    xv = rng.normal(size=(7, 2)).astype(np.float32)
    yv = rng.random((7, 1)).astype(np.float32)
    h_val, loss_val = f(x=xv, y=yv)
    z = xv.astype(np.float64) @ np.array([[0.1], [-0.2]]) + 0.2
    hh = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(h_val, hh, rtol=1e-6)
    np.testing.assert_allclose(loss_val, np.mean(0.5 * (hh - yv) ** 2), rtol=1e-5)
    assert isinstance(w, gc.Param) and w.value.dtype == np.float32 and w.trainable


# =============================================================================================
# operator overloading
# =============================================================================================
@pytest.fixture
def xy():
    rng = np.random.default_rng(2)
    x = gc.input("x", (None, 3))
    y = gc.input("y", (3,))
    a = rng.uniform(0.5, 2.0, (4, 3)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (3,)).astype(np.float32)
    return x, y, a, b


def _ev(t, a, b):
    names = {n.attrs["name"] for n in gc.graph(t).inputs}
    return gc.evaluate(t, {k: v for k, v in (("x", a), ("y", b)) if k in names})


def test_binary_operators_and_reflections(xy):
    x, y, a, b = xy
    c = np.array([1.5, -2.0, 0.25])
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cases = [
        (x + y, a64 + b64, "add"), (x - y, a64 - b64, "sub"), (x * y, a64 * b64, "mul"), (x / y, a64 / b64, "div"),
        (x ** y, a64 ** b64, "pow"), (x + 2, a64 + 2, "add"), (2 + x, 2 + a64, "add"), (3 - x, 3 - a64, "sub"),
        (x - 3, a64 - 3, "sub"), (2 * x, 2 * a64, "mul"), (1 / x, 1 / a64, "div"), (x / 4, a64 / 4, "div"),
        (2 ** x, 2 ** a64, "pow"), (x ** 2, a64 ** 2, "pow"), (c + x, c + a64, "add"), (c - x, c - a64, "sub"),
        (c * x, c * a64, "mul"), (c / x, c / a64, "div"), (x - c, a64 - c, "sub"), (-x, -a64, "neg"),
        (abs(-x), a64, "abs"),
    ]
    for t, want, op in cases:
        assert t.op == op
        assert t.dtype == np.float32, t  # weak scalars and float64 arrays never widen a float32 tensor
        got = _ev(t, a, b)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert +x is x


def test_matmul_operator_and_reflection(xy):
    x, y, a, b = xy
    m = np.arange(6.0).reshape(3, 2)
    for t, want in [(x @ m, a.astype(np.float64) @ m), (m.T @ x.T, m.T @ a.T.astype(np.float64)), (x @ y, a @ b),
                    (y @ m, b @ m)]:
        got = _ev(t, a, b)
        assert got.shape == want.shape and t.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_comparisons_give_bool_tensors(xy):
    x, y, a, b = xy
    a = np.round(a * 2) / 2  # make ties
    b = np.round(b * 2) / 2
    for t, want in [(x < y, a < b), (x <= y, a <= b), (x > y, a > b), (x >= y, a >= b), (x == y, a == b),
                    (x != y, a != b), (x < 1.0, a < 1.0), (1.0 < x, 1.0 < a), (b >= x, b >= a)]:
        assert isinstance(t, gc.Tensor) and t.dtype == np.bool_
        got = _ev(t, a, b)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, want)
    m = (x > 1.0) & ~(x > 1.5) | (x == 0.5)
    np.testing.assert_array_equal(_ev(m, a, b), ((a > 1.0) & ~(a > 1.5)) | (a == 0.5))


def test_tensor_has_no_truth_value(xy):
    x = xy[0]
    with pytest.raises(gc.GraphcError, match="where"):
        bool(x > 0)
    with pytest.raises(TypeError):
        iter(x)


@pytest.mark.parametrize("index", [
    (slice(None, None, 2),), (slice(None), slice(None, None, -1)), (Ellipsis, 0), (None,), (None, Ellipsis, None),
    (1,), (-1, slice(1, None)), (slice(1, 3), None, slice(None, None, -2)), (slice(None), 2), (Ellipsis,),
    (0, -1), (slice(-1, None, -2), Ellipsis),
])
def test_indexing_matches_numpy(index):
    x = gc.input("x", (5, 4))
    a = np.arange(20, dtype=np.float32).reshape(5, 4)
    t = x[index]
    want = a[index]
    assert t.shape == want.shape
    np.testing.assert_array_equal(gc.evaluate(t, x=a), want)


def test_indexing_symbolic_batch():
    x = gc.input("x", (None, 4, 3))
    a = np.arange(2 * 12, dtype=np.float32).reshape(2, 4, 3)
    for index in [(slice(None), 1), (Ellipsis, slice(None, None, -1)), (0,), (slice(None), None, slice(1, 3))]:
        t = x[index]
        want = a[index]
        got = gc.evaluate(t, x=a)
        np.testing.assert_array_equal(got, want)


def test_T_reshape_sum_mean_shape_dtype():
    x = gc.input("x", (None, 2, 3), gc.float64)
    a = np.arange(12, dtype=np.float64).reshape(2, 2, 3)
    N = sympy.Symbol("N", integer=True, positive=True)
    assert x.shape == (N, 2, 3) and x.dtype == np.float64 and x.ndim == 3
    assert x.T.shape == (3, 2, N)
    r = x.reshape(-1, 6)
    assert r.shape == (N, 6)
    assert x.reshape((N, 3, 2)).shape == (N, 3, 2)
    s, m = x.sum(), x.mean(axis=(0, 2), keepdims=True)
    assert s.shape == () and m.shape == (1, 2, 1)
    ev = gc.evaluate([x.T, r, s, m, x.sum(1), x.mean(-1)], x=a)
    np.testing.assert_array_equal(ev[0], a.transpose(2, 1, 0))
    np.testing.assert_array_equal(ev[1], a.reshape(2, 6))
    assert ev[2] == a.sum()
    np.testing.assert_allclose(ev[3], a.mean(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(ev[4], a.sum(1))
    np.testing.assert_allclose(ev[5], a.mean(-1))
    assert len(x.T) == 3 and x.reshape(-1).shape == (6 * N,)
    assert x.reshape(None, 2, 3) is x and gc.reshape(x, (None, 6)).shape == (N, 6)


# =============================================================================================
# dtype promotion (graphc/dtypes.py)
# =============================================================================================
CHAIN = [gc.bool_, gc.int32, gc.int64, gc.float32, gc.float64]


@pytest.mark.parametrize("d1, d2", list(itertools.product(CHAIN, CHAIN)))
def test_strong_promotion_is_the_later_of_the_chain(d1, d2):
    a = gc.input("a", (3,), d1)
    b = gc.input("b", (3,), d2)
    later = CHAIN[max(CHAIN.index(d1), CHAIN.index(d2))]
    if later == gc.bool_:  # arithmetic on bools is refused; logical ops take them
        with pytest.raises(gc.DTypeError):
            a + b
        assert (a & b).dtype == gc.bool_
        return
    assert gc.maximum(a, b).dtype == later
    t = a + b
    assert t.dtype == later
    av = np.array([1, 0, 1]).astype(d1)
    bv = np.array([2, 3, 0]).astype(d2)
    got = gc.evaluate(t, a=av, b=bv)
    assert got.dtype == later
    np.testing.assert_array_equal(got, av.astype(np.float64) + bv.astype(np.float64))
    assert (a < b).dtype == gc.bool_


@pytest.mark.parametrize("dtype, value, expected", [
    (gc.float32, 2.0, gc.float32), (gc.float32, 2, gc.float32), (gc.float32, True, gc.float32),
    (gc.float64, 2.0, gc.float64), (gc.int32, 2, gc.int32), (gc.int64, 2, gc.int64),
    (gc.int32, 2.5, gc.float32), (gc.int64, 2.5, gc.float32), (gc.int32, True, gc.int32),
    (gc.float32, np.array([1.0, 2.0, 3.0]), gc.float32), (gc.float32, np.array([1, 2, 3]), gc.float32),
    (gc.int32, np.array([1, 2, 3], np.int64), gc.int32), (gc.int32, np.array([1.5, 2, 3]), gc.float32),
    (gc.float64, np.array([1.0, 2.0, 3.0], np.float32), gc.float64), (gc.int64, np.array([1, 2, 3], np.uint8), gc.int64),
    (gc.bool_, np.array([1.0, 2.0, 3.0]), gc.float32), (gc.bool_, 3, gc.int64),
])
def test_weak_scalars_and_arrays(dtype, value, expected):
    x = gc.input("x", (3,), dtype)
    t = x * value
    assert t.dtype == expected
    r = value * x
    assert r.dtype == expected
    xv = np.array([1, 2, 3]).astype(dtype)
    got = gc.evaluate(t, x=xv)
    assert got.dtype == expected
    np.testing.assert_allclose(got, (xv.astype(np.float64) * np.asarray(value, np.float64)).astype(expected), rtol=1e-6)


def test_weak_ints_that_do_not_fit_the_tensor_dtype_are_refused():
    i = gc.input("i", (2,), gc.int32)
    for build in (lambda: i + 2 ** 40, lambda: 2 ** 31 * i, lambda: i * np.array([2 ** 33, 1])):
        with pytest.raises(gc.DTypeError, match="do not fit the int32"):
            build()
    edge = i + (2 ** 31 - 1)
    assert edge.dtype == gc.int32
    np.testing.assert_array_equal(gc.evaluate(i + np.int64(-2 ** 31), i=np.array([0, 1], np.int32)),
                                  [-2 ** 31, -2 ** 31 + 1])
    big = gc.input("j", (2,), gc.int64) + 2 ** 40
    assert big.dtype == gc.int64
    np.testing.assert_array_equal(gc.evaluate(big, j=np.array([1, 2])), [2 ** 40 + 1, 2 ** 40 + 2])
    assert (i.astype("int64") + 2 ** 40).dtype == gc.int64


def test_numpy_weights_and_bias_are_weak_in_matmul_and_conv():
    x = gc.input("x", (None, 2, 5, 5))
    w64 = np.random.default_rng(0).normal(size=(3, 2, 3, 3))
    y = gc.conv2d(x, w64, bias=np.array([1.0, 2.0, 3.0]))
    assert y.dtype == gc.float32
    xv = np.random.default_rng(1).normal(size=(2, 2, 5, 5)).astype(np.float32)
    got = gc.evaluate(y, x=xv)
    assert got.dtype == np.float32
    w32 = w64.astype(np.float32)
    want = np.array([[[[np.sum(xv[n, :, i:i + 3, j:j + 3] * w32[o]) + o + 1 for j in range(3)] for i in range(3)]
                      for o in range(3)] for n in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (gc.input("v", (None, 5)) @ np.ones((5, 2))).dtype == gc.float32
    assert gc.conv2d(gc.input("d", (1, 2, 5, 5), gc.float64), w64.astype(np.float32)).dtype == gc.float64


def test_division_and_transcendentals_of_ints_give_float32():
    i = gc.input("i", (3,), gc.int32)
    j = gc.input("j", (3,), gc.int64)
    f = gc.input("f", (3,), gc.float64)
    assert (i / i).dtype == gc.float32 and (j / 2).dtype == gc.float32 and (f / i).dtype == gc.float64
    assert gc.exp(i).dtype == gc.float32 and gc.sqrt(j).dtype == gc.float32 and gc.sigmoid(f).dtype == gc.float64
    got = gc.evaluate(i / 2, i=np.array([1, 2, 3], np.int32))
    np.testing.assert_array_equal(got, np.array([0.5, 1.0, 1.5], np.float32))
    assert (i * 2).dtype == gc.int32 and gc.neg(i).dtype == gc.int32


def test_constants_without_partner_take_their_own_dtype():
    assert gc.const(2).dtype == gc.int64
    assert gc.const(2.0).dtype == gc.float32
    assert gc.const(True).dtype == gc.bool_
    assert gc.const(np.array(1.0)).dtype == gc.float64
    assert gc.const(np.array([1], np.int32)).dtype == gc.int32
    assert gc.const(np.array([1], np.uint8)).dtype == gc.uint8
    x = gc.input("x", (2,))
    assert (x + gc.const(np.array([1.0, 2.0]))).dtype == gc.float64  # a const is a strong operand
    assert gc.const(np.array([1.0], np.float16)).dtype == gc.float16
    with pytest.raises(gc.DTypeError):
        gc.const(np.array([1.0], np.complex64))
    with pytest.raises(gc.DTypeError):
        gc.const(np.array(["a"]))


def test_dtype_names():
    assert gc.dtypes.as_dtype(float) == gc.float32 and gc.dtypes.as_dtype(int) == gc.int64
    assert gc.dtypes.as_dtype("float64") == gc.float64 and gc.dtypes.as_dtype(bool) == gc.bool_
    with pytest.raises(gc.DTypeError):
        gc.dtypes.as_dtype("complex64")
    with pytest.raises(gc.DTypeError):
        gc.dtypes.as_dtype("not a dtype")


# =============================================================================================
# naming, scopes, printing
# =============================================================================================
def test_scope_naming():
    x = gc.input("x", (None, 3))
    with gc.scope("encoder"):
        w = gc.param("w", np.ones((3, 4), np.float32))
        with gc.scope("layer1"):
            z = gc.matmul(x, w, name="z")
            u = gc.relu(z)
        v = gc.tanh(u, name="v")
    t = gc.sigmoid(v)
    assert z.name == "encoder/layer1/z"
    assert u.name == f"encoder/layer1/relu_{u.node.id}"
    assert v.name == "encoder/v"
    assert t.name == f"sigmoid_{t.node.id}"
    assert x.name == "x"  # inputs are never scoped
    assert w.variable.name == "encoder/w" and w.name == "encoder/w"
    assert t.named("out") is t and t.name == "out"


def test_naming_a_tensor_never_renames_another():
    x = gc.input("x", (3,))
    a = x * 2.0
    b = (x * 2.0).named("b")                      # the same expression: one shared node until it is named
    assert b.name == "b" and a.name == f"mul_{a.node.id}" and a.node.name is None
    assert b.node is not a.node and (x * 2.0).node is a.node
    c = gc.mul(x, 2.0, name="c")                  # a name given at creation makes a distinct node too
    assert c.name == "c" and a.node.name is None and b.name == "b"
    assert gc.mul(x, 2.0, name="c").node is c.node
    b.name = "b2"                                 # renaming moves only this handle
    assert b.name == "b2" and c.name == "c" and (x * 2.0).named("b").name == "b"
    with gc.scope("blk"):
        h = gc.tanh(x)
    assert h.named("h").name == "blk/h"           # a named node keeps its scope
    xv = np.arange(3.0, dtype=np.float32)
    for t in (a, b, c):                           # same value, same structure
        np.testing.assert_array_equal(gc.evaluate(t, x=xv), xv * 2)
        assert gc.graph(t).structural_hash() == gc.graph(a).structural_hash()
    listing = str(gc.graph([a, b, c]))
    assert "# b2" in listing and "# c" in listing


def test_naming_a_declaration_renames_it_for_every_holder():
    x = gc.input("x", (3,))
    w = gc.param("w", np.ones(3, np.float32))
    assert x.named("features") is x and x.node.name == "features"
    assert gc.graph(x * w).inputs[0] is x.node and gc.Tensor.of(x.node) is x
    assert w.named("weights").node is gc.graph(x * w).params[0] and w.name == "weights"


def test_naming_shows_in_errors():
    x = gc.input("x", (3, 4))
    h = gc.relu(x).named("hidden")
    with pytest.raises(gc.ShapeError, match="'out'"):
        gc.matmul(h, gc.input("w", (3, 2)), name="out")
    assert gc.relu(x).name != "hidden"


def test_scope_is_popped_after_an_exception():
    with pytest.raises(RuntimeError):
        with gc.scope("broken"):
            raise RuntimeError("boom")
    x = gc.input("x", (2,))
    assert (x + 1).node.scope == ""


def test_repr_shows_name_op_shape_dtype():
    x = gc.input("x", (None, 3))
    with gc.scope("blk"):
        h = gc.matmul(x, gc.const(np.ones((3, 4), np.float32)), name="h")
    r = repr(h)
    for part in ("'blk/h'", "matmul", "(None, 4)", "float32"):
        assert part in r, r
    assert repr(gc.input("k", (), gc.int64)) == "Tensor('k', op=input, shape=(), dtype=int64)"


def test_graph_str_is_an_ssa_listing():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 2), np.float32))
    with gc.scope("blk"):
        h = gc.relu(x @ w, name="h")
    out = gc.sum(h, axis=1, name="total")
    text = str(gc.graph(out))
    lines = text.splitlines()
    assert lines[0] == "graph(x: f32[None,3]; params w: f32[3,2]) {"
    assert lines[-1] == "}"
    body = lines[1:-2]
    assert [ln.split(" = ")[1].split("(")[0] for ln in body] == ["matmul", "relu", "sum"]
    defined = [ln.split(" = ")[0].strip() for ln in body]
    assert all(d.startswith("%") for d in defined) and len(set(defined)) == 3
    assert body[0].split(" = ")[1].startswith("matmul(x, w)")
    assert f"relu({defined[0]})" in body[1] and "blk/h" in body[1] and ": f32[None,2]" in body[1]
    assert f"sum({defined[1]}; axes=(1,), keepdims=False) : f32[None]" in body[2] and "# total" in body[2]
    assert lines[-2] == f"  return {defined[2]}"


# =============================================================================================
# verify, hashing, networkx
# =============================================================================================
def test_verify_passes_on_built_graphs():
    x = gc.input("x", (None, 4))
    w = gc.param("w", np.ones((4, 3), np.float32))
    y = gc.softmax(gc.relu(x @ w) + 1.0)
    g = gc.graph([y, gc.sum(y)])
    assert gc.verify(g) is g


def test_verify_fails_on_a_wrong_shape():
    a = gc.input("a", (3,))
    b = gc.input("b", (3,))
    bad = Node(OPS["add"], [a.node, b.node], Attrs({}), shape=(5,), dtype=np.float32)
    with pytest.raises(gc.GraphError, match=r"shape \(5,\) but rule gives \(3,\)"):
        gc.verify(Graph([bad]))


def test_verify_fails_on_a_wrong_dtype_and_on_rules_that_fail():
    a = gc.input("a", (3,))
    b = gc.input("b", (4,))
    wrong_dtype = Node(OPS["mul"], [a.node, a.node], Attrs({}), shape=(3,), dtype=np.int32)
    with pytest.raises(gc.GraphError, match="dtype int32 but rule gives float32"):
        gc.verify(Graph([wrong_dtype]))
    cannot = Node(OPS["add"], [a.node, b.node], Attrs({}), shape=(3,), dtype=np.float32)
    with pytest.raises(gc.GraphError, match="rules fail"):
        gc.verify(Graph([cannot]))


def test_verify_fails_on_use_before_definition():
    x = gc.input("x", (2,))
    y = gc.exp(x)
    z = gc.log(y)
    g = Graph([z.node], nodes=[x.node, z.node, y.node])
    with pytest.raises(gc.GraphError, match="before it is defined"):
        gc.verify(g)
    with pytest.raises(gc.GraphError, match="not a node of the graph"):
        gc.verify(Graph([z.node], nodes=[x.node, y.node]))


def _build(act="relu", width=4, const=1.0, axis=1, shared_inputs=None):
    x = shared_inputs if shared_inputs is not None else gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, width), np.float32))
    return gc.graph(gc.sum(getattr(gc, act)(x @ w + const), axis=axis))


def test_structural_hash_equal_for_identical_graphs_sharing_inputs():
    x = gc.input("x", (None, 3))
    one = gc.const(np.float32(1.0))  # created before both graphs: same place in both schedules
    g1, g2 = _build(const=one, shared_inputs=x), _build(const=one, shared_inputs=x)
    assert g1.nodes[-1] is not g2.nodes[-1]  # fresh params: genuinely different node objects
    assert g1.structural_hash() == g2.structural_hash()
    assert len(g1.structural_hash()) == 64


def test_structural_hash_equal_for_identically_built_graphs():
    assert _build().structural_hash() == _build().structural_hash()


def test_structural_hash_independent_of_shared_hashconsed_nodes():
    x = gc.input("x", (None, 3))
    g1 = _build(const=1.2345, shared_inputs=x)
    g2 = _build(const=1.2345, shared_inputs=x)  # reuses g1's const node, created after g1's param
    assert [n.op.name for n in g1.nodes] != [n.op.name for n in g2.nodes]
    assert g1.structural_hash() == g2.structural_hash()


def test_structural_hash_equal_across_processes():
    code = textwrap.dedent('''
        import numpy as np, graphc as gc
        x = gc.input("x", (None, 3))
        w = gc.param("w", np.ones((3, 4), np.float32))
        print(gc.graph(gc.sum(gc.relu(x @ w + 1.0), axis=1)).structural_hash())
    ''')
    hashes = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
              for _ in range(2)}
    assert len(hashes) == 1 and len(hashes.pop()) == 64


def test_structural_hash_differs_when_a_node_differs():
    x = gc.input("x", (None, 3))
    base = _build(shared_inputs=x).structural_hash()
    variants = [_build("tanh", shared_inputs=x), _build(width=5, shared_inputs=x), _build(const=2.0, shared_inputs=x),
                _build(axis=0, shared_inputs=x)]
    hashes = [g.structural_hash() for g in variants]
    assert base not in hashes and len(set(hashes)) == len(hashes)
    x64 = gc.input("x", (None, 3), gc.float64)
    assert _build(shared_inputs=x64).structural_hash() != base


def test_to_networkx_counts():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3,), np.float32))
    y = x * x + w  # x feeds mul twice: two parallel edges
    z = gc.sum(y, 1)
    g = gc.graph(z)
    nxg = g.to_networkx()
    assert nxg.number_of_nodes() == len(g.nodes) == 5  # x, w, mul, add, sum
    assert nxg.number_of_edges() == 5  # x->mul twice, mul->add, w->add, add->sum
    assert nxg.number_of_edges(x.node.id, (x * x).node.id) == 2
    assert nxg.nodes[z.node.id]["op"] == "sum"
    assert sorted(d["index"] for _, _, d in nxg.in_edges(y.node.id, data=True)) == [0, 1]


# =============================================================================================
# user-defined elementwise ops
# =============================================================================================
def test_user_elementwise_softsign():
    name = unique("softsign")
    softsign = gc.elementwise(name, lambda t: t / (1 + sympy.Abs(t)))
    assert name in gc.REGISTRY
    x = gc.input("x", (None, 3))
    s = softsign(x)
    assert s.op == name and s.shape == x.shape and s.dtype == np.float32
    a = np.array([[-3.0, 0.0, 0.5], [10.0, -0.25, 1.0]], np.float32)
    np.testing.assert_allclose(gc.evaluate(s, x=a), a / (1 + np.abs(a)), rtol=1e-6)
    i = gc.input("i", (2,), gc.int32)
    si = softsign(i)
    assert si.dtype == gc.float32
    np.testing.assert_allclose(gc.evaluate(si, i=np.array([-1, 3], np.int32)), [-0.5, 0.75])
    t = sympy.Symbol("t")
    f = softsign.op.formula()
    assert sympy.simplify(f.subs(f.free_symbols.pop(), t) - t / (1 + sympy.Abs(t))) == 0


def test_user_elementwise_binary_with_attribute():
    name = unique("blend")
    blend = gc.elementwise(name, lambda a, b, k=0.5: k * a + (1 - k) * b, attrs=("k",))
    x, y = gc.input("x", (2, 3)), gc.input("y", (3,))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.0, -1.0, 2.0], np.float32)
    np.testing.assert_allclose(gc.evaluate(blend(x, y), x=a, y=b), 0.5 * a + 0.5 * b)
    np.testing.assert_allclose(gc.evaluate(blend(x, y, k=0.25), x=a, y=b), 0.25 * a + 0.75 * b, rtol=1e-6)


def test_registering_a_name_twice_raises():
    name = unique("twice")
    gc.elementwise(name, lambda t: 2 * t)
    with pytest.raises(ValueError, match="already registered"):
        gc.elementwise(name, lambda t: 3 * t)
    with pytest.raises(ValueError, match="already registered"):
        gc.elementwise("relu", lambda t: t)
    with pytest.raises(ValueError, match="already registered"):
        gc.elementwise("conv2d", lambda t: t)  # composites share the namespace


# =============================================================================================
# randomness
# =============================================================================================
def _draw(op, shape, seed, counter=None, **kw):
    c = gc.input("step", (), gc.int64) if counter is not None else None
    t = getattr(gc, op)(shape, seed=seed, counter=c, **kw)
    return gc.evaluate(t, step=np.int64(counter)) if counter is not None else gc.evaluate(t)


@pytest.mark.parametrize("op", ["uniform", "normal"])
def test_random_same_seed_and_counter_same_numbers(op):
    a = _draw(op, (50,), seed=42, counter=3)
    b = _draw(op, (50,), seed=42, counter=3)
    np.testing.assert_array_equal(a, b)
    c = _draw(op, (50,), seed=42, counter=4)
    d = _draw(op, (50,), seed=43, counter=3)
    assert not np.any(a == c) and not np.any(a == d)
    # one compiled function with a counter input: a new mask every step, reproducible per step
    step = gc.input("step", (), gc.int64)
    f = gc.compile(getattr(gc, op)((50,), seed=42, counter=step))
    np.testing.assert_array_equal(f(step=np.int64(3)), a)
    assert not np.array_equal(f(step=np.int64(5)), a)


def test_random_without_seed_gets_fresh_seeds():
    a, b = gc.uniform((20,)), gc.uniform((20,))
    assert a.node.attrs["seed"] != b.node.attrs["seed"]
    va, vb = gc.evaluate([a, b])
    assert not np.array_equal(va, vb)


BUILD_IN_ORDER = textwrap.dedent('''
    import json, sys, numpy as np, graphc as gc

    def model(tag, shape, scoped):
        x = gc.input("x", shape)
        def body():
            return gc.dropout(gc.tanh(x), 0.5) + gc.normal(shape) + gc.uniform(shape)
        if not scoped:
            return x, body()
        with gc.scope(tag):
            return x, body()

    models = {"a": lambda: model("a", (4, 3), True), "b": lambda: model("b", (4, 3), True),
              "c": lambda: model("c", (6,), False)}
    out = {}
    for key in sys.argv[1]:
        x, y = models[key]()
        out[key] = [gc.graph(y).structural_hash(), gc.evaluate(y, x=np.ones(x.shape)).tolist()]
    print(json.dumps(out))
''')


def test_unseeded_random_graphs_do_not_depend_on_build_order():
    """Default seeds come from the scope, name, shape and dtype of each draw: independent graphs get the same
    seeds (so the same structural hash and dropout masks) whichever is built first."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", BUILD_IN_ORDER, order], capture_output=True, text=True,
                                      check=True).stdout) for order in ("abc", "cba", "b")]
    assert runs[0] == runs[1]
    assert runs[2]["b"] == runs[0]["b"]
    assert runs[0]["a"] != runs[0]["b"]  # alike but under different scopes: independent masks


def test_default_seeds_tell_identical_draws_in_one_scope_apart():
    with gc.scope("seeds_test"):
        a, b = gc.uniform((5,)), gc.uniform((5,))
        n = gc.uniform((5,), name="named")
    assert len({a.node.attrs["seed"], b.node.attrs["seed"], n.node.attrs["seed"]}) == 3
    va, vb = gc.evaluate([a, b])
    assert not np.array_equal(va, vb)


N_STAT = 100_000


def test_uniform_statistics():
    u = _draw("uniform", (N_STAT,), seed=1)
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    se = math.sqrt(1 / 12 / N_STAT)
    assert abs(u.mean() - 0.5) < 5 * se
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / N_STAT)  # var of (u - 1/2)^2 is 1/180
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(hist - N_STAT / 10) < 5 * math.sqrt(N_STAT * 0.1 * 0.9))
    v = _draw("uniform", (N_STAT,), seed=2, low=-3.0, high=5.0, dtype=gc.float64)
    assert v.dtype == np.float64 and v.min() >= -3 and v.max() < 5
    assert abs(v.mean() - 1.0) < 5 * 8 * se


def test_normal_statistics():
    z = _draw("normal", (N_STAT,), seed=3)
    assert z.dtype == np.float32 and np.all(np.isfinite(z))
    assert abs(z.mean()) < 5 / math.sqrt(N_STAT)
    assert abs(z.std() - 1.0) < 5 * math.sqrt(0.5 / N_STAT)
    assert abs(np.mean(np.abs(z) < 1.0) - 0.682689) < 0.01
    w = _draw("normal", (400, 250), seed=4, mean=2.0, std=0.5, dtype=gc.float64)
    assert w.shape == (400, 250)
    assert abs(w.mean() - 2.0) < 5 * 0.5 / math.sqrt(N_STAT)
    assert abs(w.std() - 0.5) < 5 * 0.5 * math.sqrt(0.5 / N_STAT)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.85])
def test_bernoulli_rate(p):
    m = gc.evaluate(gc.bernoulli(p, (N_STAT,), seed=5))
    assert set(np.unique(m)) <= {0.0, 1.0} and m.dtype == np.float32
    assert abs(m.mean() - p) < 5 * math.sqrt(p * (1 - p) / N_STAT)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_preserves_the_mean(p):
    x = gc.input("x", (None, 1000))
    y = gc.dropout(x, p, seed=6)
    xv = np.full((100, 1000), 3.0, np.float32)
    out = gc.evaluate(y, x=xv)
    kept = out != 0
    assert abs(kept.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / xv.size)
    np.testing.assert_allclose(out[kept], 3.0 / (1 - p), rtol=1e-6)
    assert abs(out.mean() - 3.0) < 5 * 3.0 * math.sqrt(p / (1 - p) / xv.size)
    rv = np.random.default_rng(0).normal(1.0, 1.0, (100, 1000)).astype(np.float32)
    assert abs(gc.evaluate(y, x=rv).mean() - rv.mean()) < 0.05


def test_dropout_identity_at_test_time_and_bad_p():
    x = gc.input("x", (None, 4))
    assert gc.dropout(x, 0.5, training=False) is x
    assert gc.dropout(x, 0.0) is x
    with pytest.raises(ValueError):
        gc.dropout(x, 1.0)
    with pytest.raises(ValueError):
        gc.dropout(x, -0.1)


def test_dropout_mask_changes_with_the_counter():
    x = gc.input("x", (50,))
    step = gc.input("step", (), gc.int64)
    f = gc.compile(gc.dropout(x, 0.5, seed=7, counter=step))
    ones = np.ones(50, np.float32)
    a, b, a2 = f(x=ones, step=np.int64(0)), f(x=ones, step=np.int64(1)), f(x=ones, step=np.int64(0))
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a, b)


def test_the_dsl_is_every_op_function_lifted_to_tensors():
    import graphc.ops as node_ops

    x = gc.input("x", (2, 6))
    assert all(hasattr(gc, name) for name in node_ops.__all__)
    parts = gc.split(x, 3, axis=1)                              # lists of results come back as tensors
    assert isinstance(parts, list) and all(isinstance(p, gc.Tensor) for p in parts)
    whole = gc.concat(parts, axis=1)                            # and lists of arguments go in as nodes
    assert isinstance(whole, gc.Tensor) and whole.shape == (2, 6)
    assert gc.COMPOSITES["softmax"].fn is gc.softmax and isinstance(gc.COMPOSITES["softmax"](x), gc.Tensor)
    s = gc.REGISTRY["sigmoid"](x)
    assert isinstance(s, gc.Tensor) and s.node.op is node_ops.REGISTRY["sigmoid"] and gc.REGISTRY["sigmoid"].kind == "elementwise"
    assert isinstance(node_ops.softmax(x.node), Node)           # underneath, ops take and give nodes
    with pytest.raises(gc.GraphcError, match="graph nodes"):
        node_ops.add(x, 1.0)


def test_a_function_returning_its_argument_returns_the_same_tensor():
    x = gc.input("x", (2, 3))
    h = gc.tanh(x)
    assert gc.reshape(h, (2, 3)) is h and gc.broadcast_to(h, (2, 3)) is h and gc.cast(h, "float32") is h
    assert gc.Tensor.of(x.node) is x                            # a declaration has one handle
