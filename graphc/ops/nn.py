"""Neural-network ops: sliding windows (unfold) and their adjoint, convolution, pooling, softmax.

Convolution and pooling are decompositions over one primitive, `unfold`, which views every
window of a padded input (N, C, *S) as (N, C, *out, *kernel) (im2col); convolution is then a
matmul, pooling a max or mean. Gradients follow from the primitives: the adjoint of unfold,
`fold`, scatter-adds windows back, which is exactly how max-pool routes its gradient to
the arg-max and how a shared kernel's gradient sums over positions.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, ShapeError
from ..ir import Node
from .linalg import matmul
from .math import add, div, exp_ as exp, log_ as log, stop_gradient, sub
from .movement import pad, reshape, transpose
from .reduce import max as reduce_max, mean as reduce_mean, sum as reduce_sum
from .registry import Op, as_node, composite, current_scope, register, scope


def _tuple(v, n, what):
    """An int or a sequence of n ints as an n-tuple; anything else is refused, never truncated."""
    def whole(i):
        if isinstance(i, (bool, np.bool_)) or not hasattr(type(i), "__index__"):
            raise ShapeError(f"{what} must be an int or {n} ints, got {v!r}")
        return shapes.as_int(i, what)

    if not isinstance(v, (list, tuple)):
        return (whole(v),) * n
    v = tuple(whole(i) for i in v)
    if len(v) != n:
        raise ShapeError(f"{what} needs {n} value(s), got {v}")
    return v


class Unfold(Op):
    """Windows of x (N, C, *S): out[n, c, *o, *k] = x[n, c, *(o*stride + k*dilation)]."""

    name, kind = "unfold", "nn"
    computes = False  # moves, selects or converts: works on a float16 value as stored
    moves_values = True  # windows of its input: it creates no value (debug mode's NaN/Inf check skips it)

    def normalize(self, inputs, attrs):
        (x,) = inputs
        k = len(tuple(attrs["kernel"]))
        if x.ndim != k + 2:
            raise ShapeError(f"{k}-d windows need a rank-{k + 2} (N, C, ...) input, got {shapes.fmt_shape(x.shape)}")
        for key in ("kernel", "stride", "dilation"):
            attrs[key] = _tuple(attrs[key], k, key)
            if min(attrs[key]) < 1:
                raise ShapeError(f"{key} must be positive, got {attrs[key]}")
        # a stride past the input's end and the dilation of a 1-wide kernel change nothing: clamp them,
        # so that address arithmetic (strides in bytes) never sees a number beyond the tensor
        sizes = x.shape[2:]
        attrs["stride"] = tuple(min(st, s) if isinstance(s, int) and s >= 1 else st for st, s in zip(attrs["stride"], sizes))
        attrs["dilation"] = tuple(1 if kk == 1 else d for kk, d in zip(attrs["kernel"], attrs["dilation"]))
        return attrs

    def shape(self, x, *, kernel, stride, dilation):
        out = tuple(shapes.conv_out_size(s, k, st, 0, 0, d) for s, k, st, d in zip(x.shape[2:], kernel, stride, dilation))
        return x.shape[:2] + out + kernel

    def dtype(self, x, **attrs):
        return x.dtype

    def reference(self, x, *, kernel, stride, dilation):
        k = len(kernel)
        spans = [d * (kk - 1) + 1 for kk, d in zip(kernel, dilation)]
        win = np.lib.stride_tricks.sliding_window_view(x, spans, axis=tuple(range(2, 2 + k)))
        index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + tuple(slice(None, None, d) for d in dilation)
        return np.ascontiguousarray(win[index])

    def lower(self, ctx, x, *, kernel, stride, dilation):
        return ctx.windows(x, kernel, stride, dilation)

    def vjp(self, g, y, x, *, kernel, stride, dilation):
        return [FOLD(g, size=x.shape[2:], kernel=kernel, stride=stride, dilation=dilation)]

    def vjp_label(self, index, out, inputs):
        return f"fold({out}): each window's cotangent added back where it was read"


class Fold(Op):
    """The adjoint of unfold: scatter-add windows (N, C, *out, *kernel) back into (N, C, *size)."""

    name, kind = "fold", "nn"

    def shape(self, cols, *, size, kernel, stride, dilation):
        return cols.shape[:2] + tuple(size)

    def dtype(self, cols, **attrs):
        return cols.dtype

    def reference(self, cols, *, size, kernel, stride, dilation):
        k = len(kernel)
        out_sp = cols.shape[2:2 + k]
        out = np.zeros(cols.shape[:2] + tuple(size), cols.dtype)
        for pos in itertools.product(*(range(kk) for kk in kernel)):  # one vectorised add per kernel tap
            index = tuple(slice(p * d, p * d + s * (o - 1) + 1, s) for p, d, s, o in zip(pos, dilation, stride, out_sp))
            out[(slice(None), slice(None)) + index] += cols[(Ellipsis,) + pos]
        return out

    def lower(self, ctx, cols, *, size, kernel, stride, dilation):
        """One scatter-add Loop over the windows: windows that overlap add into the same elements."""
        out = ctx.out()
        loads = [ctx.load("a0", cols)]
        ctx.loop(cols.shape, loads, ctx.body(loads, lambda b, ops: ops[0], out.buffer.dtype),
                 out.windows(kernel, stride, dilation), reduce=tuple(range(2, len(cols.shape))), combine="add")
        return out

    def vjp(self, c, y, cols, *, size, kernel, stride, dilation):
        return [UNFOLD(c, kernel=kernel, stride=stride, dilation=dilation)]

    def vjp_label(self, index, out, inputs):
        return f"unfold({out}): the windows of the cotangent"


UNFOLD, FOLD = register(Unfold), register(Fold)


def unfold(x, kernel, stride=1, dilation=1, name=None):
    return UNFOLD(x, kernel=kernel, stride=stride, dilation=dilation, name=name)


def _pads(padding, spatial, kernel, stride, dilation):
    """Normalise padding (int, per-dim ints or pairs, 'valid', 'same') to (lo, hi) per spatial dim."""
    k = len(kernel)
    if isinstance(padding, str) and padding not in ("valid", "same"):
        raise ArgumentError(f"padding must be an int, {k} ints or (before, after) pairs, 'valid' or 'same'; got {padding!r}")
    if padding == "valid":
        return ((0, 0),) * k
    if padding == "same":
        pads = []
        for s, kk, st, d in zip(spatial, kernel, stride, dilation):
            if not isinstance(s, int):
                raise ShapeError("padding='same' needs static spatial dims")
            total = max((shapes.ceil_div(s, st) - 1) * st + d * (kk - 1) + 1 - s, 0)
            pads.append((total // 2, total - total // 2))  # extra padding goes after, as in TensorFlow
        return tuple(pads)
    def amount(p):
        p = shapes.as_int(p, f"padding {padding!r}: each amount")
        if p < 0:
            raise ArgumentError(f"padding {padding!r}: amounts must not be negative")
        return p

    if not isinstance(padding, (tuple, list)):
        return ((amount(padding),) * 2,) * k
    if len(padding) != k:
        raise ShapeError(f"padding needs {k} entries, got {padding}")
    pairs = []
    for p in padding:
        if isinstance(p, (tuple, list)):
            if len(p) != 2:
                raise ArgumentError(f"padding {padding!r}: a pair per dim is (before, after), got {p!r}")
            pairs.append((amount(p[0]), amount(p[1])))
        else:
            pairs.append((amount(p),) * 2)
    return tuple(pairs)


def _windows(x, kernel, stride, padding, dilation, fill):
    nd = x.ndim - 2
    kernel, stride, dilation = _tuple(kernel, nd, "kernel"), _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
    pads = _pads(padding, x.shape[2:], kernel, stride, dilation)
    if any(a or b for a, b in pads):
        x = pad(x, ((0, 0), (0, 0)) + pads, value=fill)
    return unfold(x, kernel, stride, dilation)


def conv(x, w, bias=None, stride=1, padding=0, dilation=1, groups: int = 1, name=None):
    """N-d convolution (cross-correlation, no kernel flip): x (N, C, *S), w (O, C/groups, *K) -> (N, O, *out)."""
    x = as_node(x)
    w = w if isinstance(w, Node) else as_node(w, dtypes.weak_dtype_for(w, x.dtype))  # arrays are weak, as in matmul
    nd = w.ndim - 2
    what = _label(f"conv{nd}d", name)
    if x.ndim != nd + 2:
        raise ShapeError(f"{what}: input {shapes.fmt_shape(x.shape)} must have rank {nd + 2} (N, C, ...) for weight {shapes.fmt_shape(w.shape)}")
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    if not isinstance(groups, int) or groups < 1 or o % groups or not shapes.dims_equal(c, cg * groups):
        raise ShapeError(f"{what}: input {shapes.fmt_shape(x.shape)} has {shapes.fmt_dim(c)} channels but weight "
                         f"{shapes.fmt_shape(w.shape)} with groups={groups} expects {cg * groups}"
                         + ("" if isinstance(groups, int) and groups >= 1 and o % groups == 0 else
                            f" and {o} output channels must divide by groups (a positive int)"))
    kernel = tuple(w.shape[2:])
    with scope(name or f"conv{nd}d"), _context(what, f"input {shapes.fmt_shape(x.shape)}, weight {shapes.fmt_shape(w.shape)}"):
        cols = _windows(x, kernel, stride, padding, dilation, 0.0)          # (N, C, *out, *K)
        out_sp = cols.shape[2:2 + nd]
        p, kk = shapes.prod(out_sp), shapes.prod(kernel)
        # y[n, g] = W[g] (O/G × Cg·K) @ cols[n, g] (Cg·K × P): the product lands in NCHW order, so the
        # result is a free reshape; the windows are copied once, into the (N, G, Cg·K, P) matrix
        taps_first = (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd))
        cols = reshape(transpose(cols, taps_first), (n, groups, cg * kk, p))      # (N, G, Cg*K, P)
        wm = reshape(w, (groups, o // groups, cg * kk))                             # (G, O/G, Cg*K)
        y = matmul(wm, cols)                                                        # (N, G, O/G, P)
        y = reshape(y, (n, o) + out_sp)
        if bias is not None:
            b = bias if isinstance(bias, Node) else as_node(bias, dtypes.weak_dtype_for(bias, y.dtype))
            y = add(y, reshape(b, (1, o) + (1,) * nd))
    return y


def _np_conv(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct (loop-over-taps) NumPy convolution, independent of the graph decomposition (the test oracle)."""
    nd = w.ndim - 2
    stride, dilation = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
    pads = _pads(padding, x.shape[2:], w.shape[2:], stride, dilation)
    x = np.pad(x, ((0, 0), (0, 0)) + pads)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    out_sp = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(x.shape[2:], w.shape[2:], stride, dilation)]
    y = np.zeros((n, o, *out_sp), np.result_type(x, w))
    og = o // groups
    for gi in range(groups):
        xs = x[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * og:(gi + 1) * og]
        for tap in itertools.product(*(range(k) for k in w.shape[2:])):
            index = tuple(slice(t * d, t * d + st * (os - 1) + 1, st) for t, d, st, os in zip(tap, dilation, stride, out_sp))
            patch = xs[(slice(None), slice(None)) + index]                        # (N, Cg, *out)
            y[:, gi * og:(gi + 1) * og] += np.einsum("nc...,oc->no...", patch, ws[(slice(None), slice(None)) + tap])
    if bias is not None:
        y += np.asarray(bias).reshape((1, o) + (1,) * nd)
    return y


