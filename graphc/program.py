"""The lowered IR: a Program of buffers and kernels of two kinds, Loop and Gemm, over accesses (graphc.access).

A Program is one graph compiled for one shape binding. Its buffers are flat arrays; the
externals (inputs, parameters, optimiser state, constants, outputs) are the calling
convention, the temporaries live at an `offset` in one arena. `Loop` is an iteration domain
with parallel and reduction axes, named loads, a typed scalar body (`graphc.scalar_ops.Body`),
a combine operation and one store; `Gemm` is a batched matrix product with an optional
epilogue. Every buffer has exactly one writer. `listing` is the Program as text for people,
`fingerprint` as a canonical key for compiled-code caches.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np

from . import dtypes
from .access import Buffer, Chain, Gather, Load, View, injective, ravel, unravel
from .shapes import contiguous_strides

# the accesses are part of the IR: importers of graphc.program find them here too
__all__ = ["Buffer", "Chain", "COMBINES", "EXTERNAL_ORDER", "REASSOCIABLE", "Gather", "Gemm", "Kernel", "Load", "Loop", "Operand",
           "Program", "ROLES", "View", "contiguous_strides", "fingerprint", "identity", "injective", "listing", "ravel",
           "unravel"]

ROLES = ("input", "param", "state", "const", "output", "temp")
EXTERNAL_ORDER = ("input", "param", "state", "const", "output")  # the calling convention
COMBINES = {"add": 0.0, "mul": 1.0, "max": -math.inf, "min": math.inf}  # combine -> identity (its init)
# combines a backend may reassociate on floats (vector partial sums): a float32 sum of n terms then differs
# from the sequential sum by a few ulp of the result's scale, well inside the documented tolerance (rtol 1e-5,
# docs/architecture.md); products are kept in order (their rounding compounds), max and min are exact anyway
REASSOCIABLE = frozenset({"add"})


def identity(combine: str, dtype) -> float | int:
    """The value a `combine` reduction starts from, in `dtype`."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub" and combine in ("max", "min"):
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        return (info.min if combine == "max" else info.max) if info else combine == "min"
    value = COMBINES[combine]
    return int(value) if dtype.kind in "iub" else value


@dataclass(eq=False)
class Loop:
    """for p in domain: store[p] = body(loads at p), or combine(store[p], body) over the reduction axes.

    `reduce` lists the axes along which different points may update the same element of the store
    (reductions, and the colliding axes of scatters); the others are parallel. With a combine (or an
    `init`), every element of the store's buffer is first set to `init` (the combine's identity by
    default), so the Loop is the buffer's only writer. `checks` are (load name, lo, hi, what): values of
    that load outside [lo, hi) stop the program with an IndexError before they are used."""

    domain: tuple
    loads: tuple
    body: object          # graphc.scalar_ops.Body over the loads' names and the domain's axes
    store: View | Gather
    reduce: tuple = ()
    combine: str | None = None
    init: float | None = None
    checks: tuple = ()
    label: str = ""
    fused: tuple = ()  # the labels of the kernels fusion merged into this one, in schedule order
    nonfinite_by_design: bool = False  # its op writes inf/NaN on purpose (a -inf pad): debug checks skip it

    def __post_init__(self):
        if self.combine is not None and self.init is None:
            self.init = identity(self.combine, self.store.buffer.dtype)

    @property
    def reads(self) -> list[Buffer]:
        return [ld.buffer for ld in self.loads]

    @property
    def writes(self) -> Buffer:
        return self.store.buffer

    def overwrites(self, buffer: Buffer) -> bool:
        """May the store share bytes with `buffer` (one of the loads)? Yes for an elementwise kernel that
        writes its whole store in order and reads `buffer` only at the very element it writes there."""
        s = self.store
        if (self.reduce or self.combine is not None or self.init is not None or not isinstance(s, View) or s.offset
                or tuple(s.strides) != contiguous_strides(s.shape) or s.size != s.buffer.size or buffer is s.buffer
                or buffer.dtype != s.buffer.dtype or buffer.size != s.buffer.size):
            return False
        mine = [ld for ld in self.loads if ld.buffer is buffer]
        return bool(mine) and all(isinstance(ld.access, View) and ld.valid is None and ld.access.offset == s.offset
                                  and tuple(ld.access.strides) == tuple(s.strides) and tuple(ld.access.shape) == tuple(s.shape)
                                  for ld in mine)


