"""The built-in elementwise ops: formulas, stated stable derivatives, NumPy spellings; plus where, cast, stop_gradient."""
from __future__ import annotations

import math

import numpy as np
import scipy.special
import sympy
from sympy import Abs, Heaviside, Max, Min, Piecewise, erf, exp, log, sqrt

from .. import dtypes, scalar, scalar_ops, shapes
from ..errors import ArgumentError, DTypeError, IndexRangeError
from ..ir import Node
from .elementwise import BOOL, FLOAT, INTEGER, LOGICAL, SAME, Elementwise
from .movement import sum_to_shape
from .registry import Op, as_node, register

sigmoid_fn = scalar.sigmoid
_SQRT_2_OVER_PI = sqrt(2 / sympy.pi)


def _unary(name, formula, result=FLOAT, derivative=None, numpy=None, attrs=(), differentiable=True, stable=None):
    op = register(Elementwise(name, 1, formula, result=result, derivative=derivative, numpy=numpy,
                              attrs=attrs, differentiable=differentiable, stable=stable))
    return op


def _binary(name, formula, result=SAME, derivative=None, numpy=None, differentiable=True):
    return register(Elementwise(name, 2, formula, result=result, derivative=derivative, numpy=numpy,
                                differentiable=differentiable))


# -- unary -------------------------------------------------------------------------
neg = _unary("neg", lambda x: -x, SAME, numpy=np.negative)
abs = _unary("abs", lambda x: Abs(x), SAME, numpy=np.abs)
sign = _unary("sign", lambda x: sympy.sign(x), SAME, derivative=lambda x, y: 0, numpy=np.sign)
exp_ = _unary("exp", lambda x: exp(x), derivative=lambda x, y: y, numpy=np.exp)


class _Log(Elementwise):
    """log, built as -softplus(-z) on a sigmoid σ(z) and as -softplus(z) on 1 - σ(z): the log-likelihoods
    of binary cross-entropy then stay finite (values and gradients) for logits of any magnitude."""

    def __call__(self, x, name=None, **attrs):
        if isinstance(x, Node) and not attrs:
            if x.op is sigmoid:
                return neg(softplus(neg(x.inputs[0])), name=name)
            if x.op is sub and x.inputs[1].op is sigmoid and _is_one(x.inputs[0]) and x.shape == x.inputs[1].shape:
                return neg(softplus(x.inputs[1].inputs[0]), name=name)
        return super().__call__(x, name=name, **attrs)


def _is_one(node) -> bool:
    return node.op.name == "const" and node.attrs["value"].array.size == 1 and float(node.attrs["value"].array.reshape(())) == 1.0


log_ = register(_Log("log", 1, lambda x: log(x), result=FLOAT, numpy=np.log))
log1p = _unary("log1p", lambda x: log(1 + x), numpy=np.log1p, stable=lambda x: scalar.log1p(x))
expm1 = _unary("expm1", lambda x: exp(x) - 1, derivative=lambda x, y: y + 1, numpy=np.expm1, stable=lambda x: scalar.expm1(x))
sqrt_ = _unary("sqrt", lambda x: sqrt(x), derivative=lambda x, y: 1 / (2 * y), numpy=np.sqrt)
rsqrt = _unary("rsqrt", lambda x: 1 / sqrt(x), derivative=lambda x, y: -y ** 3 / 2, numpy=lambda x: 1 / np.sqrt(x))
square = _unary("square", lambda x: x ** 2, SAME, numpy=np.square)
reciprocal = _unary("reciprocal", lambda x: 1 / x, derivative=lambda x, y: -y ** 2, numpy=lambda x: 1 / x)
sin = _unary("sin", lambda x: sympy.sin(x), numpy=np.sin)
cos = _unary("cos", lambda x: sympy.cos(x), numpy=np.cos)
tanh = _unary("tanh", lambda x: sympy.tanh(x), derivative=lambda x, y: 1 - y ** 2, numpy=np.tanh)
sigmoid = _unary("sigmoid", lambda x: 1 / (1 + exp(-x)), derivative=lambda x, y: y * (1 - y),
                 numpy=scalar.stable_sigmoid, stable=lambda x: sigmoid_fn(x))