@composite("conv1d", _np_conv)
def conv1d(x, w, bias=None, stride=1, padding=0, dilation=1, groups: int = 1, name=None):
    """1-D convolution: x (N, C, W), w (O, C/groups, K)."""
    _check_rank(w, 3, _label("conv1d", name))
    return conv(x, w, bias, stride, padding, dilation, groups, name)


@composite("conv2d", _np_conv)
def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups: int = 1, name=None):
    """2-D convolution: x (N, C, H, W), w (O, C/groups, KH, KW); padding int, pair, 'same' or 'valid'."""
    _check_rank(w, 4, _label("conv2d", name))
    return conv(x, w, bias, stride, padding, dilation, groups, name)


def _label(what, name):
    """How errors name a layer: the op, and the user's scope/name (like graphc.ops.registry.make_node)."""
    where = current_scope()
    if name:
        return f"{what} '{where + '/' if where else ''}{name}'"
    return f"{what} in '{where}'" if where else what


class _context:
    """Prefix a ShapeError raised while building a decomposition with the layer's label and operand shapes."""

    def __init__(self, what, operands):
        self.what, self.operands = what, operands

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, ShapeError) and not str(err).startswith(self.what):
            raise ShapeError(f"{self.what}: {self.operands}: {err}") from None
        return False


