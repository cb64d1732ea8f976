"""Print a Program as CUDA C++ source: one `__global__` function per kernel, and the launches of one step.

A Loop's parallel points map to a grid-stride loop (any size on any grid); each thread computes one
point's loads, body and store, and, for a reduction whose store does not move along its reduction
axes, combines the reduction's points itself, in order, in a register. A combine whose reduction
axes collide on the store (a scatter, a fold) adds with atomics where the combine is `add` (its order
then varies: float rounding, within the documented tolerance), else runs as one thread in order. A long
reduction into few elements takes a block per element (its threads' partial results combined by warp
shuffles, a tree within each warp, then over the warps; add, max and min only). A
Gemm is a shared-memory tiled product, a 64 × 64 tile of C per block (4 × 4 elements per thread, in
registers), the batch on the grid's z axis, with its epilogue applied to each element of C. Views, chains, gathers and windows are index
arithmetic through the Program's own `flat_index` (`CIndex`), never copies. A failed range check
records its number in a status word the host reads after the step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphc.program import Gemm, Loop, Program, View

from .spelling import PRELUDE, c_type, expression, literal, memory_type

BLOCK = 256   # threads per block of a Loop kernel
TILE = 16     # a Gemm block is TILE × TILE threads, and takes k in slices of TILE
REG = 4       # each thread holds a REG × REG block of C in registers
BLOCK_TILE = TILE * REG  # so a block computes a 64 × 64 tile of C
MAX_BLOCKS = 65535
WARPS = BLOCK // 32  # a block reduction combines within each warp by shuffles, then over the warps
REDUCE_BLOCK_TERMS = 1024  # a reduction of at least this many terms per element gets a block per element


class CIndex:
    """An int64 C expression that `flat_index` can add, multiply and divide (Python ints fold away)."""

    def __init__(self, text: str):
        self.text = text

    @staticmethod
    def of(v) -> "CIndex":
        return v if isinstance(v, CIndex) else CIndex(f"{int(v)}LL")

    def __add__(self, other):
        if isinstance(other, (int, np.integer)) and other == 0:
            return self
        return CIndex(f"({self.text} + {CIndex.of(other).text})")

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, (int, np.integer)):
            if other == 0:
                return 0
            if other == 1:
                return self
        return CIndex(f"({self.text} * {CIndex.of(other).text})")

    __rmul__ = __mul__

    def __floordiv__(self, other):
        return CIndex(f"gc_div({self.text}, {CIndex.of(other).text})")

    def __mod__(self, other):
        return CIndex(f"gc_mod({self.text}, {CIndex.of(other).text})")


def text(v) -> str:
    return CIndex.of(v).text


@dataclass
class Launch:
    """One kernel launch of the step: the function, its grid and block, and the buffers it takes (in order)."""

    name: str
    grid: tuple
    block: tuple
    buffers: list
    barriers: bool = False  # its threads meet at __syncthreads (a Gemm's tile, a block reduction)


class ModulePrinter:
    """The CUDA source of one Program (`source`) and its step as launches in order (`launches`)."""

    def __init__(self, program: Program, prefix: str = "", prelude: bool = True, debug: bool = False):
        self.program, self.prefix, self.debug = program, prefix, debug  # kernel names are prefix + k<number>
        self.checks: list[tuple] = []  # (kernel number, what, lo, hi) per check number - 1
        self.launches: list[Launch] = []
        parts = [PRELUDE] if prelude else []
        for i, k in enumerate(program.kernels):
            parts.append(self.kernel(i, k))
            if debug and np.dtype(k.writes.dtype).kind == "f" and not k.nonfinite_by_design:
                parts.append(self.finite_check(i, k.writes))
        self.source = "\n".join(parts)

    def finite_check(self, i: int, buf) -> str:
        """Debug mode: after kernel i, its output scanned; the first NaN or Inf in launch order is recorded in the
        status word as -(2i + 1) or -(2i + 2) (the codes the LLVM backend returns), unless an error came first."""
        name = f"{self.prefix}k{i}_finite"
        self.launches.append(Launch(name, (_blocks(buf.size),), (BLOCK,), [buf]))
        return (f"// k{i}: debug check of {buf.name}\n"
                f'extern "C" __global__ void {name}(const {memory_type(buf.dtype)}* {buf.name}, int* gc_status) {{\n'
                f"  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < {buf.size}LL;"
                f" p += (long long)gridDim.x * blockDim.x) {{\n"
                f"    const {'float' if np.dtype(buf.dtype) == np.float16 else c_type(buf.dtype)} x = "
                f"{'gc_h2f(' + buf.name + '[p])' if np.dtype(buf.dtype) == np.float16 else buf.name + '[p]'};\n"
                f"    if (isnan(x)) atomicCAS(gc_status, 0, {-(2 * i + 1)});\n"
                f"    else if (isinf(x)) atomicCAS(gc_status, 0, {-(2 * i + 2)});\n"
                f"  }}\n}}\n")

    # -- one kernel ------------------------------------------------------------------
    def kernel(self, i: int, k) -> str:
        bufs = list(dict.fromkeys([*k.reads, k.writes]))
        params = []
        for buf in bufs:
            const = "const " if buf is not k.writes else ""
            params.append(f"{const}{memory_type(buf.dtype)}* {buf.name}")
        params.append("int* gc_status")
        head = f"// k{i}: {k.label}" + (f" (fused: {'; '.join(k.fused)})" if k.fused else "")
        signature = f'extern "C" __global__ void {self.prefix}k{i}({", ".join(params)})'
        out = [head]
        if isinstance(k, Gemm):
            out.append(signature + " {\n" + self.gemm(i, k) + "}\n")
            return "\n".join(out)
        if k.init is not None:  # every element of the store's buffer starts at the combine's identity
            store = k.store.buffer
            out.append(f'extern "C" __global__ void {self.prefix}k{i}_init({memory_type(store.dtype)}* {store.name}, int* gc_status) {{\n'
                       f"  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < {store.size}LL;"
                       f" p += (long long)gridDim.x * blockDim.x)\n"
                       f"    {store.name}[p] = {self.to_memory(literal(k.init, store.dtype), store.dtype)};\n}}\n")
            self.launches.append(Launch(f"{self.prefix}k{i}_init", (_blocks(store.size),), (BLOCK,), [store]))
        if self.block_reduction(k):
            body, points = self.block_loop(i, k)
            out.append(signature + " {\n" + body + "}\n")
            self.launches.append(Launch(f"{self.prefix}k{i}", (max(1, min(points, MAX_BLOCKS)),), (BLOCK,), bufs,
                                        barriers=True))
            return "\n".join(out)
        body, points, serial = self.loop(i, k)
        out.append(signature + " {\n" + body + "}\n")
        self.launches.append(Launch(f"{self.prefix}k{i}", (1,) if serial else (_blocks(points),), (1,) if serial else (BLOCK,), bufs))
        return "\n".join(out)

    @staticmethod
    def to_memory(value: str, dtype) -> str:
        return f"(unsigned char)({value})" if np.dtype(dtype).kind == "b" else value

    # -- loops -----------------------------------------------------------------------
    def loop(self, i: int, k: Loop) -> tuple[str, int, bool]:
        """(body text, number of parallel points, whether it runs as one thread in order)."""
        reduce = set(k.reduce)
        parallel = [a for a in range(len(k.domain)) if a not in reduce]
        local = k.combine is not None and isinstance(k.store, View) and all(
            k.store.strides[a] == 0 or k.domain[a] == 1 for a in reduce)
        atomic = not local and k.combine == "add" and _atomic_add(k.store.buffer.dtype)
        serial = bool(reduce) and not local and not atomic
        outer = list(range(len(k.domain))) if serial else (parallel if local else list(range(len(k.domain))))
        lines = []
        indent = "  "
        if serial:
            lines.append(f"{indent}if (blockIdx.x != 0 || threadIdx.x != 0) return;  // in order: a colliding "
                         f"{k.combine or 'store'} is not order-independent")
            if any(d == 0 for d in k.domain):
                return "\n".join(lines) + "\n", 1, True
            loops, indent = _loops(outer, k.domain, indent)
            lines += loops
            lines.append(f"{indent}{{")
            lines += self.point(i, k, indent + "  ", accumulate="memory")
            lines.append(f"{indent}}}")
            return "\n".join(lines) + "\n", 1, True
        points = math.prod(k.domain[a] for a in outer)
        lines.append(f"  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < {points}LL;"
                     f" p += (long long)gridDim.x * blockDim.x) {{")
        lines += _unravel("p", outer, k.domain, "    ")  # the last axis fastest: neighbouring threads, neighbouring elements
        if not local:
            lines += self.point(i, k, "    ", accumulate="atomic" if atomic else "none")
            lines.append("  }")
            return "\n".join(lines) + "\n", points, False
        # a reduction into a register: this thread's element, its terms in order
        store = k.store
        dtype = store.buffer.dtype
        where = f"{store.buffer.name}[{text(store.flat_index(self.index(k, zero_reduce=True)))}]"
        lines.append(f"    {c_type(dtype)} acc = {self.from_memory(where, dtype)};")
        loops, indent = _loops(sorted(reduce), k.domain, "    ")
        lines += loops
        lines.append(f"{indent}{{")
        lines += self.point(i, k, indent + "  ", accumulate="register")
        lines.append(f"{indent}}}")
        lines.append(f"    {where} = {self.to_memory('acc', dtype)};")
        lines.append("  }")
        return "\n".join(lines) + "\n", points, False

    # -- long reductions: a block per element -----------------------------------------------
    @staticmethod
    def block_reduction(k) -> bool:
        """A long reduction into few elements (a loss, a bias gradient over a large batch): one block per element,
        its threads striding over the terms, then combining their results by warp shuffles (a tree within each
        warp, then one over the warps' results). Only where the combine
        does not depend on the order (add, declared reassociable; max and min) and no range check could stop
        some of a block's threads before its barriers."""
        if k.combine not in ("add", "max", "min") or k.checks or not isinstance(k.store, View):
            return False
        if np.dtype(k.store.buffer.dtype).kind not in "fiu" or not k.reduce:
            return False
        if not all(k.store.strides[a] == 0 or k.domain[a] == 1 for a in k.reduce):
            return False
        terms = math.prod(k.domain[a] for a in k.reduce)
        outputs = math.prod(d for a, d in enumerate(k.domain) if a not in k.reduce)
        return terms >= REDUCE_BLOCK_TERMS and outputs <= terms

    def block_loop(self, i: int, k: Loop) -> tuple[str, int]:
        reduce = sorted(k.reduce)
        parallel = [a for a in range(len(k.domain)) if a not in k.reduce]
        dtype = k.store.buffer.dtype
        t = c_type(dtype)
        points = math.prod(k.domain[a] for a in parallel)
        terms = math.prod(k.domain[a] for a in reduce)
        lines = [f"  __shared__ {t} partial[{WARPS}];  // one result per warp",
                 f"  for (long long p = blockIdx.x; p < {points}LL; p += gridDim.x) {{"]
        lines += _unravel("p", parallel, k.domain, "    ")
        lines += [f"    {t} acc = {literal(k.init, dtype)};",
                  f"    for (long long r = threadIdx.x; r < {terms}LL; r += blockDim.x) {{"]
        lines += _unravel("r", reduce, k.domain, "      ")
        lines += self.point(i, k, "      ", accumulate="register")
        # shuffles move 32-bit or 64-bit values: a narrower integer travels as an int
        wide = t if np.dtype(dtype).itemsize >= 4 else "int"
        other = f"({t})__shfl_down_sync(0xffffffffu, ({wide})acc, s)"
        combine = expression(k.combine, ["acc", other], [dtype, dtype], dtype)
        where = f"{k.store.buffer.name}[{text(k.store.flat_index(self.index(k, zero_reduce=True)))}]"
        warp_tree = f"for (int s = 16; s > 0; s >>= 1) acc = {combine};"
        lines += ["    }",
                  f"    {warp_tree}  // a tree within each warp",
                  "    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = acc;",
                  "    __syncthreads();",
                  f"    acc = threadIdx.x < {WARPS} ? partial[threadIdx.x] : {literal(k.init, dtype)};",
                  f"    {warp_tree}  // then over the warps' results (every warp runs it; thread 0's is kept)",
                  f"    if (threadIdx.x == 0) {where} = "
                  f"{self.to_memory(expression(k.combine, [where, 'acc'], [dtype, dtype], dtype), dtype)};",
                  "    __syncthreads();",
                  "  }"]
        return "\n".join(lines) + "\n", points

    def index(self, k, zero_reduce: bool = False) -> tuple:
        return tuple(0 if (zero_reduce and a in k.reduce) or k.domain[a] == 1 else CIndex(f"i{a}")
                     for a in range(len(k.domain)))

    @staticmethod
    def from_memory(value: str, dtype) -> str:
        return f"({value} != 0)" if np.dtype(dtype).kind == "b" else value

    def point(self, i: int, k: Loop, indent: str, accumulate: str) -> list[str]:
        """The statements of one domain point: checked gathers, loads, the body, and the store (or the combine)."""
        lines, values, indices = [], {}, {}
        index = self.index(k)
        ordered = sorted(k.loads, key=lambda ld: hasattr(ld.access, "index"))  # index loads before the gathers
        for ld in ordered:
            name = f"v_{ld.name}"
            lines.append(f"{indent}const {c_type(ld.buffer.dtype)} {name} = {self.load(ld, index, indices)};")
            values[ld.name] = name
            signed, checked = f"((long long){name})", name
            if np.dtype(ld.buffer.dtype) == np.uint64:  # past 2^63 is out of any range, never a negative index
                signed = checked = f"((long long)({name} > 9223372036854775807ULL ? 9223372036854775807ULL : {name}))"
            if np.dtype(ld.buffer.dtype).kind in "iu":
                indices[ld.name] = CIndex(signed)
            for load_name, lo, hi, what in k.checks:
                if load_name == ld.name:
                    self.checks.append((i, what, int(lo), int(hi)))
                    lines.append(f"{indent}if ({checked} < {lo}LL || {checked} >= {hi}LL) {{ atomicCAS(gc_status, 0, "
                                 f"{len(self.checks)}); return; }}")
        value = self.body(k.body, values, index, lines, indent)
        store = k.store
        dtype = store.buffer.dtype
        if accumulate == "register":
            lines.append(f"{indent}acc = {expression(k.combine, ['acc', value], [dtype, dtype], dtype)};")
            return lines
        where = f"{store.buffer.name}[{text(store.flat_index(index, indices))}]"
        if accumulate == "atomic":
            lines.append(f"{indent}{_atomic(where, value, dtype)};")
        elif accumulate == "memory" and k.combine is not None:
            combined = expression(k.combine, [self.from_memory(where, dtype), value], [dtype, dtype], dtype)
            lines.append(f"{indent}{where} = {self.to_memory(combined, dtype)};")
        else:
            lines.append(f"{indent}{where} = {self.to_memory(value, dtype)};")
        return lines

    def load(self, ld, index: tuple, indices: dict) -> str:
        dtype = ld.buffer.dtype
        if ld.valid is None:
            return self.from_memory(f"{ld.buffer.name}[{text(ld.access.flat_index(index, indices))}]", dtype)
        inside = " && ".join(f"{text(i)} >= {lo}LL && {text(i)} < {hi}LL" for i, (lo, hi) in zip(index, ld.valid)) or "true"
        value = self.from_memory(f"{ld.buffer.name}[{text(ld.access.flat_index(index, indices))}]", dtype)
        return f"(({inside}) ? {value} : {literal(ld.fill, dtype)})"  # the read happens only inside the box

    def body(self, body, values: dict, index: tuple, lines: list, indent: str) -> str:
        """Each operation as a typed local (named after its position), the result's name returned."""
        names = []
        for n, o in enumerate(body.ops):
            if o.op == "arg":
                names.append(values[o.value])
            elif o.op == "const":
                names.append(literal(o.value, o.dtype))
            elif o.op == "axis":
                names.append(text(index[o.value]))
            else:
                expr = expression(o.op, [names[a] for a in o.args], [body.ops[a].dtype for a in o.args], o.dtype)
                lines.append(f"{indent}const {c_type(o.dtype)} s{n} = {expr};")
                names.append(f"s{n}")
        return names[body.out]

    # -- matrix products -------------------------------------------------------------
    def gemm(self, i: int, k: Gemm) -> str:
        """A block computes a BLOCK_TILE² tile of C with TILE² threads, each holding a REG × REG block of it in
        registers through the k loop (a k-slice of A and of B staged in shared memory per step); every element
        of C sums its k terms in order, as the CPU's loop does."""
        t = c_type(k.c.buffer.dtype)
        nb = math.prod(k.batch) if k.batch else 1
        span, threads = BLOCK_TILE, TILE * TILE
        lines = [f"  __shared__ {t} As[{TILE}][{span + 1}];  // As[q][r] = op(A)[row0 + r, k0 + q]",
                 f"  __shared__ {t} Bs[{TILE}][{span + 1}];  // Bs[q][c] = op(B)[k0 + q, col0 + c]",
                 "  const int tx = threadIdx.x, ty = threadIdx.y, me = ty * blockDim.x + tx;",
                 f"  const long long row0 = blockIdx.y * {span}LL, col0 = blockIdx.x * {span}LL;",
                 f"  for (long long z = blockIdx.z; z < {nb}LL; z += gridDim.z) {{"]
        lines += _unravel("z", list(range(len(k.batch))), k.batch, "    ", name="b")
        batch = [0 if k.batch[a] == 1 else CIndex(f"b{a}") for a in range(len(k.batch))]
        base = {}
        for w in "abc":
            op = getattr(k, w)
            flat = op.offset
            for b, s in zip(batch, op.batch_strides):
                flat = flat + b * s
            base[w] = text(flat)
        a_at = (lambda r, q: f"{k.a.buffer.name}[{base['a']} + ({q}) * {k.lda}LL + ({r})]") if k.trans_a else \
            (lambda r, q: f"{k.a.buffer.name}[{base['a']} + ({r}) * {k.lda}LL + ({q})]")
        b_at = (lambda q, c: f"{k.b.buffer.name}[{base['b']} + ({c}) * {k.ldb}LL + ({q})]") if k.trans_b else \
            (lambda q, c: f"{k.b.buffer.name}[{base['b']} + ({q}) * {k.ldb}LL + ({c})]")
        zero = literal(0, k.c.buffer.dtype)
        lines += [f"    {t} acc[{REG}][{REG}];",
                  f"    for (int i = 0; i < {REG}; ++i) for (int j = 0; j < {REG}; ++j) acc[i][j] = {zero};",
                  f"    for (long long k0 = 0; k0 < {k.k}LL; k0 += {TILE}) {{",
                  f"      for (int l = me; l < {span * TILE}; l += {threads}) {{  // stage the k-slice of A and of B",
                  f"        const int r = l / {TILE}, q = l % {TILE}, qb = l / {span}, c = l % {span};",
                  f"        As[q][r] = (row0 + r < {k.m}LL && k0 + q < {k.k}LL) ? {a_at('row0 + r', 'k0 + q')} : {zero};",
                  f"        Bs[qb][c] = (k0 + qb < {k.k}LL && col0 + c < {k.n}LL) ? {b_at('k0 + qb', 'col0 + c')} : {zero};",
                  "      }",
                  "      __syncthreads();",
                  f"      for (int q = 0; q < {TILE}; ++q) {{",
                  f"        {t} a[{REG}], b[{REG}];",
                  f"        for (int i = 0; i < {REG}; ++i) a[i] = As[q][ty + {TILE} * i];",
                  f"        for (int j = 0; j < {REG}; ++j) b[j] = Bs[q][tx + {TILE} * j];",
                  f"        for (int i = 0; i < {REG}; ++i) for (int j = 0; j < {REG}; ++j) acc[i][j] += a[i] * b[j];",
                  "      }",
                  "      __syncthreads();",
                  "    }",
                  f"    for (int i = 0; i < {REG}; ++i) for (int j = 0; j < {REG}; ++j) {{",
                  f"      const long long row = row0 + ty + {TILE} * i, col = col0 + tx + {TILE} * j;",
                  f"      if (row >= {k.m}LL || col >= {k.n}LL) continue;"]
        where = f"{k.c.buffer.name}[{base['c']} + row * {k.ldc}LL + col]"
        value = f"{literal(k.alpha, k.c.buffer.dtype)} * acc[i][j]"
        if k.beta:
            value += f" + {literal(k.beta, k.c.buffer.dtype)} * {where}"
        lines.append(f"      {t} c = {value};")
        if k.epilogue is not None:
            index = tuple(batch) + (CIndex("row"), CIndex("col"))
            values = {"acc": "c"}
            for ld in k.epilogue_loads:
                name = f"v_{ld.name}"
                lines.append(f"      const {c_type(ld.buffer.dtype)} {name} = {self.load(ld, index, {})};")
                values[ld.name] = name
            lines.append(f"      c = {self.body(k.epilogue, values, index, lines, '      ')};")
        lines += [f"      {where} = c;", "    }", "  }"]
        grid = (max(1, -(-k.n // span)), max(1, -(-k.m // span)), max(1, min(nb, MAX_BLOCKS)))
        self.launches.append(Launch(f"{self.prefix}k{i}", grid, (TILE, TILE), list(dict.fromkeys([*k.reads, k.writes])),
                                    barriers=True))
        return "\n".join(lines) + "\n"


def _unravel(flat: str, axes: list, extents, indent: str, name: str = "i") -> list[str]:
    """Declarations of the indices `axes` (C order, the last fastest) of flat position `flat`; an axis of
    extent 1 is the constant 0 and gets none (CIndex folds it away)."""
    lines, rest = [], flat
    for a in reversed(axes):
        if extents[a] != 1:
            lines.append(f"{indent}const long long {name}{a} = {rest} % {extents[a]}LL;")
            rest = f"({rest} / {extents[a]}LL)"
    return lines


def _loops(axes: list, extents, indent: str) -> tuple[list[str], str]:
    """Nested for-loops over `axes` in order (an axis of extent 1 gets none); (lines, the innermost indent)."""
    lines = []
    for a in axes:
        if extents[a] != 1:
            lines.append(f"{indent}for (long long i{a} = 0; i{a} < {extents[a]}LL; ++i{a})")
            indent += "  "
    return lines, indent


def _blocks(points: int) -> int:
    return max(1, min(-(-points // BLOCK), MAX_BLOCKS * 32))


def _atomic_add(dtype) -> bool:
    dtype = np.dtype(dtype)
    return (dtype.kind == "f" and dtype.itemsize >= 4) or (dtype.kind in "iu" and dtype.itemsize in (4, 8))


def _atomic(where: str, value: str, dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and dtype.itemsize == 8:  # two's complement: an unsigned add is the signed one
        return f"atomicAdd((unsigned long long*)&{where}, (unsigned long long)({value}))"
    if dtype.kind == "i" and dtype.itemsize == 4:
        return f"atomicAdd(&{where}, {value})"
    return f"atomicAdd(&{where}, {value})"


def print_program(program: Program, prefix: str = "", prelude: bool = True, debug: bool = False) -> ModulePrinter:
    return ModulePrinter(program, prefix, prelude, debug)
