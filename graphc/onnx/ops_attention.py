"""ONNX Attention (opsets 23+) as graphc ops: 3-D or 4-D Q/K/V, grouped-query heads, a past key/value cache,
boolean or additive masks (padded to the keys), causal and sliding-window masks aligned to the cache,
per-batch key lengths, softcap, the scale, the softmax precision and the qk_matmul_output modes; a query row
with no key to attend gives zeros (ONNX's definition)."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from .convert import converts
from .types import onnx_dtype


def _heads(x, heads: int):
    """(B, L, H·D) -> (B, H, L, D)."""
    b, length, hidden = x.shape
    return gc.transpose(gc.reshape(x, (b, length, heads, hidden // heads)), (0, 2, 1, 3))


def _additive(mask, dtype):
    return gc.where(mask, gc.cast(gc.const(0), dtype), gc.cast(gc.const(-np.inf), dtype)) if mask.dtype == np.bool_ else mask


def _frontier(q_len: int, kv_len: int, offset, dtype, allowed_fn):
    """An additive (q, kv) or (B, 1, q, kv) bias: 0 where allowed_fn(query position, key) holds, else -inf."""
    i = np.arange(q_len).reshape(q_len, 1)
    j = np.arange(kv_len).reshape(1, kv_len)
    if isinstance(offset, int):
        return gc.const(np.where(allowed_fn(i + offset, j), 0.0, -np.inf).astype(dtype))
    position = gc.const(i.reshape(1, 1, q_len, 1)) + gc.reshape(offset, (-1, 1, 1, 1))  # per batch
    return _additive(allowed_fn(position, gc.const(j.reshape(1, 1, 1, kv_len))), dtype)


@converts("Attention")
def attention(ctx):
    q, k, v = ctx.x(0), ctx.x(1), ctx.x(2)
    rank3 = q.ndim == 3
    if rank3:
        q, k, v = _heads(q, ctx.attr("q_num_heads")), _heads(k, ctx.attr("kv_num_heads")), _heads(v, ctx.attr("kv_num_heads"))
    else:
        ctx.attr("q_num_heads", None)
        ctx.attr("kv_num_heads", None)
    dtype = q.dtype
    scale = ctx.attr("scale", None)
    scale = 1 / np.sqrt(q.shape[3]) if scale is None else scale
    root = np.asarray(np.sqrt(scale), dtype)
    past = ctx.has(4)
    if past:
        k = gc.concat([ctx.x(4), k], axis=2)
        v = gc.concat([ctx.x(5), v], axis=2)
    present_k, present_v = k, v
    q_len, kv_len = q.shape[2], k.shape[2]
    if not (isinstance(q_len, int) and isinstance(kv_len, int)):
        raise ctx.error("Attention needs static sequence lengths")
    nonpad = gc.cast(ctx.x(6), np.int64) if ctx.has(6) else None
    offset = (ctx.x(4).shape[2] if past else 0) if nonpad is None or past else nonpad - q_len
    bias = None
    if ctx.has(3):
        mask = ctx.x(3)
        bias = _additive(mask, dtype)
        short = kv_len - mask.shape[-1]
        if short > 0:  # a mask shorter than the keys masks the rest
            bias = gc.pad(bias, ((0, 0),) * (mask.ndim - 1) + ((0, short),), value=-np.inf)
    if ctx.attr("is_causal", 0):
        causal = _frontier(q_len, kv_len, offset, dtype, lambda p, j: j <= p)
        bias = causal if bias is None else bias + causal
    left, right = ctx.attr("left_window_size", -1), ctx.attr("right_window_size", -1)
    if left >= 0 or right >= 0:
        def inside(p, j):
            ok = (p - j <= left) if left >= 0 else None
            if right >= 0:
                ok = (j - p <= right) if ok is None else ok & (j - p <= right)
            return ok
        window = _frontier(q_len, kv_len, offset, dtype, inside)
        bias = window if bias is None else bias + window
    if nonpad is not None:
        keys = gc.const(np.arange(kv_len).reshape(1, 1, 1, kv_len))
        padding = _additive(keys < gc.reshape(nonpad, (-1, 1, 1, 1)), dtype)
        bias = padding if bias is None else bias + padding
    heads, kv_heads = q.shape[1], k.shape[1]
    if heads != kv_heads and heads % kv_heads == 0:  # grouped-query attention: each key/value head repeated in place
        reps = heads // kv_heads

        def repeat(t):
            b, h, length, d = t.shape
            return gc.reshape(gc.broadcast_to(gc.reshape(t, (b, h, 1, length, d)), (b, h, reps, length, d)),
                              (b, h * reps, length, d))
        k, v = repeat(k), repeat(v)
    scores = gc.matmul(q * gc.const(root), gc.transpose(k * gc.const(root), (0, 1, 3, 2)))
    softcap = ctx.attr("softcap", 0.0)
    if softcap > 0:
        scores = softcap * gc.tanh(scores / softcap)
    mode = ctx.attr("qk_matmul_output_mode", 0)
    with_bias = scores + bias if bias is not None else scores
    qk_out = with_bias if mode == 2 else scores
    precision = ctx.attr("softmax_precision", None)
    logits = gc.cast(with_bias, onnx_dtype(precision, ctx.label)) if precision else with_bias
    # softmax with a fully masked row giving zeros (not 0/0)
    top = gc.max(logits, -1, keepdims=True)
    zero = gc.cast(gc.const(0), logits.dtype)
    e = gc.exp(logits - gc.where(top == -np.inf, zero, top))
    total = gc.sum(e, -1, keepdims=True)
    probabilities = e / gc.where(total == 0, gc.cast(gc.const(1), logits.dtype), total)
    if bias is not None:  # rows whose bias masks every key
        dead = gc.max(bias, -1, keepdims=True) == -np.inf
        probabilities = gc.where(dead, zero, probabilities)
    if mode == 3:
        qk_out = probabilities
    probabilities = gc.cast(probabilities, dtype)
    y = gc.matmul(probabilities, v)
    if rank3:
        b, h, length, d = y.shape
        y = gc.reshape(gc.transpose(y, (0, 2, 1, 3)), (b, length, h * d))
    return [y, present_k, present_v, gc.cast(qk_out, dtype)]
