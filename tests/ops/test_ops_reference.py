"""Registry sweep: every primitive op and every composite, evaluated by the reference interpreter
(`gc.evaluate`) on random inputs, against NumPy formulations written here (independent of the
ops' own `reference` methods; composites are also checked against their registry oracle).

Each case also checks that the op's shape rule predicted the result's shape (with the symbolic
dims bound from the inputs), that the output dtype is the one expected, and that the op named
by the case really occurs in the evaluated graph.
"""
from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import sympy

import graphc as gc

REG = gc.REGISTRY
CASES: list = []
COVERED: set[str] = set()


def case(op: str, variant: str, xfail: str | None = None, **tol):
    """Register the decorated builder as a sweep case for `op` (a primitive or composite name)."""

    def deco(build):
        marks = [pytest.mark.xfail(reason=f"BUG: {xfail}", strict=True)] if xfail else []
        CASES.append(pytest.param(op, build, tol, id=f"{op}-{variant}", marks=marks))
        COVERED.add(op)
        return build

    return deco


def add_case(op: str, variant: str, build, xfail: str | None = None, **tol):
    case(op, variant, xfail, **tol)(build)


_seed = itertools.count(1000)


def rand(shape, dtype=np.float32, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(next(_seed))
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(lo), int(hi) + 1, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def concrete(decl, n=3, named=None):
    """A concrete shape for a declared one: None -> n, a str -> named[str]."""
    named = named or {}
    return tuple(n if d is None else named.get(d, 4) if isinstance(d, str) else d for d in decl)


def inp(name, decl, dtype=np.float32, lo=-2.0, hi=2.0, n=3):
    """A graph input and a random array for it."""
    return gc.input(name, decl, dtype), rand(concrete(decl, n), dtype, lo, hi)


def bindings_of(graph, feeds):
    out = {}
    for node in graph.inputs:
        arr = np.asarray(feeds[node.attrs["name"]])
        for d, actual in zip(node.shape, arr.shape):
            if isinstance(d, sympy.Symbol):
                out[d] = actual
    return out


def bound_shape(shape, bindings):
    return tuple(int(d) if isinstance(d, int) else int(sympy.sympify(d).subs(bindings)) for d in shape)


def _close(got, want, tol):
    if want.dtype == np.bool_ or want.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=tol.get("rtol", 2e-5), atol=tol.get("atol", 1e-6))


@pytest.mark.parametrize("op, build, tol", CASES)
def test_op_matches_numpy(op, build, tol):
    built = build()
    out, feeds, expected = built[:3]
    oracle = built[3] if len(built) > 3 else None
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    exps = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    assert len(outs) == len(exps)
    got = gc.evaluate(outs, feeds)
    graph = gc.graph(outs)
    if op in REG:
        assert op in {n.op.name for n in graph.nodes}, f"case for {op!r} does not use the op"
    bindings = bindings_of(graph, feeds)
    for t, g, e in zip(outs, got, exps):
        e = np.asarray(e)
        assert isinstance(g, np.ndarray)
        assert bound_shape(t.shape, bindings) == g.shape == e.shape
        assert t.dtype == e.dtype, f"dtype {t.dtype}, expected {e.dtype}"
        assert g.dtype == e.dtype
        _close(g, e, tol)
    if oracle is not None:  # the composite's registry reference agrees with ours
        ref = oracle()
        refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
        for r, e in zip(refs, exps):
            np.testing.assert_allclose(np.asarray(r, np.float64), np.asarray(e, np.float64), rtol=1e-4, atol=1e-5)


def test_every_registered_op_has_a_case():
    """A new op in graphc.ops (primitive or composite) must get a case in this sweep."""
    code = "import json, graphc as gc; print(json.dumps([sorted(gc.REGISTRY), sorted(gc.COMPOSITES)]))"
    prims, comps = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                             check=True).stdout)
    missing = sorted((set(prims) | set(comps)) - COVERED)
    assert not missing, f"ops without a sweep case: {missing}"
    assert {"conv2d", "add", "unfold", "expr", "random_normal"} <= set(prims) | set(comps)


# =============================================================================================
# leaves
# =============================================================================================
@case("input", "symbolic")
def _():
    x, a = inp("x", (None, 3))
    return x, {"x": a}, a


@case("param", "value")
def _():
    v = rand((2, 3))
    w = gc.param("w", v)
    return w * 1.0, {}, v


@case("param", "int_then_value")
def _():
    v = np.arange(6, dtype=np.int32).reshape(2, 3)
    w = gc.param("wi", v)
    assert w.dtype == np.int32
    return w + 0, {}, v


@case("const", "array_keeps_dtype")
def _():
    v = rand((3, 2), np.float64)
    return gc.const(v), {}, v


@case("const", "scalar_float_default")
def _():
    return gc.const(2.5), {}, np.float32(2.5)


@case("const", "with_dtype")
def _():
    return gc.const([1, 2, 3], dtype=gc.float64), {}, np.array([1.0, 2.0, 3.0])


# =============================================================================================
# elementwise: unary
# =============================================================================================
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


UNARY = {  # name: (dsl function, oracle in float64, (lo, hi) domain, same-dtype-for-ints)
    "neg": (gc.neg, lambda a: 0 - a, (-3, 3), True),
    "abs": (gc.abs, lambda a: np.where(a < 0, -a, a), (-3, 3), True),
    "sign": (gc.sign, lambda a: (a > 0).astype(np.float64) - (a < 0), (-3, 3), True),
    "exp": (gc.exp, np.exp, (-3, 3), False),
    "log": (gc.log, np.log, (0.1, 5), False),
    "log1p": (gc.log1p, lambda a: np.log(1.0 + a), (-0.5, 3), False),
    "expm1": (gc.expm1, lambda a: np.exp(a) - 1.0, (-2, 2), False),
    "sqrt": (gc.sqrt, lambda a: a ** 0.5, (0.1, 5), False),
    "rsqrt": (gc.rsqrt, lambda a: a ** -0.5, (0.1, 5), False),
    "square": (gc.square, lambda a: a * a, (-3, 3), True),
    "reciprocal": (gc.reciprocal, lambda a: 1.0 / a, (0.2, 4), False),
    "sin": (gc.sin, np.sin, (-4, 4), False),
    "cos": (gc.cos, np.cos, (-4, 4), False),
    "tanh": (gc.tanh, lambda a: (np.exp(2 * a) - 1) / (np.exp(2 * a) + 1), (-3, 3), False),
    "sigmoid": (gc.sigmoid, _sig, (-6, 6), False),
    "relu": (gc.relu, lambda a: np.where(a > 0, a, 0.0), (-3, 3), True),
    "leaky_relu": (gc.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), (-3, 3), False),
    "elu": (gc.elu, lambda a: np.where(a > 0, a, np.exp(a) - 1.0), (-3, 3), False),
    "gelu": (gc.gelu, lambda a: 0.5 * a * (1.0 + _erf(a / math.sqrt(2.0))), (-3, 3), False),
    "gelu_tanh": (lambda x: gc.gelu(x, approximate="tanh"),
                  lambda a: 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a ** 3))), (-3, 3), False),
    "softplus": (gc.softplus, lambda a: np.log(1.0 + np.exp(a)), (-5, 5), False),
    "step": (gc.step, lambda a: (a > 0).astype(np.float64), (-3, 3), False),
    "erf": (gc.erf, _erf, (-2, 2), False),
    "tan": (gc.tan, np.tan, (-1.2, 1.2), False),
    "floor": (gc.floor, np.floor, (-3, 3), True),
    "ceil": (gc.ceil, np.ceil, (-3, 3), True),
    "round": (gc.round, np.round, (-3, 3), True),
    "atan": (gc.atan, np.arctan, (-4, 4), False),
    "asin": (gc.asin, np.arcsin, (-0.99, 0.99), False),
    "acos": (gc.acos, np.arccos, (-0.99, 0.99), False),
    "asinh": (gc.asinh, np.arcsinh, (-4, 4), False),
    "acosh": (gc.acosh, np.arccosh, (1.01, 5), False),
    "atanh": (gc.atanh, np.arctanh, (-0.95, 0.95), False),
}


INT_INPUT_BUGS: dict = {}  # op name -> diagnosis, for int-input cases known to fail


