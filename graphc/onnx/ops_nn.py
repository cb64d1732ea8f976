"""ONNX products, convolution, pooling, normalisation and softmax as graphc ops."""
from __future__ import annotations


import numpy as np

from .. import dsl as gc
from .convert import axis_of, converts


@converts("MatMul")
def matmul(ctx):
    return gc.matmul(ctx.x(0), ctx.x(1))


@converts("Gemm")
def gemm(ctx):
    a, b = ctx.x(0), ctx.x(1)
    if ctx.attr("transA", 0):
        a = gc.transpose(a)
    if ctx.attr("transB", 0):
        b = gc.transpose(b)
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    y = gc.matmul(a, b)
    if alpha != 1.0:
        y = y * alpha
    if ctx.has(2) and beta != 0.0:
        c = ctx.x(2)
        y = y + (c * beta if beta != 1.0 else c)
    return y


def _window_options(ctx, spatial: int, kernel):
    """(strides, (before, after) pads, dilations) from a node's strides, pads, dilations and auto_pad."""
    strides = ctx.attr("strides", None) or [1] * spatial
    dilations = ctx.attr("dilations", None) or [1] * spatial
    pads = ctx.attr("pads", None) or [0] * (2 * spatial)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if len(strides) != spatial or len(dilations) != spatial or len(pads) != 2 * spatial:
        raise ctx.error(f"strides {strides}, dilations {dilations} and pads {pads} do not fit {spatial} spatial axes")
    pairs = list(zip(pads[:spatial], pads[spatial:]))
    return strides, pairs, dilations, auto_pad


def _auto_pads(ctx, x, kernel, strides, dilations, auto_pad, pairs):
    if auto_pad in ("NOTSET", ""):
        return pairs
    if auto_pad == "VALID":
        return [(0, 0)] * len(kernel)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.unsupported(f"auto_pad={auto_pad!r}")
    out = []
    for n, k, s, d in zip(x.shape[2:], kernel, strides, dilations):
        if not isinstance(n, int):
            raise ctx.error(f"auto_pad={auto_pad} needs static spatial dims")
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        small, large = total // 2, total - total // 2
        out.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return out


def _conv_operands(ctx):
    """(x, w, bias, kernel, strides, (before, after) pads, dilations, auto_pad) of a Conv or ConvTranspose node."""
    x, w = ctx.x(0), ctx.x(1)
    kernel = ctx.attr("kernel_shape", None) or list(w.shape[2:])
    if list(kernel) != list(w.shape[2:]):
        raise ctx.error(f"kernel_shape {kernel} differs from the weight's {list(w.shape[2:])}")
    strides, pairs, dilations, auto_pad = _window_options(ctx, w.ndim - 2, kernel)
    return x, w, (ctx.x(2) if ctx.has(2) else None), kernel, strides, pairs, dilations, auto_pad


@converts("Conv")
def conv(ctx):
    x, w, bias, kernel, strides, pairs, dilations, auto_pad = _conv_operands(ctx)
    pairs = _auto_pads(ctx, x, kernel, strides, dilations, auto_pad, pairs)
    return gc.conv(x, w, bias, stride=tuple(strides), padding=tuple(pairs), dilation=tuple(dilations),
                   groups=ctx.attr("group", 1))


@converts("ConvTranspose")
def conv_transpose(ctx):
    x, w, bias, kernel, strides, pairs, dilations, auto_pad = _conv_operands(ctx)
    spatial = w.ndim - 2
    extra = ctx.attr("output_padding", None) or [0] * spatial
    wanted = ctx.attr("output_shape", None)
    if wanted is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = x.shape[2:]
        if not all(isinstance(n, int) for n in sizes):
            raise ctx.error("output_shape / auto_pad SAME need static spatial dims")
        wanted = list(wanted)[-spatial:] if wanted is not None else [n * st for n, st in zip(sizes, strides)]
        pairs, extra = [], list(extra)
        for axis, (n, st, d, k, out) in enumerate(zip(sizes, strides, dilations, kernel, wanted)):
            total = st * (n - 1) + extra[axis] + (k - 1) * d + 1 - out
            if total < 0:  # a larger output than the windows reach: zeros after them (as output_padding)
                extra[axis] -= total
                total = 0
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    elif auto_pad == "VALID":
        pairs = [(0, 0)] * spatial
    return gc.conv_transpose(x, w, bias, stride=tuple(strides), padding=tuple(pairs), output_padding=tuple(extra),
                             dilation=tuple(dilations), groups=ctx.attr("group", 1))


@converts("MaxPool", "AveragePool", "LpPool")
def pool(ctx):
    x = ctx.x(0)
    kernel = ctx.attr("kernel_shape")
    spatial = len(kernel)
    strides, pairs, dilations, auto_pad = _window_options(ctx, spatial, kernel)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") and ceil_mode:
        raise ctx.unsupported("auto_pad SAME with ceil_mode")
    pairs = _auto_pads(ctx, x, kernel, strides, dilations, auto_pad, pairs)
    if ctx.op_type == "LpPool":  # (sum over each window of |x|^p)^(1/p): an average pool of |x|^p times the window size
        p = ctx.attr("p", 2)
        taps = float(np.prod(kernel))
        powered = gc.abs(x) ** float(p) if p != 2 else x * x
        mean = gc.pool(powered, "avg", tuple(kernel), tuple(strides), tuple(pairs), tuple(dilations), ceil_mode,
                       count_include_pad=True)
        return (mean * taps) ** (1.0 / p)
    if ctx.op_type == "MaxPool":
        column_major = bool(ctx.attr("storage_order", 0))
        values = gc.pool(x, "max", tuple(kernel), tuple(strides), tuple(pairs), tuple(dilations), ceil_mode)
        if len(ctx.node.output) > 1 and ctx.node.output[1]:
            return [values, gc.max_pool_indices(x, tuple(kernel), tuple(strides), tuple(pairs), tuple(dilations),
                                                ceil_mode, column_major=column_major)]
        return values
    return gc.pool(x, "avg", tuple(kernel), tuple(strides), tuple(pairs), tuple(dilations), ceil_mode,
                   count_include_pad=bool(ctx.attr("count_include_pad", 0)))


