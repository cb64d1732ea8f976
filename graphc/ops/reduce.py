"""Reductions over any set of axes (sum, mean, max, min, prod, argmax, argmin) and their composites."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, scalar, scalar_ops, shapes
from ..errors import ArgumentError
from ..scalar_ops import combine_identity
from .elementwise import expr
from .math import add, cast, div, eq, exp_ as exp, log_ as log, logical_and, mul, sqrt_, square, stop_gradient, sub, where
from .movement import broadcast_to, expand_dims, reshape, swapaxes
from .registry import Op, as_node, composite, register, scope


def _accumulator(dtype):
    """The dtype sums and products of `dtype` are returned in (NumPy's rule): bool and signed integers narrower
    than 64 bits in int64, unsigned ones in uint64, so that a sum of uint8 pixels does not wrap at 256."""
    if dtype == dtypes.bool_ or (dtype.kind == "i" and dtype.itemsize < 8):
        return dtypes.int64
    if dtype.kind == "u" and dtype.itemsize < 8:
        return dtypes.uint64
    return dtype


class Reduce(Op):
    """A reduction over `axes` (sorted, normalised); `keepdims` keeps them as size 1."""

    kind = "reduce"
    numpy_fn = None

    def normalize(self, inputs, attrs):
        (x,) = inputs
        attrs["axes"] = shapes.normalize_axes(attrs.get("axes"), x.ndim)
        attrs["keepdims"] = bool(attrs.get("keepdims", False))
        return attrs

    def shape(self, x, *, axes, keepdims):
        if keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        return tuple(d for i, d in enumerate(x.shape) if i not in axes)

    def reference(self, x, *, axes, keepdims):
        return np.asarray(type(self).numpy_fn(x, axis=axes, keepdims=keepdims))

    combine = "add"

    def lower(self, ctx, x, *, axes, keepdims):
        out = self.lower_kept(ctx, x, axes)
        return out if keepdims else out.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))

    def lower_kept(self, ctx, x, axes):
        """The reduction into a buffer of x's shape with the reduced axes at 1."""
        return ctx.reduce(x, axes, self.combine, ctx.node.dtype)

    def _kept(self, t, x, axes, keepdims):
        """`t` (a reduced result or its cotangent) with the reduced axes restored as size 1."""
        return t if keepdims else reshape(t, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))


class Sum(Reduce):
    name, numpy_fn = "sum", np.sum

    def dtype(self, x, **attrs):
        return _accumulator(x.dtype)

    def vjp(self, g, y, x, *, axes, keepdims):
        return [broadcast_to(self._kept(g, x, axes, keepdims), x.shape)]

    def vjp_label(self, index, out, inputs):
        return f"broadcast({out})"


class Mean(Reduce):
    name, numpy_fn = "mean", np.mean

    def lower_kept(self, ctx, x, axes):  # a sum, then one division by the count (as np.mean computes it)
        total = ctx.reduce(x, axes, "add", ctx.node.dtype)
        count = math.prod(x.shape[a] for a in axes)
        return ctx.map_body((total,), lambda b, ops: b.binary("div", ops[0], b.const(count, ctx.node.dtype)),
                            shape=total.shape)

    def dtype(self, x, **attrs):
        return x.dtype if dtypes.is_float(x.dtype) else dtypes.DEFAULT_FLOAT

    def vjp(self, g, y, x, *, axes, keepdims):
        count = shapes.prod(x.shape[a] for a in axes)
        spread = broadcast_to(self._kept(g, x, axes, keepdims), x.shape)
        return [expr(scalar.G / count, {scalar.G: spread}, dtype=x.dtype)]

    def vjp_label(self, index, out, inputs):
        return f"broadcast({out}) / n"

    def vjp_label_for(self, node, index, out, inputs):
        count = shapes.prod(node.inputs[0].shape[a] for a in node.attrs["axes"])
        return f"broadcast({out}) / {count}"


class MaxMin(Reduce):
    """max and min: the gradient is split evenly between tied extreme elements."""

    def reference(self, x, *, axes, keepdims):
        if x.size == 0 and any(x.shape[a] == 0 for a in axes):  # the combine's identity, as ONNX defines it
            return np.full(self.shape(x, axes=axes, keepdims=keepdims), combine_identity(self.combine, x.dtype), x.dtype)
        return super().reference(x, axes=axes, keepdims=keepdims)

    def vjp(self, g, y, x, *, axes, keepdims):
        hit = cast(eq(x, self._kept(y, x, axes, keepdims)), x.dtype)
        ties = SUM(hit, axes=axes, keepdims=True)
        return [div(mul(self._kept(g, x, axes, keepdims), hit), ties)]

    def vjp_label(self, index, out, inputs):
        return f"broadcast({out}) ⊙ [{inputs[0]} = {self.name}] (ties share)"


