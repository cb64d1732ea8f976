"""Movement ops: reshape, transpose, broadcast (and its adjoint, sum_to_shape), slicing (and its adjoint), pad,
concat, stack, split, flip."""
from __future__ import annotations

import operator

import numpy as np
import sympy

from .. import dtypes, shapes
from ..scalar_ops import INDEX
from ..errors import DTypeError, ShapeError
from ..ir import Node
from .registry import REGISTRY, Op, as_node, composite, register


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
        perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(shapes.normalize_axis(p, x.ndim, "perm entry") for p in perm)
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
        out = ctx.out()
        ctx.copy(g, out.slice(starts, stops, steps), init=0)
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
        pads = tuple((shapes.as_int(a, "padding"), shapes.as_int(b, "padding")) for a, b in pads)
        if len(pads) != x.ndim or any(a < 0 or b < 0 for a, b in pads):
            raise ShapeError(f"pad of {_fmt(x.shape)} needs {x.ndim} non-negative (before, after) pairs, got {pads}")
        attrs["pads"] = pads
        value = attrs.get("value", 0.0)
        if isinstance(value, (bool, np.bool_)) or x.dtype.kind == "b":
            attrs["value"] = float(value) if x.dtype.kind != "b" else float(bool(value))
        elif x.dtype.kind in "iu":  # exactly, and only a value the integer type holds (no silent wrap)
            info = np.iinfo(x.dtype)
            if not float(value).is_integer() or not info.min <= int(value) <= info.max:
                raise DTypeError(f"pad value {value!r} is not a {x.dtype} (in [{info.min}, {info.max}])")
            attrs["value"] = int(value)
        else:
            attrs["value"] = float(value)
        return attrs

    def shape(self, x, *, pads, value):
        return tuple(shapes.simplify_dim(d + a + b) for d, (a, b) in zip(x.shape, pads))

    def dtype(self, x, **attrs):
        return x.dtype

    def fills_nonfinite(self, *, value, **attrs) -> bool:
        return not np.isfinite(value)  # -inf around a max pool's input is the point, not an error

    def reference(self, x, *, pads, value):
        return np.pad(x, pads, constant_values=np.asarray(value).astype(x.dtype))

    def lower(self, ctx, x, *, pads, value):
        return ctx.padded(x, pads, value)

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
        attrs["axis"] = shapes.normalize_axis(attrs.get("axis", 0), inputs[0].ndim)
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
        """One Loop over the output: each input is a load valid on its part of the axis, chosen by position."""
        out, offset, loads = ctx.out(), 0, []
        for i, x in enumerate(xs):
            end = offset + x.shape[axis]
            starts = tuple(offset if k == axis else 0 for k in range(len(out.shape)))
            box = tuple((offset, end) if k == axis else (0, d) for k, d in enumerate(out.shape))
            loads.append(ctx.load(f"a{i}", ctx.materialize(x).placed(out.shape, starts), box))
            offset = end

        def choose(b, ops):
            value, bound = ops[-1], offset - xs[-1].shape[axis]
            for part, x in zip(reversed(ops[:-1]), reversed(xs[:-1])):
                value = b.where(b.compare("lt", b.axis(axis), b.const(bound, INDEX)), part, value)
                bound -= x.shape[axis]
            return value

        ctx.loop(out.shape, loads, ctx.body(loads, choose, out.buffer.dtype), out)
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


RESHAPE, TRANSPOSE, BROADCAST_TO = register(Reshape), register(Transpose), register(BroadcastTo)
SLICE, UNSLICE, PAD, CONCAT = register(Slice), register(Unslice), register(Pad), register(Concat)


# -- the op functions (on nodes) -------------------------------------------------------------
def reshape(x, shape, name=None) -> Node:
    """Reshape (one dim may be -1); symbolic dims are carried through exactly."""
    x = as_node(x)
    target = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if len(target) == x.ndim and -1 not in target and all(shapes.dims_equal(a, shapes.as_dim(b)) for a, b in zip(x.shape, target)):
        return x
    return RESHAPE(x, shape=target, name=name)


def transpose(x, axes=None, name=None):
    return TRANSPOSE(x, perm=axes, name=name)


