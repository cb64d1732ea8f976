"""Accesses: how a kernel reaches its buffers. A Buffer is a flat array; an access maps a point of the kernel's
iteration domain to a flat element index of one buffer:
- `View`: an affine window (offset + Σ index·stride): transposes, broadcasts (stride 0), slices (negative
  strides too) and convolution windows are all views;
- `Chain`: a View followed by movement steps that no stride pattern expresses (a reshape of a transposed
  window view, say); its index uses floor division and modulo;
- `Gather`: a View with one axis replaced by a value loaded from another buffer (take).
`flat_index` is duck-typed: called with ints, NumPy index arrays, sympy symbols or IR values it gives the
index as the same kind of value, so printers and `verify` share one definition. A `Load` names one read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .shapes import contiguous_strides


@dataclass(eq=False)
class Buffer:
    """A flat array of `size` elements of `dtype`; `data` holds a constant's contents, `var` a parameter's storage."""

    id: int
    name: str
    dtype: np.dtype
    size: int
    role: str
    data: np.ndarray | None = None
    var: object = None
    offset: int | None = None  # byte offset in the arena (temporaries; set by the memory plan)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __repr__(self):
        return f"{self.name}[{self.size}]:{self.dtype}"


def injective(shape, strides) -> bool:
    """A sufficient test that distinct indices of a strided view reach distinct elements (no overlap)."""
    live = sorted((abs(s), d) for d, s in zip(shape, strides) if d > 1)
    reach = 0
    for s, d in live:
        if s == 0 or s <= reach:
            return False
        reach += s * (d - 1)
    return True


def ravel(index, shape):
    """The C-order flat position of a multi-index (ints, arrays or symbols)."""
    flat = 0
    for i, d in zip(index, shape):
        flat = flat * d + i
    return flat


def unravel(flat, shape):
    """The multi-index of a C-order flat position: floor division and modulo."""
    out = []
    for d in reversed(shape):
        out.append(flat % d if d != 1 else 0)
        flat = flat // d
    return tuple(reversed(out))


@dataclass(frozen=True, eq=False)
class View:
    """An affine window on a buffer: element [i0, i1, ...] lives at offset + sum(i_k * strides[k])."""

    buffer: Buffer
    shape: tuple
    strides: tuple
    offset: int = 0

    @classmethod
    def whole(cls, buffer: Buffer, shape) -> "View":
        return cls(buffer, tuple(shape), contiguous_strides(shape), 0)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_contiguous(self) -> bool:
        live = [(d, s) for d, s in zip(self.shape, self.strides) if d != 1]
        return [s for _, s in live] == [s for d, s in zip(self.shape, contiguous_strides(self.shape)) if d != 1]

    @property
    def is_whole(self) -> bool:
        """True when the view is the entire buffer in C order (a plain reshape of it)."""
        return self.offset == 0 and self.size == self.buffer.size and self.is_contiguous

    def key(self) -> tuple:
        return (self.buffer.id, self.shape, self.strides, self.offset)

    def flat_index(self, index, loads=None):
        out = self.offset
        for i, s, d in zip(index, self.strides, self.shape):
            if s and d != 1:
                out = out + i * s
        return out

    def index_range(self) -> tuple[int, int]:
        """The lowest and highest element index the view touches."""
        lo = hi = self.offset
        for d, s in zip(self.shape, self.strides):
            if d > 1:
                span = s * (d - 1)
                lo, hi = (lo + span, hi) if span < 0 else (lo, hi + span)
        return lo, hi

    # -- view algebra (each returns a new access over the same buffer) ---------------
    def transpose(self, perm) -> "View":
        return View(self.buffer, tuple(self.shape[p] for p in perm), tuple(self.strides[p] for p in perm), self.offset)

    def broadcast_to(self, shape) -> "View":
        shape = tuple(shape)
        lead = len(shape) - len(self.shape)
        strides = [0] * lead
        for d_old, s, d_new in zip(self.shape, self.strides, shape[lead:]):
            strides.append(s if d_old == d_new else 0)
        return View(self.buffer, shape, tuple(strides), self.offset)

    def slice(self, starts, stops, steps) -> "View":
        offset = self.offset + sum(a * s for a, s in zip(starts, self.strides))
        shape = tuple(len(range(a, b, c)) for a, b, c in zip(starts, stops, steps))
        return View(self.buffer, shape, tuple(s * c for s, c in zip(self.strides, steps)), offset)

    def placed(self, shape, starts) -> "View":
        """The view of `shape` whose element p is this view's element p - starts (meaningful only where that
        lies inside this view: a load through it carries the valid box)."""
        return View(self.buffer, tuple(shape), self.strides, self.offset - sum(a * s for a, s in zip(starts, self.strides)))

    def windows(self, kernel, stride, dilation) -> "View":
        """(N, C, *S) -> (N, C, *out, *kernel): the im2col view of convolution windows."""
        sp, st = self.shape[2:], self.strides[2:]
        out = tuple((s - d * (kk - 1) - 1) // step + 1 for s, kk, step, d in zip(sp, kernel, stride, dilation))
        return View(self.buffer, self.shape[:2] + out + tuple(kernel),
                    self.strides[:2] + tuple(a * b for a, b in zip(st, stride)) + tuple(a * b for a, b in zip(st, dilation)),
                    self.offset)

    def reshape(self, shape) -> "View | Chain":
        """The same elements in a new shape: a View when strides can express it, else a Chain (no copy)."""
        shape = tuple(shape)
        affine = self._affine_reshape(shape)
        return affine if affine is not None else Chain(self, (("reshape", shape),), shape)

    def _affine_reshape(self, shape) -> "View | None":
        if self.is_contiguous:
            return View(self.buffer, shape, contiguous_strides(shape), self.offset)
        old = [(d, s) for d, s in zip(self.shape, self.strides) if d != 1]
        new_strides, i = [], 0
        for d in shape:  # merge/split runs of old axes that are contiguous with each other
            if d == 1:
                new_strides.append(0)
                continue
            if i >= len(old):
                return None
            run, stride = old[i][0], old[i][1]
            i += 1
            while run < d and i < len(old) and old[i - 1][1] == old[i][0] * old[i][1]:
                run, stride = run * old[i][0], old[i][1]
                i += 1
            if run == d:
                new_strides.append(stride)
            elif run > d and run % d == 0:  # split one old axis into (d, run // d)
                old.insert(i, (run // d, stride))
                new_strides.append(stride * (run // d))
            else:
                return None
        return View(self.buffer, shape, tuple(new_strides), self.offset) if i == len(old) else None

    def __repr__(self):
        return f"{self.buffer.name}{list(self.shape)}@{self.offset}:{list(self.strides)}"


@dataclass(frozen=True, eq=False)
class Chain:
    """A View followed by movement steps (reshape, transpose, broadcast, slice) that strides cannot express."""

    base: View
    steps: tuple
    shape: tuple

    @property
    def buffer(self) -> Buffer:
        return self.base.buffer

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def key(self) -> tuple:
        return (self.base.key(), self.steps)

    def flat_index(self, index, loads=None):
        shape = self.shape
        for (kind, arg), before in zip(reversed(self.steps), reversed(self._shapes())):
            if kind == "reshape":
                index = unravel(ravel(index, shape), before)
            elif kind == "transpose":
                inverse = [0] * len(arg)
                for k, p in enumerate(arg):
                    inverse[p] = index[k]
                index = tuple(inverse)
            elif kind == "broadcast":
                lead = len(shape) - len(before)
                index = tuple(0 if d == 1 else i for i, d in zip(index[lead:], before))
            elif kind == "slice":
                index = tuple(a + i * c for i, (a, c, _) in zip(index, arg))  # (start, step, length) per axis
            shape = before
        return self.base.flat_index(index)

    def _shapes(self) -> list[tuple]:
        """The shape before each step."""
        out, shape = [], self.base.shape
        for kind, arg in self.steps:
            out.append(shape)
            shape = _step_shape(kind, arg, shape)
        return out

    def index_range(self) -> tuple[int, int]:
        return self.base.index_range()  # movement steps only select or repeat the base view's elements

    def _then(self, kind, arg) -> "Chain":
        return Chain(self.base, self.steps + ((kind, arg),), _step_shape(kind, arg, self.shape))

    def transpose(self, perm) -> "Chain":
        return self._then("transpose", tuple(perm))

    def broadcast_to(self, shape) -> "Chain":
        return self if tuple(shape) == self.shape else self._then("broadcast", tuple(shape))

    def slice(self, starts, stops, steps) -> "Chain":
        return self._then("slice", tuple((a, c, len(range(a, b, c))) for a, b, c in zip(starts, stops, steps)))

    def reshape(self, shape) -> "Chain":
        return self if tuple(shape) == self.shape else self._then("reshape", tuple(shape))

    def windows(self, kernel, stride, dilation):
        return None  # a window over a chain needs the chain materialised first (the lowering does it)

    def __repr__(self):
        return f"{self.base!r}" + "".join(f".{k}{a}" for k, a in self.steps)


def _step_shape(kind, arg, shape):
    if kind in ("reshape", "broadcast"):
        return tuple(arg)
    if kind == "transpose":
        return tuple(shape[p] for p in arg)
    return tuple(n for _, _, n in arg)  # slice: (start, step, length) per axis


@dataclass(frozen=True, eq=False)
class Gather:
    """`base` (a View) with axis `axis` indexed by the values of load `index` (rank `rank` in the domain).

    Domain point p reads base[p[:axis], index(p) mod n, p[axis + rank:]]: negative indices wrap as in
    NumPy, and the Loop's `checks` refuse values outside [-n, n) before anything is read."""

    base: View
    axis: int
    index: str
    rank: int
    shape: tuple

    @property
    def buffer(self) -> Buffer:
        return self.base.buffer

    def key(self) -> tuple:
        return (self.base.key(), self.axis, self.index, self.rank)

    def flat_index(self, index, loads):
        n = self.base.shape[self.axis]
        picked = loads[self.index] % n
        return self.base.flat_index(tuple(index[:self.axis]) + (picked,) + tuple(index[self.axis + self.rank:]))

    def index_range(self) -> tuple[int, int]:
        return self.base.index_range()

    def __repr__(self):
        return f"{self.base!r}[axis {self.axis} <- {self.index}]"


@dataclass(frozen=True, eq=False)
class Load:
    """A named read of `access` at every domain point; outside the box `valid` (per-axis [lo, hi)) it yields `fill`."""

    name: str
    access: View | Chain | Gather
    valid: tuple | None = None
    fill: float = 0.0

    @property
    def buffer(self) -> Buffer:
        return self.access.buffer
