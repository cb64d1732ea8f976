"""ONNX constants, shapes, movement and indexing as graphc ops (shapes, axes and bounds known at import time)."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc, shapes
from .convert import axis_of, converts


@converts("Constant")
def constant(ctx):
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if name in ctx.attributes:
            value = ctx.attr(name)
            if name == "value":
                return value
            return np.asarray(value, np.float32 if "float" in name else np.int64)
    raise ctx.unsupported(f"a Constant of kind {sorted(ctx.attributes)}")


@converts("ConstantOfShape")
def constant_of_shape(ctx):
    shape = ctx.dims(0, "shape")
    value = ctx.attr("value", np.zeros(1, np.float32))
    if all(isinstance(d, int) for d in shape):
        return np.full(shape, value.reshape(-1)[0], dtype=value.dtype)
    return gc.broadcast_to(gc.const(value.reshape(-1)[0], dtype=value.dtype), tuple(shape))  # a symbolic shape


@converts("Shape")
def shape(ctx):
    x = ctx.x(0)
    dims = list(x.shape)
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    dims = dims[slice(start, end)]
    if all(isinstance(d, int) for d in dims):
        return np.asarray(dims, np.int64)
    out = np.empty(len(dims), object)  # symbolic dims: shape arithmetic continues in graphc.onnx.symbolic
    out[:] = dims
    return out


@converts("Size")
def size(ctx):
    x = ctx.x(0)
    if not all(isinstance(d, int) for d in x.shape):
        raise ctx.error("Size of a tensor with symbolic dims")
    return np.asarray(int(np.prod(x.shape, dtype=np.int64)), np.int64)


@converts("Reshape")
def reshape(ctx):
    x = ctx.x(0)
    shape = ctx.dims(1, "shape")
    if not ctx.attr("allowzero", 0):  # 0 copies the input's dim
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return gc.reshape(x, tuple(shape))


@converts("Flatten")
def flatten(ctx):
    x = ctx.x(0)
    axis = ctx.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    if not 0 <= axis <= x.ndim:
        raise ctx.error(f"axis {axis} is out of range for rank {x.ndim}")
    return gc.reshape(x, (shapes.prod(x.shape[:axis]), shapes.prod(x.shape[axis:])))


@converts("Transpose")
def transpose(ctx):
    x = ctx.x(0)
    perm = ctx.attr("perm", None)
    return gc.transpose(x, tuple(perm) if perm is not None else tuple(reversed(range(x.ndim))))


def _axes(ctx, attr_until: int, i: int = 1):
    """Axes from the attribute (opsets before `attr_until`) or from input i."""
    if ctx.opset < attr_until:
        return ctx.attr("axes", None)
    return ctx.ints(i, "axes", None)


@converts("Squeeze")
def squeeze(ctx):
    x = ctx.x(0)
    axes = _axes(ctx, 13)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    return gc.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in {axis_of(ctx, a, x.ndim) for a in axes}))


@converts("Unsqueeze")
def unsqueeze(ctx):
    x = ctx.x(0)
    axes = _axes(ctx, 13)
    rank = x.ndim + len(axes)
    axes = sorted(axis_of(ctx, a, rank) for a in axes)
    dims, it = [], iter(x.shape)
    for i in range(rank):
        dims.append(1 if i in axes else next(it))
    return gc.reshape(x, tuple(dims))


@converts("Concat")
def concat(ctx):
    xs = ctx.inputs()
    axis = axis_of(ctx, ctx.attr("axis"), xs[0].ndim)
    xs = [x for x in xs if x.shape[axis] != 0] or xs[:1]
    dtype = xs[0].dtype
    return gc.concat([gc.cast(x, dtype) for x in xs], axis=axis) if len(xs) > 1 else xs[0]


@converts("Split")
def split(ctx):
    x = ctx.x(0)
    axis = axis_of(ctx, ctx.attr("axis", 0), x.ndim)
    sizes = ctx.ints(1, "split", None) if ctx.opset >= 13 else ctx.attr("split", None)
    n_out = len(ctx.node.output)
    if ctx.opset >= 18:
        num = ctx.attr("num_outputs", None)
        n_out = num if num is not None else n_out
    length = x.shape[axis]
    if sizes is None:  # equal parts; the last one smaller when the axis does not divide (opset 18)
        part = -(-length // n_out)
        sizes = [min(part, length - i * part) for i in range(n_out)]
    if sum(sizes) != length:
        raise ctx.error(f"split sizes {sizes} do not add up to the axis length {length}")
    points = list(np.cumsum(sizes)[:-1])
    return gc.split(x, [int(p) for p in points], axis=axis)


@converts("Slice")
def slice_(ctx):
    x = ctx.x(0)
    starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
    axes = ctx.ints(3, "axes", None) or list(range(len(starts)))
    steps = ctx.ints(4, "steps", None) or [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis_of(ctx, axis, x.ndim)
        n = x.shape[axis]
        if step == 0:
            raise ctx.error("a slice step must not be zero")
        # ONNX clamps to [0, n] (or [-1, n-1] backwards); huge values mean "to the end"
        start, end = int(np.clip(start, -n - 1, n + 1)), int(np.clip(end, -n - 1, n + 1))
        lo, hi, st = slice(start, end, step).indices(n)
        index[axis] = slice(lo, hi if hi >= 0 else None, st)
    return x[tuple(index)]


@converts("Gather")
def gather(ctx):
    x = ctx.x(0)
    axis = axis_of(ctx, ctx.attr("axis", 0), x.ndim)
    indices = ctx.importer.static(ctx.node.input[1])
    n = x.shape[axis]
    if indices is not None:  # negative indices count from the end
        indices = np.where(indices < 0, indices + n, indices).astype(np.int64)
        return gc.take(x, indices, axis=axis)
    idx = ctx.x(1)
    idx = gc.where(idx < 0, idx + n, idx)
    return gc.take(x, idx, axis=axis)


@converts("Expand")
def expand(ctx):
    x = ctx.x(0)
    shape = ctx.dims(1, "shape")
    rank = max(len(shape), x.ndim)
    own = (1,) * (rank - x.ndim) + tuple(x.shape)
    target = (1,) * (rank - len(shape)) + tuple(shape)
    out = tuple(a if b == 1 else b for a, b in zip(own, target))
    return gc.broadcast_to(x, out)


@converts("Tile")
def tile(ctx):
    x = ctx.x(0)
    repeats = ctx.ints(1, "repeats")
    if len(repeats) != x.ndim:
        raise ctx.error(f"repeats {repeats} must have one entry per axis of rank {x.ndim}")
    # (d,) -> (r, d) broadcast -> (r*d,) per axis
    expanded = gc.reshape(x, tuple(v for d in x.shape for v in (1, d)))
    expanded = gc.broadcast_to(expanded, tuple(v for r, d in zip(repeats, x.shape) for v in (r, d)))
    return gc.reshape(expanded, tuple(r * d for r, d in zip(repeats, x.shape)))


@converts("Pad")
def pad(ctx):
    x = ctx.x(0)
    mode = ctx.attr("mode", "constant")
    pads = ctx.ints(1, "pads")
    value = ctx.static(2, "constant_value", np.zeros((), x.dtype)) if ctx.has(2) else np.zeros((), x.dtype)
    axes = ctx.ints(3, "axes", None) or list(range(x.ndim))
    pairs = [(0, 0)] * x.ndim
    k = len(axes)
    for n, axis in enumerate(axes):
        pairs[axis_of(ctx, axis, x.ndim)] = (pads[n], pads[n + k])
    if any(a < 0 or b < 0 for a, b in pairs):
        raise ctx.unsupported("negative pads (cropping)")
    if mode == "constant":
        return gc.pad(x, tuple(pairs), value=float(np.asarray(value).reshape(-1)[0]) if np.asarray(value).size else 0.0)
    if mode in ("edge", "reflect", "wrap"):
        return gc.pad(x, tuple(pairs), mode=mode)
    raise ctx.unsupported(f"mode {mode!r}")


@converts("OneHot")
def one_hot(ctx):
    indices = ctx.x(0)
    depth = int(np.asarray(ctx.static(1, "depth")).reshape(-1)[0])
    values = ctx.x(2)
    axis = ctx.attr("axis", -1)
    rank = indices.ndim + 1
    axis = axis_of(ctx, axis, rank)
    idx = gc.cast(indices, np.int64)
    idx = gc.where(idx < 0, idx + depth, idx)
    hot = gc.eq(gc.expand_dims(idx, axis), gc.iota(tuple(depth if i == axis else 1 for i in range(rank)), axis, np.int64))
    off, on = values[0], values[1]
    return gc.where(hot, on, off)


@converts("Range")
def range_(ctx):
    start, limit, delta = (np.asarray(ctx.static(i, w)).reshape(()) for i, w in enumerate(("start", "limit", "delta")))
    return np.arange(start, limit, delta).astype(start.dtype)


@converts("Dropout")
def dropout(ctx):
    """Inference: the input unchanged (and a mask of ones); a training_mode that is true is refused."""
    ctx.attr("seed", 0)
    x = ctx.x(0)
    if ctx.has(2):
        training = ctx.importer.static(ctx.node.input[2])
        if training is None or bool(np.asarray(training).reshape(-1)[0]):
            raise ctx.unsupported("Dropout in training mode (graphc imports models for inference and fine-tuning; "
                                  "add dropout with gc.dropout)")
    mask = gc.broadcast_to(gc.const(True), x.shape)
    return [x, mask]
