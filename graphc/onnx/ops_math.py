"""ONNX elementwise math, logic, activations and reductions as graphc ops."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from .convert import axis_of, converts
from .types import onnx_dtype

_UNARY = {"Abs": gc.abs, "Neg": gc.neg, "Exp": gc.exp, "Log": gc.log, "Sqrt": gc.sqrt, "Reciprocal": gc.reciprocal,
          "Sin": gc.sin, "Cos": gc.cos, "Tan": gc.tan, "Tanh": gc.tanh, "Sigmoid": gc.sigmoid, "Relu": gc.relu,
          "Erf": gc.erf, "Sign": gc.sign, "Floor": gc.floor, "Ceil": gc.ceil, "Round": gc.round,
          "Not": gc.logical_not, "Softplus": gc.softplus, "Asin": gc.asin, "Acos": gc.acos, "Atan": gc.atan,
          "Asinh": gc.asinh, "Acosh": gc.acosh, "Atanh": gc.atanh}
_COMPARE = {"Equal": gc.eq, "Less": gc.lt, "Greater": gc.gt, "LessOrEqual": gc.le, "GreaterOrEqual": gc.ge,
            "And": gc.logical_and, "Or": gc.logical_or, "Xor": gc.ne}


@converts(*_UNARY)
def unary(ctx):
    return _UNARY[ctx.op_type](ctx.x(0))


@converts("Identity")
def identity(ctx):
    return ctx.x(0)  # a static input stays static (folded); an initializer stays the same parameter


@converts("BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot")
def bitwise(ctx):
    if ctx.op_type == "BitwiseNot":
        return gc.bitwise_not(ctx.x(0))
    return {"BitwiseAnd": gc.bitwise_and, "BitwiseOr": gc.bitwise_or, "BitwiseXor": gc.bitwise_xor}[ctx.op_type](ctx.x(0), ctx.x(1))


@converts("BitShift")
def bit_shift(ctx):
    direction = ctx.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.error(f"attribute 'direction' must be LEFT or RIGHT, got {direction!r}")
    return (gc.left_shift if direction == "LEFT" else gc.right_shift)(ctx.x(0), ctx.x(1))


@converts(*_COMPARE)
def compare(ctx):
    return _COMPARE[ctx.op_type](ctx.x(0), ctx.x(1))


@converts("Add", "Sub", "Mul")
def arithmetic(ctx):
    a, b = ctx.x(0), ctx.x(1)
    return {"Add": gc.add, "Sub": gc.sub, "Mul": gc.mul}[ctx.op_type](a, b)


@converts("Div")
def div(ctx):
    a, b = ctx.x(0), ctx.x(1)
    if a.dtype.kind in "iu":  # ONNX truncates an integer quotient: the floor, plus one where it rounded down
        floor = gc.floor_divide(a, b)
        inexact = gc.logical_and(gc.ne(gc.mod(a, b), 0), gc.ne(a < 0, b < 0))
        return gc.where(inexact, floor + 1, floor)
    return gc.div(a, b)


@converts("Pow")
def pow_(ctx):
    base, exponent = ctx.x(0), ctx.x(1)
    if base.dtype.kind == "f":
        return gc.pow(base, gc.cast(exponent, base.dtype))  # ONNX: the result has the base's type
    return gc.cast(gc.pow(base, exponent), base.dtype)


@converts("Mod")
def mod(ctx):
    a, b = ctx.x(0), ctx.x(1)
    return gc.fmod(a, b) if ctx.attr("fmod", 0) else gc.mod(a, b)  # C's remainder, or Python's (np.mod)


@converts("Max", "Min", "Sum", "Mean")
def variadic(ctx):
    xs = ctx.inputs()
    combine = {"Max": gc.maximum, "Min": gc.minimum, "Sum": gc.add, "Mean": gc.add}[ctx.op_type]
    out = xs[0]
    for x in xs[1:]:
        out = combine(out, x)
    return out / len(xs) if ctx.op_type == "Mean" and len(xs) > 1 else out


@converts("Where")
def where(ctx):
    return gc.where(ctx.x(0), ctx.x(1), ctx.x(2))


@converts("IsNaN")
def is_nan(ctx):
    x = ctx.x(0)
    return gc.ne(x, x)


@converts("IsInf")
def is_inf(ctx):
    x = ctx.x(0)
    negative, positive = ctx.attr("detect_negative", 1), ctx.attr("detect_positive", 1)
    if negative and positive:
        return gc.eq(gc.abs(x), np.inf)
    if positive:
        return gc.eq(x, np.inf)
    if negative:
        return gc.eq(x, -np.inf)
    return gc.ne(x, x) & gc.eq(x, x)  # all false


@converts("Cast")
def cast(ctx):
    to = onnx_dtype(ctx.attr("to"), f"{ctx.label}: attribute 'to'")
    ctx.attr("saturate", 1)  # only float8 targets saturate; graphc has none
    ctx.attr("round_mode", "up")  # likewise (float8 rounding)
    return gc.cast(ctx.x(0), to)


@converts("CastLike")
def cast_like(ctx):
    ctx.attr("saturate", 1)
    ctx.attr("round_mode", "up")
    return gc.cast(ctx.x(0), ctx.x(1).dtype)


# -- activations -------------------------------------------------------------------------
@converts("LeakyRelu")
def leaky_relu(ctx):
    return gc.leaky_relu(ctx.x(0), alpha=ctx.attr("alpha", 0.01))


@converts("Elu")
def elu(ctx):
    return gc.elu(ctx.x(0), alpha=ctx.attr("alpha", 1.0))


@converts("Selu")
def selu(ctx):
    alpha, gamma = ctx.attr("alpha", 1.67326319217681884765625), ctx.attr("gamma", 1.05070102214813232421875)
    return gamma * gc.elu(ctx.x(0), alpha=alpha)


@converts("Celu")
def celu(ctx):
    x, alpha = ctx.x(0), ctx.attr("alpha", 1.0)
    return alpha * gc.elu(x / alpha)


@converts("HardSigmoid")
def hard_sigmoid(ctx):
    x = ctx.x(0)
    return gc.minimum(gc.maximum(ctx.attr("alpha", 0.2) * x + ctx.attr("beta", 0.5), 0.0), 1.0)


@converts("HardSwish")
def hard_swish(ctx):
    x = ctx.x(0)
    return x * gc.minimum(gc.maximum(x / 6.0 + 0.5, 0.0), 1.0)


@converts("Softsign")
def softsign(ctx):
    x = ctx.x(0)
    return x / (1.0 + gc.abs(x))


@converts("ThresholdedRelu")
def thresholded_relu(ctx):
    x = ctx.x(0)
    return gc.where(x > ctx.attr("alpha", 1.0), x, 0.0)


@converts("Mish")
def mish(ctx):
    x = ctx.x(0)
    return x * gc.tanh(gc.softplus(x))


@converts("Gelu")
def gelu(ctx):
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.unsupported(f"approximate={approximate!r}")
    return gc.gelu(ctx.x(0), approximate=approximate)


@converts("PRelu")
def prelu(ctx):
    x, slope = ctx.x(0), ctx.x(1)
    return gc.where(x < 0, slope * x, x)


@converts("Clip")
def clip(ctx):
    x = ctx.x(0)
    if ctx.has(1):
        x = gc.maximum(x, gc.cast(ctx.x(1), x.dtype))
    if ctx.has(2):
        x = gc.minimum(x, gc.cast(ctx.x(2), x.dtype))
    return x


@converts("Sinh", "Cosh")
def hyperbolic(ctx):
    x = ctx.x(0)
    return (gc.exp(x) - gc.exp(-x)) / 2.0 if ctx.op_type == "Sinh" else (gc.exp(x) + gc.exp(-x)) / 2.0


# -- reductions ---------------------------------------------------------------------------
_AXES_INPUT_SINCE = {"ReduceSum": 13}  # the others take axes as an input from opset 18


@converts("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp", "ReduceL1",
          "ReduceL2", "ReduceSumSquare", "ReduceLogSum")  # _REDUCTIONS below
def reduce(ctx):
    x = ctx.x(0)
    keepdims = bool(ctx.attr("keepdims", 1))
    if ctx.opset >= _AXES_INPUT_SINCE.get(ctx.op_type, 18):
        axes = ctx.ints(1, "axes", None)
        noop = ctx.attr("noop_with_empty_axes", 0)
        if not axes:
            if noop:
                return x
            axes = None
    else:
        axes = ctx.attr("axes", None) or None
    axes = None if axes is None else tuple(sorted({axis_of(ctx, a, x.ndim) for a in axes}))
    if x.dtype == np.bool_:
        if ctx.op_type not in ("ReduceMax", "ReduceMin"):
            raise ctx.unsupported(f"{ctx.op_type} of bool")
        # any / all: the reduction of the bools as integers, compared back (an empty max is False, an empty min True)
        return _REDUCTIONS[ctx.op_type](gc.cast(x, np.int32), axes, keepdims) > 0
    return _REDUCTIONS[ctx.op_type](x, axes, keepdims)


def _l2(x, axes, keepdims):
    squares = gc.sum(x * x, axes, keepdims)
    return gc.sqrt(squares) if x.dtype.kind == "f" else gc.cast(gc.sqrt(gc.cast(squares, np.float64)), x.dtype)


_REDUCTIONS = {
    "ReduceSum": gc.sum, "ReduceMean": gc.mean, "ReduceMax": gc.max, "ReduceMin": gc.min, "ReduceProd": gc.prod,
    "ReduceLogSumExp": gc.logsumexp, "ReduceL2": _l2,
    "ReduceL1": lambda x, axes, keepdims: gc.sum(gc.abs(x), axes, keepdims),
    "ReduceSumSquare": lambda x, axes, keepdims: gc.sum(x * x, axes, keepdims),
    "ReduceLogSum": lambda x, axes, keepdims: gc.log(gc.sum(x, axes, keepdims)),
}


@converts("ArgMax", "ArgMin")
def arg_reduce(ctx):
    x = ctx.x(0)
    axis = axis_of(ctx, ctx.attr("axis", 0), x.ndim)
    keepdims = bool(ctx.attr("keepdims", 1))
    fn = gc.argmax if ctx.op_type == "ArgMax" else gc.argmin
    if ctx.attr("select_last_index", 0):  # the last of equal extremes: the first one along the reversed axis
        n = x.shape[axis]
        return gc.cast(n - 1 - fn(gc.flip(x, axis), axis, keepdims), np.int64)
    return gc.cast(fn(x, axis, keepdims), np.int64)


@converts("CumSum", "CumProd")
def cumulative(ctx):
    x = ctx.x(0)
    (axis,) = ctx.ints(1, "axis")
    axis = axis_of(ctx, axis, x.ndim)
    exclusive, reverse = bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0))
    y = (gc.cumsum if ctx.op_type == "CumSum" else gc.cumprod)(x, axis, exclusive=exclusive, reverse=reverse)
    return y if y.dtype == x.dtype else gc.cast(y, x.dtype)  # ONNX keeps the input's type (int32 stays int32)


@converts("SwiGLU")
def swiglu(ctx):
    a, b = ctx.x(0), ctx.x(1)
    if tuple(a.shape) != tuple(b.shape):
        raise ctx.error(f"A {tuple(a.shape)} and B {tuple(b.shape)} must have the same shape")
    return a * gc.sigmoid(a * ctx.attr("alpha", 1.0)) * b
