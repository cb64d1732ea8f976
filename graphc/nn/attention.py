"""Attention: scaled dot-product attention with causal and padding masks, MultiHeadAttention, TransformerEncoderLayer.

Masked scores are replaced (with gc.where) by a large negative number, -1e9, not by -inf: after
softmax's max-shift they contribute exactly 0, and a row whose every key is masked gives
uniform weights instead of NaN. Shapes are batch-first: (N, T, E).
"""
from __future__ import annotations

import math

import numpy as np

from .. import dsl, dtypes, shapes
from ..tensor import as_tensor
from .layers import Dropout, Linear, activation_fn
from .module import Module
from .norm import LayerNorm
from ..errors import ArgumentError, ShapeError
from ..ops.arguments import Count, NonNegative, Probability  # noqa: F401  (annotations that are checked)

MASKED = -1e9


def _as_mask(mask):
    """A bool tensor from a bool/numeric tensor or array (nonzero/True = masked)."""
    m = mask if hasattr(mask, "node") else as_tensor(np.asarray(mask))
    return m if m.dtype == dtypes.bool_ else dsl.ne(m, 0)


def scaled_dot_product_attention(q, k, v, causal: bool = False, key_padding_mask=None, attn_mask=None, dropout=None):
    """softmax(q kᵀ / √d + masks) v over the last two axes; returns (output, weights).

    q (..., T, d), k (..., S, d), v (..., S, dv). causal: query i sees keys j ≤ i (+ S − T when the
    key sequence is longer). key_padding_mask: (N, S), True/nonzero marks padding keys, broadcast
    over heads and queries (q of rank 3 or 4). attn_mask: (T, S), True/nonzero masks a pair.
    dropout: an optional callable applied to the weights (a Dropout module).
    """
    d = q.shape[-1]
    scores = dsl.matmul(q, dsl.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(d))
    t, s = scores.shape[-2], scores.shape[-1]
    if causal:
        if not (isinstance(t, int) and isinstance(s, int)):
            raise ShapeError(f"a causal mask needs static sequence lengths, got scores {shapes.fmt_shape(scores.shape)}")
        future = np.triu(np.ones((t, s), bool), k=1 + s - t)
        scores = dsl.where(future, MASKED, scores)
    if attn_mask is not None:
        scores = dsl.where(_as_mask(attn_mask), MASKED, scores)
    if key_padding_mask is not None:
        m = _as_mask(key_padding_mask)
        m = dsl.reshape(m, (m.shape[0],) + (1,) * (scores.ndim - 2) + (m.shape[1],))
        scores = dsl.where(m, MASKED, scores)
    weights = dsl.softmax(scores, axis=-1)
    if dropout is not None:
        weights = dropout(weights)
    return dsl.matmul(weights, v), weights


class MultiHeadAttention(Module):
    """Multi-head attention: project queries, keys and values (Linear E -> E each), split into
    `num_heads` heads of E/num_heads (reshape (N, T, h, d), transpose to (N, h, T, d)), attend,
    merge the heads back and project (out_proj). Self-attention when key/value are omitted."""

    def __init__(self, embed_dim: Count, num_heads: Count, bias: bool = True, dropout: Probability = 0.0, name=None, seed=None, rng=None):
        super().__init__(name, seed=seed, rng=rng)
        if embed_dim % num_heads:
            raise ArgumentError(f"embed_dim {embed_dim} must divide by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.q_proj = Linear(embed_dim, embed_dim, bias, rng=self.rng)
        self.k_proj = Linear(embed_dim, embed_dim, bias, rng=self.rng)
        self.v_proj = Linear(embed_dim, embed_dim, bias, rng=self.rng)
        self.out_proj = Linear(embed_dim, embed_dim, bias, rng=self.rng)
        self.attn_dropout = Dropout(dropout, rng=self.rng) if dropout > 0 else None

    def _heads(self, x):
        n, t = x.shape[0], x.shape[1]
        return dsl.transpose(dsl.reshape(x, (n, t, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def forward(self, query, key=None, value=None, key_padding_mask=None, causal: bool = False, attn_mask=None,
                need_weights: bool = False):
        key = query if key is None else key
        value = key if value is None else value
        q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(key)), self._heads(self.v_proj(value))
        out, weights = scaled_dot_product_attention(q, k, v, causal, key_padding_mask, attn_mask, self.attn_dropout)
        n, t = query.shape[0], query.shape[1]
        out = self.out_proj(dsl.reshape(dsl.transpose(out, (0, 2, 1, 3)), (n, t, self.embed_dim)))
        return (out, weights) if need_weights else out

    def extra_repr(self):
        return f"{self.embed_dim}, heads={self.num_heads}"


class TransformerEncoderLayer(Module):
    """Self-attention and a position-wise feed-forward block, each with dropout, a residual connection
    and LayerNorm: post-norm x = norm1(x + sa(x)); x = norm2(x + ff(x)) (PyTorch's default), or with
    norm_first=True pre-norm x = x + sa(norm1(x)); x = x + ff(norm2(x)). ff = linear2(drop(act(linear1)))."""

    def __init__(self, d_model: Count, nhead: Count, dim_feedforward: Count = 2048, dropout: Probability = 0.1, activation="relu",
                 norm_first: bool = False, causal: bool = False, layer_norm_eps: NonNegative = 1e-5, name=None, seed=None, rng=None):
        super().__init__(name, seed=seed, rng=rng)
        self.norm_first, self.causal = norm_first, causal
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, rng=self.rng)
        self.linear1 = Linear(d_model, dim_feedforward, rng=self.rng)
        self.linear2 = Linear(dim_feedforward, d_model, rng=self.rng)
        self.norm1 = LayerNorm(d_model, layer_norm_eps)
        self.norm2 = LayerNorm(d_model, layer_norm_eps)
        self.dropout = Dropout(dropout, rng=self.rng)
        self.dropout1 = Dropout(dropout, rng=self.rng)
        self.dropout2 = Dropout(dropout, rng=self.rng)
        self._act = activation_fn(activation)

    def _sa(self, x, key_padding_mask, causal, attn_mask):
        return self.dropout1(self.self_attn(x, key_padding_mask=key_padding_mask, causal=causal, attn_mask=attn_mask))

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self._act(self.linear1(x)))))

    def forward(self, x, key_padding_mask=None, causal: bool | None = None, attn_mask=None):
        causal = self.causal if causal is None else causal
        if self.norm_first:
            x = x + self._sa(self.norm1(x), key_padding_mask, causal, attn_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, key_padding_mask, causal, attn_mask))
        return self.norm2(x + self._ff(x))