# relu'(0) = 0 and step'(x) = 0: the conventions of every major framework (documented in docs/ops.md)
relu = _unary("relu", lambda x: Max(0, x), SAME, derivative=lambda x, y: Heaviside(x, 0),
              numpy=lambda x: np.maximum(x, 0))
leaky_relu = _unary("leaky_relu", lambda x, alpha=0.01: Piecewise((x, x > 0), (alpha * x, True)),
                    derivative=lambda x, y, alpha=0.01: Piecewise((1, x > 0), (alpha, True)),
                    numpy=lambda x, alpha=0.01: np.where(x > 0, x, alpha * x), attrs=("alpha",))
elu = _unary("elu", lambda x, alpha=1.0: Piecewise((x, x > 0), (alpha * (exp(x) - 1), True)),
             derivative=lambda x, y, alpha=1.0: Piecewise((1, x > 0), (alpha * exp(x), True)),
             numpy=lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), attrs=("alpha",),
             stable=lambda x, alpha=1.0: Piecewise((x, x > 0), (alpha * scalar.expm1(Min(x, 0)), True)))
gelu_erf = _unary("gelu", lambda x: x / 2 * (1 + erf(x / sqrt(2))),
                  numpy=lambda x: x / 2 * (1 + scipy.special.erf(x / np.sqrt(2)).astype(x.dtype)))
gelu_tanh = _unary("gelu_tanh", lambda x: x / 2 * (1 + sympy.tanh(_SQRT_2_OVER_PI * (x + sympy.Rational(44715, 1000000) * x ** 3))),
                   numpy=lambda x: x / 2 * (1 + np.tanh(np.sqrt(2 / np.pi).astype(x.dtype) * (x + 0.044715 * x ** 3))))
softplus = _unary("softplus", lambda x: log(1 + exp(x)), derivative=lambda x, y: sigmoid_fn(x),
                  numpy=lambda x: np.logaddexp(0, x).astype(x.dtype),
                  stable=lambda x: Max(x, 0) + scalar.log1p(exp(-Abs(x))))
step = _unary("step", lambda x: Heaviside(x, 0), derivative=lambda x, y: 0,
              numpy=lambda x: (x > 0).astype(x.dtype if x.dtype.kind == "f" else dtypes.DEFAULT_FLOAT))
erf_ = _unary("erf", lambda x: erf(x), numpy=lambda x: scipy.special.erf(x).astype(x.dtype))
tan = _unary("tan", lambda x: sympy.tan(x), numpy=np.tan)
# the inverse functions: atan is a scalar operation of every backend; the others are computed from it, log1p
# and sqrt in forms that stay accurate near 0 and ±1 and never overflow (derivatives from the plain formula)
atan = _unary("atan", lambda x: sympy.atan(x), numpy=np.arctan)
asin = _unary("asin", lambda x: sympy.asin(x), numpy=np.arcsin,
              stable=lambda x: sympy.atan(x / sympy.sqrt((1 - x) * (1 + x))))
acos = _unary("acos", lambda x: sympy.acos(x), numpy=np.arccos,
              stable=lambda x: 2 * sympy.atan(sympy.sqrt((1 - x) / (1 + x))))
_HUGE, _TINY = 2.0 ** 28, 2.0 ** -28  # beyond: x² would overflow float32, and the result is log(2|x|) to the last
# bit; below: the result is x itself to the last bit (and -0 keeps its sign)
asinh = _unary("asinh", lambda x: sympy.asinh(x), numpy=np.arcsinh, stable=lambda x: Piecewise(
    (x, Abs(x) < _TINY), (sympy.sign(x) * (log(Abs(x)) + math.log(2.0)), Abs(x) > _HUGE),
    (sympy.sign(x) * scalar.log1p(Abs(x) + x ** 2 / (1 + sqrt(1 + x ** 2))), True)))
