"""The lowered IR: a Program of flat buffers and an ordered list of kernels over affine views.

A View is an affine index map into a flat buffer (offset + sum(index_i * stride_i), in
elements): transposes, broadcasts (stride 0), slices with steps (negative strides) and
convolution windows are all views, so they cost nothing until a kernel reads them. Kernels
are few: Fill, Map (an elementwise sympy body over views), Reduce, MatMul, Gather,
ScatterAdd and Random. Every backend prints exactly these. `verify(program)` proves every
view of every kernel stays inside its buffer, which is what keeps native backends memory-safe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import GraphError

ROLES = ("input", "param", "const", "output", "temp")


@dataclass(eq=False)
class Buffer:
    """A flat array of `size` elements of `dtype`; `data` holds a constant's contents."""

    id: int
    name: str
    dtype: np.dtype
    size: int
    role: str
    data: np.ndarray | None = None
    var: object = None  # the parameter's Variable (role 'param')

    def __repr__(self):
        return f"{self.name}[{self.size}]:{self.dtype}"


def contiguous_strides(shape) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))


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

    def index_range(self) -> tuple[int, int]:
        """The lowest and highest element index the view touches."""
        lo = hi = self.offset
        for d, s in zip(self.shape, self.strides):
            if d > 1:
                span = s * (d - 1)
                lo, hi = (lo + span, hi) if span < 0 else (lo, hi + span)
        return lo, hi

    # -- view algebra (each returns a new View over the same buffer) -------------
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

    def windows(self, kernel, stride, dilation) -> "View":
        """(N, C, *S) -> (N, C, *out, *kernel): the im2col view of convolution windows."""
        sp, st = self.shape[2:], self.strides[2:]
        out = tuple((s - d * (kk - 1) - 1) // step + 1 for s, kk, step, d in zip(sp, kernel, stride, dilation))
        return View(self.buffer, self.shape[:2] + out + tuple(kernel),
                    self.strides[:2] + tuple(a * b for a, b in zip(st, stride)) + tuple(a * b for a, b in zip(st, dilation)),
                    self.offset)

    def reshape(self, shape) -> "View | None":
        """The same elements in a new shape without copying, or None when strides cannot express it."""
        shape = tuple(shape)
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


@dataclass(eq=False)
class Kernel:
    out: View
    inputs: tuple = ()
    label: str = ""  # the graph node it implements, for listings and debug messages

    @property
    def views(self):
        return (self.out,) + tuple(self.inputs)


@dataclass(eq=False)
class Fill(Kernel):
    value: float = 0.0


@dataclass(eq=False)
class Map(Kernel):
    """out[i] (+)= body(inputs[0][i], inputs[1][i], ...): every input view has out's shape."""

    body: object = None          # a sympy expression over `args`
    args: tuple = ()
    accumulate: bool = False


@dataclass(eq=False)
class Reduce(Kernel):
    """out = op over `axes` of inputs[0] (shape = the domain); out has the domain shape with those axes at 1."""

    op: str = "sum"              # sum | max | min | prod | argmax | argmin
    axes: tuple = ()


@dataclass(eq=False)
class MatMul(Kernel):
    """out[..., i, j] = sum_k a[..., i, k] * b[..., k, j]; batch dims already broadcast in the views."""


@dataclass(eq=False)
class Gather(Kernel):
    """out = take(inputs[0], inputs[1], axis): an indirect load."""

    axis: int = 0


@dataclass(eq=False)
class ScatterAdd(Kernel):
    """out (pre-filled) += rows of inputs[0] at the indices inputs[1] along axis."""

    axis: int = 0


@dataclass(eq=False)
class Random(Kernel):
    """out = samples of `dist` from the counter-based generator (see graphc.ops.random)."""

    dist: str = "uniform"
    seed: int = 0


@dataclass(eq=False)
class Program:
    buffers: list = field(default_factory=list)
    kernels: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)     # input name -> Buffer
    outputs: list = field(default_factory=list)    # Views
    updates: list = field(default_factory=list)    # (param Buffer, View of its new value)
    bindings: dict = field(default_factory=dict)

    def __str__(self):
        lines = [f"program ({', '.join(f'{k}={v}' for k, v in self.bindings.items())})"]
        for b in self.buffers:
            lines.append(f"  buffer {b.name}: {b.dtype}[{b.size}] {b.role}")
        for k in self.kernels:
            lines.append(f"  {type(k).__name__.lower()} {_fmt_view(k.out)} <- {', '.join(_fmt_view(v) for v in k.inputs)}"
                         f"{'  # ' + k.label if k.label else ''}")
        return "\n".join(lines)


def _fmt_view(v: View) -> str:
    return f"{v.buffer.name}{list(v.shape)}@{v.offset}:{list(v.strides)}"


def verify(program: Program) -> Program:
    """Check that every view of every kernel lies inside its buffer and kernels' shapes agree."""
    problems = []
    for k in program.kernels:
        for v in k.views:
            if v.size == 0:
                continue
            lo, hi = v.index_range()
            if lo < 0 or hi >= v.buffer.size:
                problems.append(f"{type(k).__name__} {k.label or ''}: view of {v.buffer.name} reaches elements "
                                f"[{lo}, {hi}] outside [0, {v.buffer.size})")
        if isinstance(k, Map) and any(v.shape != k.out.shape for v in k.inputs):
            problems.append(f"Map {k.label}: input shapes {[v.shape for v in k.inputs]} differ from output {k.out.shape}")
    for v in program.outputs + [v for _, v in program.updates]:
        lo, hi = v.index_range()
        if v.size and (lo < 0 or hi >= v.buffer.size):
            problems.append(f"output view of {v.buffer.name} reaches [{lo}, {hi}] outside [0, {v.buffer.size})")
    if problems:
        raise GraphError("program failed verification:\n  " + "\n  ".join(problems))
    return program