class Max(MaxMin):
    name, numpy_fn, combine = "max", np.max, "max"


class Min(MaxMin):
    name, numpy_fn, combine = "min", np.min, "min"


class Prod(Reduce):
    name, numpy_fn, combine = "prod", np.prod, "mul"

    def dtype(self, x, **attrs):
        return _accumulator(x.dtype)

    def vjp(self, g, y, x, *, axes, keepdims):
        # d prod / d x_i = product of the others, computed without dividing by zero:
        # no zero in the slice -> y/x_i; exactly one zero -> that element gets the product of the rest.
        is_zero = eq(x, 0.0)
        safe = where(is_zero, 1.0, x)
        nonzero_prod = PROD(safe, axes=axes, keepdims=True)
        zeros = SUM(cast(is_zero, x.dtype), axes=axes, keepdims=True)
        others = where(eq(zeros, 0.0), div(nonzero_prod, safe), where(logical_and(eq(zeros, 1.0), is_zero), nonzero_prod, 0.0))
        return [mul(self._kept(g, x, axes, keepdims), others)]

    def vjp_label(self, index, out, inputs):
        return f"broadcast({out}) ⊙ product of the other elements"


class ArgReduce(Reduce):
    """argmax/argmin along one axis (the first occurrence wins); int64 indices, no gradient."""

    differentiable = False

    def normalize(self, inputs, attrs):
        (x,) = inputs
        axis = attrs.get("axes")
        if axis is None:
            if x.ndim != 1:
                raise ArgumentError(f"{self.name} needs an axis for rank {x.ndim} (or flatten first)")
            axis = 0
        if isinstance(axis, (tuple, list)):
            if len(axis) != 1:
                raise ArgumentError(f"{self.name} reduces exactly one axis")
            axis = axis[0]
        attrs["axes"] = (shapes.normalize_axis(axis, x.ndim),)
        attrs["keepdims"] = bool(attrs.get("keepdims", False))
        return attrs

    def dtype(self, x, **attrs):
        return dtypes.int64

    def reference(self, x, *, axes, keepdims):
        return np.asarray(type(self).numpy_fn(x, axis=axes[0], keepdims=keepdims)).astype(np.int64)

    def lower_kept(self, ctx, x, axes):
        """Two reductions: the extreme value m, then the least index i with x[i] = m (or x[i] NaN, which
        the extreme then is: max and min propagate NaN), so the first occurrence wins as in NumPy."""
        (axis,) = axes
        extreme = ctx.reduce(x, axes, self.combine, x.buffer.dtype)
        n = x.shape[axis]

        def first_hit(b, ops):
            v, m = ops
            hit = b.emit("or", (b.compare("eq", v, m), b.compare("ne", v, v)), scalar_ops.BOOL)
            return b.where(hit, b.axis(axis), b.const(n, scalar_ops.INDEX))

        kept = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
        index = ctx.buffer(kept, dtypes.int64)
        loads = [ctx.load("a0", x), ctx.load("a1", extreme.broadcast_to(x.shape))]
        ctx.loop(x.shape, loads, ctx.body(loads, first_hit, dtypes.int64), index.broadcast_to(x.shape),
                 reduce=axes, combine="min")
        return index


class ArgMax(ArgReduce):
    name, numpy_fn, combine = "argmax", np.argmax, "max"


class ArgMin(ArgReduce):
    name, numpy_fn, combine = "argmin", np.argmin, "min"


SUM, MEAN, MAX, MIN, PROD = (register(c) for c in (Sum, Mean, Max, Min, Prod))
ARGMAX, ARGMIN = register(ArgMax), register(ArgMin)


def sum(x, axis=None, keepdims=False, name=None):
    return SUM(x, axes=axis, keepdims=keepdims, name=name)


def mean(x, axis=None, keepdims=False, name=None):
    return MEAN(x, axes=axis, keepdims=keepdims, name=name)


def max(x, axis=None, keepdims=False, name=None):
    return MAX(x, axes=axis, keepdims=keepdims, name=name)


def min(x, axis=None, keepdims=False, name=None):
    return MIN(x, axes=axis, keepdims=keepdims, name=name)


def prod(x, axis=None, keepdims=False, name=None):
    return PROD(x, axes=axis, keepdims=keepdims, name=name)


