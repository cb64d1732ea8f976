"""ONNX RNN, GRU and LSTM as graphc ops, unrolled over the (static) sequence: every direction, peepholes, clip,
input_forget, per-sequence lengths, both GRU reset orders (linear_before_reset 0 and 1), both layouts and ONNX's
activation names."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from .convert import converts

# name -> (function(x, alpha, beta), default alpha, default beta)
_ACTIVATIONS = {
    "Sigmoid": (lambda x, a, b: gc.sigmoid(x), None, None),
    "Tanh": (lambda x, a, b: gc.tanh(x), None, None),
    "Relu": (lambda x, a, b: gc.relu(x), None, None),
    "LeakyRelu": (lambda x, a, b: gc.leaky_relu(x, alpha=a), 0.01, None),
    "ThresholdedRelu": (lambda x, a, b: gc.where(x > a, x, 0.0), 1.0, None),
    "ScaledTanh": (lambda x, a, b: a * gc.tanh(b * x), 1.0, 1.0),
    "HardSigmoid": (lambda x, a, b: gc.minimum(gc.maximum(a * x + b, 0.0), 1.0), 0.2, 0.5),
    "Elu": (lambda x, a, b: gc.elu(x, alpha=a), 1.0, None),
    "Softsign": (lambda x, a, b: x / (1.0 + gc.abs(x)), None, None),
    "Softplus": (lambda x, a, b: gc.softplus(x), None, None),
    "Affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
}
_BY_LOWER_NAME = {k.lower(): v for k, v in _ACTIVATIONS.items()}
_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _activations(ctx, directions: int):
    """Per direction, the node's activation functions (with their alpha/beta taken in order from the lists)."""
    names = ctx.attr("activations", None) or _DEFAULTS[ctx.op_type] * directions
    alphas, betas = list(ctx.attr("activation_alpha", None) or []), list(ctx.attr("activation_beta", None) or [])
    per = len(_DEFAULTS[ctx.op_type])
    if len(names) != per * directions:
        raise ctx.error(f"activations {names}: expected {per} per direction")
    out = []
    for name in names:
        entry = _BY_LOWER_NAME.get(name.lower())  # ONNX's activation names, in any case
        if entry is None:
            raise ctx.unsupported(f"activation {name!r}")
        fn, a, b = entry
        a = alphas.pop(0) if a is not None and alphas else a
        b = betas.pop(0) if b is not None and betas else b
        out.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))
    return [out[d * per:(d + 1) * per] for d in range(directions)]