# log1p(t + sqrt(t (t + 2))) with t = x - 1 computed first (an unevaluated sum: sympy would otherwise fold the
# -1 into the sum, and x + sqrt(...) - 1 cancels catastrophically near 1)
acosh = _unary("acosh", lambda x: sympy.acosh(x), numpy=np.arccosh, stable=lambda x: Piecewise(
    (log(x) + math.log(2.0), x > _HUGE),
    (scalar.log1p(sympy.Add(x - 1, sqrt((x - 1) * (x + 1)), evaluate=False)), True)))
atanh = _unary("atanh", lambda x: sympy.atanh(x), numpy=np.arctanh, stable=lambda x: Piecewise(
    (x, Abs(x) < _TINY), (sympy.sign(x) * scalar.log1p(2 * Abs(x) / (1 - Abs(x))) / 2, True)))
# rounding: piecewise constant, so the derivative is 0 (as in every major framework)
floor = _unary("floor", lambda x: sympy.floor(x), SAME, derivative=lambda x, y: 0, numpy=np.floor)
ceil = _unary("ceil", lambda x: sympy.ceiling(x), SAME, derivative=lambda x, y: 0, numpy=np.ceil)


def _round_half_even(x):
    """Round to the nearest integer, ties to even (NumPy's and ONNX's rounding): x - floor(x) is exact, so the
    tie test is too, for every float."""
    down = sympy.floor(x)
    fraction = x - down
    up = sympy.Or(fraction > sympy.S.Half, sympy.And(sympy.Eq(fraction, sympy.S.Half), sympy.Eq(sympy.Mod(down, 2), 1)))
    return Piecewise((down + 1, up), (down, True))


round_ = _unary("round", _round_half_even, SAME, derivative=lambda x, y: 0, numpy=np.round)

# -- binary (NumPy broadcasting) -------------------------------------------------------
add = _binary("add", lambda a, b: a + b, numpy=np.add)
sub = _binary("sub", lambda a, b: a - b, numpy=np.subtract)
mul = _binary("mul", lambda a, b: a * b, numpy=np.multiply)
div = _binary("div", lambda a, b: a / b, FLOAT, derivative=lambda a, b, y: (1 / b, -y / b), numpy=np.true_divide)
class _Pow(Elementwise):
    """a ** b; an integer base to a negative integer constant power is refused (NumPy and Python disagree on
    its value, and no integer holds 2 ** -1): cast the base to float first."""

    def normalize(self, inputs, attrs):
        attrs = super().normalize(inputs, attrs)
        a, b = inputs
        if dtypes.is_int(a.dtype) and dtypes.is_int(b.dtype) and b.op.name == "const" and (b.attrs["value"].array < 0).any():
            raise DTypeError(f"integer {a.dtype} to a negative power {b.attrs['value'].graph_label()}: "
                             "cast the base to float first (x.astype('float32') ** -1)")
        return attrs

    def reference(self, a, b, **attrs):
        if a.dtype.kind in "biu" and b.dtype.kind in "biu" and (np.asarray(b) < 0).any():
            raise IndexRangeError(f"pow: {_NEGATIVE_EXPONENT} must be in [0, {_MAX_EXPONENT}), got {int(np.min(b))}")
        return super().reference(a, b, **attrs)

    def lower(self, ctx, a, b, **attrs):
        if a.buffer.dtype.kind in "biu" and b.buffer.dtype.kind in "biu":  # a runtime exponent is checked first
            checked = ctx.buffer(b.shape, b.buffer.dtype)
            loads = [ctx.load("a0", b)]
            ctx.loop(b.shape, loads, ctx.body(loads, lambda bld, ops: ops[0], b.buffer.dtype), checked,
                     checks=(("a0", 0, _MAX_EXPONENT, _NEGATIVE_EXPONENT),))
            b = checked
        return super().lower(ctx, a, b, **attrs)


