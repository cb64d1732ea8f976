"""Gradient sweep: every differentiable primitive of `graphc.ops.REGISTRY` and every composite of
`graphc.ops.COMPOSITES`, symbolic reverse mode (`gc.grad`) against central finite differences in
float64 (`gc.check_grad`, relative tolerance 1e-6 along random directions).

Inputs are built away from non-differentiable points: relu/abs/sign/step/leaky_relu/elu inputs
are at least 0.1 away from 0, maximum/minimum operands and max/min/max-pool candidates are at least
0.05 apart (no ties within the finite-difference step), log/sqrt/rsqrt/pow bases are positive.

Each case also checks that the op really is in the differentiated graph (primitives) or is called
through its registry entry (composites), and that the symbolic gradient is not identically zero
(so a case cannot pass by comparing 0 with 0), except for sign and step whose derivative *is* 0.
Non-differentiable ops are swept too: they must pass no gradient. Completeness tests make the
covered sets equal the registry's, so a new op without a gradient test fails the suite.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc
from graphc.interpreter import run

REG, COMP = gc.REGISTRY, gc.COMPOSITES
TOL = 1e-6
EPS = 1e-5

CASES: list = []
COVERED: set[str] = set()          # differentiable primitives and composites with a gradient case
NOGRAD_COVERED: set[str] = set()   # non-differentiable primitives and composites checked to pass none

_seed = itertools.count(7)


def rng():
    return np.random.default_rng(next(_seed))


def normal(*shape):
    return rng().standard_normal(shape)


def positive(*shape, lo=0.5, hi=2.0):
    return rng().uniform(lo, hi, shape)


def away(*shape, margin=0.1):
    """Random values with |x| >= margin (away from the kinks of relu, abs, sign, step, ...)."""
    r = rng()
    return r.choice([-1.0, 1.0], size=shape) * r.uniform(margin, 2.0, size=shape)


def between_integers(*shape):
    """Values whose fractional part is in [0.1, 0.4] (away from the jumps of floor, ceil and round)."""
    r = rng()
    return r.integers(-3, 3, size=shape) + r.uniform(0.1, 0.4, size=shape)


def distinct(*shape, gap=0.05):
    """Values pairwise at least `gap` apart (no ties for max/min/max-pool), in random order."""
    n = int(np.prod(shape, dtype=np.int64))
    r = rng()
    vals = (np.arange(n) - n / 2) * gap * 2 + r.uniform(-gap / 2, gap / 2, n)
    return r.permutation(vals).reshape(shape)


def weights(shape):
    """Fixed random weights that make a tensor output a scalar (sum(out * w)) with a generic gradient."""
    return np.random.default_rng(abs(hash(tuple(shape))) % 2**32).standard_normal(shape)


def wsum(t):
    """A scalar from any tensor: sum(t * fixed random weights of its shape)."""
    return gc.sum(t * weights(t.shape))


def case(kind: str, name: str, variant: str, build, arrays, *, tol=TOL, eps=EPS, zero=False, xfail=None):
    """Add a gradient case: build(op, *tensors) -> scalar tensor, with float64 `arrays` for the inputs."""
    marks = [pytest.mark.xfail(reason=f"BUG: {xfail}", strict=True)] if xfail else []
    CASES.append(pytest.param(kind, name, build, arrays, tol, eps, zero, id=f"{name}-{variant}", marks=marks))
    COVERED.add(name)


def prim(name, variant, build, *arrays, **kw):
    case("prim", name, variant, build, list(arrays), **kw)


def comp(name, variant, build, *arrays, **kw):
    case("comp", name, variant, build, list(arrays), **kw)


# -- elementwise unary ------------------------------------------------------------------
UNARY_DOMAIN = {
    "neg": normal, "abs": away, "sign": away, "exp": normal, "log": positive, "log1p": positive,
    "expm1": normal, "sqrt": positive, "rsqrt": positive, "square": normal, "reciprocal": positive,
    "sin": normal, "cos": normal, "tanh": normal, "sigmoid": normal, "relu": away, "leaky_relu": away,
    "elu": away, "gelu": normal, "gelu_tanh": normal, "softplus": normal, "step": away, "erf": normal,
    "tan": lambda *s: positive(*s, lo=-1.0, hi=1.0), "floor": between_integers, "ceil": between_integers,
    "round": between_integers, "atan": normal, "asin": lambda *s: positive(*s, lo=-0.9, hi=0.9),
    "acos": lambda *s: positive(*s, lo=-0.9, hi=0.9), "asinh": normal, "acosh": lambda *s: positive(*s, lo=1.2, hi=4.0),
    "atanh": lambda *s: positive(*s, lo=-0.8, hi=0.8),
}
ZERO_DERIVATIVE = {"sign", "step", "floor", "ceil", "round"}

for _name, _dom in UNARY_DOMAIN.items():
    for _shape in [(), (5,), (2, 3, 4)]:
        prim(_name, f"shape{_shape}", lambda op, x: wsum(op(x)), _dom(*_shape), zero=_name in ZERO_DERIVATIVE)
    # a chain, so the op's derivative is multiplied by a non-trivial incoming cotangent
    prim(_name, "chain", lambda op, x: gc.sum(gc.sin(op(x) * 1.3) * weights((3, 4))), _dom(3, 4),
         zero=_name in ZERO_DERIVATIVE)

prim("leaky_relu", "alpha0.2", lambda op, x: wsum(op(x, alpha=0.2)), away(4, 5))
prim("elu", "alpha1.7", lambda op, x: wsum(op(x, alpha=1.7)), away(4, 5))

# -- elementwise binary, with broadcasting -------------------------------------------------
BINARY_DOMAIN = {
    "add": (normal, normal), "sub": (normal, normal), "mul": (normal, normal),
    "div": (normal, lambda *s: away(*s, margin=0.5)), "pow": (positive, normal),
    "mod": (normal, positive), "fmod": (lambda *s: 4 * normal(*s), positive),
}
BROADCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1, 4), (3, 1)), ((), (3,)), ((3, 1), ())]

for _name, (_da, _db) in BINARY_DOMAIN.items():
    for _sa, _sb in BROADCAST:
        prim(_name, f"{_sa}x{_sb}", lambda op, a, b: wsum(op(a, b)), _da(*_sa), _db(*_sb))



def maxmin_operands(sa, sb):
    """a on the 0.1-grid shifted by 0.05, b on the 0.1-grid (never closer than 0.05), each side winning somewhere."""
    while True:
        a, b = np.round(normal(*sa), 1) + 0.05, np.round(normal(*sb), 1)
        wins = np.greater(*np.broadcast_arrays(a, b))
        if wins.any() and not wins.all():
            return a, b


for _name in ("maximum", "minimum"):
    for _sa, _sb in BROADCAST:
        # piecewise linear: no truncation error, so a larger step only lowers the rounding noise
        prim(_name, f"{_sa}x{_sb}", lambda op, a, b: wsum(op(a, b)), *maxmin_operands(_sa, _sb), eps=1e-4)

prim("floor_divide", "piecewise_constant", lambda op, a, b: wsum(op(a, b)), between_integers(3, 4), np.ones((3, 4)),
     zero=True)
prim("pow", "const_exponent_neg_base", lambda op, x: wsum(op(x, 3.0)), normal(3, 4))
prim("pow", "const_base", lambda op, x: wsum(op(2.0, x)), normal(3, 4))
prim("div", "const_numerator", lambda op, x: wsum(op(1.5, x)), away(3, 4, margin=0.5))
prim("mul", "fan_out_same_tensor", lambda op, x: wsum(op(x, x)), normal(3, 4))
prim("sub", "fan_out_same_tensor", lambda op, x: wsum(op(x, gc.sin(x))), normal(3, 4))

# -- where, expr -------------------------------------------------------------------------
prim("where", "same_shape", lambda op, a, b: wsum(op(a > b, a, b)), distinct(3, 4), distinct(3, 4) + 0.025)
prim("where", "broadcast_cond_and_scalar_b", lambda op, a, b: wsum(op(gc.sin(a) > 0.0, a * 2.0, b)),
     away(3, 4, margin=0.5), normal())
prim("where", "broadcast_a", lambda op, c, a: wsum(op(c > 0.0, a, c)), away(3, 4), normal(3, 1))


def _expr(op, *ts, body, syms):
    return wsum(gc.expr(body, dict(zip(syms, ts))))


def _expr_cases():
    import sympy

    from graphc import scalar

    x, (a, b, _) = scalar.X, scalar.ARGS
    prim("expr", "unary", lambda op, t: _expr(op, t, body=sympy.sin(x) * x ** 2, syms=[x]), normal(3, 4))
    prim("expr", "binary_broadcast", lambda op, s, t: _expr(op, s, t, body=a * sympy.exp(-b ** 2) + a ** 2 * b, syms=[a, b]),
         normal(3, 4), normal(4))
    # an argument named like the cotangent symbol G (the formula of every backward expr node)
    prim("expr", "argument_named_g", lambda op, s, t: _expr(op, s, t, body=scalar.G ** 2 * x, syms=[scalar.G, x]),
         normal(3, 4), normal(3, 4))
    prim("expr", "argument_named_y", lambda op, s: _expr(op, s, body=sympy.cos(scalar.Y) * scalar.Y, syms=[scalar.Y]),
         normal(5))


_expr_cases()

# -- matmul --------------------------------------------------------------------------------
prim("matmul", "2d", lambda op, a, b: wsum(op(a, b)), normal(3, 4), normal(4, 2))
prim("matmul", "batched", lambda op, a, b: wsum(op(a, b)), normal(2, 3, 4), normal(2, 4, 2))
prim("matmul", "batch_broadcast", lambda op, a, b: wsum(op(a, b)), normal(2, 1, 3, 4), normal(3, 4, 2))
prim("matmul", "vector_matrix", lambda op, a, b: wsum(gc.matmul(a, b)), normal(4), normal(4, 3))
prim("matmul", "matrix_vector", lambda op, a, b: wsum(gc.matmul(a, b)), normal(3, 4), normal(4))
prim("matmul", "same_operand", lambda op, a: wsum(op(a, gc.transpose(a))), normal(3, 4))

# -- reductions ----------------------------------------------------------------------------
for _axis, _keep in [(None, False), (1, False), ((0, 2), True), (-1, True)]:
    for _name in ("sum", "mean", "prod"):
        prim(_name, f"axis{_axis}_keep{_keep}", lambda op, x, ax=_axis, k=_keep: wsum(op(x, axes=ax, keepdims=k) * 1.0),
             positive(2, 3, 4) if _name == "prod" else normal(2, 3, 4))
    for _name in ("max", "min"):
        prim(_name, f"axis{_axis}_keep{_keep}", lambda op, x, ax=_axis, k=_keep: wsum(op(x, axes=ax, keepdims=k) * 1.0),
             distinct(2, 3, 4))
prim("prod", "with_one_zero", lambda op, x: wsum(op(x, axes=1, keepdims=False) * 1.0),
     np.array([[0.0, 1.5, -2.0], [0.7, 1.2, -0.4]]))
prim("prod", "with_two_zeros", lambda op, x: wsum(op(x, axes=1, keepdims=False) * 1.0),
     np.array([[0.0, 1.5, 0.0], [0.7, 0.0, -0.4]]))
prim("sum", "scalar_input", lambda op, x: op(x * 3.0, axes=None, keepdims=False), normal())

# -- movement ------------------------------------------------------------------------------
prim("reshape", "flatten", lambda op, x: wsum(gc.reshape(x, (-1,))), normal(2, 3, 4))
prim("reshape", "split_dims", lambda op, x: wsum(gc.reshape(x, (3, 2, 2))), normal(12))
prim("transpose", "reverse", lambda op, x: wsum(gc.transpose(x)), normal(2, 3, 4))
prim("transpose", "perm", lambda op, x: wsum(gc.permute(x, 1, 2, 0)), normal(2, 3, 4))
prim("broadcast_to", "new_and_unit_dims", lambda op, x: wsum(gc.broadcast_to(x, (2, 3, 4))), normal(3, 1))
prim("broadcast_to", "scalar", lambda op, x: wsum(gc.broadcast_to(x, (2, 3))), normal())
prim("slice", "steps", lambda op, x: wsum(x[::2, 3:0:-2]), normal(5, 4))
prim("slice", "index_and_newaxis", lambda op, x: wsum(x[1, None, 1:]), normal(3, 4))
prim("slice", "split_halves", lambda op, x: wsum(x[:, :2] * x[:, 2:]), normal(3, 4))
prim("unslice", "strided", lambda op, g: wsum(op(g, shape=(5, 4), starts=(0, 3), stops=(5, 0), steps=(2, -2))), normal(3, 2))
prim("pad", "value", lambda op, x: wsum(gc.pad(x, ((1, 0), (2, 1)), value=1.0) ** 2), normal(3, 4))
prim("pad", "3d", lambda op, x: wsum(gc.pad(x, 1)), normal(2, 2, 3))
prim("concat", "three_inputs_last_axis", lambda op, a, b, c: wsum(gc.concat([a, b, c], axis=-1) ** 2),
     normal(2, 3), normal(2, 1), normal(2, 2))
prim("concat", "axis0_same_tensor", lambda op, a: wsum(gc.concat([a, gc.exp(a)], axis=0)), normal(2, 3))
prim("take", "repeated_indices_axis1", lambda op, x: wsum(gc.take(x, np.array([0, 2, 2, 1, 2]), axis=1)), normal(3, 4))
prim("take", "2d_negative_indices", lambda op, x: wsum(gc.take(x, np.array([[0, -1], [-1, 1]]), axis=0)), normal(3, 4))
prim("take", "embedding", lambda op, e: wsum(gc.take(e, np.array([[1, 3, 1], [0, 0, 4]]))), normal(5, 3))
prim("take_adjoint", "scatter_add", lambda op, g: wsum(op(g, gc.const(np.array([0, 2, 0])), axis=1, size=4)), normal(2, 3, 5))
prim("unfold", "strided_dilated_2d", lambda op, x: wsum(op(x, kernel=(2, 3), stride=(1, 2), dilation=(2, 1))), normal(2, 2, 6, 7))
prim("unfold", "1d_overlapping", lambda op, x: wsum(op(x, kernel=(3,), stride=(1,), dilation=(1,))), normal(1, 2, 6))
prim("fold", "2d", lambda op, c: wsum(op(c, size=(6, 7), kernel=(2, 3), stride=(1, 2), dilation=(2, 1))), normal(2, 2, 4, 3, 2, 3))
prim("cast", "f64_to_f64_node", lambda op, x: wsum(op(x, dtype="float64")), normal(3))  # see test_cast below

# -- composites ----------------------------------------------------------------------------
comp("softmax", "last_axis", lambda f, x: wsum(f(x)), normal(3, 5))
comp("softmax", "axis0_3d", lambda f, x: wsum(f(x, axis=0)), normal(3, 2, 4))
comp("softmax", "logits_near_1000", lambda f, x: wsum(f(x)), normal(2, 4) * 2 + 1000)  # exp(1000) overflows
comp("log_softmax", "logits_near_minus_1000", lambda f, x: wsum(f(x)), normal(2, 4) * 2 - 1000)
comp("log_softmax", "last_axis", lambda f, x: wsum(f(x)), normal(3, 5))
comp("log_softmax", "axis1_3d", lambda f, x: wsum(f(x, axis=1)), normal(2, 3, 4))
comp("logsumexp", "all", lambda f, x: f(x), normal(3, 4))
comp("logsumexp", "axis1", lambda f, x: wsum(f(x, 1)), normal(3, 4))
comp("logsumexp", "axes02_keepdims", lambda f, x: wsum(f(x, (0, 2), keepdims=True)), normal(2, 3, 4))
comp("cumsum", "axis1", lambda f, x: wsum(f(x, 1)), normal(3, 4))
comp("cumsum", "axis0_exclusive_reverse", lambda f, x: wsum(f(x, 0, exclusive=True, reverse=True)), normal(4, 3))
comp("cumprod", "axis1", lambda f, x: wsum(f(x, 1)), normal(3, 4))
comp("cumprod", "with_zeros_reverse", lambda f, x: wsum(f(x * (np.arange(5) != 2), -1, reverse=True)), normal(2, 5))
comp("sort", "rows", lambda f, x: wsum(f(x)), distinct(3, 5))
comp("sort", "axis0_descending", lambda f, x: wsum(f(x, 0, descending=True)), distinct(4, 3))
comp("topk", "values", lambda f, x: wsum(f(x, 2)[0]), distinct(3, 5))
comp("take_along_axis", "axis1", lambda f, x: wsum(f(x, np.array([[0, 2, 2], [1, 1, 0]]), 1)), normal(2, 4))
comp("var", "all", lambda f, x: f(x), normal(3, 4))
comp("var", "axis1", lambda f, x: wsum(f(x, 1)), normal(3, 4))
comp("var", "axis0_keepdims_ddof1", lambda f, x: wsum(f(x, 0, keepdims=True, ddof=1)), normal(4, 3))
comp("std", "all", lambda f, x: f(x), normal(3, 4))
comp("std", "axis1_ddof1", lambda f, x: wsum(f(x, 1, ddof=1)), normal(3, 4))
comp("dot", "vectors", lambda f, a, b: f(a, b), normal(5), normal(5))
comp("dot", "matrix_vector", lambda f, a, b: wsum(f(a, b)), normal(3, 5), normal(5))
comp("outer", "vectors", lambda f, a, b: wsum(f(a, b)), normal(3), normal(4))
comp("stack", "axis0", lambda f, a, b: wsum(f([a, b])), normal(2, 3), normal(2, 3))
comp("stack", "axis-1_three", lambda f, a, b: wsum(f([a, gc.sin(b), a * b], axis=-1)), normal(2, 3), normal(2, 3))
comp("split", "equal", lambda f, x: sum((wsum(p) * (i + 1) for i, p in enumerate(f(x, 3, axis=1))), gc.const(0.0)), normal(2, 6))
comp("split", "at_indices_partial_use", lambda f, x: wsum(f(x, [1, 3], axis=0)[1] ** 2), normal(5, 2))
comp("flip", "all_axes", lambda f, x: wsum(f(x)), normal(3, 4))
comp("flip", "axes02", lambda f, x: wsum(f(x, (0, 2)) * x), normal(2, 3, 4))

# convolutions: (x shape, w shape, bias?, options)
CONV1D = [
    ("plain", (2, 3, 7), (4, 3, 3), False, {}),
    ("stride2_bias", (2, 3, 8), (4, 3, 3), True, dict(stride=2)),
    ("padding_same", (1, 2, 7), (3, 2, 4), False, dict(padding="same")),
    ("padding_pair_dilation2", (1, 2, 9), (3, 2, 3), False, dict(padding=[(2, 1)], dilation=2)),
    ("groups2", (2, 4, 6), (6, 2, 2), True, dict(groups=2)),
    ("depthwise_stride2_dilation2", (1, 3, 11), (3, 1, 3), False, dict(groups=3, stride=2, dilation=2, padding=1)),
]
CONV2D = [
    ("plain", (2, 2, 5, 5), (3, 2, 3, 3), False, {}),
    ("stride2_padding1_bias", (2, 2, 6, 5), (3, 2, 3, 3), True, dict(stride=2, padding=1)),
    ("stride21_padding12", (1, 2, 6, 6), (2, 2, 3, 2), False, dict(stride=(2, 1), padding=(1, 2))),
    ("dilation2", (1, 2, 7, 7), (2, 2, 3, 3), False, dict(dilation=2)),
    ("dilation12_same", (1, 2, 6, 7), (2, 2, 3, 2), False, dict(dilation=(1, 2), padding="same")),
    ("groups2_stride2_dilation2", (2, 4, 8, 8), (4, 2, 3, 3), True, dict(groups=2, stride=2, dilation=2, padding=1)),
    ("same_stride2", (1, 1, 7, 6), (2, 1, 4, 3), False, dict(padding="same", stride=2)),
    ("1x1", (2, 3, 3, 3), (4, 3, 1, 1), True, {}),
]
for _name, _table in (("conv1d", CONV1D), ("conv2d", CONV2D)):
    for _var, _xs, _ws, _bias, _opts in _table:
        if _bias:
            comp(_name, _var, lambda f, x, w, b, o=_opts: wsum(f(x, w, b, **o)), normal(*_xs), normal(*_ws), normal(_ws[0]))
        else:
            comp(_name, _var, lambda f, x, w, o=_opts: wsum(f(x, w, **o)), normal(*_xs), normal(*_ws))

POOL1D = [("k2", (2, 2, 6), dict(kernel_size=2)), ("k3_s2_p1", (1, 2, 7), dict(kernel_size=3, stride=2, padding=1)),
          ("k3_s1_overlap", (1, 1, 6), dict(kernel_size=3, stride=1))]
POOL2D = [("k2", (2, 2, 4, 4), dict(kernel_size=2)), ("k3_s1_overlap", (1, 2, 5, 5), dict(kernel_size=3, stride=1)),
          ("k3_s2_p1", (1, 1, 6, 5), dict(kernel_size=3, stride=2, padding=1)),
          ("k23_s12", (1, 2, 5, 6), dict(kernel_size=(2, 3), stride=(1, 2)))]
for _dim, _table in (("1d", POOL1D), ("2d", POOL2D)):
    for _var, _xs, _opts in _table:
        comp(f"max_pool{_dim}", _var, lambda f, x, o=_opts: wsum(f(x, **o)), distinct(*_xs))
        comp(f"avg_pool{_dim}", _var, lambda f, x, o=_opts: wsum(f(x, **o)), normal(*_xs))
comp("max_pool2d", "dilation2", lambda f, x: wsum(f(x, 2, stride=1, dilation=2)), distinct(1, 2, 5, 5))
comp("max_pool1d", "dilation2_padding1", lambda f, x: wsum(f(x, 2, stride=2, padding=1, dilation=2)), distinct(2, 1, 7))


# ==========================================================================================
def ev(t, **feeds):
    """Evaluate t, feeding only the inputs its graph has (a constant gradient has none)."""
    names = {n.attrs["name"] for n in gc.graph(t).inputs}
    return gc.evaluate(t, **{k: v for k, v in feeds.items() if k in names})


def _graph_ops(t) -> set[str]:
    return {n.op.name for n in gc.graph(t)}


@pytest.mark.parametrize("kind,name,build,arrays,tol,eps,zero", CASES)
def test_gradient_matches_finite_differences(kind, name, build, arrays, tol, eps, zero):
    op = REG[name] if kind == "prim" else COMP[name]
    made = {}

    def fn(*ts):
        made["inputs"], made["out"] = ts, build(op, *ts)
        return made["out"]

    report = gc.check_grad(fn, arrays, eps=eps, tol=tol)
    assert set(report) == {f"x{i}" for i in range(len(arrays))}
    assert all(err <= tol for err in report.values()), report
    out = made["out"]
    assert out.ndim == 0 and out.dtype == np.float64
    if kind == "prim":
        assert name in _graph_ops(out), f"{name} does not occur in the graph it is supposed to test"
    # the symbolic gradient is not vacuous: nonzero (or exactly zero where the derivative is 0)
    grads = gc.grad(out, list(made["inputs"]))
    graph = gc.Graph([g.node for g in grads])
    values = run(graph, {t.node: np.asarray(a, np.float64) for t, a in zip(made["inputs"], arrays)
                         if t.node in set(graph.inputs)}, {}, float64=True)
    for t, g, a in zip(made["inputs"], grads, arrays):
        v = values[g.node]
        assert v.shape == np.shape(a) and g.dtype == np.float64 and g.shape == t.shape
        assert np.all(np.isfinite(v))
        if zero:
            assert np.all(v == 0)
        else:
            assert np.any(v != 0), f"gradient w.r.t. {t.name} is identically zero"


# -- cast: float32 <-> float64 (values computed in float64 by check_grad) --------------------
def test_cast_gradient_f32_input_to_f64():
    x = gc.input("x", (3, 4), "float32")
    y = gc.sum(gc.sin(gc.cast(x, "float64")) * weights((3, 4)))
    assert "cast" in _graph_ops(y)
    gc.check_grad(y, {x: normal(3, 4)}, eps=EPS, tol=TOL)
    g = gc.grad(y, x)
    assert g.dtype == np.float32  # the cotangent of a float32 value is float32
    xv = normal(3, 4).astype(np.float32)
    np.testing.assert_allclose(gc.evaluate(g, x=xv), np.cos(xv.astype(np.float64)) * weights((3, 4)), rtol=1e-6)


def test_cast_gradient_f64_to_f32_and_back_is_the_identity_cotangent():
    x = gc.input("x", (5,), "float64")
    y = gc.sum(gc.cast(gc.cast(x, "float32"), "float64") * weights((5,)))
    g = gc.grad(y, x)
    np.testing.assert_allclose(ev(g, x=normal(5)), weights((5,)).astype(np.float32), rtol=1e-7)


def test_check_grad_through_float32_cast_is_computed_in_float64():
    gc.check_grad(lambda x: gc.sum(gc.exp(gc.cast(x, "float32") * 0.5)), [normal(3, 4)], eps=EPS, tol=TOL)


# -- ops that must pass no gradient ----------------------------------------------------------
NOGRAD = {
    "eq": lambda x: gc.cast(x == 0.5, "float64"),
    "ne": lambda x: gc.cast(x != 0.5, "float64"),
    "lt": lambda x: gc.cast(x < 0.5, "float64"),
    "le": lambda x: gc.cast(x <= 0.5, "float64"),
    "gt": lambda x: gc.cast(x > 0.5, "float64"),
    "ge": lambda x: gc.cast(x >= 0.5, "float64"),
    "logical_and": lambda x: gc.cast((x > 0.0) & (x < 1.0), "float64"),
    "logical_or": lambda x: gc.cast((x > 0.0) | (x < -1.0), "float64"),
    "logical_not": lambda x: gc.cast(~(x > 0.0), "float64"),
    "stop_gradient": lambda x: gc.stop_gradient(x) * 2.0,
    "argmax": lambda x: gc.cast(gc.argmax(x, 0), "float64"),
    "argmin": lambda x: gc.cast(gc.argmin(x, 0), "float64"),
    "iota": lambda x: gc.cast(gc.iota((4,)) + gc.cast(x, "int64"), "float64"),
    "check_range": lambda x: gc.cast(gc.check_range(gc.cast(x, "int64"), -10, 10), "float64"),
    "random_uniform": lambda x: gc.uniform((4,), seed=3, counter=gc.cast(gc.sum(x), "int64")),
    "random_normal": lambda x: gc.normal((4,), seed=3, counter=gc.cast(gc.sum(x), "int64")),
    "one_hot": lambda x: gc.one_hot(gc.cast(x * 2.0, "int64"), 3),
    "bernoulli": lambda x: gc.bernoulli(gc.sigmoid(x), (4,), seed=5),
    "argsort": lambda x: gc.cast(gc.argsort(x), "float64"),
    "scatter_reduce": lambda x: gc.scatter_reduce(x, np.array([1, 0, 1, 2]), 3, reduce="max"),
    "bitwise_and": lambda x: gc.cast(gc.bitwise_and(gc.cast(x * 4.0, "int64"), 6), "float64"),
    "bitwise_or": lambda x: gc.cast(gc.bitwise_or(gc.cast(x * 4.0, "int64"), 1), "float64"),
    "bitwise_xor": lambda x: gc.cast(gc.cast(x * 4.0, "int64") ^ 5, "float64"),
    "bitwise_not": lambda x: gc.cast(~gc.cast(x * 4.0, "int64"), "float64"),
    "left_shift": lambda x: gc.cast(gc.cast(x * 4.0, "int64") << 2, "float64"),
    "right_shift": lambda x: gc.cast(gc.cast(x * 4.0, "int64") >> 1, "float64"),
}


@pytest.mark.parametrize("name", sorted(NOGRAD))
def test_non_differentiable_op_passes_no_gradient(name):
    x = gc.input("x", (4,), "float64")
    out = NOGRAD[name](x)
    if name in REG:
        assert name in _graph_ops(out)
    loss = gc.sum(out * weights(out.shape))
    with pytest.raises(gc.DifferentiationError, match="does not depend"):
        gc.grad(loss, x, disconnected="raise")
    z = gc.grad(loss, x)
    assert z.shape == (4,) and z.dtype == np.float64
    assert np.all(ev(z, x=np.ones(4)) == 0)
    # a parallel differentiable path still gets its gradient, unaffected by the dead one
    total = loss + gc.sum(x * 3.0)
    np.testing.assert_array_equal(ev(gc.grad(total, x), x=np.array([0.3, -0.7, 1.2, 0.5])), 3.0)
    NOGRAD_COVERED.add(name)


def test_one_hot_no_gradient_to_indices_but_gradient_through_its_values():
    idx = gc.input("idx", (3,), "int64")
    w = gc.input("w", (3, 4), "float64")
    loss = gc.sum(gc.one_hot(idx, 4, dtype="float64") * w)
    with pytest.raises(gc.DifferentiationError, match="int64"):
        gc.grad(loss, idx)
    iv = np.array([2, 0, 3])
    np.testing.assert_array_equal(gc.evaluate(gc.grad(loss, w), idx=iv), np.eye(4)[iv])


# -- completeness ----------------------------------------------------------------------------
def _builtin(entry) -> bool:
    fn = getattr(entry, "formula_fn", None) or getattr(entry, "fn", None)
    mod = fn.__module__ if fn is not None else type(entry).__module__
    return mod.startswith("graphc.")


def test_sweep_covers_every_differentiable_primitive():
    differentiable = {n for n, op in REG.items() if _builtin(op) and op.differentiable and op.kind != "leaf"}
    swept = COVERED & set(REG)
    assert swept == differentiable, (f"without a gradient case: {sorted(differentiable - swept)}; "
                                     f"swept but not differentiable: {sorted(swept - differentiable)}")


def test_sweep_covers_every_composite():
    builtin = {n for n, c in COMP.items() if _builtin(c)}
    with_grad = COVERED & set(COMP)
    without = set(NOGRAD) & set(COMP)
    assert with_grad | without == builtin, f"composites without a gradient test: {sorted(builtin - with_grad - without)}"
    assert not with_grad & without


def test_sweep_covers_every_non_differentiable_primitive():
    nondiff = {n for n, op in REG.items() if _builtin(op) and not op.differentiable and op.kind != "leaf"}
    assert set(NOGRAD) & set(REG) == nondiff