def _unary_case(name, decl, dtype, int_input=False):
    fn, oracle, (lo, hi), same_for_ints = UNARY[name]

    def build():
        if int_input:
            x, a = inp("x", decl, np.int32, max(lo, 1) if name in ("log", "sqrt", "rsqrt", "reciprocal") else lo, hi)
            out_dtype = np.int32 if same_for_ints else np.float32
        else:
            x, a = inp("x", decl, dtype, lo, hi)
            if name in ("step", "relu"):  # exercise the kink exactly
                a.flat[0] = 0.0
            out_dtype = dtype
        want = oracle(a.astype(np.float64)).astype(out_dtype)
        return fn(x), {"x": a}, want

    return build


for _name in UNARY:
    for _decl, _dt in [((), np.float32), ((None, 4), np.float32), ((2, 3, 4), np.float64)]:
        add_case(_name, f"{_decl}-{np.dtype(_dt).name}", _unary_case(_name, _decl, _dt), atol=2e-6)
    add_case(_name, "int32", _unary_case(_name, (2, 3), None, int_input=True), atol=2e-6,
             xfail=INT_INPUT_BUGS.get(_name))
    add_case(_name, "f16", _unary_case(_name, (None, 4), np.float16), rtol=2e-3, atol=1e-3)


@case("leaky_relu", "alpha")
def _():
    x, a = inp("x", (None, 5))
    return gc.leaky_relu(x, alpha=0.2), {"x": a}, np.where(a > 0, a, np.float32(0.2) * a)


@case("elu", "alpha")
def _():
    x, a = inp("x", (3, 5), np.float64)
    return gc.elu(x, alpha=0.5), {"x": a}, np.where(a > 0, a, 0.5 * (np.exp(a) - 1))


@case("sigmoid", "extreme_values")
def _():
    x = gc.input("x", (4,), np.float64)
    a = np.array([-800.0, -40.0, 40.0, 800.0])
    want = np.array([0.0, math.exp(-40) / (1 + math.exp(-40)), 1 / (1 + math.exp(-40)), 1.0])
    return gc.sigmoid(x), {"x": a}, want


@case("logical_not", "bool")
def _():
    x, a = inp("x", (None, 3), np.bool_)
    return gc.logical_not(x), {"x": a}, ~a


@case("logical_not", "invert_operator")
def _():
    x, a = inp("x", (4,), np.bool_)
    return ~x, {"x": a}, ~a


# =============================================================================================
# elementwise: binary (NumPy broadcasting)
# =============================================================================================
BROADCAST_PAIRS = [((3,), (3,)), ((2, 1, 4), (3, 1)), ((None, 3), (3,)), ((), (2, 3)), ((4, 1), (1, 5)),
                   ((None, 1, 2), (None, 3, 1))]

BINARY = {  # name: (dsl function, oracle, a domain, b domain, result: same|float|bool)
    "add": (gc.add, lambda a, b: a + b, (-3, 3), (-3, 3), "same"),
    "sub": (gc.sub, lambda a, b: a - b, (-3, 3), (-3, 3), "same"),
    "mul": (gc.mul, lambda a, b: a * b, (-3, 3), (-3, 3), "same"),
    "div": (gc.div, lambda a, b: a / b, (-3, 3), (0.5, 3), "float"),
    "pow": (gc.pow, lambda a, b: np.exp(b * np.log(a)), (0.5, 2), (-2, 2), "same"),
    "maximum": (gc.maximum, lambda a, b: np.where(a >= b, a, b), (-3, 3), (-3, 3), "same"),
    "minimum": (gc.minimum, lambda a, b: np.where(a <= b, a, b), (-3, 3), (-3, 3), "same"),
    "eq": (gc.eq, lambda a, b: a == b, (-2, 2), (-2, 2), "bool"),
    "ne": (gc.ne, lambda a, b: a != b, (-2, 2), (-2, 2), "bool"),
    "lt": (gc.lt, lambda a, b: a < b, (-2, 2), (-2, 2), "bool"),
    "le": (gc.le, lambda a, b: a <= b, (-2, 2), (-2, 2), "bool"),
    "gt": (gc.gt, lambda a, b: a > b, (-2, 2), (-2, 2), "bool"),
    "ge": (gc.ge, lambda a, b: a >= b, (-2, 2), (-2, 2), "bool"),
    "mod": (gc.mod, np.mod, (-5, 5), (1, 4), "same"),
    "fmod": (gc.fmod, np.fmod, (-5, 5), (1, 4), "same"),
    "floor_divide": (gc.floor_divide, np.floor_divide, (-5, 5), (1, 4), "same"),
}


def _binary_case(name, sa, sb, dtype):
    fn, oracle, da, db, result = BINARY[name]

    def build():
        x, a = inp("x", sa, dtype, *da)
        y, b = inp("y", sb, dtype, *db)
        if result == "bool" and np.dtype(dtype).kind == "f":  # make ties occur
            a, b = np.round(a), np.round(b)
        want_dtype = np.bool_ if result == "bool" else (np.float32 if result == "float" and np.dtype(dtype).kind != "f" else dtype)
        want = np.asarray(oracle(a.astype(np.float64), b.astype(np.float64))).astype(want_dtype)
        return fn(x, y), {"x": a, "y": b}, want

    return build


for _name in BINARY:
    for _sa, _sb in BROADCAST_PAIRS:
        add_case(_name, f"{_sa}x{_sb}", _binary_case(_name, _sa, _sb, np.float32))
    add_case(_name, "f64", _binary_case(_name, (2, 3), (3,), np.float64))
    # float16 computes in float32 and rounds once: within one float16 ulp of the float64 oracle's rounding
    add_case(_name, "f16", _binary_case(_name, (None, 3), (3,), np.float16), rtol=2e-3, atol=1e-3)
    if _name != "pow":
        add_case(_name, "int32", _binary_case(_name, (None, 3), (1, 3), np.int32))
        add_case(_name, "int8", _binary_case(_name, (2, 3), (3,), np.int8))


@case("pow", "int_exponent")
def _():
    x, a = inp("x", (2, 3), np.int64, -3, 3)
    return x ** 3, {"x": a}, a * a * a


@case("add", "python_scalar_left")
def _():
    x, a = inp("x", (None, 3))
    return 2.5 + x, {"x": a}, (np.float64(2.5) + a).astype(np.float32)


@case("sub", "numpy_left")
def _():
    x, a = inp("x", (2, 3))
    c = np.array([1.0, 2.0, 3.0])
    return c - x, {"x": a}, (c - a).astype(np.float32)


@case("div", "scalar_right")
def _():
    x, a = inp("x", (4,), np.int32, -5, 5)
    return x / 2, {"x": a}, (a / 2.0).astype(np.float32)


def _logical(name, fn, oracle):
    for sa, sb in [((4,), (4,)), ((None, 1), (1, 3)), ((), (2, 2))]:
        def build(sa=sa, sb=sb):
            x, a = inp("x", sa, np.bool_)
            y, b = inp("y", sb, np.bool_)
            return fn(x, y), {"x": a, "y": b}, oracle(a, b)

        add_case(name, f"{sa}x{sb}", build)


_logical("logical_and", gc.logical_and, lambda a, b: np.asarray(a & b))
_logical("logical_or", gc.logical_or, lambda a, b: np.asarray(a | b))
_logical("logical_and", lambda x, y: x & y, lambda a, b: np.asarray(a & b))
_logical("logical_or", lambda x, y: x | y, lambda a, b: np.asarray(a | b))


@pytest.mark.parametrize("sa, sb, sc", [((None, 3), (3,), ()), ((2, 1), (1, 4), (2, 4)), ((), (), ()),
                                        ((3, 1, 2), (2,), (4, 1))])
def test_where_shapes(sa, sb, sc):
    c, cv = inp("c", sa, np.bool_)
    x, a = inp("x", sb)
    y, b = inp("y", sc, np.float64)
    out = gc.where(c, x, y)
    want = np.array([ai if ci else bi for ci, ai, bi in zip(*(np.broadcast_arrays(cv, a, b)[i].ravel() for i in range(3)))],
                    np.float64).reshape(np.broadcast_shapes(cv.shape, a.shape, b.shape))
    got = gc.evaluate(out, c=cv, x=a, y=b)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(got, want)


@case("where", "broadcast")
def _():
    c, cv = inp("c", (None, 1), np.bool_)
    x, a = inp("x", (None, 4))
    want = np.where(cv, a, np.float32(-1.0))
    return gc.where(c, x, -1.0), {"c": cv, "x": a}, want


@case("where", "int_branches_from_comparison")
def _():
    x, a = inp("x", (5,), np.int32, -4, 4)
    return gc.where(x > 0, x, 0 - x), {"x": a}, np.abs(a)


