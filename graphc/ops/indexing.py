"""Integer indexing: gather along an axis (take) and its scatter-add adjoint, iota, one-hot, and NumPy-style x[...]."""
from __future__ import annotations

import operator

import numpy as np

from .. import dtypes, scalar_ops, shapes
from ..errors import ArgumentError, DTypeError, IndexRangeError, ShapeError
from ..ir import Node
from .math import cast, eq
from .movement import SLICE, _fmt, _slice_len, expand_dims, reshape, slice_bounds
from .registry import Op, as_node, composite, register


class Iota(Op):
    """Indices 0..n-1 along `axis` of a tensor of `shape` (for masks and one-hot)."""

    name, kind, differentiable = "iota", "movement", False

    def normalize(self, inputs, attrs):
        attrs["shape"] = shapes.as_shape(attrs["shape"])
        attrs["axis"] = shapes.normalize_axis(attrs.get("axis", 0), len(attrs["shape"]))
        attrs["dtype"] = dtypes.as_dtype(attrs.get("dtype", dtypes.int64))
        if dtypes.is_bool(attrs["dtype"]):
            raise DTypeError("dtype must be an integer or float type (indices count past 1), got bool")
        n = attrs["shape"][attrs["axis"]] if attrs["shape"] else 1
        if dtypes.is_int(attrs["dtype"]) and (not isinstance(n, int) or n - 1 > np.iinfo(attrs["dtype"]).max):
            raise DTypeError(f"{attrs['dtype']} cannot count to {n} (indices would wrap); use int64")
        return attrs

    def shape(self, *, shape, axis, dtype):
        return shape

    def dtype(self, *, shape, axis, dtype):
        return dtype

    def reference(self, *, shape, axis, dtype):
        view = [1] * len(shape)
        view[axis] = shape[axis]
        return np.broadcast_to(np.arange(shape[axis], dtype=dtype).reshape(view), shape)

    def lower(self, ctx, *, shape, axis, dtype):
        return ctx.map_body((), lambda b, ops: b.axis(axis))


class Take(Op):
    """Gather along `axis` with integer indices (embedding lookup): x.shape[:axis] + idx.shape + x.shape[axis+1:]."""

    name, kind, value_inputs = "take", "movement", (0,)

    def normalize(self, inputs, attrs):
        x, idx = inputs
        attrs["axis"] = shapes.normalize_axis(attrs.get("axis", 0), x.ndim)
        return attrs

    def shape(self, x, idx, *, axis):
        if not dtypes.is_int(idx.dtype):
            raise ShapeError(f"indices must be integers, got {idx.dtype}")
        return x.shape[:axis] + idx.shape + x.shape[axis + 1:]

    def dtype(self, x, idx, *, axis):
        return x.dtype

    def reference(self, x, idx, *, axis):
        n = x.shape[axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexRangeError(f"take: indices must be in [{-n}, {n}) along axis {axis}, got values from {idx.min()} to {idx.max()}")
        return np.take(x, idx, axis=axis)

    def lower(self, ctx, x, idx, *, axis):
        out = ctx.out()
        n, r = x.shape[axis], len(idx.shape)
        loads = [ctx.load("ix", _spread(ctx, idx, axis, out.shape)), ctx.load("x", ctx.gather(x, axis, "ix", r, out.shape))]
        ctx.loop(out.shape, loads, ctx.body(loads[1:], lambda b, ops: ops[0], out.buffer.dtype), out,
                 checks=(("ix", -n, n, "indices"),))
        return out

    def vjp(self, g, y, x, idx, *, axis):
        return [TAKE_ADJOINT(g, idx, axis=axis, size=x.shape[axis]), None]

    def vjp_label(self, index, out, inputs):
        return f"{out} scatter-added at the indices {inputs[1]}" if index == 0 else "none (indices)"


class TakeAdjoint(Op):
    """The adjoint of take: scatter-add the rows of g into zeros at the given indices."""

    name, kind, value_inputs = "take_adjoint", "movement", (0,)
    computes = True  # a scatter that adds: float16 sums in float32

    def shape(self, g, idx, *, axis, size):
        return g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:]

    def dtype(self, g, idx, **attrs):
        return g.dtype

    def reference(self, g, idx, *, axis, size):
        out_shape = g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:]
        if idx.size and (idx.min() < -size or idx.max() >= size):
            raise IndexRangeError(f"indices must be in [{-size}, {size}), got values from {idx.min()} to {idx.max()}")
        out = np.zeros(out_shape, g.dtype)
        moved = np.moveaxis(out, axis, 0)
        gm = g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim:])
        np.add.at(moved, idx.reshape(-1) % size, np.moveaxis(gm, axis, 0))
        return out

    def lower(self, ctx, g, idx, *, axis, size):
        out = ctx.out()
        r = len(idx.shape)
        loads = [ctx.load("ix", _spread(ctx, idx, axis, g.shape)), ctx.load("g", g)]
        ctx.loop(g.shape, loads, ctx.body(loads[1:], lambda b, ops: ops[0], out.buffer.dtype),
                 ctx.gather(out, axis, "ix", r, g.shape), reduce=tuple(range(axis, axis + r)), combine="add",
                 checks=(("ix", -size, size, "indices"),))
        return out

    def vjp(self, c, y, g, idx, *, axis, size):
        return [TAKE(c, idx, axis=axis), None]

    def vjp_label(self, index, out, inputs):
        return f"{out} gathered at the indices {inputs[1]}" if index == 0 else "none (indices)"