_NEGATIVE_EXPONENT = "integer exponents (an integer to a negative power is not an integer: cast the base to float)"
_MAX_EXPONENT = 2 ** 63 - 1
pow = register(_Pow("pow", 2, lambda a, b: a ** b, derivative=lambda a, b, y: (b * a ** (b - 1), y * log(a)), numpy=np.power))
# the remainder of floor division (the divisor's sign, np.mod, Python's %) and of truncated division (the
# dividend's sign, np.fmod, C's %): d/da = 1, d/db = -(a - r)/b, the quotient
mod = _binary("mod", lambda a, b: sympy.Mod(a, b), derivative=lambda a, b, y: (1, -sympy.floor(a / b)), numpy=np.mod)
floor_divide = _binary("floor_divide", lambda a, b: scalar.floordiv(a, b), derivative=lambda a, b, y: (0, 0),
                       numpy=np.floor_divide)  # a // b: piecewise constant, so no gradient
fmod = _binary("fmod", lambda a, b: sympy.sign(a) * sympy.Mod(Abs(a), Abs(b)),
               derivative=lambda a, b, y: (1, -(a - y) / b), numpy=np.fmod)
# max/min ties split the gradient evenly (Heaviside(0) = 1/2), like the reductions
maximum = _binary("maximum", lambda a, b: Max(a, b), derivative=lambda a, b, y: (Heaviside(a - b, sympy.S.Half), Heaviside(b - a, sympy.S.Half)), numpy=np.maximum)
minimum = _binary("minimum", lambda a, b: Min(a, b), derivative=lambda a, b, y: (Heaviside(b - a, sympy.S.Half), Heaviside(a - b, sympy.S.Half)), numpy=np.minimum)

# integer bit operations (NumPy's bitwise_*, left_shift, right_shift); integer operands only, no gradient
bitwise_and = _binary("bitwise_and", lambda a, b: scalar.bitand(a, b), INTEGER, numpy=np.bitwise_and, differentiable=False)
bitwise_or = _binary("bitwise_or", lambda a, b: scalar.bitor(a, b), INTEGER, numpy=np.bitwise_or, differentiable=False)
bitwise_xor = _binary("bitwise_xor", lambda a, b: scalar.bitxor(a, b), INTEGER, numpy=np.bitwise_xor, differentiable=False)
bitwise_not = _unary("bitwise_not", lambda x: scalar.bitxor(x, -1), INTEGER, numpy=np.invert, differentiable=False)
left_shift = _binary("left_shift", lambda a, b: scalar.shl(a, b), INTEGER, numpy=np.left_shift, differentiable=False)
right_shift = _binary("right_shift", lambda a, b: scalar.shr(a, b), INTEGER, numpy=np.right_shift, differentiable=False)

eq = _binary("eq", lambda a, b: sympy.Eq(a, b), BOOL, numpy=np.equal, differentiable=False)
ne = _binary("ne", lambda a, b: sympy.Ne(a, b), BOOL, numpy=np.not_equal, differentiable=False)
lt = _binary("lt", lambda a, b: a < b, BOOL, numpy=np.less, differentiable=False)
le = _binary("le", lambda a, b: a <= b, BOOL, numpy=np.less_equal, differentiable=False)
gt = _binary("gt", lambda a, b: a > b, BOOL, numpy=np.greater, differentiable=False)
ge = _binary("ge", lambda a, b: a >= b, BOOL, numpy=np.greater_equal, differentiable=False)
logical_and = _binary("logical_and", lambda a, b: sympy.And(a > 0, b > 0), LOGICAL, numpy=np.logical_and, differentiable=False)
logical_or = _binary("logical_or", lambda a, b: sympy.Or(a > 0, b > 0), LOGICAL, numpy=np.logical_or, differentiable=False)
logical_not = _unary("logical_not", lambda x: sympy.Not(x > 0), LOGICAL, numpy=np.logical_not, differentiable=False)