@case("cast", "f32_to_i32_truncates")
def _():
    x, a = inp("x", (None, 4), np.float32, -5, 5)
    want = np.array([math.trunc(float(v)) for v in a.ravel()], np.int32).reshape(a.shape)
    return gc.cast(x, gc.int32), {"x": a}, want


@case("cast", "i64_to_f64")
def _():
    x, a = inp("x", (3, 2), np.int64, -100, 100)
    return x.astype("float64"), {"x": a}, a.astype(np.float64)


@case("cast", "f32_to_bool")
def _():
    x, a = inp("x", (6,), np.float32)
    a[::2] = 0.0
    return gc.cast(x, bool), {"x": a}, a != 0


@case("cast", "bool_to_f32")
def _():
    x, a = inp("x", (2, 3), np.bool_)
    return gc.cast(x, gc.float32), {"x": a}, np.where(a, 1.0, 0.0).astype(np.float32)


@case("stop_gradient", "identity")
def _():
    x, a = inp("x", (None, 2, 3))
    return gc.stop_gradient(x), {"x": a}, a


@case("expr", "two_args")
def _():
    s, t = sympy.symbols("s t", real=True)
    x, a = inp("x", (None, 3))
    y, b = inp("y", (3,))
    out = gc.expr(s ** 2 + 3 * sympy.sin(t) - s * t, {s: x, t: y})
    want = (a.astype(np.float64) ** 2 + 3 * np.sin(b.astype(np.float64)) - a * b.astype(np.float64)).astype(np.float32)
    return out, {"x": a, "y": b}, want


@case("expr", "dtype_and_piecewise")
def _():
    s = sympy.Symbol("s", real=True)
    x, a = inp("x", (4, 2), np.float64)
    out = gc.expr(sympy.Piecewise((s, s > 0), (s / 4, True)), {s: x}, dtype=gc.float64)
    return out, {"x": a}, np.where(a > 0, a, a / 4)


# =============================================================================================
# reductions
# =============================================================================================
AXES = [None, 0, -1, (0, 2), (1, 2), (2, 0, 1)]


def _np_reduce(kind, a, axis, keepdims):
    """Reduce by moving the reduced axes to the end and flattening them (independent of np.sum(axis=...))."""
    axes = tuple(range(a.ndim)) if axis is None else tuple(sorted(ax % a.ndim for ax in ((axis,) if isinstance(axis, int) else axis)))
    rest = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, rest + list(axes)).reshape([a.shape[i] for i in rest] + [-1])
    acc = moved[..., 0].astype(np.float64)
    for k in range(1, moved.shape[-1]):
        v = moved[..., k]
        acc = {"sum": acc + v, "mean": acc + v, "prod": acc * v, "max": np.where(v > acc, v, acc),
               "min": np.where(v < acc, v, acc)}[kind]
    if kind == "mean":
        acc = acc / moved.shape[-1]
    if keepdims:
        acc = acc.reshape([1 if i in axes else d for i, d in enumerate(a.shape)])
    return np.asarray(acc)


def _reduce_case(kind, decl, axis, keepdims, dtype=np.float32):
    def build():
        lo, hi = (0.5, 1.5) if kind == "prod" else (-3, 3)
        x, a = inp("x", decl, dtype, lo, hi)
        fn = getattr(gc, kind)
        want_dtype = {"sum": np.int64 if dtype in (np.int32, np.bool_) else dtype,
                      "mean": dtype if np.dtype(dtype).kind == "f" else np.float32}.get(kind, dtype)
        want = _np_reduce(kind, a, axis, keepdims).astype(want_dtype)
        return fn(x, axis, keepdims), {"x": a}, want

    return build


for _kind in ("sum", "mean", "max", "min", "prod"):
    for _axis in AXES:
        for _kd in (False, True):
            add_case(_kind, f"{_axis}-kd{int(_kd)}", _reduce_case(_kind, (2, 3, 4), _axis, _kd), rtol=1e-5)
    add_case(_kind, "symbolic-axis1", _reduce_case(_kind, (None, 3, 4), (1,), False), rtol=1e-5)
    add_case(_kind, "symbolic-over-batch", _reduce_case(_kind, (None, 3, 4), (0, 2), True), rtol=1e-5)
    add_case(_kind, "f64", _reduce_case(_kind, (5, 3), 0, False, np.float64))
for _kind in ("sum", "max", "min", "mean"):
    add_case(_kind, "int32", _reduce_case(_kind, (4, 5), -1, False, np.int32))
add_case("sum", "bool_counts", _reduce_case("sum", (None, 6), 1, True, np.bool_))


@case("sum", "method")
def _():
    x, a = inp("x", (None, 3))
    return x.sum(axis=1), {"x": a}, a.astype(np.float64).sum(1).astype(np.float32)


@case("max", "method_keepdims")
def _():
    x, a = inp("x", (2, 5))
    return x.max(-1, keepdims=True), {"x": a}, np.array([[max(r)] for r in a], np.float32)


def _arg_case(kind, decl, axis, keepdims):
    def build():
        x, a = inp("x", decl, np.float32)
        a = np.round(a)  # ties: the first occurrence must win
        ax = 0 if axis is None else axis % a.ndim
        moved = np.moveaxis(a, ax, -1)
        want = np.empty(moved.shape[:-1], np.int64)
        for idx in np.ndindex(*moved.shape[:-1]):
            row = list(moved[idx])
            target = max(row) if kind == "argmax" else min(row)
            want[idx] = row.index(target)
        if keepdims:
            want = np.expand_dims(want, ax)
        return getattr(gc, kind)(x, axis, keepdims), {"x": a}, want

    return build


for _kind in ("argmax", "argmin"):
    for _decl, _axis in [((7,), None), ((3, 4, 5), 0), ((3, 4, 5), 1), ((3, 4, 5), -1), ((None, 6), 1), ((None, 6), 0)]:
        for _kd in (False, True):
            add_case(_kind, f"{_decl}-{_axis}-kd{int(_kd)}", _arg_case(_kind, _decl, _axis, _kd))


def _logsumexp_np(a, axis, keepdims):
    a = a.astype(np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis=axis))


for _axis, _kd in [(None, False), (-1, False), (1, True), ((0, 2), False), ((0, 2), True)]:
    def _b(axis=_axis, kd=_kd):
        x, a = inp("x", (2, 3, 4), np.float32, -5, 5)
        reg = gc.COMPOSITES["logsumexp"].reference
        return (gc.logsumexp(x, axis, kd), {"x": a}, _logsumexp_np(a, axis, kd).astype(np.float32),
                lambda: reg(a.astype(np.float64), axis=axis, keepdims=kd))

    add_case("logsumexp", f"{_axis}-kd{int(_kd)}", _b, rtol=1e-5)


@case("logsumexp", "huge_values_stable")
def _():
    x = gc.input("x", (None, 3))
    a = np.array([[1000.0, 1000.0, 1000.0], [-1000.0, 0.0, -1000.0]], np.float32)
    want = np.array([1000 + math.log(3), math.log(1 + 2 * math.exp(-1000))], np.float32)
    return gc.logsumexp(x, axis=1), {"x": a}, want


