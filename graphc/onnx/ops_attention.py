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


@converts("RotaryEmbedding")
def rotary_embedding(ctx):
    """Rotary position embedding: pairs of features (the two halves, or neighbours when `interleaved`) of the first
    rotary_embedding_dim features of each head rotated by the cached angle of their position."""
    x, cos, sin = ctx.x(0), ctx.x(1), ctx.x(2)
    interleaved = bool(ctx.attr("interleaved", 0))
    heads = ctx.attr("num_heads", 0)
    if x.ndim == 4:  # (B, H, S, D) -> (B, S, H, D)
        t = gc.transpose(x, (0, 2, 1, 3))
    elif x.ndim == 3:
        if not heads:
            raise ctx.error("a 3-D input needs the num_heads attribute")
        b, s, hidden = x.shape
        t = gc.reshape(x, (b, s, heads, hidden // heads))
    else:
        raise ctx.error(f"the input must be 3-D or 4-D, got {x.ndim}-D")
    head = t.shape[3]
    rot = ctx.attr("rotary_embedding_dim", 0) or head
    if ctx.has(3):  # caches indexed by position: (max positions, rot/2) -> (B, S, rot/2)
        positions = gc.cast(ctx.x(3), np.int64)
        cos, sin = gc.take(cos, positions, axis=0), gc.take(sin, positions, axis=0)
    if cos.shape[-1] != rot // 2 or sin.shape[-1] != rot // 2:
        raise ctx.error(f"the caches' last dim must be rotary_embedding_dim/2 = {rot // 2}, got {cos.shape[-1]}")
    cos, sin = gc.expand_dims(cos, 2), gc.expand_dims(sin, 2)  # one angle for every head
    rotate, keep = t[..., :rot], t[..., rot:]
    if interleaved:
        first, second = rotate[..., 0::2], rotate[..., 1::2]
    else:
        first, second = rotate[..., :rot // 2], rotate[..., rot // 2:]
    real, imag = cos * first - sin * second, sin * first + cos * second
    if interleaved:
        rotated = gc.reshape(gc.stack([real, imag], axis=-1), tuple(rotate.shape))
    else:
        rotated = gc.concat([real, imag], axis=-1)
    out = gc.concat([rotated, keep], axis=-1) if rot < head else rotated
    return gc.transpose(out, (0, 2, 1, 3)) if x.ndim == 4 else gc.reshape(out, tuple(x.shape))


@converts("TensorScatter")
def tensor_scatter(ctx):
    """A key/value cache update: `update`'s steps written into `past` along `axis` from each batch entry's write
    index (wrapping around in circular mode), as one gather: every cache position reads the update step it
    receives, or keeps the past."""
    past, update = ctx.x(0), ctx.x(1)
    mode = ctx.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        raise ctx.error(f"attribute 'mode' must be linear or circular, got {mode!r}")
    axis = ctx.attr("axis", -2) % past.ndim
    if axis == 0:
        raise ctx.error("axis 0 is the batch axis; the cache's sequence axis comes after it")
    length, steps = past.shape[axis], update.shape[axis]
    if not isinstance(length, int) or not isinstance(steps, int) or steps > length:
        raise ctx.error(f"the update's {steps} steps must fit the cache's {length} (static sizes)")
    batch = past.shape[0]
    start = gc.cast(ctx.x(2), np.int64) if ctx.has(2) else gc.cast(gc.broadcast_to(gc.const(0), (batch,)), np.int64)
    shape = [1] * past.ndim
    shape[0] = batch
    start = gc.reshape(start, tuple(shape))
    shape = [1] * past.ndim
    shape[axis] = length
    step = gc.reshape(gc.iota((length,), 0), tuple(shape)) - start  # the update step each cache position receives
    if mode == "circular":
        step = gc.mod(step, length)
    fresh = (step >= 0) & (step < steps)
    source = gc.broadcast_to(gc.minimum(gc.maximum(step, 0), steps - 1), tuple(past.shape))
    return gc.where(gc.broadcast_to(fresh, tuple(past.shape)), gc.take_along_axis(update, source, axis), past)


@converts("LinearAttention")
def linear_attention(ctx):
    """Linear attention with a (d_k × d_v) state per key/value head, unrolled over the static sequence in float32:
    per step the state decays by exp(decay) (gated rules), takes the delta-rule correction beta·(v − Sᵀk) (delta
    rules), adds k vᵀ, and each query head reads scale · qᵀS; (output, present_state)."""
    q, k, v = ctx.x(0), ctx.x(1), ctx.x(2)
    rule = ctx.attr("update_rule", "gated_delta")
    ctx.attr("chunk_size", 0)  # a tuning hint: no effect on the values
    hq, hkv = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    scale = ctx.attr("scale", 0.0)
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise ctx.error(f"attribute 'update_rule' must be linear, gated, delta or gated_delta, got {rule!r}")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gated != ctx.has(4) or delta != ctx.has(5):
        raise ctx.error(f"update rule {rule!r} {'needs' if gated else 'forbids'} decay and {'needs' if delta else 'forbids'} beta")
    if hq <= 0 or hkv <= 0 or hq % hkv or any(t.ndim != 3 for t in (q, k, v)):
        raise ctx.error("query, key, value must be (B, T, H·D) with q_num_heads a multiple of kv_num_heads")
    b, steps = q.shape[0], q.shape[1]
    if not isinstance(steps, int):
        raise ctx.error("needs a static sequence length")
    f32 = np.float32
    q4, k4, v4 = (gc.cast(_heads(t, h), f32) for t, h in ((q, hq), (k, hkv), (v, hkv)))
    dk, dv, group = q4.shape[3], v4.shape[3], hq // hkv
    if gated:
        decay = gc.cast(ctx.x(4), f32)
        last = decay.shape[-1]
        if last == hkv:
            decay = gc.transpose(gc.reshape(decay, (b, steps, hkv, 1)), (0, 2, 1, 3))
        elif last == hkv * dk:
            decay = _heads(decay, hkv)
        else:
            raise ctx.error(f"decay's last dim {last} must be kv_num_heads or kv_num_heads·d_k")
    if delta:
        beta = gc.cast(ctx.x(5), f32)
        beta = gc.transpose(gc.reshape(beta, (b, steps, beta.shape[-1], 1)), (0, 2, 1, 3))
    state_dtype = ctx.x(3).dtype if ctx.has(3) else q.dtype
    state = gc.cast(ctx.x(3), f32) if ctx.has(3) else gc.broadcast_to(gc.const(f32(0)), (b, hkv, dk, dv))
    factor = float(scale) if scale else 1.0 / float(np.sqrt(dk))
    outputs = []
    for i in range(steps):
        k_t, v_t, q_t = k4[:, :, i, :], v4[:, :, i, :], q4[:, :, i, :]
        if gated:
            state = state * gc.expand_dims(gc.exp(decay[:, :, i, :]), -1)
        if delta:
            retrieved = gc.sum(state * gc.expand_dims(k_t, -1), axis=2)
            v_t = beta[:, :, i, :] * (v_t - retrieved)
        state = state + gc.expand_dims(k_t, -1) * gc.expand_dims(v_t, -2)
        read = state if group == 1 else gc.reshape(
            gc.broadcast_to(gc.expand_dims(state, 2), (b, hkv, group, dk, dv)), (b, hq, dk, dv))
        outputs.append(gc.sum(gc.expand_dims(q_t, -1) * read, axis=2) * factor)
    out = gc.stack(outputs, axis=2)  # (B, Hq, T, dv)
    out = gc.reshape(gc.transpose(out, (0, 2, 1, 3)), (b, steps, hq * dv))
    return gc.cast(out, q.dtype), gc.cast(state, state_dtype)
