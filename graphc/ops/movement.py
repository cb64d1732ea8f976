"""Movement ops: reshape, transpose, broadcast, slicing (and its adjoint), pad, concat, gather, iota."""
from __future__ import annotations

import numpy as np
import sympy

from .. import dtypes, shapes
from ..errors import ShapeError
from .registry import Op, composite, register


def _fmt(shape):
    return shapes.fmt_shape(shape)


class Reshape(Op):
    name, kind = "reshape", "movement"

    def normalize(self, inputs, attrs):
        (x,) = inputs
        target = attrs["shape"]
        if isinstance(target, (int, str)) or target is None:
            target = (target,)
        target = list(target)
        holes = [i for i, d in enumerate(target) if isinstance(d, int) and d == -1]
        if len(holes) > 1:
            raise ShapeError(f"{_fmt(x.shape)} -> {tuple(target)}: only one -1 allowed")
        known = [shapes.as_dim(d) for i, d in enumerate(target) if i not in holes]
        total = shapes.prod(x.shape)
        if holes:
            rest = shapes.prod(known)
            q = shapes.simplify_dim(sympy.sympify(total) / rest) if not (isinstance(total, int) and isinstance(rest, int)) else (total // rest if rest and total % rest == 0 else None)
            if q is None or (isinstance(q, sympy.Basic) and not q.is_integer):
                raise ShapeError(f"cannot reshape {_fmt(x.shape)} into {tuple(target)}: {total} is not divisible by {rest}")
            target[holes[0]] = q
        attrs["shape"] = tuple(shapes.simplify_dim(shapes.as_dim(d)) for d in target)
        return attrs

    def shape(self, x, *, shape):
        if not shapes.dims_equal(shapes.prod(x.shape), shapes.prod(shape)):
            raise ShapeError(f"cannot reshape {_fmt(x.shape)} into {_fmt(shape)}: sizes differ")
        return shape

    def dtype(self, x, *, shape):
        return x.dtype

    def reference(self, x, *, shape):
        return np.reshape(x, shape)

    def lower(self, ctx, x, *, shape):
        return ctx.reshape(x, shape)

    def vjp(self, g, y, x, *, shape):
        return [reshape(g, x.shape)]

    def vjp_label(self, index, out, inputs):
        return f"{out} reshaped back to {inputs[0]}'s shape"


class Transpose(Op):
    name, kind = "transpose", "movement"

    def normalize(self, inputs, attrs):
        (x,) = inputs
        perm = attrs.get("perm")
        perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(shapes.normalize_axis(int(p), x.ndim) for p in perm)
        if sorted(perm) != list(range(x.ndim)):
            raise ShapeError(f"{perm} is not a permutation of the axes of {_fmt(x.shape)}")
        attrs["perm"] = perm
        return attrs

    def shape(self, x, *, perm):
        return tuple(x.shape[p] for p in perm)

    def dtype(self, x, *, perm):
        return x.dtype

    def reference(self, x, *, perm):
        return np.transpose(x, perm)

    def lower(self, ctx, x, *, perm):
        return x.transpose(perm)

    def vjp(self, g, y, x, *, perm):
        return [transpose(g, tuple(np.argsort(perm).tolist()))]

    def vjp_label(self, index, out, inputs):
        return f"{out} transposed back"


class BroadcastTo(Op):
    name, kind = "broadcast_to", "movement"

    def normalize(self, inputs, attrs):
        attrs["shape"] = shapes.as_shape(attrs["shape"])
        return attrs

    def shape(self, x, *, shape):
        out = shapes.broadcast_shapes(x.shape, shape)
        if len(out) != len(shape) or not all(shapes.dims_equal(a, b) for a, b in zip(out, shape)):
            raise ShapeError(f"cannot broadcast {_fmt(x.shape)} to {_fmt(shape)}")
        return shape

    def dtype(self, x, *, shape):
        return x.dtype

    def reference(self, x, *, shape):
        return np.broadcast_to(x, shape)

    def lower(self, ctx, x, *, shape):
        return x.broadcast_to(shape)

    def vjp(self, g, y, x, *, shape):
        from .reduce import sum_to_shape

        return [sum_to_shape(g, x.shape)]

    def vjp_label(self, index, out, inputs):
        return f"Σ of {out} over the broadcast axes"


def _slice_len(start, stop, step):
    if isinstance(start, int) and isinstance(stop, int):
        return len(range(start, stop, step))
    return shapes.simplify_dim(stop - start)  # symbolic axes are only ever sliced whole (step 1)


class Slice(Op):
    """Basic strided slicing: per axis (start, stop, step) as normalised by Python's slice.indices
    (a negative step may stop at -1, meaning 'past index 0')."""

    name, kind = "slice", "movement"

    def shape(self, x, *, starts, stops, steps):
        if not len(starts) == len(stops) == len(steps) == x.ndim:
            raise ShapeError(f"slice of rank-{x.ndim} {_fmt(x.shape)} needs {x.ndim} (start, stop, step) triples")
        return tuple(_slice_len(a, b, c) for a, b, c in zip(starts, stops, steps))

    def dtype(self, x, **attrs):
        return x.dtype

    def reference(self, x, *, starts, stops, steps):
        return x[_py_slices(starts, stops, steps)]

    def lower(self, ctx, x, *, starts, stops, steps):
        return x.slice(starts, stops, steps)

    def vjp(self, g, y, x, *, starts, stops, steps):
        return [UNSLICE(g, shape=x.shape, starts=starts, stops=stops, steps=steps)]

    def vjp_label(self, index, out, inputs):
        return f"{out} placed into zeros of {inputs[0]}'s shape"


class Unslice(Op):
    """The adjoint of slice: a zero tensor of `shape` with the input written at the sliced positions."""

    name, kind = "unslice", "movement"

    def shape(self, g, *, shape, starts, stops, steps):
        return shape

    def dtype(self, g, **attrs):
        return g.dtype

    def reference(self, g, *, shape, starts, stops, steps):
        out = np.zeros(shape, g.dtype)
        out[_py_slices(starts, stops, steps)] = g
        return out

    def lower(self, ctx, g, *, shape, starts, stops, steps):
        out = ctx.fill(ctx.out(), 0.0)
        ctx.copy(g, out.slice(starts, stops, steps))
        return out

    def vjp(self, c, y, g, *, shape, starts, stops, steps):
        return [SLICE(c, starts=starts, stops=stops, steps=steps)]

    def vjp_label(self, index, out, inputs):
        return f"the sliced part of {out}"


def _py_slices(starts, stops, steps):
    return tuple(slice(a, b if b >= 0 else None, c) for a, b, c in zip(starts, stops, steps))


class Pad(Op):
    """Constant padding: `pads` holds (before, after) per axis."""

    name, kind = "pad", "movement"

    def normalize(self, inputs, attrs):
        (x,) = inputs
        pads = attrs["pads"]
        if isinstance(pads, int):
            pads = ((pads, pads),) * x.ndim
        pads = tuple((int(a), int(b)) for a, b in pads)
        if len(pads) != x.ndim or any(a < 0 or b < 0 for a, b in pads):
            raise ShapeError(f"pad of {_fmt(x.shape)} needs {x.ndim} non-negative (before, after) pairs, got {pads}")
        attrs["pads"] = pads
        attrs["value"] = float(attrs.get("value", 0.0))
        return attrs

    def shape(self, x, *, pads, value):
        return tuple(shapes.simplify_dim(d + a + b) for d, (a, b) in zip(x.shape, pads))

    def dtype(self, x, **attrs):
        return x.dtype

    def reference(self, x, *, pads, value):
        return np.pad(x, pads, constant_values=np.asarray(value).astype(x.dtype))

    def lower(self, ctx, x, *, pads, value):
        out = ctx.fill(ctx.out(), value)
        ctx.copy(x, out.slice(tuple(a for a, _ in pads), tuple(a + d for (a, _), d in zip(pads, x.shape)), (1,) * len(pads)))
        return out

    def vjp(self, g, y, x, *, pads, value):
        return [SLICE(g, starts=tuple(a for a, _ in pads), stops=tuple(shapes.simplify_dim(a + d) for (a, _), d in zip(pads, x.shape)),
                      steps=(1,) * x.ndim)]

    def vjp_label(self, index, out, inputs):
        return f"{out} with the padding cropped"


class Concat(Op):
    name, kind = "concat", "movement"

    def normalize(self, inputs, attrs):
        if not inputs:
            raise ShapeError("concat of nothing")
        attrs["axis"] = shapes.normalize_axis(int(attrs.get("axis", 0)), inputs[0].ndim)
        return attrs

    def shape(self, *xs, axis):
        first = xs[0].shape
        for x in xs[1:]:
            if x.ndim != len(first) or any(i != axis and not shapes.dims_equal(a, b) for i, (a, b) in enumerate(zip(first, x.shape))):
                raise ShapeError(f"cannot concat {' and '.join(_fmt(t.shape) for t in xs)} along axis {axis}")
        return first[:axis] + (shapes.simplify_dim(sum_dims(x.shape[axis] for x in xs)),) + first[axis + 1:]

    def reference(self, *xs, axis):
        return np.concatenate(xs, axis=axis)

    def lower(self, ctx, *xs, axis):
        out, offset = ctx.out(), 0
        for x in xs:
            end = offset + x.shape[axis]
            starts = tuple(offset if i == axis else 0 for i in range(len(x.shape)))
            stops = tuple(end if i == axis else d for i, d in enumerate(out.shape))
            ctx.copy(x, out.slice(starts, stops, (1,) * len(x.shape)))
            offset = end
        return out

    def vjp(self, g, y, *xs, axis):
        out, offset = [], 0
        for x in xs:
            end = shapes.simplify_dim(offset + x.shape[axis])
            starts = tuple(offset if i == axis else 0 for i in range(x.ndim))
            stops = tuple(end if i == axis else d for i, d in enumerate(g.shape))
            out.append(SLICE(g, starts=starts, stops=stops, steps=(1,) * x.ndim) if dtypes.is_float(x.dtype) else None)
            offset = end
        return out

    def vjp_label(self, index, out, inputs):
        return f"part {index} of {out} along the concatenated axis"


def sum_dims(dims):
    total = 0
    for d in dims:
        total = total + d
    return total


class Iota(Op):
    """Indices 0..n-1 along `axis` of a tensor of `shape` (for masks and one-hot)."""

    name, kind, differentiable = "iota", "movement", False

    def normalize(self, inputs, attrs):
        attrs["shape"] = shapes.as_shape(attrs["shape"])
        attrs["axis"] = shapes.normalize_axis(int(attrs.get("axis", 0)), len(attrs["shape"]))
        attrs["dtype"] = dtypes.as_dtype(attrs.get("dtype", dtypes.int64))
        return attrs

    def shape(self, *, shape, axis, dtype):
        return shape

    def dtype(self, *, shape, axis, dtype):
        return dtype

    def reference(self, *, shape, axis, dtype):
        view = [1] * len(shape)
        view[axis] = shape[axis]
        return np.broadcast_to(np.arange(shape[axis], dtype=dtype).reshape(view), shape)

    def lower(self, ctx, *, shape, axis, dtype):
        line = ctx.buffer((shape[axis],), dtype, role="const", data=np.arange(shape[axis], dtype=dtype))
        view = [1] * len(shape)
        view[axis] = shape[axis]
        return line.reshape(tuple(view)).broadcast_to(shape)


class Take(Op):
    """Gather along `axis` with integer indices (embedding lookup): x.shape[:axis] + idx.shape + x.shape[axis+1:]."""

    name, kind, value_inputs = "take", "movement", (0,)

    def normalize(self, inputs, attrs):
        x, idx = inputs
        attrs["axis"] = shapes.normalize_axis(int(attrs.get("axis", 0)), x.ndim)
        return attrs

    def shape(self, x, idx, *, axis):
        if not dtypes.is_int(idx.dtype):
            raise ShapeError(f"indices must be integers, got {idx.dtype}")
        return x.shape[:axis] + idx.shape + x.shape[axis + 1:]

    def dtype(self, x, idx, *, axis):
        return x.dtype

    def reference(self, x, idx, *, axis):
        n = x.shape[axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"take: index out of range [{-n}, {n}) along axis {axis}: min {idx.min()}, max {idx.max()}")
        return np.take(x, idx, axis=axis)

    def lower(self, ctx, x, idx, *, axis):
        from ..program import Gather

        out = ctx.out()
        ctx.emit(Gather(out, (x, idx), axis=axis))
        return out

    def vjp(self, g, y, x, idx, *, axis):
        return [TAKE_ADJOINT(g, idx, axis=axis, size=x.shape[axis]), None]

    def vjp_label(self, index, out, inputs):
        return f"{out} scatter-added at the indices {inputs[1]}" if index == 0 else "none (indices)"


class TakeAdjoint(Op):
    """The adjoint of take: scatter-add the rows of g into zeros at the given indices."""

    name, kind, value_inputs = "take_adjoint", "movement", (0,)

    def shape(self, g, idx, *, axis, size):
        return g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:]

    def dtype(self, g, idx, **attrs):
        return g.dtype

    def reference(self, g, idx, *, axis, size):
        out_shape = g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:]
        out = np.zeros(out_shape, g.dtype)
        moved = np.moveaxis(out, axis, 0)
        gm = g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim:])
        np.add.at(moved, idx.reshape(-1) % size, np.moveaxis(gm, axis, 0))
        return out

    def lower(self, ctx, g, idx, *, axis, size):
        from ..program import ScatterAdd

        out = ctx.fill(ctx.out(), 0.0)
        ctx.emit(ScatterAdd(out, (g, idx), axis=axis))
        return out

    def vjp(self, c, y, g, idx, *, axis, size):
        return [TAKE(c, idx, axis=axis), None]

    def vjp_label(self, index, out, inputs):
        return f"{out} gathered at the indices {inputs[1]}" if index == 0 else "none (indices)"