def _var_np(a, axis, keepdims, ddof):
    a = a.astype(np.float64)
    axes = tuple(range(a.ndim)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    n = int(np.prod([a.shape[i] for i in axes]))
    mu = a.mean(axis=axis, keepdims=True)
    return ((a - mu) ** 2).sum(axis=axis, keepdims=keepdims) / (n - ddof)


for _name in ("var", "std"):
    for _axis, _kd, _ddof in [(None, False, 0), (0, False, 0), (-1, True, 0), ((0, 2), False, 1), (1, True, 1)]:
        def _b(name=_name, axis=_axis, kd=_kd, ddof=_ddof):
            x, a = inp("x", (3, 4, 5), np.float32)
            v = _var_np(a, axis, kd, ddof)
            want = (np.sqrt(v) if name == "std" else v).astype(np.float32)
            reg = gc.COMPOSITES[name].reference
            return (getattr(gc, name)(x, axis, kd, ddof), {"x": a}, want,
                    lambda: reg(a.astype(np.float64), axis=axis, keepdims=kd, ddof=ddof))

        add_case(_name, f"{_axis}-kd{int(_kd)}-ddof{_ddof}", _b, rtol=1e-5)


@case("var", "method_symbolic")
def _():
    x, a = inp("x", (None, 4), np.float64)
    return x.var(axis=0), {"x": a}, _var_np(a, 0, False, 0)


@case("std", "method_symbolic")
def _():
    x, a = inp("x", (None, 4), np.float64)
    return x.std(axis=1, keepdims=True), {"x": a}, np.sqrt(_var_np(a, 1, True, 0))


# =============================================================================================
# movement
# =============================================================================================
def _flat_reshape(a, shape):
    """Reshape by C-order flattening element by element (independent of np.reshape)."""
    flat = [a[idx] for idx in np.ndindex(*a.shape)]
    out = np.empty(shape, a.dtype)
    for k, idx in enumerate(np.ndindex(*shape)):
        out[idx] = flat[k]
    return out


for _decl, _target, _shape in [((2, 3, 4), (6, 4), None), ((2, 3, 4), (4, -1), None), ((2, 3, 4), (24,), None),
                               ((None, 3, 4), (-1, 12), None), ((None, 6), (None, 2, 3), None), ((None, 2), (-1,), None),
                               ((None, 4), (2, -1, 2), None), ((), (1, 1), None), ((None, 6), ("N", 3, 2), None)]:
    def _b(decl=_decl, target=_target):
        n = 3 if decl != (None, 4) else 6
        x = gc.input("x", decl)
        a = rand(concrete(decl, n))
        total = a.size
        shape = [n if d in (None, "N") else d for d in target]
        if -1 in shape:
            k = shape.index(-1)
            shape[k] = total // int(np.prod([d for d in shape if d != -1]))
        out = x.reshape(target) if len(target) > 1 else gc.reshape(x, target)
        return out, {"x": a}, _flat_reshape(a, tuple(shape))

    add_case("reshape", f"{_decl}->{_target}", _b)


@case("reshape", "method_varargs_and_flatten")
def _():
    x, a = inp("x", (2, 6))
    return [x.reshape(3, 4), x.flatten()], {"x": a}, [_flat_reshape(a, (3, 4)), _flat_reshape(a, (12,))]


@case("reshape", "expand_dims_squeeze")
def _():
    x, a = inp("x", (None, 1, 3))
    return ([gc.expand_dims(x, 1), gc.expand_dims(x, -1), gc.squeeze(x), gc.squeeze(x, 1)], {"x": a},
            [a[:, None], a[..., None], a[:, 0, :], a[:, 0, :]])


def _transpose_np(a, perm):
    perm = [p % a.ndim for p in perm]
    out = np.empty([a.shape[p] for p in perm], a.dtype)
    for idx in np.ndindex(*a.shape):
        out[tuple(idx[p] for p in perm)] = a[idx]
    return out


for _decl, _perm in [((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (2, 0, 1)),
                     ((None, 3, 4), (-1, 0, 1)), ((2, 3, 4, 5), (3, 1, 0, 2))]:
    def _b(decl=_decl, perm=_perm):
        x, a = inp("x", decl)
        p = tuple(reversed(range(a.ndim))) if perm is None else perm
        return gc.transpose(x, perm), {"x": a}, _transpose_np(a, p)

    add_case("transpose", f"{_decl}-{_perm}", _b)


@case("transpose", "T_permute_swapaxes_method")
def _():
    x, a = inp("x", (None, 3, 4))
    return ([x.T, gc.permute(x, 2, 0, 1), gc.swapaxes(x, 0, -1), x.transpose(0, 2, 1)], {"x": a},
            [_transpose_np(a, (2, 1, 0)), _transpose_np(a, (2, 0, 1)), _transpose_np(a, (2, 1, 0)), _transpose_np(a, (0, 2, 1))])


for _src, _dst in [((3,), (2, 3)), ((4, 1), (2, 4, 5)), ((), (3, 2)), ((None, 1), (None, 3)), ((1, 3), (None, 3))]:
    def _b(src=_src, dst=_dst):
        x, a = inp("x", src)
        feeds = {"x": a}
        out = gc.broadcast_to(x, dst)
        n = 3
        shape = tuple(n if d is None else d for d in dst)
        want = np.empty(shape, np.float32)
        lead = len(shape) - a.ndim
        for idx in np.ndindex(*shape):
            want[idx] = a[tuple(0 if a.shape[k] == 1 else idx[lead + k] for k in range(a.ndim))]
        if None in dst and None not in src:  # bind N through another input
            z, zv = inp("z", (None,), n=n)
            feeds["z"] = zv
            return [out, z], feeds, [want, zv]
        return out, feeds, want

    add_case("broadcast_to", f"{_src}->{_dst}", _b)


def _np_index(a, index):
    """Basic indexing done by hand: ints, slices (via range), None, Ellipsis."""
    if not isinstance(index, tuple):
        index = (index,)
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (a.ndim - n_real) + index[k + 1:]
    index = index + (slice(None),) * (a.ndim - sum(1 for i in index if i is not None))
    axes_ranges, out_shape, axis = [], [], 0
    for ix in index:
        if ix is None:
            out_shape.append(1)
            continue
        if isinstance(ix, slice):
            r = list(range(*ix.indices(a.shape[axis])))
            axes_ranges.append(r)
            out_shape.append(len(r))
        else:
            axes_ranges.append([ix % a.shape[axis]])
        axis += 1
    vals = [a[idx] for idx in itertools.product(*axes_ranges)]
    return np.array(vals, a.dtype).reshape(out_shape)


for _decl, _index in [((5, 6), (slice(1, None), slice(None, None, -2))),
                      ((5, 6), (slice(None, None, -1),)),
                      ((5, 6), (slice(-1, 0, -2), slice(4, 1, -1))),
                      ((5, 6), (slice(1, None), slice(None, None, -2), None)),
                      ((2, 3, 4), (Ellipsis, 1)),
                      ((2, 3, 4), (None, Ellipsis, slice(None, None, 3))),
                      ((2, 3, 4), (0, slice(None), -2)),
                      ((2, 3, 4), (-1, None, slice(-2, None))),
                      ((2, 3, 4), (slice(None), slice(5, 1, -1))),
                      ((7,), (slice(10, -10, -3),)),
                      ((7,), (slice(2, 2),)),
                      ((None, 6), (slice(None), slice(1, 5, 2))),
                      ((None, 6), (Ellipsis, -1)),
                      ((None, 4, 3), (1, slice(None, None, -1)))]:
    def _b(decl=_decl, index=_index):
        x, a = inp("x", decl)
        return x[index], {"x": a}, _np_index(a, index)

    add_case("slice", f"{_decl}-{_index}", _b)


for _decl, _index in [((2, 3), (None,)), ((2, 3), (None, Ellipsis, None)), ((None, 3), (slice(None), None))]:
    def _b(decl=_decl, index=_index):
        x, a = inp("x", decl)
        return x[index], {"x": a}, _np_index(a, index)

    add_case("reshape", f"getitem-{_index}", _b)


@case("slice", "primitive_negative_step_past_zero")
def _():
    x, a = inp("x", (5, 6))
    out = REG["slice"](x, starts=(4, 1), stops=(-1, 6), steps=(-2, 2))
    return out, {"x": a}, np.array([[a[i, j] for j in range(1, 6, 2)] for i in range(4, -1, -2)], np.float32)


@case("slice", "slice_axis")
def _():
    x, a = inp("x", (4, 9))
    return gc.slice_axis(x, 1, 7, 0, -3), {"x": a}, np.stack([a[:, 7], a[:, 4], a[:, 1]], axis=1)


def _unslice_np(g, shape, starts, stops, steps):
    out = np.zeros(shape, g.dtype)
    ranges = [range(a, b, c) for a, b, c in zip(starts, stops, steps)]  # a stop of -1 (step < 0) is 'past 0'
    for gi, idx in zip(np.ndindex(*g.shape), itertools.product(*ranges)):
        out[idx] = g[gi]
    return out


for _shape, _starts, _stops, _steps in [((5, 6), (1, 5), (5, -1), (2, -2)), ((4,), (0,), (4,), (1,)),
                                        ((3, 4, 2), (2, 0, 1), (-1, 4, 2), (-1, 3, 1))]:
    def _b(shape=_shape, starts=_starts, stops=_stops, steps=_steps):
        gshape = tuple(len(range(a, b, c)) for a, b, c in zip(starts, stops, steps))
        g, gv = inp("g", gshape)
        out = REG["unslice"](g, shape=shape, starts=starts, stops=stops, steps=steps)
        return out, {"g": gv}, _unslice_np(gv, shape, starts, stops, steps)

    add_case("unslice", f"{_shape}-{_steps}", _b)


def _pad_np(a, pads, value):
    pads = [(pads, pads)] * a.ndim if isinstance(pads, int) else pads
    out = np.full([d + lo + hi for d, (lo, hi) in zip(a.shape, pads)], value, a.dtype)
    for idx in np.ndindex(*a.shape):
        out[tuple(i + lo for i, (lo, _) in zip(idx, pads))] = a[idx]
    return out


for _decl, _pads, _value, _dt in [((2, 3), 1, 0.0, np.float32), ((2, 3), ((0, 1), (2, 0)), -3.5, np.float32),
                                  ((None, 3), ((0, 0), (1, 2)), 0.0, np.float32), ((3,), ((2, 2),), 7.0, np.int32),
                                  ((2, 2, 2), ((1, 0), (0, 0), (0, 3)), 1.5, np.float64)]:
    def _b(decl=_decl, pads=_pads, value=_value, dt=_dt):
        x, a = inp("x", decl, dt, -5, 5)
        return gc.pad(x, pads, value), {"x": a}, _pad_np(a, pads, value)

    add_case("pad", f"{_decl}-{_pads}-{_value}", _b)


def _concat_np(arrays, axis, dtype):
    axis %= arrays[0].ndim
    total = sum(a.shape[axis] for a in arrays)
    shape = list(arrays[0].shape)
    shape[axis] = total
    out = np.empty(shape, dtype)
    off = 0
    for a in arrays:
        for idx in np.ndindex(*a.shape):
            j = list(idx)
            j[axis] += off
            out[tuple(j)] = a[idx]
        off += a.shape[axis]
    return out


for _decls, _axis, _dts in [(((2, 3), (4, 3)), 0, None), (((2, 3), (2, 1), (2, 2)), 1, None),
                            (((2, 3, 1), (2, 3, 2)), -1, None), (((None, 3), (2, 3)), 0, None),
                            (((None, 3), (None, 2)), 1, None), (((2, 2), (2, 2)), 0, (np.int32, np.float32))]:
    def _b(decls=_decls, axis=_axis, dts=_dts):
        dts = dts or (np.float32,) * len(decls)
        pairs = [inp(f"x{i}", d, dt) for i, (d, dt) in enumerate(zip(decls, dts))]
        out = gc.concat([p[0] for p in pairs], axis=axis)
        arrays = [p[1] for p in pairs]
        return out, {f"x{i}": p[1] for i, p in enumerate(pairs)}, _concat_np(arrays, axis, np.float32)

    add_case("concat", f"{_decls}-{_axis}", _b)


for _shape, _axis, _dt in [((3, 4), 0, gc.int64), ((3, 4), 1, gc.int32), ((2, 3, 2), -1, gc.float32), ((5,), 0, gc.int64)]:
    def _b(shape=_shape, axis=_axis, dt=_dt):
        want = np.empty(shape, dt)
        for idx in np.ndindex(*shape):
            want[idx] = idx[axis]
        return gc.iota(shape, axis, dt), {}, want

    add_case("iota", f"{_shape}-{_axis}-{np.dtype(_dt).name}", _b)


for _values, _lo, _hi in [([0, 3, 1], 0, 4), ([[-2, 0], [1, 1]], -2, 2), ([], 0, 1)]:
    def _b(values=_values, lo=_lo, hi=_hi):
        v = np.array(values, np.int64)
        x = gc.input("x", v.shape, gc.int64)
        return gc.check_range(x, lo, hi, what="labels") * 1, {"x": v}, v

    add_case("check_range", f"{_values}-{_lo}-{_hi}", _b)


def _take_np(a, idx, axis):
    axis %= a.ndim
    idx = np.asarray(idx)
    out = np.empty(a.shape[:axis] + idx.shape + a.shape[axis + 1:], a.dtype)
    for o in np.ndindex(*out.shape):
        pre, mid, post = o[:axis], o[axis:axis + idx.ndim], o[axis + idx.ndim:]
        out[o] = a[pre + (int(idx[mid]) % a.shape[axis],) + post]
    return out


for _decl, _idx, _axis, _as_input in [((5, 4), [0, 4, 2], 0, False), ((5, 4), [[1, -1], [0, 0]], 1, False),
                                      ((None, 4), [3, -4, 1], 1, False), ((6, 3), [[5, 0, 5]], 0, True),
                                      ((2, 3, 4), [-1, 0], -1, True)]:
    def _b(decl=_decl, idx=_idx, axis=_axis, as_input=_as_input):
        x, a = inp("x", decl)
        feeds = {"x": a}
        idx_arr = np.array(idx, np.int64)
        if as_input:
            i = gc.input("i", idx_arr.shape, gc.int64)
            feeds["i"] = idx_arr
            out = gc.take(x, i, axis)
        else:
            out = gc.take(x, idx, axis)
        return out, feeds, _take_np(a, idx_arr, axis)

    add_case("take", f"{_decl}-{_idx}-{_axis}", _b)


@case("take", "getitem_with_index_array")
def _():
    x, a = inp("x", (5, 3))
    return x[np.array([4, 0, 4])], {"x": a}, np.stack([a[4], a[0], a[4]])


def _take_adjoint_np(g, idx, axis, size):
    idx = np.asarray(idx)
    out = np.zeros(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:], g.dtype)
    for o in np.ndindex(*g.shape):
        pre, mid, post = o[:axis], o[axis:axis + idx.ndim], o[axis + idx.ndim:]
        out[pre + (int(idx[mid]) % size,) + post] += g[o]
    return out


for _gshape, _idx, _axis, _size in [((3, 4), [0, 2, 0], 0, 5), ((2, 2, 2, 3), [[1, -1], [1, 0]], 1, 3),
                                    ((2, 3), [4, 4, 4], 1, 5)]:
    def _b(gshape=_gshape, idx=_idx, axis=_axis, size=_size):
        g, gv = inp("g", gshape)
        i = np.array(idx, np.int64)
        out = REG["take_adjoint"](g, gc.const(i), axis=axis, size=size)
        return out, {"g": gv}, _take_adjoint_np(gv, i, axis, size)

    add_case("take_adjoint", f"{_gshape}-{_axis}", _b)


for _decls, _axis in [(((2, 3), (2, 3)), 0), (((2, 3), (2, 3), (2, 3)), 1), (((None, 3), (None, 3)), -1), (((4,),), 0)]:
    def _b(decls=_decls, axis=_axis):
        pairs = [inp(f"x{i}", d) for i, d in enumerate(decls)]
        arrays = [p[1] for p in pairs]
        nd = arrays[0].ndim + 1
        ax = axis % nd
        want = _concat_np([np.expand_dims(a, ax) for a in arrays], ax, np.float32)
        reg = gc.COMPOSITES["stack"].reference
        return (gc.stack([p[0] for p in pairs], axis), {f"x{i}": p[1] for i, p in enumerate(pairs)}, want,
                lambda: reg(arrays, axis=axis))

    add_case("stack", f"{_decls}-{_axis}", _b)


for _decl, _sections, _axis in [((6, 2), 3, 0), ((2, 6), [1, 4], 1), ((None, 4), 2, 1), ((3, 5), [2], -1)]:
    def _b(decl=_decl, sections=_sections, axis=_axis):
        x, a = inp("x", decl)
        ax = axis % a.ndim
        n = a.shape[ax]
        bounds = [i * n // sections for i in range(sections + 1)] if isinstance(sections, int) else [0, *sections, n]
        want = [np.take(a, list(range(lo, hi)), axis=ax) for lo, hi in zip(bounds[:-1], bounds[1:])]
        reg = gc.COMPOSITES["split"].reference
        return gc.split(x, sections, axis), {"x": a}, want, lambda: reg(a, sections, axis=axis)

    add_case("split", f"{_decl}-{_sections}-{_axis}", _b)


for _decl, _axis in [((5,), None), ((3, 4), 0), ((2, 3, 4), (0, 2)), ((2, 3, 4), -1), ((2, 3), None)]:
    def _b(decl=_decl, axis=_axis):
        x, a = inp("x", decl)
        axes = range(a.ndim) if axis is None else [axis % a.ndim] if isinstance(axis, int) else [i % a.ndim for i in axis]
        want = np.empty_like(a)
        for idx in np.ndindex(*a.shape):
            want[tuple(a.shape[k] - 1 - i if k in axes else i for k, i in enumerate(idx))] = a[idx]
        reg = gc.COMPOSITES["flip"].reference
        return gc.flip(x, axis), {"x": a}, want, lambda: reg(a, axis=axis)

    add_case("flip", f"{_decl}-{_axis}", _b)


for _idx, _depth, _dt, _as_input in [([0, 2, 1], 3, gc.float32, False), ([[3, 0], [1, 1]], 4, gc.int32, False),
                                     ([5, -1, 2], 4, gc.float64, True)]:
    def _b(idx=_idx, depth=_depth, dt=_dt, as_input=_as_input):
        arr = np.array(idx, np.int64)
        feeds = {}
        if as_input:
            i = gc.input("i", (None,), gc.int64)
            feeds["i"] = arr
            src = i
        else:
            src = idx
        want = np.zeros(arr.shape + (depth,), dt)
        for o in np.ndindex(*arr.shape):
            if 0 <= arr[o] < depth:
                want[o + (arr[o],)] = 1
        reg = gc.COMPOSITES["one_hot"].reference
        return gc.one_hot(src, depth, dt), feeds, want, lambda: reg(arr, depth, dt)

    add_case("one_hot", f"{_idx}-{_depth}", _b)


# =============================================================================================
# linear algebra
# =============================================================================================
def _matmul_np(a, b):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a3 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:])
    out = np.zeros(batch + (a2.shape[-2], b2.shape[-1]), np.float64)
    for idx in np.ndindex(*batch):
        for i in range(a2.shape[-2]):
            for j in range(b2.shape[-1]):
                out[idx + (i, j)] = sum(float(a3[idx + (i, k)]) * float(b3[idx + (k, j)]) for k in range(a2.shape[-1]))
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


