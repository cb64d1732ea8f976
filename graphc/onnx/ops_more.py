"""Further ONNX ops as graphc ops: triangular masks, depth/space rearrangements, element and N-d gathers,
the normalisations (RMS, group, Lp, mean-variance, LRN), Swish, Shrink, EyeLike and the two classification
losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss)."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from .convert import axis_of, converts


@converts("Trilu")
def trilu(ctx):
    x = ctx.x(0)
    k = int(np.asarray(ctx.static(1, "k")).reshape(-1)[0]) if ctx.has(1) else 0
    rows, cols = x.shape[-2:]
    if not (isinstance(rows, int) and isinstance(cols, int)):
        raise ctx.error("Trilu needs static matrix dims")
    offset = np.arange(cols)[None, :] - np.arange(rows)[:, None]
    keep = offset >= k if ctx.attr("upper", 1) else offset <= k
    return gc.where(gc.const(keep), x, gc.cast(gc.const(0), x.dtype))


@converts("DepthToSpace", "SpaceToDepth")
def depth_space(ctx):
    x = ctx.x(0)
    bs = ctx.attr("blocksize")
    n, c, h, w = x.shape
    mode = ctx.attr("mode", "DCR")
    if ctx.op_type == "SpaceToDepth":  # the inverse of DepthToSpace in the same mode
        if mode not in ("DCR", "CRD"):
            raise ctx.unsupported(f"mode {mode!r}")
        t = gc.reshape(x, (n, c, h // bs, bs, w // bs, bs))
        perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
        return gc.reshape(gc.transpose(t, perm), (n, c * bs * bs, h // bs, w // bs))
    if mode == "DCR":
        t = gc.transpose(gc.reshape(x, (n, bs, bs, c // (bs * bs), h, w)), (0, 3, 4, 1, 5, 2))
    elif mode == "CRD":
        t = gc.transpose(gc.reshape(x, (n, c // (bs * bs), bs, bs, h, w)), (0, 1, 4, 2, 5, 3))
    else:
        raise ctx.unsupported(f"mode {mode!r}")
    return gc.reshape(t, (n, c // (bs * bs), h * bs, w * bs))


def _element_index(ctx, data, idx, axis: int):
    """The flat index into data of every element of idx read along `axis` (GatherElements, ScatterElements);
    each index checked against its own axis before flattening, so none reaches a neighbouring row."""
    if not all(isinstance(d, int) for d in data.shape):
        raise ctx.error("needs the data's static shape")
    strides = np.cumprod((tuple(data.shape[1:]) + (1,))[::-1])[::-1]
    n = data.shape[axis]
    idx = gc.cast(gc.check_range(idx, -n, n, f"{ctx.label}: indices"), np.int64)
    idx = gc.where(idx < 0, idx + n, idx)
    flat = None
    for a in range(data.ndim):
        term = (idx if a == axis else gc.iota(tuple(idx.shape), a, np.int64)) * int(strides[a])
        flat = term if flat is None else flat + term
    return flat


def _tuple_index(ctx, data, idx, batch_dims: int = 0):
    """(the row of data, flattened to (batch × indexed dims, rest), of every index tuple in idx's last axis, the
    number of rows): GatherND, ScatterND. Each component checked against its own axis first."""
    k = idx.shape[-1]
    batch, lead = tuple(data.shape[:batch_dims]), tuple(data.shape[batch_dims:batch_dims + k])
    if not all(isinstance(d, int) for d in batch + lead):
        raise ctx.error("needs static sizes along the indexed axes")
    strides = np.cumprod((batch + lead)[::-1])[::-1].tolist()[1:] + [1]
    flat = None
    for i in range(batch_dims):  # the batch position of each index tuple
        part = gc.iota(tuple(idx.shape[:-1]), i) * int(strides[i])
        flat = part if flat is None else flat + part
    for j in range(k):
        part = gc.cast(gc.check_range(idx[..., j], -lead[j], lead[j], f"{ctx.label}: indices[..., {j}]"), np.int64)
        part = gc.where(part < 0, part + lead[j], part) * int(strides[batch_dims + j])
        flat = part if flat is None else flat + part
    return flat, int(np.prod(batch + lead))


@converts("GatherElements")
def gather_elements(ctx):
    data, idx = ctx.x(0), ctx.x(1)
    flat = _element_index(ctx, data, idx, axis_of(ctx, ctx.attr("axis", 0), data.ndim))
    return gc.take(gc.reshape(data, (-1,)), flat, axis=0)


@converts("GatherND")
def gather_nd(ctx):
    data, idx = ctx.x(0), ctx.x(1)
    b = ctx.attr("batch_dims", 0)
    if not 0 <= b < min(data.ndim, idx.ndim):
        raise ctx.error(f"attribute 'batch_dims' {b} must be in [0, {min(data.ndim, idx.ndim)})")
    flat, rows = _tuple_index(ctx, data, idx, b)
    return gc.take(gc.reshape(data, (rows,) + tuple(data.shape[b + idx.shape[-1]:])), flat, axis=0)


@converts("EyeLike")
def eye_like(ctx):
    from .types import onnx_dtype  # the dtype table (no cycle)

    x = ctx.x(0)
    dtype = onnx_dtype(ctx.attr("dtype"), ctx.label) if "dtype" in ctx.attributes else x.dtype
    rows, cols = x.shape
    return np.eye(rows, cols, ctx.attr("k", 0), dtype=dtype)


@converts("Swish")
def swish(ctx):
    x = ctx.x(0)
    return x * gc.sigmoid(ctx.attr("alpha", 1.0) * x)


@converts("Shrink")
def shrink(ctx):
    x = ctx.x(0)
    lambd, bias = ctx.attr("lambd", 0.5), ctx.attr("bias", 0.0)
    zero = gc.cast(gc.const(0), x.dtype)
    return gc.where(x < -lambd, x + bias, gc.where(x > lambd, x - bias, zero))


@converts("RMSNormalization")
def rms_norm(ctx):
    x = ctx.x(0)
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    ctx.attr("stash_type", 1)
    ms = gc.mean(x * x, tuple(range(axis, x.ndim)), keepdims=True)
    return x * gc.rsqrt(ms + ctx.attr("epsilon", 1e-5)) * ctx.x(1)


@converts("GroupNormalization")
def group_norm(ctx):
    x, scale, bias = ctx.x(0), ctx.x(1), ctx.x(2)
    groups, eps = ctx.attr("num_groups"), ctx.attr("epsilon", 1e-5)
    ctx.attr("stash_type", 1)
    n, c = x.shape[:2]
    rest = tuple(x.shape[2:])
    g = gc.reshape(x, (n, groups, c // groups) + rest)
    axes = tuple(range(2, g.ndim))
    centered = g - gc.mean(g, axes, keepdims=True)
    normed = gc.reshape(centered * gc.rsqrt(gc.mean(centered * centered, axes, keepdims=True) + eps), tuple(x.shape))
    if scale.shape[0] == groups and groups != c:  # opset 18: one scale and bias per group
        scale = gc.reshape(gc.broadcast_to(gc.reshape(scale, (groups, 1)), (groups, c // groups)), (c,))
        bias = gc.reshape(gc.broadcast_to(gc.reshape(bias, (groups, 1)), (groups, c // groups)), (c,))
    shape = (1, c) + (1,) * len(rest)
    return normed * gc.reshape(scale, shape) + gc.reshape(bias, shape)


@converts("LpNormalization")
def lp_norm(ctx):
    x = ctx.x(0)
    axis, p = axis_of(ctx, ctx.attr("axis", -1), x.ndim), ctx.attr("p", 2)
    if p not in (1, 2):
        raise ctx.unsupported(f"p={p}")
    norm = gc.sum(gc.abs(x), axis, keepdims=True) if p == 1 else gc.sqrt(gc.sum(x * x, axis, keepdims=True))
    zero = gc.cast(gc.const(0), x.dtype)
    return gc.where(norm == 0, zero, x / gc.where(norm == 0, gc.cast(gc.const(1), x.dtype), norm))


@converts("MeanVarianceNormalization")
def mean_variance_norm(ctx):
    x = ctx.x(0)
    axes = tuple(axis_of(ctx, a, x.ndim) for a in (ctx.attr("axes", None) or [0, 2, 3]))
    mean = gc.mean(x, axes, keepdims=True)
    std = gc.sqrt(gc.mean(x * x, axes, keepdims=True) - mean * mean)
    return (x - mean) / (std + 1e-9)


@converts("LRN")
def lrn(ctx):
    x = ctx.x(0)
    size = ctx.attr("size")
    alpha, beta, bias = ctx.attr("alpha", 1e-4), ctx.attr("beta", 0.75), ctx.attr("bias", 1.0)
    before, after = (size - 1) // 2, size // 2  # floor and ceil of (size - 1) / 2
    c = x.shape[1]
    padded = gc.pad(x * x, ((0, 0), (before, after)) + ((0, 0),) * (x.ndim - 2))
    window = None
    for k in range(size):
        part = padded[:, k:k + c]
        window = part if window is None else window + part
    return x / (bias + alpha / size * window) ** beta


def _nll(ctx, log_probs, target, weight, ignore, reduction):
    """ONNX's NegativeLogLikelihoodLoss over log-probabilities (N, C, ...) and integer targets (N, ...)."""
    c = log_probs.shape[1]
    target = gc.cast(target, np.int64)
    valid = target != ignore if ignore is not None else None
    safe = gc.where(valid, target, 0) if valid is not None else target
    hot = gc.expand_dims(safe, 1) == gc.iota((1, c) + (1,) * (log_probs.ndim - 2), 1, np.int64)
    picked = -gc.sum(gc.where(hot, log_probs, gc.cast(gc.const(0), log_probs.dtype)), 1)
    w = gc.take(weight, safe, axis=0) if weight is not None else gc.broadcast_to(
        gc.cast(gc.const(1), log_probs.dtype), tuple(target.shape))
    if valid is not None:
        w = gc.where(valid, w, gc.cast(gc.const(0), log_probs.dtype))
    loss = picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return gc.sum(loss)
    if reduction == "mean":
        return gc.sum(loss) / gc.sum(w)
    raise ctx.unsupported(f"reduction {reduction!r}")