def _check_rank(t, rank, what):
    if len(t.shape) != rank:
        raise ShapeError(f"{what}: {shapes.fmt_shape(t.shape)} must have rank {rank}")


def _pool(x, kernel_size, stride, padding, reduce, fill, what, dilation=1, label=None):
    x = as_node(x)
    nd = x.ndim - 2
    label = label or _label(what, None)
    if nd < 1:
        raise ShapeError(f"{label}: input {shapes.fmt_shape(x.shape)} must have rank >= 3 (N, C, ...)")
    with _context(label, f"input {shapes.fmt_shape(x.shape)}"):
        kernel = _tuple(kernel_size, nd, "kernel_size")
        stride = kernel if stride is None else _tuple(stride, nd, "stride")
        with scope(what):
            cols = _windows(x, kernel, stride, padding, dilation, fill)
            return reduce(cols, tuple(range(2 + nd, 2 + 2 * nd)))


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, name=None, op="max_pool"):
    x = as_node(x)
    lowest = -np.inf if dtypes.is_float(x.dtype) else np.iinfo(x.dtype).min
    return _pool(x, kernel_size, stride, padding, lambda c, ax: reduce_max(c, ax, name=name), lowest, name or "max_pool", dilation,
                 _label(op, name))


def avg_pool(x, kernel_size, stride=None, padding=0, name=None, op="avg_pool"):
    """Average pooling; padded positions count as zeros (count_include_pad, as in PyTorch's default)."""
    return _pool(x, kernel_size, stride, padding, lambda c, ax: reduce_mean(c, ax, name=name), 0.0, name or "avg_pool",
                 label=_label(op, name))