for _sa, _sb, _dt in [((3, 4), (4, 5), np.float32), ((2, 3, 4), (4, 5), np.float32), ((2, 1, 3, 4), (5, 4, 2), np.float32),
                      ((None, 3), (3, 2), np.float32), ((4,), (4, 3), np.float32), ((2, 3, 4), (4,), np.float64),
                      ((4,), (4,), np.float32), ((4,), (2, 4, 3), np.float32), ((3, 2), (2, 2), np.int32),
                      ((None, 2, 3), (None, 3, 4), np.float32)]:
    def _b(sa=_sa, sb=_sb, dt=_dt):
        x, a = inp("x", sa, dt)
        y, b = inp("y", sb, dt)
        return x @ y, {"x": a, "y": b}, _matmul_np(a, b).astype(dt)

    add_case("matmul", f"{_sa}@{_sb}-{np.dtype(_dt).name}", _b, rtol=1e-5, atol=1e-5)


@case("matmul", "rmatmul_numpy_left")
def _():
    x, a = inp("x", (3, 2))
    m = rand((4, 3), np.float64)
    return m @ x, {"x": a}, _matmul_np(m.astype(np.float32), a).astype(np.float32)


for _sa, _sb in [((4,), (4,)), ((2, 3), (3, 2)), ((2, 3), (3,))]:
    def _b(sa=_sa, sb=_sb):
        x, a = inp("x", sa)
        y, b = inp("y", sb)
        reg = gc.COMPOSITES["dot"].reference
        return gc.dot(x, y), {"x": a, "y": b}, _matmul_np(a, b).astype(np.float32), lambda: reg(a, b)

    add_case("dot", f"{_sa}.{_sb}", _b, rtol=1e-5, atol=1e-5)


