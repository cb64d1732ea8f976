"""Print a Program as one LLVM IR module: a function per kernel, and `step(i8** buffers) -> i32` calling them in order.

A Loop is a nest of counted loops over its domain (the last axis innermost, where views are
contiguous, so the loop vectoriser finds unit strides); every access computes its element index
with the Program's own `flat_index` over IR integers (`Index`), so views, chains, gathers and
windows are address arithmetic, never copies. A combine stores read-modify-write into its store
(after the init fill), which also covers scatters and folds. Each kernel function takes one
pointer per buffer it touches, `noalias` where no other of its buffers may share those bytes.
A failed range check returns its number (1-based) from `step`; the runtime names it.
"""
from __future__ import annotations

import numpy as np
import llvmlite.ir as ir

from graphc.program import REASSOCIABLE, Gemm, Program

from . import blas, half
from .index import Index
from .scalars import I1, I8, I32, I64, Spelling, constant, from_memory, memory_type, to_memory


def _ival(b, v):
    return Index.of(b, v).value


class ModuleBuilder:
    """Builds the module for one Program; `buffer_order` is the calling convention of `step`'s pointer array."""

    def __init__(self, program: Program, module: ir.Module, vmath, debug: bool = False):
        self.program, self.module, self.vmath, self.debug = program, module, vmath, debug
        self.buffer_order = list(program.buffers)
        self.position = {id(buf): i for i, buf in enumerate(self.buffer_order)}
        self.checks: list[tuple] = []  # (kernel number, what, lo, hi) per check number - 1

    def build(self) -> None:
        kernels = [self.kernel(i, k) for i, k in enumerate(self.program.kernels)]
        step = ir.Function(self.module, ir.FunctionType(I32, [I8.as_pointer().as_pointer()]), "step")
        step.args[0].name = "buffers"
        b = ir.IRBuilder(step.append_basic_block("entry"))
        # the time-stamp counter after each kernel (and once before the first): fn.profile() reads it
        clock = ir.GlobalVariable(self.module, ir.ArrayType(I64, len(kernels) + 1), "kernel_clock")
        clock.initializer = ir.Constant(ir.ArrayType(I64, len(kernels) + 1), None)
        readcycles = self.module.declare_intrinsic("llvm.readcyclecounter", (), ir.FunctionType(I64, []))

        def stamp(i):
            b.store(b.call(readcycles, []), b.gep(clock, [ir.Constant(I32, 0), ir.Constant(I32, i)]))
        stamp(0)
        pointers = {}
        for fn, bufs in kernels:
            args = []
            for buf in bufs:
                if id(buf) not in pointers:
                    raw = b.load(b.gep(step.args[0], [ir.Constant(I64, self.position[id(buf)])]))
                    pointers[id(buf)] = b.bitcast(raw, memory_type(buf.dtype).as_pointer(), name=buf.name)
                args.append(pointers[id(buf)])
            status = b.call(fn, args)
            stamp(int(fn.name[1:]) + 1)
            written = bufs[-1]
            kernel = self.program.kernels[int(fn.name[1:])]
            if self.debug and written.dtype.kind == "f" and not kernel.nonfinite_by_design:
                # debug: NaN -> -(2i + 1), Inf -> -(2i + 2) after kernel i
                status = self.finite_check(b, step, pointers[id(written)], written, int(fn.name[1:]), status)
            fail = step.append_basic_block(f"{fn.name}_failed")
            go_on = step.append_basic_block(f"after_{fn.name}")
            b.cbranch(b.icmp_signed("!=", status, ir.Constant(I32, 0)), fail, go_on)
            b.position_at_end(fail)
            b.ret(status)
            b.position_at_end(go_on)
        b.ret(ir.Constant(I32, 0))

    def finite_check(self, b: ir.IRBuilder, fn, pointer, buf, kernel: int, status):
        """`status`, or a negative code when `buf` holds a NaN or an Inf after kernel `kernel`."""
        t = pointer.type.pointee
        code = b.alloca(I32)
        b.store(status, code)
        start = b.block
        head, body, done = fn.append_basic_block("scan"), fn.append_basic_block("scan_body"), fn.append_basic_block("scanned")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64)
        i.add_incoming(ir.Constant(I64, 0), start)
        b.cbranch(b.icmp_signed("<", i, ir.Constant(I64, buf.size)), body, done)
        b.position_at_end(body)
        x = b.load(b.gep(pointer, [i], inbounds=True))
        if np.dtype(buf.dtype) == np.float16:  # its bits
            nan, inf = half.is_nan_or_inf(b, x)
        else:
            inf = b.fcmp_ordered("==", b.call(self.module.declare_intrinsic("llvm.fabs", [t]), [x]), ir.Constant(t, float("inf")))
            nan = b.fcmp_unordered("uno", x, x)
        current = b.load(code)
        first = b.icmp_signed("==", current, ir.Constant(I32, 0))
        found = b.select(nan, ir.Constant(I32, -(2 * kernel + 1)), b.select(inf, ir.Constant(I32, -(2 * kernel + 2)), current))
        b.store(b.select(first, found, current), code)
        i.add_incoming(b.add(i, ir.Constant(I64, 1)), b.block)
        b.branch(head)
        b.position_at_end(done)
        return b.load(code)

    # -- one kernel ---------------------------------------------------------------
    def kernel(self, i: int, k):
        bufs = list(dict.fromkeys([*k.reads, k.writes]))
        fnty = ir.FunctionType(I32, [memory_type(buf.dtype).as_pointer() for buf in bufs])
        fn = ir.Function(self.module, fnty, f"k{i}")
        fn.linkage = "internal"
        fn.attributes.add("noinline")  # one function per kernel: the optimiser's cost stays linear in their number
        for arg, buf in zip(fn.args, bufs):
            arg.name = buf.name
            if not any(other is not buf and _may_share(buf, other) for other in bufs):
                arg.add_attribute("noalias")
        ptr = {id(buf): arg for buf, arg in zip(bufs, fn.args)}
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        emitter = _KernelEmitter(self, fn, b, ptr, k)
        emitter.emit()
        return fn, bufs