RESHAPE, TRANSPOSE, BROADCAST_TO = register(Reshape), register(Transpose), register(BroadcastTo)
SLICE, UNSLICE, PAD, CONCAT = register(Slice), register(Unslice), register(Pad), register(Concat)
IOTA, TAKE, TAKE_ADJOINT = register(Iota), register(Take), register(TakeAdjoint)


# -- the DSL functions -------------------------------------------------------------
def reshape(x, shape, name=None):
    """Reshape (one dim may be -1); symbolic dims are carried through exactly."""
    from ..tensor import as_tensor

    x = as_tensor(x)
    target = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if len(target) == x.ndim and -1 not in target and all(shapes.dims_equal(a, shapes.as_dim(b)) for a, b in zip(x.shape, target)):
        return x
    return RESHAPE(x, shape=target, name=name)


def transpose(x, axes=None, name=None):
    return TRANSPOSE(x, perm=axes, name=name)


def permute(x, *axes, name=None):
    return TRANSPOSE(x, perm=axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes, name=name)


def swapaxes(x, a: int, b: int, name=None):
    perm = list(range(x.ndim))
    a, b = shapes.normalize_axis(a, x.ndim), shapes.normalize_axis(b, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return TRANSPOSE(x, perm=tuple(perm), name=name)


def broadcast_to(x, shape, name=None):
    from ..tensor import as_tensor

    x = as_tensor(x)
    shape = shapes.as_shape(shape)
    if len(shape) == x.ndim and all(shapes.dims_equal(a, b) for a, b in zip(x.shape, shape)):
        return x
    return BROADCAST_TO(x, shape=shape, name=name)


def expand_dims(x, axis: int, name=None):
    from ..tensor import as_tensor

    x = as_tensor(x)
    axis = shapes.normalize_axis(axis, x.ndim + 1)
    return RESHAPE(x, shape=x.shape[:axis] + (1,) + x.shape[axis:], name=name)


def squeeze(x, axis=None, name=None):
    from ..tensor import as_tensor

    x = as_tensor(x)
    axes = [i for i, d in enumerate(x.shape) if isinstance(d, int) and d == 1] if axis is None else shapes.normalize_axes(axis, x.ndim)
    for a in axes:
        if not (isinstance(x.shape[a], int) and x.shape[a] == 1):
            raise ShapeError(f"squeeze of {_fmt(x.shape)}: axis {a} has size {shapes.fmt_dim(x.shape[a])}, not 1")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes), name=name)