for _sa, _sb in [((3,), (4,)), ((None,), (2,))]:
    def _b(sa=_sa, sb=_sb):
        x, a = inp("x", sa)
        y, b = inp("y", sb)
        want = np.array([[float(u) * float(v) for v in b] for u in a], np.float64).astype(np.float32)
        reg = gc.COMPOSITES["outer"].reference
        return gc.outer(x, y), {"x": a, "y": b}, want, lambda: reg(a, b)

    add_case("outer", f"{_sa}x{_sb}", _b)


# =============================================================================================
# neural-network ops
# =============================================================================================
def _tup(v, nd):
    return (v,) * nd if isinstance(v, int) else tuple(v)


def _unfold_np(x, kernel, stride, dilation):
    nd = len(kernel)
    out_sp = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(x.shape[2:], kernel, stride, dilation)]
    out = np.empty(x.shape[:2] + tuple(out_sp) + tuple(kernel), x.dtype)
    for o in itertools.product(*(range(n) for n in out_sp)):
        for k in itertools.product(*(range(n) for n in kernel)):
            src = tuple(oo * st + kk * d for oo, kk, st, d in zip(o, k, stride, dilation))
            out[(slice(None), slice(None)) + o + k] = x[(slice(None), slice(None)) + src]
    assert out.ndim == 2 + 2 * nd
    return out


def _fold_np(cols, size, kernel, stride, dilation):
    nd = len(kernel)
    out_sp = cols.shape[2:2 + nd]
    out = np.zeros(cols.shape[:2] + tuple(size), cols.dtype)
    for o in itertools.product(*(range(n) for n in out_sp)):
        for k in itertools.product(*(range(n) for n in kernel)):
            dst = tuple(oo * st + kk * d for oo, kk, st, d in zip(o, k, stride, dilation))
            out[(slice(None), slice(None)) + dst] += cols[(slice(None), slice(None)) + o + k]
    return out


for _decl, _kernel, _stride, _dil in [((2, 3, 7), (3,), (2,), (1,)), ((None, 2, 6, 7), (2, 3), (1, 2), (2, 1)),
                                      ((1, 1, 5, 5), (5, 5), (1, 1), (1, 1)), ((2, 2, 3, 5, 4), (2, 2, 2), (1, 2, 1), (1, 1, 2))]:
    def _b(decl=_decl, kernel=_kernel, stride=_stride, dil=_dil):
        x, a = inp("x", decl)
        out = gc.unfold(x, kernel, stride, dil)
        return out, {"x": a}, _unfold_np(a, kernel, stride, dil)

    add_case("unfold", f"{_decl}-k{_kernel}-s{_stride}-d{_dil}", _b)


@case("unfold", "int_attrs")
def _():
    x, a = inp("x", (1, 2, 6, 6))
    return gc.unfold(x, (3, 3), stride=2, dilation=1), {"x": a}, _unfold_np(a, (3, 3), (2, 2), (1, 1))