def permute(x, *axes, name=None):
    return TRANSPOSE(x, perm=axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes, name=name)


def swapaxes(x, a: int, b: int, name=None):
    x = as_node(x)
    perm = list(range(x.ndim))
    a, b = shapes.normalize_axis(a, x.ndim), shapes.normalize_axis(b, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return TRANSPOSE(x, perm=tuple(perm), name=name)


def broadcast_to(x, shape, name=None):
    x = as_node(x)
    shape = shapes.as_shape(shape)
    if len(shape) == x.ndim and all(shapes.dims_equal(a, b) for a, b in zip(x.shape, shape)):
        return x
    return BROADCAST_TO(x, shape=shape, name=name)


def expand_dims(x, axis: int, name=None):
    x = as_node(x)
    axis = shapes.normalize_axis(axis, x.ndim + 1)
    return RESHAPE(x, shape=x.shape[:axis] + (1,) + x.shape[axis:], name=name)


def squeeze(x, axis=None, name=None):
    x = as_node(x)
    axes = [i for i, d in enumerate(x.shape) if isinstance(d, int) and d == 1] if axis is None else shapes.normalize_axes(axis, x.ndim)
    for a in axes:
        if not (isinstance(x.shape[a], int) and x.shape[a] == 1):
            raise ShapeError(f"squeeze of {_fmt(x.shape)}: axis {a} has size {shapes.fmt_dim(x.shape[a])}, not 1")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes), name=name)


def concat(xs, axis: int = 0, name=None):
    xs = list(xs)
    return as_node(xs[0]) if len(xs) == 1 else CONCAT(*xs, axis=axis, name=name)


concatenate = concat


@composite("stack", lambda xs, axis=0: np.stack(xs, axis=axis))
def stack(xs, axis: int = 0, name=None):
    xs = [as_node(x) for x in xs]
    axis = shapes.normalize_axis(axis, xs[0].ndim + 1)
    return concat([expand_dims(x, axis) for x in xs], axis=axis, name=name)