def _may_share(a, b) -> bool:
    if a.role == "temp" and b.role == "temp" and a.offset is not None and b.offset is not None:
        return a.offset < b.offset + b.nbytes and b.offset < a.offset + a.nbytes
    return False


class _KernelEmitter:
    def __init__(self, owner: ModuleBuilder, fn, b: ir.IRBuilder, ptr: dict, k):
        self.owner, self.fn, self.b, self.ptr, self.k = owner, fn, b, ptr, k
        self.spell = Spelling(b, owner.module, owner.vmath)

    def emit(self):
        k = self.k
        if isinstance(k, Gemm):
            blas.emit_gemm(self, k)
        else:
            if k.init is not None:
                self.fill(k.store.buffer, k.init)
            self.nest(list(k.domain), [], self.point)
        self.b.ret(ir.Constant(I32, 0))

    # -- loops ------------------------------------------------------------------
    def nest(self, extents: list, index: list, body) -> None:
        """for index in ndindex(extents): body(index)  (index: Index values, outermost first)."""
        if not extents:
            body(tuple(index))
            return
        if any(d == 0 for d in extents):
            return
        self.counted(extents[0], lambda i: self.nest(extents[1:], index + [Index(self.b, i)], body))

    def counted(self, n: int, body) -> None:
        b, fn = self.b, self.fn
        start = b.block
        head, loop, done = fn.append_basic_block("loop"), fn.append_basic_block("body"), fn.append_basic_block("next")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64, name="i")
        i.add_incoming(ir.Constant(I64, 0), start)
        b.cbranch(b.icmp_signed("<", i, ir.Constant(I64, n)), loop, done)
        b.position_at_end(loop)
        body(i)
        i.add_incoming(b.add(i, ir.Constant(I64, 1), flags=["nsw", "nuw"]), b.block)
        b.branch(head)
        b.position_at_end(done)

    def fill(self, buf, value) -> None:
        c = to_memory(self.b, constant(value, buf.dtype), buf.dtype) if np.dtype(buf.dtype).kind != "b" else \
            ir.Constant(I8, int(bool(value)))
        p = self.ptr[id(buf)]
        self.counted(buf.size, lambda i: self.b.store(c, self.b.gep(p, [i], inbounds=True)))

    # -- one domain point ---------------------------------------------------------------
    def element(self, buf, flat):
        return self.b.gep(self.ptr[id(buf)], [_ival(self.b, flat)], inbounds=True)

    def point(self, index: tuple) -> None:
        k, b = self.k, self.b
        values, indices = {}, {}
        gathers = sorted(k.loads, key=lambda ld: hasattr(ld.access, "index"))  # index loads before the gathers
        for ld in gathers:
            values[ld.name] = self.load(ld, index, indices)
            if np.dtype(ld.buffer.dtype).kind in "iu":
                signed = self.spell.cast(values[ld.name], ld.buffer.dtype, np.int64)
                if np.dtype(ld.buffer.dtype) == np.uint64:  # past 2^63 is out of any range, never a negative index
                    signed = b.select(b.icmp_signed("<", signed, ir.Constant(I64, 0)), ir.Constant(I64, 2 ** 63 - 1), signed)
                indices[ld.name] = Index(b, signed)
            for name, lo, hi, what in k.checks:
                if name == ld.name:
                    self.check(indices[name].value, lo, hi, what)
        value = self.body(k.body, values, index)
        store = k.store
        flat = store.flat_index(index, indices)
        where = self.element(store.buffer, flat)
        dtype = store.buffer.dtype
        if k.combine is not None:
            old = from_memory(b, b.load(where), dtype)
            if k.combine in REASSOCIABLE and np.dtype(dtype).kind == "f":
                # declared reassociable (graphc.program.REASSOCIABLE): the vectoriser may keep vector partial sums
                value = b.fadd(old, value, flags=("reassoc",))
            else:
                value = self.spell.emit(k.combine, [old, value], [np.dtype(dtype)] * 2, dtype)
        b.store(to_memory(b, value, dtype), where)

    def check(self, value, lo: int, hi: int, what: str) -> None:
        b = self.b
        owner = self.owner
        # plain ints and the kernel's number, not its label: the cache stores checks as JSON, shared by equal Programs
        owner.checks.append((owner.program.kernels.index(self.k), what, int(lo), int(hi)))
        number = len(owner.checks)
        bad = b.or_(b.icmp_signed("<", value, ir.Constant(I64, lo)), b.icmp_signed(">=", value, ir.Constant(I64, hi)))
        fail, ok = self.fn.append_basic_block("check_failed"), self.fn.append_basic_block("checked")
        b.cbranch(bad, fail, ok)
        b.position_at_end(fail)
        b.ret(ir.Constant(I32, number))
        b.position_at_end(ok)

    def load(self, ld, index: tuple, indices: dict):
        b = self.b
        dtype = ld.buffer.dtype
        if ld.valid is None:
            return from_memory(b, b.load(self.element(ld.buffer, ld.access.flat_index(index, indices))), dtype)
        inside = ir.Constant(I1, 1)
        safe = []
        for i, (lo, hi) in zip(index, ld.valid):
            iv = _ival(b, i)
            ok = b.and_(b.icmp_signed(">=", iv, ir.Constant(I64, lo)), b.icmp_signed("<", iv, ir.Constant(I64, hi)))
            inside = b.and_(inside, ok)
            safe.append(Index(b, b.select(ok, iv, ir.Constant(I64, lo))))
        value = from_memory(b, b.load(self.element(ld.buffer, ld.access.flat_index(tuple(safe), indices))), dtype)
        return b.select(inside, value, constant(ld.fill, dtype))

    def body(self, body, values: dict, index: tuple):
        at = []
        for o in body.ops:
            if o.op == "arg":
                at.append(values[o.value])
            elif o.op == "const":
                at.append(constant(o.value, o.dtype))
            elif o.op == "axis":
                at.append(_ival(self.b, index[o.value]))
            else:
                at.append(self.spell.emit(o.op, [at[a] for a in o.args], [body.ops[a].dtype for a in o.args], o.dtype))
        return at[body.out]


def build_module(program: Program, module: ir.Module, vmath, debug: bool = False) -> ModuleBuilder:
    mb = ModuleBuilder(program, module, vmath, debug)
    mb.build()
    return mb

