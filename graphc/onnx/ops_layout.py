"""ONNX ops that rearrange or place values (CenterCropPad, Compress, ReverseSequence, Col2Im, MaxUnpool,
AffineGrid) as graphc's movement, gather, fold and scatter ops."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc, shapes
from .convert import axis_of, converts


@converts("CenterCropPad")
def center_crop_pad(ctx):
    x = ctx.x(0)
    target = ctx.ints(1, "shape")
    axes = [axis_of(ctx, a, x.ndim) for a in (ctx.attr("axes", None) or range(x.ndim))]
    if len(axes) != len(target):
        raise ctx.error(f"shape has {len(target)} sizes for {len(axes)} axes")
    out = x
    for ax, want in zip(axes, target):
        have = x.shape[ax]
        if not isinstance(have, int):
            raise ctx.error(f"needs a static size along axis {ax}")
        if want < have:  # the centre, the extra element of an odd difference cut at the end
            start = (have - want) // 2
            out = out[(slice(None),) * ax + (slice(start, start + want),)]
        elif want > have:  # centred in zeros, the extra one at the end
            before = (want - have) // 2
            pads = [(0, 0)] * x.ndim
            pads[ax] = (before, want - have - before)
            out = gc.pad(out, tuple(pads))
    return out


@converts("Compress")
def compress(ctx):
    x = ctx.x(0)
    keep = np.asarray(ctx.static(1, "condition")).astype(bool).reshape(-1)
    axis = ctx.attr("axis", None)
    if axis is None:
        x, axis = gc.reshape(x, (-1,)), 0
    axis = axis_of(ctx, axis, x.ndim)
    n = x.shape[axis]
    if isinstance(n, int) and keep.size > n:
        raise ctx.error(f"condition has {keep.size} values for {n} along axis {axis}")
    return gc.take(x, np.flatnonzero(keep).astype(np.int64), axis=axis)


@converts("ReverseSequence")
def reverse_sequence(ctx):
    """Each batch entry's first sequence_lens[b] steps reversed, the rest kept: one gather along the time axis."""
    x, lengths = ctx.x(0), ctx.x(1)
    batch_axis, time_axis = ctx.attr("batch_axis", 1), ctx.attr("time_axis", 0)
    if {batch_axis, time_axis} != {0, 1}:
        raise ctx.error(f"batch_axis {batch_axis} and time_axis {time_axis} must be 0 and 1")
    steps = x.shape[time_axis]
    grid = [1] * x.ndim
    grid[time_axis] = steps
    t = gc.reshape(gc.iota((steps,), 0), tuple(grid))
    lengths_shape = [1] * x.ndim
    lengths_shape[batch_axis] = x.shape[batch_axis]
    n = gc.reshape(gc.cast(lengths, np.int64), tuple(lengths_shape))
    source = gc.where(t < n, n - 1 - t, t)
    return gc.take_along_axis(x, gc.broadcast_to(source, tuple(x.shape)), time_axis)


@converts("Col2Im")
def col2im(ctx):
    """Columns (N, C·∏block, L) added back into images: graphc's fold (the adjoint of its im2col windows)."""
    cols = ctx.x(0)
    image = ctx.ints(1, "image_shape")
    block = ctx.ints(2, "block_shape")
    k = len(block)
    dilations = ctx.attr("dilations", None) or [1] * k
    strides = ctx.attr("strides", None) or [1] * k
    pads = ctx.attr("pads", None) or [0] * (2 * k)
    padded = [s + pads[i] + pads[i + k] for i, s in enumerate(image)]
    out = [shapes.conv_out_size(p, b, st, 0, 0, d) for p, b, st, d in zip(padded, block, strides, dilations)]
    n, channels, count = cols.shape
    per = int(np.prod(block))
    if not isinstance(channels, int) or channels % per or count != int(np.prod(out)):
        raise ctx.error(f"input of shape {tuple(cols.shape)} does not hold C·{per} rows of {int(np.prod(out))} blocks")
    c = channels // per
    windows = gc.reshape(cols, (n, c, *block, *out))  # rows: channel-major, then the block position
    windows = gc.transpose(windows, (0, 1, *range(2 + k, 2 + 2 * k), *range(2, 2 + k)))
    images = gc.REGISTRY["fold"](windows, size=tuple(padded), kernel=tuple(block), stride=tuple(strides),
                                 dilation=tuple(dilations))
    return images[(slice(None), slice(None)) + tuple(slice(pads[i], pads[i] + image[i]) for i in range(k))]


@converts("MaxUnpool")
def max_unpool(ctx):
    """Values put back at their max-pool indices (flat in the unpooled N·C·spatial tensor), zeros elsewhere.
    Overlapping windows may name one element twice with the same value: the mean of what lands there."""
    x, indices = ctx.x(0), ctx.x(1)
    kernel = ctx.attr("kernel_shape")
    k = len(kernel)
    strides = ctx.attr("strides", None) or [1] * k
    pads = ctx.attr("pads", None) or [0] * (2 * k)
    if not all(isinstance(d, int) for d in x.shape):
        raise ctx.error("needs static input shapes")
    inferred = tuple(x.shape[:2]) + tuple((x.shape[2 + i] - 1) * strides[i] - pads[i] - pads[i + k] + kernel[i]
                                          for i in range(k))
    size = int(np.prod(inferred))
    flat = gc.reshape(gc.cast(indices, np.int64), (-1,))
    scatter_add = gc.REGISTRY["take_adjoint"]
    total = scatter_add(gc.reshape(x, (-1,)), flat, axis=0, size=size)
    hits = scatter_add(gc.broadcast_to(gc.const(np.int32(1)), (int(np.prod(x.shape)),)), flat, axis=0, size=size)
    out = gc.reshape(gc.where(hits > 0, total / gc.cast(gc.maximum(hits, 1), x.dtype), 0), inferred)
    if ctx.has(2):
        shape = ctx.ints(2, "output_shape")
        if len(shape) != len(inferred) or any(s < i for s, i in zip(shape, inferred)):
            raise ctx.error(f"output_shape {shape} is smaller than the unpooled shape {list(inferred)}")
        out = gc.pad(out, tuple((0, s - i) for s, i in zip(shape, inferred)))
    return out


@converts("AffineGrid")
def affine_grid(ctx):
    """The sampling grid of a batch of affine transforms: theta (N, 2, 3) or (N, 3, 4) applied to the
    normalised coordinates of every output position, as (N, H, W, 2) or (N, D, H, W, 3)."""
    theta = ctx.x(0)
    size = ctx.ints(1, "size")
    align = bool(ctx.attr("align_corners", 0))
    spatial = size[2:]
    if len(spatial) not in (2, 3) or tuple(theta.shape[1:]) != (len(spatial), len(spatial) + 1):
        raise ctx.error(f"theta of shape {tuple(theta.shape)} does not fit size {size}")

    def coordinates(n):
        if align:
            return np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
        return (2 * np.arange(n) + 1) / n - 1

    axes = np.meshgrid(*(coordinates(n) for n in spatial), indexing="ij")
    base = np.stack([*axes[::-1], np.ones(tuple(spatial))], axis=-1).reshape(-1, len(spatial) + 1)  # x, y(, z), 1
    grid = gc.matmul(gc.const(base.astype(theta.dtype)), gc.transpose(theta, (0, 2, 1)))
    return gc.reshape(grid, (theta.shape[0], *spatial, len(spatial)))
