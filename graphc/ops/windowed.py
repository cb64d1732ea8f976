"""Window ops beyond conv and the classic pools: transposed convolution (the adjoint of conv), pooling with every
option of ONNX and PyTorch (N-d, dilation, ceil_mode, count_include_pad), and max pooling's indices."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, DTypeError, ShapeError
from ..ir import Node
from .indexing import TAKE
from .linalg import matmul
from .math import add, mul
from .movement import SLICE, reshape, transpose
from .nn import FOLD, _context, _label, _pads, _tuple, _windows
from .reduce import argmax, max as reduce_max, mean as reduce_mean
from .registry import as_node, scope


def conv_transpose(x, w, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups: int = 1, name=None):
    """The adjoint of conv ("deconvolution"): x (N, Cin, *S), w (Cin, Cout/groups, *K) -> (N, Cout, *out) with
    out = (S - 1)·stride + dilation·(K - 1) + 1 + output_padding - padding before and after. Each input element
    scatters its kernel-weighted window into the output: a product, then fold (the adjoint of unfold)."""
    x = as_node(x)
    w = w if isinstance(w, Node) else as_node(w, dtypes.weak_dtype_for(w, x.dtype))
    nd = w.ndim - 2
    what = _label(f"conv_transpose{nd}d", name)
    if nd < 1 or x.ndim != nd + 2:
        raise ShapeError(f"{what}: input {shapes.fmt_shape(x.shape)} and weight {shapes.fmt_shape(w.shape)} must be "
                         "(N, Cin, *S) and (Cin, Cout/groups, *K)")
    n, cin = x.shape[:2]
    if not isinstance(groups, int) or groups < 1 or not shapes.dims_equal(cin, w.shape[0]) or cin % groups:
        raise ShapeError(f"{what}: input {shapes.fmt_shape(x.shape)} has {shapes.fmt_dim(cin)} channels; weight "
                         f"{shapes.fmt_shape(w.shape)} with groups={groups} needs {w.shape[0]}, divisible by groups")
    spatial, kernel = tuple(x.shape[2:]), tuple(w.shape[2:])
    if not all(isinstance(s, int) for s in spatial):
        raise ShapeError(f"{what}: needs static spatial dims, got {shapes.fmt_shape(x.shape)}")
    with scope(name or f"conv_transpose{nd}d"), _context(what, f"input {shapes.fmt_shape(x.shape)}, weight {shapes.fmt_shape(w.shape)}"):
        stride, dilation = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
        extra = _tuple(output_padding, nd, "output_padding") if output_padding else (0,) * nd
        if any(e < 0 or e >= max(st, d) for e, st, d in zip(extra, stride, dilation)):
            raise ShapeError(f"output_padding {extra} must be smaller than the stride {stride} or the dilation {dilation}")
        pads = _pads(padding, spatial, kernel, stride, dilation) if padding != "same" else None
        if pads is None:
            raise ArgumentError("conv_transpose: padding='same' is not defined; give the amounts")
        full = tuple((s - 1) * st + d * (k - 1) + 1 + e for s, st, d, k, e in zip(spatial, stride, dilation, kernel, extra))
        cg, cout_g = cin // groups, w.shape[1]
        taps, points = math.prod(kernel), math.prod(spatial)
        xg = reshape(x, (n, groups, cg, points))                                       # (N, G, Cin/G, P)
        wg = transpose(reshape(w, (groups, cg, cout_g * taps)), (0, 2, 1))            # (G, Cout/G·K, Cin/G)
        cols = reshape(matmul(wg, xg), (n, groups * cout_g) + kernel + spatial)        # (N, Cout, *K, *S)
        cols = transpose(cols, (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd)))  # (N, Cout, *S, *K)
        y = FOLD(cols, size=full, kernel=kernel, stride=stride, dilation=dilation)
        if any(lo or hi for lo, hi in pads):
            y = SLICE(y, starts=(0, 0) + tuple(lo for lo, _ in pads),
                      stops=tuple(y.shape[:2]) + tuple(f - hi for f, (_, hi) in zip(full, pads)), steps=(1,) * (nd + 2))
        if bias is not None:
            bias = bias if isinstance(bias, Node) else as_node(bias, dtypes.weak_dtype_for(bias, x.dtype))
            y = add(y, reshape(bias, (1, groups * cout_g) + (1,) * nd))
        return y


def pool(x, kind: str, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
         count_include_pad: bool = True, name=None):
    """Max or average pooling over N-d windows with every option of ONNX and PyTorch: padding as ints,
    (before, after) pairs, 'valid' or 'same'; dilation; ceil_mode (a last, partial window where one
    starts inside the input or its left padding); count_include_pad=False (the average divides by the
    window's elements inside the input). A partial window's divisor never counts the ceil_mode extension."""
    x = as_node(x)
    if kind not in ("max", "avg"):
        raise ArgumentError(f"pool: kind must be 'max' or 'avg', got {kind!r}")
    nd = x.ndim - 2
    label = _label(f"{kind}_pool", name)
    if nd < 1:
        raise ShapeError(f"{label}: input {shapes.fmt_shape(x.shape)} must have rank >= 3 (N, C, ...)")
    if kind == "avg" and not dtypes.is_float(x.dtype):
        raise DTypeError(f"{label}: average pooling needs a float input, got {x.dtype}")
    with _context(label, f"input {shapes.fmt_shape(x.shape)}"):
        kernel = _tuple(kernel_size, nd, "kernel_size")
        stride = kernel if stride is None else _tuple(stride, nd, "stride")
        dilation = _tuple(dilation, nd, "dilation")
        pads = _pads(padding, x.shape[2:], kernel, stride, dilation)
        spatial = x.shape[2:]
        exact = kind == "max" or (count_include_pad and not ceil_mode)
        if not exact or ceil_mode:
            if not all(isinstance(n, int) for n in spatial):
                raise ShapeError(f"{label}: ceil_mode and count_include_pad=False need static spatial dims")
        grown = tuple((lo, hi + (_ceil_extra(n, k, st, d, lo, hi) if ceil_mode else 0))
                      for n, k, st, d, (lo, hi) in zip(spatial, kernel, stride, dilation, pads))
        lowest = -np.inf if dtypes.is_float(x.dtype) else np.iinfo(x.dtype).min
        with scope(name or f"{kind}_pool"):
            cols = _windows(x, kernel, stride, grown, dilation, lowest if kind == "max" else 0.0)
            axes = tuple(range(2 + nd, 2 + 2 * nd))
            if kind == "max":
                return reduce_max(cols, axes)
            mean = reduce_mean(cols, axes)
            if exact:
                return mean
            counts = _window_counts(spatial, kernel, stride, dilation, grown, pads, count_include_pad,
                                    cols.shape[2:2 + nd])
            scale = (math.prod(kernel) / np.maximum(counts, 1)).astype(x.dtype)  # an all-padding window averages to 0
            return mean if (scale == 1).all() else mul(mean, as_node(scale))


def max_pool_indices(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                     column_major: bool = False, name=None):
    """Where each window of max pooling found its maximum (the first one among ties), as ONNX's MaxPool
    Indices: int64 offsets into x flattened (row-major over (N, C, *S); column-major over the spatial axes
    with `column_major`). Windows are those of pool(x, "max", ...) with the same arguments."""
    x = as_node(x)
    nd = x.ndim - 2
    label = _label("max_pool_indices", name)
    spatial = tuple(x.shape[2:])
    if nd < 1 or not all(isinstance(d, int) for d in x.shape):
        raise ShapeError(f"{label}: needs a static input of rank >= 3 (N, C, ...), got {shapes.fmt_shape(x.shape)}")
    with _context(label, f"input {shapes.fmt_shape(x.shape)}"):
        kernel = _tuple(kernel_size, nd, "kernel_size")
        stride = kernel if stride is None else _tuple(stride, nd, "stride")
        dilation = _tuple(dilation, nd, "dilation")
        pads = _pads(padding, spatial, kernel, stride, dilation)
        grown = tuple((lo, hi + (_ceil_extra(n, k, st, d, lo, hi) if ceil_mode else 0))
                      for n, k, st, d, (lo, hi) in zip(spatial, kernel, stride, dilation, pads))
        lowest = -np.inf if dtypes.is_float(x.dtype) else np.iinfo(x.dtype).min
        with scope(name or "max_pool_indices"):
            cols = _windows(x, kernel, stride, grown, dilation, lowest)            # (N, C, *out, *K)
            out = tuple(cols.shape[2:2 + nd])
            taps = math.prod(kernel)
            tap = argmax(reshape(cols, tuple(cols.shape[:2]) + out + (taps,)), axis=-1)
            # table[out position, tap] = the input's spatial offset that tap reads (static)
            grid = np.meshgrid(*[np.arange(o) for o in out], *[np.arange(k) for k in kernel], indexing="ij")
            coords = [grid[a] * stride[a] - grown[a][0] + grid[nd + a] * dilation[a] for a in range(nd)]
            order = reversed(range(nd)) if column_major else range(nd)
            offset = np.zeros(grid[0].shape, np.int64)
            for a in order:
                offset = offset * spatial[a] + np.clip(coords[a], 0, spatial[a] - 1)
            position = as_node(np.arange(math.prod(out), dtype=np.int64).reshape(out) * taps)
            spatial_offset = TAKE(as_node(offset.reshape(-1)), add(position, tap), axis=0)
            n, c = x.shape[:2]
            plane = as_node((np.arange(n * c, dtype=np.int64) * math.prod(spatial)).reshape((n, c) + (1,) * nd))
            return add(plane, spatial_offset)


def _ceil_extra(n, k, stride, dilation, lo, hi) -> int:
    """Padding added after an axis so that ceil_mode's last window exists (and starts inside input or left pad)."""
    span = dilation * (k - 1) + 1
    room = n + lo + hi - span
    if room < 0:
        return 0
    out = -(-room // stride) + 1
    if (out - 1) * stride >= n + lo:
        out -= 1
    return max((out - 1) * stride + span - (n + lo + hi), 0)


def _window_counts(spatial, kernel, stride, dilation, grown, pads, include_pad, out_spatial) -> np.ndarray:
    """Per output position, how many of its window's taps the average divides by."""
    counts = np.ones((), np.int64)
    for n, k, st, d, (glo, _), (lo, hi), out in zip(spatial, kernel, stride, dilation, grown, pads, out_spatial):
        first, last = (-lo, n + hi) if include_pad else (0, n)
        starts = np.arange(out) * st - glo
        taps = starts[:, None] + np.arange(k)[None, :] * d
        per_axis = ((taps >= first) & (taps < last)).sum(axis=1)
        counts = np.multiply.outer(counts, per_axis)
    return counts