for _size, _kernel, _stride, _dil in [((7,), (3,), (2,), (1,)), ((6, 7), (2, 3), (1, 2), (2, 1)), ((5, 5), (3, 3), (2, 2), (1, 1))]:
    def _b(size=_size, kernel=_kernel, stride=_stride, dil=_dil):
        out_sp = tuple((s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(size, kernel, stride, dil))
        c, cv = inp("c", (None, 2) + out_sp + kernel)
        out = REG["fold"](c, size=size, kernel=kernel, stride=stride, dilation=dil)
        return out, {"c": cv}, _fold_np(cv, size, kernel, stride, dil)

    add_case("fold", f"{_size}-k{_kernel}-s{_stride}-d{_dil}", _b)


def _pads_np(padding, spatial, kernel, stride, dilation):
    nd = len(kernel)
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        pads = []
        for s, k, st, d in zip(spatial, kernel, stride, dilation):
            out = math.ceil(s / st)
            total = max((out - 1) * st + d * (k - 1) + 1 - s, 0)
            pads.append((total // 2, total - total // 2))
        return pads
    if isinstance(padding, int):
        return [(padding, padding)] * nd
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _conv_np(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct convolution (cross-correlation): one dot product per output position and group."""
    nd = w.ndim - 2
    stride, dilation = _tup(stride, nd), _tup(dilation, nd)
    kernel = w.shape[2:]
    pads = _pads_np(padding, x.shape[2:], kernel, stride, dilation)
    xp = _pad_np(x.astype(np.float64), [(0, 0), (0, 0)] + list(pads), 0.0)
    out_sp = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(xp.shape[2:], kernel, stride, dilation)]
    n, o = x.shape[0], w.shape[0]
    cg, og = w.shape[1], o // groups
    y = np.zeros((n, o, *out_sp))
    for pos in itertools.product(*(range(k) for k in out_sp)):
        win = tuple(slice(p * st, p * st + d * (k - 1) + 1, d) for p, st, d, k in zip(pos, stride, dilation, kernel))
        for g in range(groups):
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + win]        # (N, Cg, *K)
            wg = w[g * og:(g + 1) * og].astype(np.float64)                    # (Og, Cg, *K)
            y[(slice(None), slice(g * og, (g + 1) * og)) + pos] = patch.reshape(n, -1) @ wg.reshape(og, -1).T
    if b is not None:
        y += np.asarray(b, np.float64).reshape((1, o) + (1,) * nd)
    return y


CONV2D = [  # (x shape, w shape, kwargs)
    ((2, 3, 7, 7), (4, 3, 3, 3), {}),
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2)),
    ((1, 3, 8, 9), (2, 3, 3, 3), dict(stride=(2, 3), padding=1)),
    ((1, 2, 6, 6), (3, 2, 3, 3), dict(padding=(1, 2))),
    ((1, 2, 6, 6), (3, 2, 3, 2), dict(padding=((1, 0), (0, 2)))),
    ((2, 2, 7, 7), (3, 2, 3, 3), dict(padding="same")),
    ((2, 2, 8, 7), (3, 2, 4, 2), dict(padding="same", stride=2)),
    ((1, 2, 7, 7), (3, 2, 3, 3), dict(padding="same", dilation=2)),
    ((2, 2, 6, 6), (3, 2, 3, 3), dict(padding="valid")),
    ((1, 2, 9, 9), (2, 2, 3, 3), dict(dilation=2)),
    ((1, 2, 9, 8), (2, 2, 2, 3), dict(dilation=(3, 1), stride=(1, 2))),
    ((2, 4, 5, 5), (6, 2, 3, 3), dict(groups=2)),
    ((1, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, padding=1)),
    ((2, 3, 5, 5), (4, 3, 1, 1), dict(bias=True)),
    ((None, 3, 6, 6), (2, 3, 3, 3), dict(bias=True, stride=2, padding=1)),
]

CONV1D = [
    ((2, 3, 9), (4, 3, 3), {}),
    ((2, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
    ((1, 2, 10), (2, 2, 4), dict(padding="same")),
    ((1, 2, 10), (2, 2, 3), dict(padding="same", stride=3)),
    ((1, 2, 10), (2, 2, 2), dict(padding=(2,), dilation=3)),
    ((1, 4, 7), (2, 2, 3), dict(groups=2, bias=True)),
    ((None, 2, 8), (3, 2, 2), dict(padding="valid", stride=2, bias=True)),
]


def _conv_case(op, xs, ws, kw):
    def build():
        kw2 = dict(kw)
        x, a = inp("x", xs)
        w, wv = inp("w", ws)
        feeds = {"x": a, "w": wv}
        bv = None
        if kw2.pop("bias", False):
            bt, bv = inp("b", (ws[0],))
            feeds["b"] = bv
            kw2["bias"] = bt
        out = getattr(gc, op)(x, w, **kw2)
        want = _conv_np(a, wv, bv, **{k: v for k, v in kw2.items() if k != "bias"}).astype(np.float32)
        reg = gc.COMPOSITES[op].reference
        oracle = lambda: reg(a.astype(np.float64), wv.astype(np.float64), bv, **{k: v for k, v in kw2.items() if k != "bias"})
        return out, feeds, want, oracle

    return build


for _xs, _ws, _kw in CONV2D:
    add_case("conv2d", f"{_xs}-{_ws}-{_kw}", _conv_case("conv2d", _xs, _ws, _kw), rtol=1e-4, atol=1e-5)
for _xs, _ws, _kw in CONV1D:
    add_case("conv1d", f"{_xs}-{_ws}-{_kw}", _conv_case("conv1d", _xs, _ws, _kw), rtol=1e-4, atol=1e-5)


def _pool_np(x, kernel, stride=None, padding=0, kind="max", dilation=1):
    nd = x.ndim - 2
    kernel = _tup(kernel, nd)
    stride = kernel if stride is None else _tup(stride, nd)
    dilation = _tup(dilation, nd)
    pads = _pads_np(padding, x.shape[2:], kernel, stride, dilation)
    fill = -np.inf if kind == "max" else 0.0
    xp = _pad_np(x.astype(np.float64), [(0, 0), (0, 0)] + list(pads), fill)
    out_sp = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(xp.shape[2:], kernel, stride, dilation)]
    y = np.zeros(x.shape[:2] + tuple(out_sp))
    for pos in itertools.product(*(range(k) for k in out_sp)):
        win = tuple(slice(p * st, p * st + d * (k - 1) + 1, d) for p, st, d, k in zip(pos, stride, dilation, kernel))
        patch = xp[(slice(None), slice(None)) + win].reshape(x.shape[0], x.shape[1], -1)
        y[(slice(None), slice(None)) + pos] = patch.max(-1) if kind == "max" else patch.sum(-1) / patch.shape[-1]
    return y


POOL2D = [((1, 2, 4, 4), 2, {}), ((2, 1, 5, 5), 2, {}), ((1, 2, 5, 6), 3, dict(stride=1)),
          ((1, 1, 6, 7), (2, 3), dict(stride=(1, 2))), ((1, 2, 5, 5), 3, dict(stride=2, padding=1)),
          ((1, 1, 4, 5), 2, dict(padding=(1, 0))), ((None, 2, 6, 6), 2, {}), ((1, 1, 7, 7), 3, dict(padding="same", stride=2))]
POOL1D = [((2, 3, 8), 2, {}), ((1, 2, 9), 3, dict(stride=2)), ((1, 2, 7), 3, dict(stride=1, padding=1)), ((None, 1, 6), 4, dict(stride=2))]


def _pool_case(op, xs, k, kw):
    kind = "max" if op.startswith("max") else "avg"

    def build():
        x, a = inp("x", xs, np.float32, -4, 4)
        out = getattr(gc, op)(x, k, **kw)
        want = _pool_np(a, k, kw.get("stride"), kw.get("padding", 0), kind, kw.get("dilation", 1)).astype(np.float32)
        reg = gc.COMPOSITES[op].reference
        oracle = None if "dilation" in kw else (lambda: reg(a, k, **kw))
        return (out, {"x": a}, want, oracle) if oracle else (out, {"x": a}, want)

    return build


for _op, _cases in [("max_pool2d", POOL2D), ("avg_pool2d", POOL2D), ("max_pool1d", POOL1D), ("avg_pool1d", POOL1D)]:
    for _xs, _k, _kw in _cases:
        add_case(_op, f"{_xs}-k{_k}-{_kw}", _pool_case(_op, _xs, _k, _kw), rtol=1e-5)
add_case("max_pool2d", "dilation", _pool_case("max_pool2d", (1, 2, 7, 7), 2, dict(stride=1, dilation=2)))
add_case("max_pool1d", "dilation", _pool_case("max_pool1d", (1, 2, 9), 3, dict(stride=2, dilation=3)))


@case("max_pool2d", "negative_inputs_with_padding")
def _():
    x = gc.input("x", (1, 1, 2, 2))
    a = -np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    # every padded window holds one real element: padding must never win a max
    return gc.max_pool2d(x, 2, stride=1, padding=1), {"x": a}, _pool_np(a, 2, 1, 1, "max").astype(np.float32)


def _softmax_np(a, axis):
    a = a.astype(np.float64)
    out = np.empty_like(a)
    moved_in, moved_out = np.moveaxis(a, axis, -1), np.moveaxis(out, axis, -1)
    for idx in np.ndindex(*moved_in.shape[:-1]):
        row = moved_in[idx]
        e = np.array([math.exp(v - max(row)) for v in row])
        moved_out[idx] = e / e.sum()
    return out


for _op in ("softmax", "log_softmax"):
    for _decl, _axis, _lo, _hi in [((2, 3, 4), -1, -3, 3), ((2, 3, 4), 0, -3, 3), ((None, 5), 1, -3, 3),
                                   ((3, 4), 1, -500, 500), ((6,), 0, 100, 200)]:
        def _b(op=_op, decl=_decl, axis=_axis, lo=_lo, hi=_hi):
            x, a = inp("x", decl, np.float32, lo, hi)
            s = _softmax_np(a, axis)
            if op == "softmax":
                want = s
            else:  # log of the softmax, computed without underflow: (a - max) - log(sum(exp(a - max)))
                a64 = a.astype(np.float64)
                m = np.max(a64, axis=axis, keepdims=True)
                want = (a64 - m) - np.log(np.sum(np.exp(a64 - m), axis=axis, keepdims=True))
            reg = gc.COMPOSITES[op].reference
            oracle = (lambda: reg(a.astype(np.float64), axis=axis)) if (op == "softmax" or hi - lo < 100) else None
            built = (getattr(gc, op)(x, axis), {"x": a}, want.astype(np.float32))
            return built + (oracle,) if oracle else built

        add_case(_op, f"{_decl}-{_axis}-range{_hi - _lo}", _b, rtol=1e-5, atol=1e-6)


# =============================================================================================
# randomness: a pure-Python SplitMix64 of the documented generator
# =============================================================================================
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_COUNTER_MIX = 0xD1B54A32D192ED03


def _splitmix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _bits(seed, counter, n):
    key = (seed * _GOLDEN + counter * _COUNTER_MIX) & _M64
    return [_splitmix((key + (i + 1) * _GOLDEN) & _M64) for i in range(n)]


def _uniform_py(seed, counter, n, dtype):
    if np.dtype(dtype) == np.float32:
        return [(b >> 40) / 2.0 ** 24 for b in _bits(seed, counter, n)]
    return [(b >> 11) / 2.0 ** 53 for b in _bits(seed, counter, n)]


def _normal_py(seed, counter, n):
    u = _uniform_py(seed, counter, 2 * n, np.float64)
    return [math.sqrt(-2.0 * math.log(1.0 - u[2 * i])) * math.cos(2 * math.pi * u[2 * i + 1]) for i in range(n)]


for _shape, _seed_v, _counter, _dt, _range in [((3, 4), 7, None, gc.float32, None), ((5,), 123456789, 3, gc.float32, None),
                                              ((2, 3), 1, 0, gc.float64, None), ((4, 2), 99, 17, gc.float32, (-2.0, 3.0))]:
    def _b(shape=_shape, seed=_seed_v, counter=_counter, dt=_dt, rng=_range):
        feeds = {}
        c = None
        if counter is not None:
            c = gc.input("step", (), gc.int64)
            feeds["step"] = np.int64(counter)
        lo, hi = rng or (0.0, 1.0)
        out = gc.uniform(shape, lo, hi, seed=seed, counter=c, dtype=dt)
        u = np.array(_uniform_py(seed, counter or 0, int(np.prod(shape)), dt)).reshape(shape)
        return out, feeds, (lo + (hi - lo) * u).astype(dt)

    add_case("random_uniform", f"{_shape}-seed{_seed_v}-c{_counter}-{np.dtype(_dt).name}-{_range}", _b, rtol=1e-6, atol=1e-7)
    add_case("random_normal", f"{_shape}-seed{_seed_v}-c{_counter}-{np.dtype(_dt).name}-{_range}",
             (lambda shape=_shape, seed=_seed_v, counter=_counter, dt=_dt, rng=_range: (
                 lambda c: (gc.normal(shape, *(rng or (0.0, 1.0)), seed=seed, counter=c, dtype=dt),
                            {"step": np.int64(counter)} if counter is not None else {},
                            ((rng or (0.0, 1.0))[0] + (rng or (0.0, 1.0))[1]
                             * np.array(_normal_py(seed, counter or 0, int(np.prod(shape)))).reshape(shape)).astype(dt)))(
                 gc.input("step", (), gc.int64) if counter is not None else None)),
             rtol=2e-6, atol=2e-6)


for _p, _shape, _seed_v, _counter, _dt in [(0.3, (4, 5), 5, None, gc.float32), (0.8, (10,), 11, 2, gc.float64)]:
    def _b(p=_p, shape=_shape, seed=_seed_v, counter=_counter, dt=_dt):
        feeds = {}
        c = None
        if counter is not None:
            c = gc.input("step", (), gc.int64)
            feeds["step"] = np.int64(counter)
        u = _uniform_py(seed, counter or 0, int(np.prod(shape)), np.float32)
        p32 = float(np.float32(p))
        want = np.array([1.0 if v < p32 else 0.0 for v in u], dt).reshape(shape)
        reg = gc.COMPOSITES["bernoulli"].reference
        return gc.bernoulli(p, shape, seed=seed, counter=c, dtype=dt), feeds, want, lambda: reg(p, shape, seed, counter or 0)

    add_case("bernoulli", f"p{_p}-{_shape}-c{_counter}", _b)


# =============================================================================================
# integer bit operations (NumPy's semantics, shifts past the width included)
# =============================================================================================
_BITWISE = {"bitwise_and": (gc.bitwise_and, np.bitwise_and), "bitwise_or": (gc.bitwise_or, np.bitwise_or),
            "bitwise_xor": (gc.bitwise_xor, np.bitwise_xor), "left_shift": (gc.left_shift, np.left_shift),
            "right_shift": (gc.right_shift, np.right_shift)}


def _bitwise_case(name, dtype):
    fn, oracle = _BITWISE[name]

    def build():
        info = np.iinfo(dtype)
        rng = np.random.default_rng(next(_seed))
        a = rng.integers(info.min, info.max, size=(3, 8), endpoint=True, dtype=dtype)
        b = rng.integers(max(info.min, -2), 8 * np.dtype(dtype).itemsize + 3, size=(8,)).astype(dtype)
        x, y = gc.input("x", (None, 8), dtype), gc.input("y", (8,), dtype)
        return fn(x, y), {"x": a, "y": b}, oracle(a, b)

    return build


for _name in _BITWISE:
    for _dt in (np.int32, np.uint8, np.int8, np.uint64):
        add_case(_name, np.dtype(_dt).name, _bitwise_case(_name, _dt))


@case("bitwise_not", "int16_and_uint32")
def _():
    x, a = inp("x", (None, 3), np.int16, -300, 300)
    y, b = inp("y", (4,), np.uint32, 0, 4000)
    return [gc.bitwise_not(x), ~y], {"x": a, "y": b}, [~a, ~b]


# =============================================================================================
# running sums and products
# =============================================================================================
@case("cumsum", "axis1_f32")
def _():
    x, a = inp("x", (None, 5))
    return gc.cumsum(x, 1), {"x": a}, np.cumsum(a, axis=1)


@case("cumsum", "exclusive_reverse_int32")
def _():
    x, a = inp("x", (4, 3), np.int32, -5, 5)
    want = np.flip(np.cumsum(np.flip(a, 0), axis=0) - np.flip(a, 0), 0)  # numpy: int32 sums to int64
    return gc.cumsum(x, 0, exclusive=True, reverse=True), {"x": a}, want


@case("cumprod", "axis_last_f64")
def _():
    x, a = inp("x", (2, 3, 4), np.float64)
    a[0, 1, 2] = 0.0
    return gc.cumprod(x, -1), {"x": a}, np.cumprod(a, axis=-1)


@case("cumprod", "exclusive")
def _():
    x, a = inp("x", (6,))
    want = np.concatenate([[1.0], np.cumprod(a.astype(np.float64))[:-1]]).astype(np.float32)
    return gc.cumprod(x, exclusive=True), {"x": a}, want


# =============================================================================================
# sorting (stable; NaN last ascending, first descending)
# =============================================================================================
@case("sort", "rows_with_ties_and_nan")
def _():
    x, a = inp("x", (3, 6), np.float32, -2, 2)
    a = np.round(a)
    a[1, 3] = np.nan
    return [gc.sort(x), gc.sort(x, axis=0, descending=True)], {"x": a}, [np.sort(a, axis=-1), np.flip(np.sort(a, axis=0), 0)]


@case("argsort", "stable_int32")
def _():
    x, a = inp("x", (None, 7), np.int32, -3, 3)
    return [gc.argsort(x), gc.argsort(x, descending=True)], {"x": a}, [
        np.argsort(a, axis=-1, kind="stable"), np.argsort(-a.astype(np.int64), axis=-1, kind="stable")]


@case("topk", "largest_and_smallest")
def _():
    x, a = inp("x", (2, 3, 5), np.float64)
    order = np.argsort(-a, axis=1, kind="stable")[:, :2]
    low = np.argsort(a, axis=-1, kind="stable")[..., :3]
    return [*gc.topk(x, 2, axis=1), *gc.topk(x, 3, largest=False)], {"x": a}, [
        np.take_along_axis(a, order, 1), order, np.take_along_axis(a, low, -1), low]


@case("take_along_axis", "negative_indices")
def _():
    x, a = inp("x", (3, 5))
    idx = np.array([[0, -1], [4, 2], [-5, 1]], np.int64)
    return gc.take_along_axis(x, idx, 1), {"x": a}, np.take_along_axis(a, idx % 5, 1)


@case("scatter_reduce", "max_min_mul_with_repeats")
def _():
    v, a = inp("v", (5, 3), np.float32)
    idx = np.array([2, 0, 2, 3, 0], np.int64)
    want = []
    for ufunc, start in ((np.maximum, -np.inf), (np.minimum, np.inf), (np.multiply, 1.0)):
        out = np.full((4, 3), start, np.float32)
        ufunc.at(out, idx, a)
        want.append(out)
    return [gc.scatter_reduce(v, idx, 4, reduce=r) for r in ("max", "min", "mul")], {"v": a}, want


@case("scatter_reduce", "int32_axis1_negative_indices")
def _():
    v, a = inp("v", (2, 4), np.int32, -9, 9)
    idx = np.array([-1, 0, 2, -1], np.int64)
    out = np.full((2, 3), np.iinfo(np.int32).min, np.int32)
    np.maximum.at(out, (slice(None), idx % 3), a)
    return gc.scatter_reduce(v, idx, 3, axis=1, reduce="max"), {"v": a}, out