@dataclass(frozen=True, eq=False)
class Operand:
    """One Gemm operand: a buffer, its element offset, and one stride per batch dim."""

    buffer: Buffer
    offset: int
    batch_strides: tuple


@dataclass(eq=False)
class Gemm:
    """C[b] = alpha · op(A[b]) @ op(B[b]) + beta · C[b] for every batch index b, then `epilogue` per element.

    A is m×k (k×m stored when trans_a), B is k×n (n×k when trans_b), C is m×n row-major; each has a
    leading dimension (elements between rows as stored). The epilogue, when the optimiser sets one,
    is a Body over the accumulator (load 'acc') and its own loads over the (batch, m, n) domain."""

    a: Operand
    b: Operand
    c: Operand
    batch: tuple
    m: int
    n: int
    k: int
    trans_a: bool = False
    trans_b: bool = False
    lda: int = 0
    ldb: int = 0
    ldc: int = 0
    alpha: float = 1.0
    beta: float = 0.0
    epilogue: object = None
    epilogue_loads: tuple = ()
    label: str = ""
    fused: tuple = ()  # the labels of the kernels fusion merged into this one, in schedule order
    nonfinite_by_design: bool = False  # see Loop

    @property
    def reads(self) -> list[Buffer]:
        return [self.a.buffer, self.b.buffer] + [ld.buffer for ld in self.epilogue_loads]

    @property
    def writes(self) -> Buffer:
        return self.c.buffer

    def operand_view(self, which: str) -> View:
        """The operand as a (*batch, rows, cols) View in its logical orientation (A: m×k, B: k×n, C: m×n)."""
        op = getattr(self, which)
        rows, cols, ld, trans = {"a": (self.m, self.k, self.lda, self.trans_a), "b": (self.k, self.n, self.ldb, self.trans_b),
                                 "c": (self.m, self.n, self.ldc, False)}[which]
        inner = (1, ld) if trans else (ld, 1)
        return View(op.buffer, tuple(self.batch) + (rows, cols), tuple(op.batch_strides) + inner, op.offset)


Kernel = Loop | Gemm


@dataclass(eq=False)
class Program:
    """Buffers (externals first, in calling-convention order), kernels in schedule order, and the results.

    `outputs` are the output buffers with the shapes the caller gets; parameter updates are the
    last kernels, copying new values into the parameters' buffers after everything has read them."""

    buffers: list = field(default_factory=list)
    kernels: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)     # input name -> Buffer
    outputs: list = field(default_factory=list)    # (Buffer, shape)
    bindings: dict = field(default_factory=dict)
    report: list = field(default_factory=list)     # what each pipeline stage did (graphc.pipeline)

    @property
    def externals(self) -> list[Buffer]:
        return [b for role in EXTERNAL_ORDER for b in self.buffers if b.role == role]

    @property
    def temporaries(self) -> list[Buffer]:
        return [b for b in self.buffers if b.role == "temp"]

    def prune_buffers(self) -> None:
        """Forget the buffers no kernel touches any more (after a pass removed kernels); parameters stay."""
        used = {id(b) for k in self.kernels for b in (*k.reads, k.writes)} | {id(b) for b in self.inputs.values()}
        used |= {id(b) for b, _ in self.outputs}
        self.buffers = [b for b in self.buffers if id(b) in used or b.role in ("param", "state")]

    @property
    def arena_bytes(self) -> int:
        return max((b.offset + b.nbytes for b in self.temporaries if b.offset is not None), default=0)

    def __str__(self):
        return listing(self)


# -- the text listing ------------------------------------------------------------------
def fmt_access(a) -> str:
    if isinstance(a, View):
        return f"{a.buffer.name}[{', '.join(map(str, a.shape))}] @{a.offset} strides({', '.join(map(str, a.strides))})"
    if isinstance(a, Chain):
        steps = " ".join(f"{kind}{arg}" for kind, arg in a.steps)
        return f"{fmt_access(a.base)} then {steps}"
    if isinstance(a, Gather):
        return f"{fmt_access(a.base)} with axis {a.axis} <- {a.index}"
    return repr(a)


