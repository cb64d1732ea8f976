"""ONNX Resize (nearest, linear, cubic; every coordinate transformation and rounding mode) as graphc ops: per
resized axis, a few gathers at static source indices weighted by static coefficients (separable, like ONNX's
own definition), computed here from the static shapes."""
from __future__ import annotations

import itertools

import numpy as np

from .. import dsl as gc
from .convert import axis_of, converts


def _source(ctx, mode: str, out: int, size: int, scale: float, roi: tuple) -> np.ndarray:
    """x_original for every output index along one axis. The resized length in the formulas is size·scale,
    not rounded (ONNX's definition: a scale of 0.6 on 4 gives 2 outputs spaced for a length of 2.4)."""
    i = np.arange(out, dtype=np.float64)
    length = size * scale
    if mode == "half_pixel":
        return (i + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out / length
        offset = size / 2 * (1 - adjustment)
        return offset + (i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (i + 0.5) / scale - 0.5 if length > 1 else np.zeros(out)
    if mode == "align_corners":
        return i * (size - 1) / (length - 1) if length > 1 else np.zeros(out)
    if mode == "asymmetric":
        return i / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if length > 1:
            return start * (size - 1) + i * (end - start) * (size - 1) / (length - 1)
        return np.full(out, 0.5 * (start + end) * (size - 1))
    raise ctx.unsupported(f"coordinate_transformation_mode {mode!r}")


def _nearest(ctx, x: np.ndarray, size: int, rounding: str) -> list:
    if rounding == "round_prefer_floor":
        index = np.where(x - np.floor(x) == 0.5, np.floor(x), np.round(x))
    elif rounding == "round_prefer_ceil":
        index = np.where(x - np.floor(x) == 0.5, np.ceil(x), np.round(x))
    elif rounding in ("floor", "ceil"):
        index = getattr(np, rounding)(x)
    else:
        raise ctx.unsupported(f"nearest_mode {rounding!r}")
    return [(np.clip(index, 0, size - 1).astype(np.int64), np.ones_like(x))]


def _linear(x: np.ndarray, size: int) -> list:
    low = np.floor(x)
    ratio = x - low
    return [(np.clip(low, 0, size - 1).astype(np.int64), 1 - ratio), (np.clip(low + 1, 0, size - 1).astype(np.int64), ratio)]


def _cubic(x: np.ndarray, size: int, a: float, exclude_outside: bool) -> list:
    low = np.floor(x)
    r = x - low
    coefficients = [((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                    ((a + 2) * r - (a + 3)) * r * r + 1,
                    ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                    ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a]
    taps = [low + k for k in (-1, 0, 1, 2)]
    if exclude_outside:  # taps outside the input weigh nothing; the rest renormalised
        coefficients = [np.where((t >= 0) & (t <= size - 1), c, 0.0) for t, c in zip(taps, coefficients)]
        total = sum(coefficients)
        coefficients = [c / total for c in coefficients]
    return [(np.clip(t, 0, size - 1).astype(np.int64), c) for t, c in zip(taps, coefficients)]


def _antialiased(x: np.ndarray, size: int, scale: float, mode: str, a: float, exclude_outside: bool) -> list:
    """Linear or cubic taps stretched by 1/scale when downsampling (ONNX's antialias, as PIL filters): every
    input within the widened support contributes, the weights renormalised to sum to 1."""
    scale = min(scale, 1.0)
    start = int(np.floor((-1 if mode == "linear" else -2) / scale) + 1)
    offsets = range(start, 2 - start)
    base = np.floor(x)
    r = x - base
    base, r = np.where(r == 0, base - 1, base), np.where(r == 0, 1.0, r)  # ONNX's reference: a ratio of 0 is 1

    def kernel(t):
        t = np.abs(t)
        if mode == "linear":
            return np.clip(1 - t, 0, 1)
        return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                        np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))

    taps = [base + o for o in offsets]
    weights = [kernel((o - r) * scale) for o in offsets]
    weights = [w / sum(weights) for w in weights]
    if exclude_outside:
        weights = [np.where((t >= 0) & (t <= size - 1), w, 0.0) for t, w in zip(taps, weights)]
        weights = [w / sum(weights) for w in weights]
    return [(np.clip(t, 0, size - 1).astype(np.int64), w) for t, w in zip(taps, weights)]


@converts("Resize")
def resize(ctx):
    x = ctx.x(0)
    mode = ctx.attr("mode", "nearest")
    transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
    rounding = ctx.attr("nearest_mode", "round_prefer_floor")
    a, exclude = ctx.attr("cubic_coeff_a", -0.75), bool(ctx.attr("exclude_outside", 0))
    extrapolation = ctx.attr("extrapolation_value", 0.0)
    antialias = bool(ctx.attr("antialias", 0)) and mode in ("linear", "cubic")  # nearest has nothing to smooth
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    rank = x.ndim
    axes = [axis_of(ctx, v, rank) for v in (ctx.attr("axes", None) or range(rank))]
    if not all(isinstance(x.shape[ax], int) for ax in axes):
        raise ctx.error("Resize needs static sizes along the resized axes")
    roi = ctx.static(1, "roi", None) if ctx.has(1) else None
    scales = ctx.static(2, "scales", None) if ctx.has(2) else None
    sizes = ctx.ints(3, "sizes", None) if ctx.has(3) else None
    inputs = [x.shape[ax] for ax in axes]
    if sizes is not None and len(sizes):
        if policy != "stretch":  # one scale for every axis: the smaller or the larger of the per-axis ones
            pick = min if policy == "not_larger" else max
            s = pick(o / n for o, n in zip(sizes, inputs))
            sizes = [int(np.floor(n * s + 0.5)) for n in inputs]
            scale_list = [s] * len(axes)
        else:
            scale_list = [o / n for o, n in zip(sizes, inputs)]
    elif scales is not None and np.asarray(scales).size:
        scale_list = [float(v) for v in np.asarray(scales).reshape(-1)]
        sizes = [int(np.floor(n * s)) for n, s in zip(inputs, scale_list)]
    else:
        raise ctx.error("Resize needs scales or sizes")
    roi = np.asarray(roi, np.float64).reshape(-1) if roi is not None and np.asarray(roi).size else None
    k = len(axes)
    # integers interpolate in float64 (ONNX's reference rounds the result half to even)
    out, outside = (gc.cast(x, np.float64) if x.dtype.kind in "iu" and mode != "nearest" else x), None
    for j, (ax, n, o, s) in enumerate(zip(axes, inputs, sizes, scale_list)):
        if o == n and s == 1 and transform != "tf_crop_and_resize":
            continue
        bounds = (roi[j], roi[j + k]) if roi is not None else (0.0, 1.0)
        source = _source(ctx, transform, o, n, s, bounds)
        if antialias and s < 1:
            taps = _antialiased(source, n, s, mode, a, exclude)
        elif mode == "nearest":
            taps = _nearest(ctx, source, n, rounding)
        elif mode == "linear":
            taps = _linear(source, n)
        elif mode == "cubic":
            taps = _cubic(source, n, a, exclude)
        else:
            raise ctx.unsupported(f"mode {mode!r}")
        shape = [1] * rank
        shape[ax] = o
        terms = []
        for index, weight in taps:
            gathered = gc.take(out, index, axis=ax)
            terms.append(gathered if mode == "nearest" else gathered * gc.const(weight.reshape(shape).astype(out.dtype)))
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        if transform == "tf_crop_and_resize":
            beyond = ((source < 0) | (source > n - 1)).reshape(shape)
            outside = beyond if outside is None else (outside | beyond)
    if outside is not None and outside.any():
        out = gc.where(gc.const(outside), gc.cast(gc.const(extrapolation), out.dtype), out)
    return gc.cast(gc.round(out), x.dtype) if out.dtype != x.dtype else out  # integers: interpolated, then rounded


def _reflect(v, lo: float, hi: float):
    """v folded back into [lo, hi] by reflecting at the near border until it lies inside (GridSample)."""
    span = hi - lo
    if span <= 0:
        return gc.where(v == v, gc.const(np.float32(lo)), v)
    below, above = v < lo, v > hi
    dx = gc.where(below, lo - v, v - hi)
    n = gc.floor(dx / span)
    r = dx - n * span
    even = gc.mod(n, 2.0) == 0
    inside_from_below = gc.where(even, lo + r, hi - r)
    inside_from_above = gc.where(even, hi - r, lo + r)
    return gc.where(below, inside_from_below, gc.where(above, inside_from_above, v))


@converts("GridSample")
def grid_sample(ctx):
    """x (N, C, *S) sampled at grid (N, *O, k) of normalised coordinates (last axis x, y(, z): reversed dims),
    nearest, linear or cubic, with zeros, border or reflection padding: per spatial dim a few taps (index,
    weight, inside?), every combination one gather of x flattened over S, weighted and summed (separable)."""
    x, grid = ctx.x(0), ctx.x(1)
    mode = ctx.attr("mode", "linear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)  # opset 16's names
    padding = ctx.attr("padding_mode", "zeros")
    align = bool(ctx.attr("align_corners", 0))
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise ctx.unsupported(f"mode {mode!r} with padding_mode {padding!r}")
    sizes = tuple(x.shape[2:])
    k = len(sizes)
    if grid.shape[-1] != k or grid.ndim != k + 2 or not all(isinstance(s, int) for s in sizes):
        raise ctx.error(f"grid of shape {tuple(grid.shape)} does not sample x of shape {tuple(x.shape)} (static sizes)")
    g = gc.cast(grid, np.float32)  # ONNX's reference computes the coordinates in float32
    per_dim = []
    for d, size in enumerate(sizes):
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        u = g[..., k - 1 - d]
        v = (u + 1) / 2 * (size - 1) if align else ((u + 1) * size - 1) / 2
        if mode == "nearest":
            v = gc.round(v)
        if padding == "border":
            v = gc.minimum(gc.maximum(v, 0.0), float(size - 1))
        elif padding == "reflection":
            v = _reflect(v, lo, hi)
        if mode == "nearest":
            taps = [(v, None)]
        else:
            base = gc.floor(v)
            t = v - base
            if mode == "linear":
                taps = [(base, 1 - t), (base + 1, t)]
            else:
                a = -0.75
                s = 1 - t
                taps = [(base - 1, ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a),
                        (base, ((a + 2) * t - (a + 3)) * t * t + 1),
                        (base + 1, ((a + 2) * s - (a + 3)) * s * s + 1),
                        (base + 2, ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a)]
        fetched = []
        for index, weight in taps:
            if padding == "zeros":
                valid = (index >= 0) & (index <= size - 1)
                index = gc.minimum(gc.maximum(index, 0.0), float(size - 1))
            else:
                valid = None
                if padding == "reflection" and mode != "nearest":
                    index = _reflect(index, lo, hi)
                index = gc.minimum(gc.maximum(index, 0.0), float(size - 1))
            fetched.append((gc.cast(index, np.int64), weight, valid))
        per_dim.append(fetched)
    n, c = x.shape[:2]
    points = tuple(grid.shape[1:-1])
    strides = [int(np.prod(sizes[d + 1:])) for d in range(k)]
    table = gc.reshape(x, (n, c, int(np.prod(sizes))))
    out = None
    for combo in itertools.product(*per_dim):
        flat, weight, valid = None, None, None
        for d, (index, w, ok) in enumerate(combo):
            flat = index * strides[d] if flat is None else flat + index * strides[d]
            if w is not None:
                weight = w if weight is None else weight * w
            if ok is not None:
                valid = ok if valid is None else valid & ok
        flat = gc.broadcast_to(gc.reshape(flat, (n, 1, -1)), (n, c, int(np.prod(points))))
        value = gc.reshape(gc.take_along_axis(table, flat, 2), (n, c, *points))
        if valid is not None:
            value = gc.where(gc.expand_dims(valid, 1), value, 0)
        if weight is not None:
            value = value * gc.cast(gc.expand_dims(weight, 1), x.dtype)
        out = value if out is None else out + value
    return out