def concat(xs, axis: int = 0, name=None):
    xs = list(xs)
    return xs[0] if len(xs) == 1 else CONCAT(*xs, axis=axis, name=name)


concatenate = concat


@composite("stack", lambda xs, axis=0: np.stack(xs, axis=axis))
def stack(xs, axis: int = 0, name=None):
    from ..tensor import as_tensor

    xs = [as_tensor(x) for x in xs]
    axis = shapes.normalize_axis(axis, xs[0].ndim + 1)
    return concat([expand_dims(x, axis) for x in xs], axis=axis, name=name)


@composite("split", lambda x, sections, axis=0: np.split(x, sections, axis=axis))
def split(x, sections, axis: int = 0):
    """Split into equal `sections` (an int) or at the given indices (a list), like np.split."""
    from ..tensor import as_tensor

    x = as_tensor(x)
    axis = shapes.normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if not isinstance(n, int):
        raise ShapeError(f"split along symbolic axis {axis} of {_fmt(x.shape)}")
    if isinstance(sections, int):
        if n % sections:
            raise ShapeError(f"split of {_fmt(x.shape)} into {sections} equal parts along axis {axis}: {n} is not divisible")
        bounds = [i * n // sections for i in range(sections + 1)]
    else:
        bounds = [0] + [int(i) for i in sections] + [n]
    return [slice_axis(x, axis, a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def slice_axis(x, axis, start, stop, step=1):
    starts = tuple(start if i == axis else 0 for i in range(x.ndim))
    stops = tuple(stop if i == axis else d for i, d in enumerate(x.shape))
    steps = tuple(step if i == axis else 1 for i in range(x.ndim))
    return SLICE(x, starts=starts, stops=stops, steps=steps)


@composite("flip", lambda x, axis=None: np.flip(x, axis=axis))
def flip(x, axis=None, name=None):
    from ..tensor import as_tensor

    x = as_tensor(x)
    axes = shapes.normalize_axes(axis, x.ndim)
    for a in axes:
        if not isinstance(x.shape[a], int):
            raise ShapeError(f"flip along symbolic axis {a} of {_fmt(x.shape)}")
    starts = tuple(x.shape[i] - 1 if i in axes else 0 for i in range(x.ndim))
    stops = tuple(-1 if i in axes else d for i, d in enumerate(x.shape))
    steps = tuple(-1 if i in axes else 1 for i in range(x.ndim))
    return SLICE(x, starts=starts, stops=stops, steps=steps, name=name)


def pad(x, pads, value=0.0, name=None):
    """Constant padding; `pads` is an int (every side) or one (before, after) pair per axis."""
    return PAD(x, pads=pads, value=value, name=name)


def take(x, indices, axis: int = 0, name=None):
    from ..tensor import as_tensor

    idx = indices if hasattr(indices, "node") else as_tensor(np.asarray(indices, dtype=np.int64))
    return TAKE(x, idx, axis=axis, name=name)


gather = take


def iota(shape, axis: int = 0, dtype=dtypes.int64, name=None):
    return IOTA(shape=shape, axis=axis, dtype=dtype, name=name)


def _np_one_hot(idx, depth, dtype=np.float32):
    return (np.asarray(idx)[..., None] == np.arange(depth)).astype(dtype)


@composite("one_hot", _np_one_hot)
def one_hot(indices, depth: int, dtype=dtypes.DEFAULT_FLOAT, name=None):
    """One-hot encoding along a new last axis: `indices` (ints) -> (..., depth)."""
    from ..tensor import as_tensor
    from .math import cast, eq

    idx = indices if hasattr(indices, "node") else as_tensor(np.asarray(indices, dtype=np.int64))
    hot = eq(expand_dims(idx, -1), iota((depth,), 0, idx.dtype))
    return cast(hot, dtype, name=name)


def getitem(x, index):
    """Basic NumPy indexing: ints, slices with steps, None, Ellipsis; one int array/tensor gathers along its axis."""
    from ..tensor import Tensor

    if not isinstance(index, tuple):
        index = (index,)
    arrays = [i for i, ix in enumerate(index) if isinstance(ix, (Tensor, np.ndarray, list))]
    if arrays:
        if len(index) != 1:
            raise ShapeError("indexing with an array is supported on its own (x[idx]); use gc.take(x, idx, axis)")
        return take(x, index[0], axis=0)
    n_real = sum(1 for ix in index if ix is not None and ix is not Ellipsis)
    if n_real > x.ndim:
        raise ShapeError(f"too many indices ({n_real}) for {_fmt(x.shape)}")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - n_real) + index[k + 1:]
    index = index + (slice(None),) * (x.ndim - sum(1 for ix in index if ix is not None))
    starts, stops, steps, out_shape, axis = [], [], [], [], 0
    for ix in index:
        if ix is None:
            out_shape.append(1)
            continue
        d = x.shape[axis]
        if isinstance(ix, slice):
            if not isinstance(d, int):
                if ix not in (slice(None), slice(None, None, 1), slice(0, None, None)):
                    raise ShapeError(f"slicing symbolic axis {axis} of {_fmt(x.shape)} with bounds is not supported")
                starts.append(0), stops.append(d), steps.append(1)
            else:
                a, b, c = ix.indices(d)
                starts.append(a), stops.append(b), steps.append(c)
            out_shape.append(_slice_len(starts[-1], stops[-1], steps[-1]))
        else:
            i = int(ix)
            if isinstance(d, int):
                if not -d <= i < d:
                    raise ShapeError(f"index {i} is out of bounds for axis {axis} of {_fmt(x.shape)}")
                i %= d
            elif i < 0:
                raise ShapeError(f"negative index {i} on symbolic axis {axis} of {_fmt(x.shape)}")
            starts.append(i), stops.append(i + 1), steps.append(1)
        axis += 1
    out = x
    if any(a != 0 or c != 1 or not shapes.dims_equal(b, d) for a, b, c, d in zip(starts, stops, steps, x.shape)):
        out = SLICE(x, starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))
    return reshape(out, tuple(out_shape))