@converts("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx):
    x = ctx.x(0)
    axes = tuple(range(2, x.ndim))
    return gc.mean(x, axes, keepdims=True) if ctx.op_type == "GlobalAveragePool" else gc.max(x, axes, keepdims=True)


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


@converts("BatchNormalization")
def batch_norm(ctx):
    """Inference: (x - running mean) / sqrt(running var + eps) * scale + bias, per channel (axis 1). Training
    mode normalises with the batch's own statistics (the population variance) and also gives the updated
    running statistics, running · momentum + batch · (1 - momentum), as ONNX defines them."""
    momentum = ctx.attr("momentum", 0.9)
    x, scale, bias, mean, var = (ctx.x(i) for i in range(5))
    eps = ctx.attr("epsilon", 1e-5)
    shape = _channel_shape(x)
    training = bool(ctx.attr("training_mode", 0))
    if not training and any(ctx.node.output[1:]):
        raise ctx.error("the running-statistics outputs exist only with training_mode=1")
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        batch_mean = gc.mean(x, axes)
        centered = x - gc.reshape(batch_mean, shape)
        batch_var = gc.mean(centered * centered, axes)
        y = centered * gc.reshape(scale, shape) * gc.rsqrt(gc.reshape(batch_var, shape) + eps) + gc.reshape(bias, shape)
        y = y if y.dtype == x.dtype else gc.cast(y, x.dtype)  # float16 X with float32 statistics: Y is X's type
        return y, mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum)
    inv = gc.reshape(scale, shape) * gc.rsqrt(gc.reshape(var, shape) + eps)
    y = (x - gc.reshape(mean, shape)) * inv + gc.reshape(bias, shape)
    return y if y.dtype == x.dtype else gc.cast(y, x.dtype)


@converts("InstanceNormalization")
def instance_norm(ctx):
    x, scale, bias = ctx.x(0), ctx.x(1), ctx.x(2)
    eps = ctx.attr("epsilon", 1e-5)
    axes = tuple(range(2, x.ndim))
    mean = gc.mean(x, axes, keepdims=True)
    centered = x - mean
    var = gc.mean(centered * centered, axes, keepdims=True)
    shape = _channel_shape(x)
    return centered * gc.rsqrt(var + eps) * gc.reshape(scale, shape) + gc.reshape(bias, shape)


@converts("LayerNormalization")
def layer_norm(ctx):
    x = ctx.x(0)
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    eps = ctx.attr("epsilon", 1e-5)
    ctx.attr("stash_type", 1)  # statistics in float32 (or the input's float64): graphc computes in the input's type
    axes = tuple(range(axis, x.ndim))
    mean = gc.mean(x, axes, keepdims=True)
    centered = x - mean
    var = gc.mean(centered * centered, axes, keepdims=True)
    inv = gc.rsqrt(var + eps)
    y = centered * inv * ctx.x(1)
    if ctx.has(2):
        y = y + ctx.x(2)
    return [y, mean, inv]


@converts("Softmax", "LogSoftmax", "Hardmax")
def softmax(ctx):
    x = ctx.x(0)
    default = -1 if ctx.opset >= 13 else 1
    axis = axis_of(ctx, ctx.attr("axis", default), x.ndim)
    if ctx.op_type == "Softmax":
        return gc.softmax(x, axis=axis)
    if ctx.op_type == "LogSoftmax":
        return gc.log_softmax(x, axis=axis)
    first = gc.argmax(x, axis, keepdims=True)
    return gc.cast(gc.eq(gc.iota(tuple(x.shape), axis, first.dtype), first), x.dtype)


@converts("CausalConvWithState")
def causal_conv_with_state(ctx):
    """A depthwise causal 1-D convolution that carries its last k-1 inputs: (output, present_state), the past
    state (zeros without one) prepended to the input; optional SiLU."""
    x, w = ctx.x(0), ctx.x(1)
    activation = ctx.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise ctx.error(f"attribute 'activation' must be none, silu or swish, got {activation!r}")
    if x.ndim != 3 or w.ndim != 3:
        raise ctx.error(f"input (N, C, L) and weight (C, 1, k) must be 3-D, got {tuple(x.shape)} and {tuple(w.shape)}")
    n, channels, k = x.shape[0], x.shape[1], w.shape[2]
    if ctx.has(3):
        past = ctx.x(3)
    else:
        past = gc.broadcast_to(gc.cast(gc.const(0), x.dtype), (n, channels, k - 1))
    padded = gc.concat([past, x], axis=2)
    y = gc.conv(padded, w, ctx.x(2) if ctx.has(2) else None, groups=channels)
    if activation != "none":  # SiLU in float32 at least, rounded once (ONNX's definition for float16)
        wide = gc.cast(y, np.promote_types(y.dtype, np.float32))
        y = gc.cast(wide * gc.sigmoid(wide), y.dtype)
    return y, padded[:, :, padded.shape[2] - (k - 1):]