class Where(Op):
    """where(cond, a, b): a where cond is true, else b (broadcasting all three)."""

    name, kind, value_inputs = "where", "elementwise", (1, 2)
    computes = False  # moves, selects or converts: works on a float16 value as stored

    def shape(self, cond, a, b):
        return shapes.broadcast_shapes(cond.shape, a.shape, b.shape)

    def dtype(self, cond, a, b):
        if cond.dtype != dtypes.bool_:
            raise DTypeError(f"condition must be bool, got {cond.dtype}")
        return dtypes.promote(a.dtype, b.dtype)

    def reference(self, cond, a, b):
        return np.where(cond, a, b)

    def lower(self, ctx, cond, a, b):
        return ctx.map_body((cond, a, b), lambda bld, ops: bld.where(*ops))

    def vjp(self, g, y, cond, a, b):
        zero = 0.0
        return [None,
                sum_to_shape(WHERE(cond, g, zero), a.shape) if dtypes.is_float(a.dtype) else None,
                sum_to_shape(WHERE(cond, zero, g), b.shape) if dtypes.is_float(b.dtype) else None]

    def vjp_label(self, index, out, inputs):
        cond = inputs[0]
        return ("none (condition)", f"{out} where {cond}, else 0", f"0 where {cond}, else {out}")[index]


class Cast(Op):
    name, kind = "cast", "elementwise"
    computes = False  # moves, selects or converts: works on a float16 value as stored

    def normalize(self, inputs, attrs):
        attrs["dtype"] = dtypes.as_dtype(attrs["dtype"])
        return attrs

    def shape(self, x, *, dtype):
        return x.shape

    def dtype(self, x, *, dtype):
        return dtype

    def reference(self, x, *, dtype):
        return scalar_ops.cast_array(x, dtype)

    def lower(self, ctx, x, *, dtype):
        return ctx.map_body((x,), lambda bld, ops: ops[0])

    def vjp(self, g, y, x, *, dtype):
        if not (dtypes.is_float(x.dtype) and dtypes.is_float(dtype)):
            return [None]
        return [CAST(g, dtype=x.dtype)]

    def vjp_label(self, index, out, inputs):
        return f"{out} cast back to {inputs[0]}'s dtype"


class StopGradient(Op):
    """The identity whose derivative is zero: gradients do not flow through it."""

    name, kind, differentiable = "stop_gradient", "elementwise", False
    computes = False  # moves, selects or converts: works on a float16 value as stored

    def shape(self, x):
        return x.shape

    def reference(self, x):
        return x

    def lower(self, ctx, x):
        return x


WHERE, CAST, STOP_GRADIENT = register(Where), register(Cast), register(StopGradient)


def where(cond, a, b, name=None) -> Node:
    """Elementwise choice: `a` where `cond` holds, else `b`."""
    if not isinstance(cond, Node):
        cond = as_node(np.asarray(cond, dtype=bool))
    return WHERE(cond, a, b, name=name)


def cast(x, dtype, name=None) -> Node:
    """Convert `x` to `dtype` (gradients flow between float dtypes)."""
    x = as_node(x)
    return x if x.dtype == dtypes.as_dtype(dtype) else CAST(x, dtype=dtype, name=name)


def stop_gradient(x, name=None):
    return STOP_GRADIENT(x, name=name)


def gelu(x, approximate="none", name=None):
    """GELU: the exact form x·Φ(x) (erf), or `approximate="tanh"` for the tanh approximation."""
    if isinstance(approximate, (bool, np.bool_, str, type(None))):
        if approximate in ("none", None, False):
            return gelu_erf(x, name=name)
        if approximate in ("tanh", True):  # PyTorch spells it "tanh", JAX True
            return gelu_tanh(x, name=name)
    raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh' (or False/True), got {approximate!r}")