def fmt_kernel(k) -> list[str]:
    note = f"  # {k.label}" if k.label else ""
    if isinstance(k, Gemm):
        t = lambda flag: "ᵀ" if flag else ""  # noqa: E731
        head = (f"gemm batch{list(k.batch)} m={k.m} n={k.n} k={k.k}: {k.c.buffer.name} = "
                f"{k.alpha:g}·{k.a.buffer.name}{t(k.trans_a)}·{k.b.buffer.name}{t(k.trans_b)}"
                f"{f' + {k.beta:g}·C' if k.beta else ''} (lda={k.lda} ldb={k.ldb} ldc={k.ldc}){note}")
        lines = [head]
        if k.epilogue is not None:
            lines.append(f"    epilogue {k.epilogue}")
        return lines
    assert isinstance(k, Loop)
    axes = ", ".join(f"{'r' if i in k.reduce else 'i'}{i}<{d}" for i, d in enumerate(k.domain))
    head = f"loop [{axes}]" + (f" combine {k.combine}" if k.combine else "") + (f" init {k.init:g}" if k.init is not None else "")
    lines = [head + note]
    for ld in k.loads:
        box = f" valid {list(ld.valid)} else {ld.fill:g}" if ld.valid else ""
        lines.append(f"    {ld.name} = load {fmt_access(ld.access)}{box}")
    for name, lo, hi, _ in k.checks:
        lines.append(f"    check {lo} <= {name} < {hi}")
    lines.append(f"    body {k.body}")
    lines.append(f"    store {fmt_access(k.store)}")
    return lines


def listing(program: Program) -> str:
    binding = ", ".join(f"{k}={v}" for k, v in program.bindings.items()) or "static shapes"
    lines = [f"program ({binding}): {len(program.kernels)} kernels, arena {program.arena_bytes} bytes"]
    for b in program.externals + program.temporaries:
        where = f" @arena+{b.offset}" if b.offset is not None else ""
        lines.append(f"  buffer {b.name}: {dtypes.short(b.dtype)}[{b.size}] {b.role}{where}")
    for k in program.kernels:
        lines.extend("  " + line for line in fmt_kernel(k))
    outs = ", ".join(f"{b.name}{list(shape)}" for b, shape in program.outputs)
    lines.append(f"  return {outs}")
    return "\n".join(lines)


# -- the fingerprint: what a printer reads, as one canonical text -----------------------------
def fingerprint(program: Program) -> str:
    """Every field of every kernel and buffer that decides what code computes, spelled exactly (floats in hex,
    buffers by position, a constant's contents by their SHA-256): two Programs with equal fingerprints
    compute the same thing the same way, so a backend may key compiled code by it. Left out: names and
    labels (they only name things in listings and messages, and carry the graph's global node numbers),
    the stage report and parameter storage. A value of a type this does not know raises TypeError rather
    than being keyed by identity."""
    position = {id(b): i for i, b in enumerate(program.buffers)}
    out: list[str] = []
    emit = out.append
    names: dict[type, tuple] = {}  # dataclass type -> the fields that count

    def put(x):
        kind = type(x)
        if kind is str:
            emit(repr(x))
        elif kind is int or kind is float or kind is bool or isinstance(x, (np.number, np.bool_)):
            emit(f"{kind.__name__}:{float(x).hex() if isinstance(x, (float, np.floating)) else int(x)}")
        elif kind is tuple or kind is list:
            emit("[")
            for item in x:
                put(item)
            emit("]")
        elif kind is Buffer:
            emit(f"B{position[id(x)]}")
        elif x is None:
            emit("None")
        elif isinstance(x, np.dtype):
            emit(x.str)
        elif is_dataclass(x) and not isinstance(x, type):
            if kind not in names:
                names[kind] = tuple(f.name for f in fields(x) if f.name not in ("label", "fused"))
            emit(kind.__name__ + "(")
            for name in names[kind]:
                put(getattr(x, name))
            emit(")")
        else:
            raise TypeError(f"fingerprint: cannot spell a {kind.__name__} ({x!r})")

    for b in program.buffers:
        contents = hashlib.sha256(np.ascontiguousarray(b.data).tobytes()).hexdigest() if b.data is not None else ""
        out.append(f"buffer {b.dtype.str} {b.size} {b.role} {b.offset} {contents}")
    for k in program.kernels:
        put(k)
    out.append("inputs")
    put(list(program.inputs.items()))  # in order: the order inputs are passed in
    out.append("outputs")
    put([(b, tuple(shape)) for b, shape in program.outputs])
    return "\n".join(out)