class ScatterReduce(TakeAdjoint):
    """Rows of `values` combined (mul, max or min) into a tensor filled with the combine's identity, at the
    given indices along `axis`: repeated indices combine (np.multiply.at / np.maximum.at / np.minimum.at)."""

    name, differentiable = "scatter_reduce", False

    def normalize(self, inputs, attrs):
        if attrs.get("combine") not in ("mul", "max", "min"):
            raise ArgumentError(f"reduce must be 'add', 'mul', 'max' or 'min', got {attrs.get('combine')!r}")
        return attrs

    def shape(self, g, idx, *, axis, size, combine):
        return super().shape(g, idx, axis=axis, size=size)

    def dtype(self, g, idx, **attrs):
        return g.dtype

    def reference(self, g, idx, *, axis, size, combine):
        if idx.size and (idx.min() < -size or idx.max() >= size):
            raise IndexRangeError(f"indices must be in [{-size}, {size}), got values from {idx.min()} to {idx.max()}")
        out = np.full(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:],
                      scalar_ops.combine_identity(combine, g.dtype), g.dtype)
        moved = np.moveaxis(out, axis, 0)
        gm = g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim:])
        ufunc = {"mul": np.multiply, "max": np.maximum, "min": np.minimum}[combine]
        ufunc.at(moved, idx.reshape(-1) % size, np.moveaxis(gm, axis, 0))
        return out

    def lower(self, ctx, g, idx, *, axis, size, combine):
        out = ctx.out()
        r = len(idx.shape)
        loads = [ctx.load("ix", _spread(ctx, idx, axis, g.shape)), ctx.load("g", g)]
        ctx.loop(g.shape, loads, ctx.body(loads[1:], lambda b, ops: ops[0], out.buffer.dtype),
                 ctx.gather(out, axis, "ix", r, g.shape), reduce=tuple(range(axis, axis + r)), combine=combine,
                 checks=(("ix", -size, size, "indices"),))
        return out


class CheckRange(Op):
    """The integer input itself, once its values are checked to lie in [lo, hi) when the call runs (class labels,
    say); `what` names them in the error."""

    name, kind, differentiable = "check_range", "movement", False

    def normalize(self, inputs, attrs):
        (x,) = inputs
        if not dtypes.is_int(x.dtype):
            raise ShapeError(f"{attrs.get('what', 'values')} must be integers, got {x.dtype}")
        attrs["lo"], attrs["hi"], attrs["what"] = shapes.as_int(attrs["lo"], "lo"), shapes.as_int(attrs["hi"], "hi"), str(attrs.get("what", "values"))
        return attrs

    def shape(self, x, **attrs):
        return x.shape

    def dtype(self, x, **attrs):
        return x.dtype

    def reference(self, x, *, lo, hi, what):
        if x.size and (x.min() < lo or x.max() >= hi):
            raise IndexRangeError(f"{what} must be in [{lo}, {hi}), got values from {x.min()} to {x.max()}")
        return x

    def lower(self, ctx, x, *, lo, hi, what):
        out = ctx.out()
        loads = [ctx.load("a0", x)]
        ctx.loop(out.shape, loads, ctx.body(loads, lambda b, ops: ops[0], out.buffer.dtype), out, checks=(("a0", lo, hi, what),))
        return out


def _spread(ctx, idx, axis, domain):
    """The indices as an access over `domain`, whose axes [axis, axis + idx.ndim) are the index's axes."""
    r = len(idx.shape)
    placed = ctx.reshape(idx, (1,) * axis + tuple(idx.shape) + (1,) * (len(domain) - axis - r))
    return ctx.broadcast(placed, domain)