@composite("split", lambda x, sections, axis=0: np.split(x, sections, axis=axis))
def split(x, sections, axis: int = 0):
    """Split into equal `sections` (an int) or at the given indices (a list), like np.split."""
    x = as_node(x)
    axis = shapes.normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if not isinstance(n, int):
        raise ShapeError(f"split along symbolic axis {axis} of {_fmt(x.shape)}")
    if not isinstance(sections, (tuple, list)):
        sections = shapes.as_int(sections, "split: the number of sections")
        if sections < 1:
            raise ShapeError(f"split into {sections} sections: the number of sections must be at least 1")
        if n % sections:
            raise ShapeError(f"split of {_fmt(x.shape)} into {sections} equal parts along axis {axis}: {n} is not divisible")
        bounds = [i * n // sections for i in range(sections + 1)]
    else:
        bounds = [0] + [shapes.as_int(i, "split point") for i in sections] + [n]
    return [slice_axis(x, axis, a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def slice_bounds(x, axis: int, ix: slice) -> tuple:
    """(start, stop, step) of the Python slice `ix` on axis `axis` of x, as the slice op takes them:
    bounds must be integers, the step non-zero; a step past the end is the axis length (one element)."""
    for bound in (ix.start, ix.stop, ix.step):
        if bound is not None:
            shapes.as_int(bound, f"slice bound {bound!r} on axis {axis} of {_fmt(x.shape)}")
    if ix.step is not None and operator.index(ix.step) == 0:
        raise ShapeError(f"slice step 0 on axis {axis} of {_fmt(x.shape)}: a step must not be zero")
    d = x.shape[axis]
    if not isinstance(d, int):
        if ix not in (slice(None), slice(None, None, 1), slice(0, None, None)):
            raise ShapeError(f"slicing symbolic axis {axis} of {_fmt(x.shape)} with bounds is not supported")
        return 0, d, 1
    a, b, c = ix.indices(d)
    if d and abs(c) > d:
        c = d if c > 0 else -d
    return a, b, c


def slice_axis(x, axis: int, start: int | None, stop: int | None, step: int | None = 1):
    """x[..., start:stop:step, ...] along `axis`, with Python's meaning of negative and None bounds."""
    x = as_node(x)
    axis = shapes.normalize_axis(axis, x.ndim)
    a, b, c = slice_bounds(x, axis, slice(start, stop, step))
    starts = tuple(a if i == axis else 0 for i in range(x.ndim))
    stops = tuple(b if i == axis else d for i, d in enumerate(x.shape))
    steps = tuple(c if i == axis else 1 for i in range(x.ndim))
    return SLICE(x, starts=starts, stops=stops, steps=steps)


@composite("flip", lambda x, axis=None: np.flip(x, axis=axis))
def flip(x, axis=None, name=None):
    x = as_node(x)
    axes = shapes.normalize_axes(axis, x.ndim)
    for a in axes:
        if not isinstance(x.shape[a], int):
            raise ShapeError(f"flip along symbolic axis {a} of {_fmt(x.shape)}")
    starts = tuple(x.shape[i] - 1 if i in axes else 0 for i in range(x.ndim))
    stops = tuple(-1 if i in axes else d for i, d in enumerate(x.shape))
    steps = tuple(-1 if i in axes else 1 for i in range(x.ndim))
    return SLICE(x, starts=starts, stops=stops, steps=steps, name=name)


PAD_MODES = ("constant", "edge", "reflect", "wrap")


def pad(x, pads, value: float = 0.0, mode: str = "constant", name=None):
    """Padding; `pads` is an int (every side) or one (before, after) pair per axis. mode: 'constant' (`value`),
    'edge' (the border element repeated), 'reflect' (mirrored without the border: at most n - 1 per side) or
    'wrap' (the other end's elements: at most n per side), as np.pad."""
    if mode == "constant":
        return PAD(x, pads=pads, value=value, name=name)
    if mode not in PAD_MODES:
        raise ShapeError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    x = as_node(x)
    pairs = ((pads, pads),) * x.ndim if isinstance(pads, int) else tuple(tuple(p) for p in pads)
    if len(pairs) != x.ndim or any(shapes.as_int(a, "padding") < 0 or shapes.as_int(b, "padding") < 0 for a, b in pairs):
        raise ShapeError(f"pad of {_fmt(x.shape)} needs {x.ndim} non-negative (before, after) pairs, got {pads}")
    for axis, (before, after) in enumerate(pairs):
        if not before and not after:
            continue
        n = x.shape[axis]
        limit = n - 1 if mode == "reflect" else n
        if not isinstance(n, int) or n == 0 or max(before, after) > limit:
            raise ShapeError(f"{mode} padding of axis {axis} of {_fmt(x.shape)} by {(before, after)}: needs a static, "
                             f"non-empty axis and at most {limit} per side")
        parts = [x]
        if mode == "edge":
            for count, at, where in ((before, 0, 0), (after, n - 1, 1)):
                if count:
                    edge = slice_axis(x, axis, at, at + 1)
                    shape = tuple(count if a == axis else d for a, d in enumerate(x.shape))
                    parts.insert(0 if where == 0 else len(parts), broadcast_to(edge, shape))
        elif mode == "reflect":
            if before:
                parts.insert(0, flip(slice_axis(x, axis, 1, before + 1), axis))
            if after:
                parts.append(flip(slice_axis(x, axis, n - 1 - after, n - 1), axis))
        else:  # wrap
            if before:
                parts.insert(0, slice_axis(x, axis, n - before, n))
            if after:
                parts.append(slice_axis(x, axis, 0, after))
        x = concat(parts, axis=axis)
    return x


def sum_to_shape(g, shape):
    """Sum a broadcast cotangent back to an operand's `shape` (the adjoint of broadcasting)."""
    shape = tuple(shape)
    if len(g.shape) == len(shape) and all(shapes.dims_equal(a, b) for a, b in zip(g.shape, shape)):
        return g
    lead = len(g.shape) - len(shape)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(shape)
                                if isinstance(d, int) and d == 1 and not (isinstance(g.shape[lead + i], int) and g.shape[lead + i] == 1)]
    # sum by name: graphc.ops.reduce builds on this module (its VJPs reshape and broadcast)
    out = REGISTRY["sum"](g, axes=tuple(axes), keepdims=True) if axes else g
    return reshape(out, shape)