def argmax(x, axis=None, keepdims=False, name=None):
    return ARGMAX(x, axes=axis, keepdims=keepdims, name=name)


def argmin(x, axis=None, keepdims=False, name=None):
    return ARGMIN(x, axes=axis, keepdims=keepdims, name=name)


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


@composite("logsumexp", _np_logsumexp)
def logsumexp(x, axis=None, keepdims=False, name=None):
    """log(sum(exp(x))) computed stably as m + log(sum(exp(x - m))) with m = max(x) (no gradient through m)."""
    x = as_node(x)
    with scope(name or "logsumexp"):
        m = stop_gradient(max(x, axis, keepdims=True))
        out = add(m, log(sum(exp(sub(x, m)), axis, keepdims=True)))
        if not keepdims:
            out = reshape(out, SUM.shape(x, axes=shapes.normalize_axes(axis, x.ndim), keepdims=False))
    return out


@composite("var", lambda x, axis=None, keepdims=False, ddof=0: np.var(x, axis=axis, keepdims=keepdims, ddof=ddof))
def var(x, axis=None, keepdims=False, ddof: int = 0, name=None):
    """Variance (mean squared deviation; `ddof=1` for the unbiased estimate)."""
    x = as_node(x)
    with scope(name or "var"):
        dev = square(sub(x, mean(x, axis, keepdims=True)))
        if ddof == 0:
            return mean(dev, axis, keepdims)
        n = shapes.prod(x.shape[a] for a in shapes.normalize_axes(axis, x.ndim))
        s = sum(dev, axis, keepdims)
        return expr(scalar.G / (n - ddof), {scalar.G: s})


@composite("std", lambda x, axis=None, keepdims=False, ddof=0: np.std(x, axis=axis, keepdims=keepdims, ddof=ddof))
def std(x, axis=None, keepdims=False, ddof: int = 0, name=None):
    """Standard deviation, sqrt(var)."""
    return sqrt_(var(x, axis, keepdims, ddof), name=name)


def _np_cumulative(kind: str):
    def reference(x, axis: int = 0, exclusive: bool = False, reverse: bool = False):
        x = np.asarray(x)
        ax = axis % x.ndim
        x = np.flip(x, ax) if reverse else x
        y = (np.cumsum if kind == "sum" else np.cumprod)(x, axis=ax)
        if exclusive:  # each element leaves itself out: the identity first, then the running result shifted
            first = np.full_like(np.take(y, [0], axis=ax), 0 if kind == "sum" else 1)
            y = np.concatenate([first, np.take(y, range(x.shape[ax] - 1), axis=ax)], axis=ax)
        return np.flip(y, ax) if reverse else y
    return reference


def _cumulative(kind: str, x, axis: int, exclusive: bool, reverse: bool, name):
    """The running sum or product along `axis`: out[i] combines x[j] for j <= i (j < i when `exclusive`; j >= i
    or j > i when `reverse`) as one reduction over a triangular selection of x broadcast against itself."""
    x = as_node(x)
    if x.ndim == 0:
        raise ArgumentError(f"cum{kind} needs at least one axis, got a scalar")
    ax = shapes.normalize_axes(axis, x.ndim)[0]
    n = x.shape[ax]
    if not isinstance(n, int):
        raise ArgumentError(f"cum{kind} needs a static length along axis {axis}, got {n}")
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    keep = (j >= i if reverse else j <= i) & ((j != i) if exclusive else True)
    identity = 0 if kind == "sum" else 1
    with scope(name or f"cum{kind}"):
        moved = swapaxes(x, ax, -1) if ax != x.ndim - 1 else x
        rows = broadcast_to(expand_dims(moved, -2), moved.shape[:-1] + (n, n))  # rows[..., i, j] = x[..., j]
        chosen = where(as_node(keep), rows, identity)
        out = (sum if kind == "sum" else prod)(chosen, axis=-1)
        return swapaxes(out, ax, -1) if ax != x.ndim - 1 else out


@composite("cumsum", _np_cumulative("sum"))
def cumsum(x, axis: int = 0, exclusive: bool = False, reverse: bool = False, name=None):
    """Running sums along `axis` (np.cumsum; ONNX's CumSum with `exclusive` and `reverse`), with sum's dtype rule."""
    return _cumulative("sum", x, axis, exclusive, reverse, name)


@composite("cumprod", _np_cumulative("prod"))
def cumprod(x, axis: int = 0, exclusive: bool = False, reverse: bool = False, name=None):
    """Running products along `axis` (np.cumprod); the gradient is exact where x has zeros (prod's)."""
    return _cumulative("prod", x, axis, exclusive, reverse, name)