IOTA, TAKE, TAKE_ADJOINT, CHECK_RANGE = register(Iota), register(Take), register(TakeAdjoint), register(CheckRange)
SCATTER_REDUCE = register(ScatterReduce)


def scatter_reduce(values, indices, size: int, axis: int = 0, reduce: str = "add", name=None) -> Node:
    """A tensor of `values`' shape with `size` along `axis`, starting at the combine's identity (0, 1, -inf, +inf),
    each row of `values` combined at its index ('add' is take's adjoint and differentiable; 'mul', 'max', 'min'
    pass no gradient). Indices out of [-size, size) raise IndexRangeError when the call runs."""
    idx = indices if isinstance(indices, Node) else as_node(np.asarray(indices, dtype=np.int64))
    if reduce == "add":
        return TAKE_ADJOINT(values, idx, axis=axis, size=size, name=name)
    return SCATTER_REDUCE(values, idx, axis=axis, size=size, combine=reduce, name=name)


def check_range(x, lo: int, hi: int, what: str = "values", name=None):
    """`x` (integers), refused with an IndexRangeError naming `what` when a call finds a value outside [lo, hi)."""
    return CHECK_RANGE(x, lo=lo, hi=hi, what=what, name=name)


def take(x, indices, axis: int = 0, name=None) -> Node:
    idx = indices if isinstance(indices, Node) else as_node(np.asarray(indices, dtype=np.int64))
    return TAKE(x, idx, axis=axis, name=name)


gather = take


def iota(shape, axis: int = 0, dtype=dtypes.int64, name=None):
    return IOTA(shape=shape, axis=axis, dtype=dtype, name=name)


def _np_one_hot(idx, depth, dtype=np.float32):
    return (np.asarray(idx)[..., None] == np.arange(depth)).astype(dtype)


@composite("one_hot", _np_one_hot)
def one_hot(indices, depth: int, dtype=dtypes.DEFAULT_FLOAT, name=None):
    """One-hot encoding along a new last axis: `indices` (ints) -> (..., depth)."""
    idx = indices if isinstance(indices, Node) else as_node(np.asarray(indices, dtype=np.int64))
    hot = eq(expand_dims(idx, -1), iota((depth,), 0))  # compared in the promoted type: no depth wraps
    return cast(hot, dtype, name=name)


def getitem(x, index) -> Node:
    """Basic NumPy indexing: ints, slices with steps, None, Ellipsis; one int array/node gathers along its axis."""
    x = as_node(x)
    if not isinstance(index, tuple):
        index = (index,)
    arrays = [i for i, ix in enumerate(index) if isinstance(ix, (Node, np.ndarray, list))]
    if arrays:
        if len(index) != 1:
            raise ShapeError("indexing with an array is supported on its own (x[idx]); use gc.take(x, idx, axis)")
        return take(x, index[0], axis=0)
    n_real = sum(1 for ix in index if ix is not None and ix is not Ellipsis)
    if n_real > x.ndim:
        raise ShapeError(f"too many indices ({n_real}) for {_fmt(x.shape)}")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - n_real) + index[k + 1:]
    index = index + (slice(None),) * (x.ndim - sum(1 for ix in index if ix is not None))
    starts, stops, steps, out_shape, axis = [], [], [], [], 0
    for ix in index:
        if ix is None:
            out_shape.append(1)
            continue
        d = x.shape[axis]
        if isinstance(ix, slice):
            a, b, c = slice_bounds(x, axis, ix)
            starts.append(a), stops.append(b), steps.append(c)
            out_shape.append(_slice_len(a, b, c))
        else:
            if isinstance(ix, (bool, np.bool_)) or not hasattr(type(ix), "__index__"):
                raise ShapeError(f"index {ix!r} on axis {axis} of {_fmt(x.shape)} is not an integer (or a slice, None, ...)")
            i = operator.index(ix)
            if isinstance(d, int):
                if not -d <= i < d:
                    raise ShapeError(f"index {i} is out of bounds for axis {axis} of {_fmt(x.shape)}")
                i %= d
            elif i < 0:
                raise ShapeError(f"negative index {i} on symbolic axis {axis} of {_fmt(x.shape)}")
            starts.append(i), stops.append(i + 1), steps.append(1)
        axis += 1
    out = x
    if any(a != 0 or c != 1 or not shapes.dims_equal(b, d) for a, b, c, d in zip(starts, stops, steps, x.shape)):
        out = SLICE(x, starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))
    return reshape(out, tuple(out_shape))
