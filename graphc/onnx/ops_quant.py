"""ONNX's integer quantization (QuantizeLinear, DequantizeLinear, QLinearMatMul, MatMulInteger, DynamicQuantizeLinear)
on graphc's 8- and 16-bit integer dtypes: scales and zero points per tensor, per axis or per block."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from .convert import axis_of, converts
from .types import onnx_dtype

_RANGES = {np.dtype(t): (np.iinfo(t).min, np.iinfo(t).max) for t in (np.int8, np.uint8, np.int16, np.uint16)}


def _spread(ctx, value, x, axis: int, block: int):
    """A scale or zero point shaped to broadcast against x: as it is for one value, along `axis` per axis,
    each value repeated over its block of `block` elements along `axis` for blocked quantization."""
    if value.ndim == 0 or (value.ndim == 1 and value.shape[0] == 1 and not block):
        return gc.reshape(value, ()) if value.ndim else value
    if block:
        n = x.shape[axis]
        if not isinstance(n, int):
            raise ctx.error("blocked quantization needs a static size along the axis")
        return gc.take(value, (np.arange(n) // block).astype(np.int64), axis=axis)
    if value.ndim != 1:
        raise ctx.error(f"a per-axis scale or zero point must be 1-D, got shape {tuple(value.shape)}")
    dims = [1] * x.ndim
    dims[axis] = value.shape[0]
    return gc.reshape(value, tuple(dims))


def _quantized_type(ctx, zero_point_index: int):
    if ctx.has(zero_point_index):
        dtype = ctx.x(zero_point_index).dtype
    elif ctx.attr("output_dtype", 0):
        dtype = onnx_dtype(ctx.attr("output_dtype"), ctx.label)
    else:
        dtype = np.dtype(np.uint8)
    if dtype not in _RANGES:
        raise ctx.unsupported(f"quantizing to {dtype} (graphc quantizes to int8, uint8, int16, uint16)")
    return dtype


def _saturated(value, dtype):
    """value rounded half to even, clipped to dtype's range and converted (ONNX's saturation)."""
    lo, hi = _RANGES[np.dtype(dtype)]
    return gc.cast(gc.minimum(gc.maximum(gc.round(value), float(lo)), float(hi)), dtype)


@converts("QuantizeLinear")
def quantize_linear(ctx):
    x, scale = ctx.x(0), ctx.x(1)
    axis = axis_of(ctx, ctx.attr("axis", 1), x.ndim) if x.ndim else 0
    block = ctx.attr("block_size", 0)
    ctx.attr("saturate", 1)  # integers always saturate (the attribute is about float8)
    if ctx.attr("precision", 0):
        x = gc.cast(x, onnx_dtype(ctx.attr("precision"), ctx.label))
        scale = gc.cast(scale, x.dtype)
    dtype = _quantized_type(ctx, 2)
    value = x / _spread(ctx, scale, x, axis, block)
    if ctx.has(2):
        value = gc.round(value) + gc.cast(_spread(ctx, ctx.x(2), x, axis, block), value.dtype)
    return _saturated(value, dtype)


@converts("DequantizeLinear")
def dequantize_linear(ctx):
    x, scale = ctx.x(0), ctx.x(1)
    if x.dtype not in _RANGES and x.dtype != np.int32:
        raise ctx.unsupported(f"dequantizing {x.dtype}")
    axis = axis_of(ctx, ctx.attr("axis", 1), x.ndim) if x.ndim else 0
    block = ctx.attr("block_size", 0)
    out = onnx_dtype(ctx.attr("output_dtype"), ctx.label) if ctx.attr("output_dtype", 0) else scale.dtype
    wide = gc.cast(x, np.float32)
    if ctx.has(2):
        wide = wide - gc.cast(_spread(ctx, ctx.x(2), x, axis, block), np.float32)
    return gc.cast(wide * _spread(ctx, scale, x, axis, block), out)


def _centred(ctx, x, zero_point_index: int, per_row: bool):
    """x as int32 less its zero point (a per-row zero point of a matrix is a column vector)."""
    wide = gc.cast(x, np.int32)
    if not ctx.has(zero_point_index):
        return wide
    zp = gc.cast(ctx.x(zero_point_index), np.int32)
    if per_row and zp.ndim == 1 and x.ndim >= 2 and zp.shape[0] != 1:
        zp = gc.reshape(zp, (zp.shape[0], 1))
    return wide - zp


@converts("MatMulInteger")
def matmul_integer(ctx):
    return gc.matmul(_centred(ctx, ctx.x(0), 2, True), _centred(ctx, ctx.x(1), 3, False))


@converts("QLinearMatMul")
def qlinear_matmul(ctx):
    a, a_scale, b, b_scale, y_scale = ctx.x(0), ctx.x(1), ctx.x(3), ctx.x(4), ctx.x(6)
    product = gc.matmul(_centred(ctx, a, 2, True), _centred(ctx, b, 5, False))
    factor = a_scale * b_scale / y_scale  # in the scales' type, then the int32 products scaled in float64
    value = gc.cast(product, np.float64) * gc.cast(factor, np.float64)
    dtype = ctx.x(7).dtype if ctx.has(7) else a.dtype
    if dtype not in _RANGES:
        raise ctx.unsupported(f"a {dtype} result")
    if ctx.has(7):
        value = value + gc.cast(ctx.x(7), np.float64)
    return _saturated(value, dtype)


@converts("DynamicQuantizeLinear")
def dynamic_quantize_linear(ctx):
    """uint8 with a scale and zero point from x's own range (extended to include 0), as ONNX defines."""
    x = ctx.x(0)
    low, high = gc.minimum(gc.min(x), 0.0), gc.maximum(gc.max(x), 0.0)
    scale = gc.where(high == low, 1.0, high - low) / 255.0  # an all-zero x: scale 1/255, as ONNX's reference
    zero_point = _saturated(0.0 - low / scale, np.uint8)
    value = gc.round(x / scale) + gc.cast(zero_point, x.dtype)
    return _saturated(value, np.uint8), scale, zero_point