def _np_pool(x, kernel_size, stride=None, padding=0, kind="max"):
    nd = x.ndim - 2
    kernel = _tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else _tuple(stride, nd, "stride")
    pads = _pads(padding, x.shape[2:], kernel, stride, (1,) * nd)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=fill)
    out_sp = [(s - k) // st + 1 for s, k, st in zip(xp.shape[2:], kernel, stride)]
    taps = []
    for tap in itertools.product(*(range(k) for k in kernel)):
        index = tuple(slice(t, t + st * (os - 1) + 1, st) for t, st, os in zip(tap, stride, out_sp))
        taps.append(xp[(slice(None), slice(None)) + index])
    return np.max(taps, axis=0) if kind == "max" else np.mean(taps, axis=0)


def _pool_reference(kind):
    return lambda x, kernel_size, stride=None, padding=0: _np_pool(x, kernel_size, stride, padding, kind)


@composite("max_pool1d", _pool_reference("max"))
def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, name=None):
    """Max over windows of (N, C, W); stride defaults to the kernel size."""
    _check_rank(x, 3, _label("max_pool1d", name))
    return max_pool(x, kernel_size, stride, padding, dilation, name, op="max_pool1d")


@composite("max_pool2d", _pool_reference("max"))
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, name=None):
    """Max over windows of (N, C, H, W); the gradient goes to each window's arg-max (ties share it)."""
    _check_rank(x, 4, _label("max_pool2d", name))
    return max_pool(x, kernel_size, stride, padding, dilation, name, op="max_pool2d")


@composite("avg_pool1d", _pool_reference("avg"))
def avg_pool1d(x, kernel_size, stride=None, padding=0, name=None):
    _check_rank(x, 3, _label("avg_pool1d", name))
    return avg_pool(x, kernel_size, stride, padding, name, op="avg_pool1d")


@composite("avg_pool2d", _pool_reference("avg"))
def avg_pool2d(x, kernel_size, stride=None, padding=0, name=None):
    """Mean over windows of (N, C, H, W); the gradient is spread evenly over each window."""
    _check_rank(x, 4, _label("avg_pool2d", name))
    return avg_pool(x, kernel_size, stride, padding, name, op="avg_pool2d")


def _np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@composite("softmax", _np_softmax)
def softmax(x, axis: int = -1, name=None):
    """exp(x - max) / sum(exp(x - max)) along `axis`: never overflows."""
    x = as_node(x)
    with scope(name or "softmax"):
        e = exp(sub(x, stop_gradient(reduce_max(x, axis, keepdims=True))))
        return div(e, reduce_sum(e, axis, keepdims=True))


@composite("log_softmax", lambda x, axis=-1: np.log(_np_softmax(x, axis)))
def log_softmax(x, axis: int = -1, name=None):
    """x - logsumexp(x) along `axis`, computed from the shifted input (stable for any magnitude)."""
    x = as_node(x)
    with scope(name or "log_softmax"):
        shifted = sub(x, stop_gradient(reduce_max(x, axis, keepdims=True)))
        return sub(shifted, log(reduce_sum(exp(shifted), axis, keepdims=True)))