@converts("NegativeLogLikelihoodLoss")
def nll_loss(ctx):
    weight = ctx.x(2) if ctx.has(2) else None
    return _nll(ctx, ctx.x(0), ctx.x(1), weight, ctx.attr("ignore_index", None), ctx.attr("reduction", "mean"))


@converts("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy(ctx):
    log_probs = gc.log_softmax(ctx.x(0), axis=1)
    weight = ctx.x(2) if ctx.has(2) else None
    loss = _nll(ctx, log_probs, ctx.x(1), weight, ctx.attr("ignore_index", None), ctx.attr("reduction", "mean"))
    return [loss, log_probs]


@converts("Einsum")
def einsum(ctx):
    """Any einsum equation as broadcast products and sums: each operand laid out over every index letter (a
    repeated letter in one operand takes its diagonal first), multiplied, summed over the letters the output
    drops, and transposed to the output's order."""
    equation = ctx.attr("equation").replace(" ", "")
    xs = ctx.inputs()
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(xs):
        raise ctx.error(f"equation {equation!r} names {len(terms)} operands, the node has {len(xs)}")
    ellipsis = max((x.ndim - (len(t) - 3) for t, x in zip(terms, xs) if "..." in t), default=0)
    spare = [chr(c) for c in range(ord("A"), ord("Z") + 1) if chr(c) not in equation][:ellipsis]

    def letters(term, rank):
        if "..." not in term:
            return list(term)
        before, after = term.split("...")
        return list(before) + spare[ellipsis - (rank - len(before) - len(after)):] + list(after)

    operands, counts = [], {}
    for term, x in zip(terms, xs):
        names = letters(term, x.ndim)
        for n in names:  # an implicit output keeps the letters that occur once in the whole equation
            counts[n] = counts.get(n, 0) + 1
        if len(names) != x.ndim:
            raise ctx.error(f"term {term!r} does not fit an operand of rank {x.ndim}")
        while len(set(names)) < len(names):  # a repeated letter: its diagonal
            first = next(n for n in names if names.count(n) > 1)
            i, j = [k for k, n in enumerate(names) if n == first][:2]
            size = x.shape[i]
            eye = np.eye(size, dtype=x.dtype).reshape([size if a in (i, j) else 1 for a in range(x.ndim)])
            x = gc.sum(x * gc.const(eye), j)
            names.pop(j)
        operands.append((x, names))
    if arrow:
        out = letters(rhs, sum(1 for _ in rhs.replace("...", "")) + ellipsis) if "..." in rhs else list(rhs)
    else:
        out = spare + sorted(n for n, c in counts.items() if c == 1 and n not in spare)
    order = list(dict.fromkeys([n for _, names in operands for n in names]))
    product = None
    for x, names in operands:
        ranked = sorted(range(len(names)), key=lambda k: order.index(names[k]))
        x = gc.transpose(x, tuple(ranked)) if ranked != list(range(len(names))) else x
        present = [names[k] for k in ranked]
        shape = [x.shape[present.index(n)] if n in present else 1 for n in order]
        x = gc.reshape(x, tuple(shape))
        product = x if product is None else product * x
    dropped = tuple(k for k, n in enumerate(order) if n not in out)
    if dropped:
        product = gc.sum(product, dropped)
    kept = [n for n in order if n in out]
    if kept != out:
        product = gc.transpose(product, tuple(kept.index(n) for n in out))
    return product


def _scatter(ctx, data, flat, updates, rows: int):
    """data with `updates` scattered at the flat row indices `flat` of data viewed as (rows, rest): replaced
    (reduction none) or added (add); repeated indices add up (ONNX leaves them undefined without a reduction)."""
    reduction = ctx.attr("reduction", "none")
    if reduction not in ("none", "add", "mul", "max", "min"):
        raise ctx.error(f"attribute 'reduction' must be none, add, mul, max or min, got {reduction!r}")
    if not all(isinstance(d, int) for d in data.shape):
        raise ctx.error("needs the data's static shape")
    rest = tuple(data.shape)[len(tuple(data.shape)) - (updates.ndim - flat.ndim):] if updates.ndim > flat.ndim else ()
    flat = gc.reshape(flat, (-1,))
    values = gc.reshape(updates, (-1,) + rest)
    scatter_add = gc.REGISTRY["take_adjoint"]
    table = gc.reshape(data, (rows,) + rest)
    if reduction in ("mul", "max", "min"):  # into the combine's identity, then combined with the data
        scattered = gc.scatter_reduce(gc.cast(values, data.dtype), flat, rows, axis=0, reduce=reduction)
        combine = {"mul": gc.mul, "max": gc.maximum, "min": gc.minimum}[reduction]
        return gc.reshape(combine(table, scattered), tuple(data.shape))
    added = scatter_add(gc.cast(values, data.dtype), flat, axis=0, size=rows)
    if reduction == "add":
        out = table + added
    else:
        ones = gc.broadcast_to(gc.const(np.int32(1)), tuple(values.shape))
        hit = scatter_add(ones, flat, axis=0, size=rows) > 0  # the rows some update lands on
        out = gc.where(hit, added, table)
    return gc.reshape(out, tuple(data.shape))


@converts("ScatterElements", "Scatter")
def scatter_elements(ctx):
    data, idx, updates = ctx.x(0), ctx.x(1), ctx.x(2)
    flat = _element_index(ctx, data, idx, axis_of(ctx, ctx.attr("axis", 0), data.ndim))
    return _scatter(ctx, data, flat, updates, int(np.prod(data.shape)))


@converts("ScatterND")
def scatter_nd(ctx):
    data, idx, updates = ctx.x(0), ctx.x(1), ctx.x(2)
    flat, rows = _tuple_index(ctx, data, idx)
    return _scatter(ctx, data, flat, updates, rows)


@converts("TopK")
def top_k(ctx):
    x = ctx.x(0)
    (k,) = ctx.ints(1, "K")
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    largest = bool(ctx.attr("largest", 1))
    ctx.attr("sorted", 1)  # the values always come in order (ONNX allows it either way)
    values, indices = gc.topk(x, k, axis=axis, largest=largest)
    return values, indices