@converts("RNN", "GRU", "LSTM")
def recurrent(ctx):
    op = ctx.op_type
    x, w, r = ctx.x(0), ctx.x(1), ctx.x(2)
    hidden = ctx.attr("hidden_size")
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.unsupported(f"direction {direction!r}")
    directions = 2 if direction == "bidirectional" else 1
    layout = ctx.attr("layout", 0)
    clip = ctx.attr("clip", None)
    input_forget = ctx.attr("input_forget", 0) if op == "LSTM" else 0
    before_reset = ctx.attr("linear_before_reset", 0) if op == "GRU" else 0
    acts = _activations(ctx, directions)
    if layout:
        x = gc.transpose(x, (1, 0, 2))  # [seq, batch, input]
    steps, batch = x.shape[0], x.shape[1]
    if not isinstance(steps, int):
        raise ctx.error("the sequence length must be static (graphc unrolls the recurrence)")
    # per-sequence lengths: a step past a sequence's end keeps its state and outputs zeros (ONNX's semantics;
    # a reverse pass then starts at each sequence's own last element)
    lengths = gc.reshape(ctx.x(4), (batch, 1)) if ctx.has(4) else None
    gates = _GATES[op]
    b = ctx.x(3) if ctx.has(3) else None
    h0 = ctx.x(5) if ctx.has(5) else None
    c0 = ctx.x(6) if op == "LSTM" and ctx.has(6) else None
    peep = ctx.x(7) if op == "LSTM" and ctx.has(7) else None
    if layout:  # batch-first initial states: [batch, dirs, hidden]
        h0 = gc.transpose(h0, (1, 0, 2)) if h0 is not None else None
        c0 = gc.transpose(c0, (1, 0, 2)) if c0 is not None else None
    ys, hs, cs = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        wd, rd = w[d], r[d]                      # [gates*hidden, input], [gates*hidden, hidden]
        bw = b[d][:gates * hidden] if b is not None else None
        br = b[d][gates * hidden:] if b is not None else None
        h = h0[d] if h0 is not None else gc.broadcast_to(gc.const(np.zeros((), x.dtype)), (batch, hidden))
        c = c0[d] if c0 is not None else gc.broadcast_to(gc.const(np.zeros((), x.dtype)), (batch, hidden))
        p = peep[d] if peep is not None else None
        outs = [None] * steps
        xw = gc.matmul(x, gc.transpose(wd))      # all steps' input projections at once: [seq, batch, gates*hidden]
        if bw is not None:
            xw = xw + bw
        for t in (reversed(range(steps)) if reverse else range(steps)):
            h_new, c_new = _cell(op, xw[t], h, c, rd, br, p, hidden, acts[d], clip, input_forget, before_reset)
            if lengths is None:
                h, c, outs[t] = h_new, c_new, h_new
            else:
                valid = lengths > t
                h, c, outs[t] = gc.where(valid, h_new, h), gc.where(valid, c_new, c), gc.where(valid, h_new, 0.0)
        ys.append(gc.stack(outs, axis=0))      # [seq, batch, hidden]
        hs.append(h)
        cs.append(c)
    y = gc.stack(ys, axis=1)                   # [seq, dirs, batch, hidden]
    y_h, y_c = gc.stack(hs, axis=0), gc.stack(cs, axis=0)
    if layout:
        y, y_h, y_c = gc.transpose(y, (2, 0, 1, 3)), gc.transpose(y_h, (1, 0, 2)), gc.transpose(y_c, (1, 0, 2))
    return [y, y_h, y_c] if op == "LSTM" else [y, y_h]


def _clipped(v, clip):
    return v if clip is None else gc.minimum(gc.maximum(v, -clip), clip)


def _cell(op, xw, h, c, r, br, p, n, acts, clip, input_forget, before_reset):
    """One step: (new h, new c) from this step's input projection xw [batch, gates*n]."""
    def part(v, k):
        return v[:, k * n:(k + 1) * n] if v.ndim == 2 else v[k * n:(k + 1) * n]
    if op == "RNN":
        pre = xw + gc.matmul(h, gc.transpose(r))
        pre = pre + br if br is not None else pre
        return acts[0](_clipped(pre, clip)), c
    if op == "GRU":  # gates z, r, h
        f, g = acts
        rz, rr, rh = (r[k * n:(k + 1) * n] for k in range(3))
        bz, b_r, bh = ((part(br, k) if br is not None else 0.0) for k in range(3))
        z = f(_clipped(part(xw, 0) + gc.matmul(h, gc.transpose(rz)) + bz, clip))
        reset = f(_clipped(part(xw, 1) + gc.matmul(h, gc.transpose(rr)) + b_r, clip))
        if before_reset:
            candidate = g(_clipped(part(xw, 2) + reset * (gc.matmul(h, gc.transpose(rh)) + bh), clip))
        else:
            candidate = g(_clipped(part(xw, 2) + gc.matmul(reset * h, gc.transpose(rh)) + bh, clip))
        return (1.0 - z) * candidate + z * h, c
    f, g, hact = acts  # LSTM: gates i, o, f, c
    pre = xw + gc.matmul(h, gc.transpose(r))
    pre = pre + br if br is not None else pre
    pi, po, pf = ((p[k * n:(k + 1) * n] if p is not None else None) for k in range(3))
    i = f(_clipped(part(pre, 0) + (pi * c if pi is not None else 0.0), clip))
    forget = 1.0 - i if input_forget else f(_clipped(part(pre, 2) + (pf * c if pf is not None else 0.0), clip))
    cell = g(_clipped(part(pre, 3), clip))
    c_new = forget * c + i * cell
    o = f(_clipped(part(pre, 1) + (po * c_new if po is not None else 0.0), clip))
    return o * hact(c_new), c_new
