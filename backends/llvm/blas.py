"""Gemm kernels: a call to the BLAS inside the NumPy wheel (OpenBLAS, 64-bit integers), then the epilogue.

NumPy's wheels bundle OpenBLAS as `numpy.libs/libscipy_openblas64_*.so` with symbols such as
`scipy_cblas_sgemm64_`. The JIT resolves the symbol by name (`llvm.add_symbol`); where no such
library is found (another NumPy build) the generated register-blocked kernel (`microkernel`)
computes the product instead, and a triple loop the shapes too small for its tile. BLAS is chosen
for every shape where it exists: measured against the generated kernel (microkernel's docstring),
it is as fast or faster on all the benchmark's shapes.
"""
from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import llvmlite.ir as ir
import numpy as np

from . import microkernel
from .index import Index
from .scalars import F32, F64, I32, I64, from_memory, to_memory

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_symbols: dict | None = None
MODE = {"small": "blas"}  # 'generated': the register-blocked kernel wherever it fits (to measure it against BLAS)


def symbols() -> dict:
    """{'sgemm': symbol name, ...} of the bundled OpenBLAS's cblas gemm and gemv, registered with the JIT."""
    global _symbols
    if _symbols is not None:
        return _symbols
    _symbols = {}
    root = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "libscipy_openblas*")) +
                       glob.glob(os.path.join(root, "numpy", ".dylibs", "libscipy_openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for kind in ("sgemm", "dgemm", "sgemv", "dgemv"):
            for name in (f"scipy_cblas_{kind}64_", f"cblas_{kind}64_"):
                fn = getattr(lib, name, None)
                if fn is not None and kind not in _symbols:
                    llvm.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)
                    _symbols[kind] = name
        if _symbols:
            _symbols["library"] = os.path.basename(path)
            break
    return _symbols


def provider() -> str:
    """Which BLAS the Gemm kernels call (`graphc info`)."""
    found = symbols()
    return found.get("library", "none found: Gemm kernels are generated loops")


def emit_gemm(e, k) -> None:
    """Emit Gemm `k` into kernel emitter `e` (graphc.backends.llvm.codegen._KernelEmitter)."""
    b = e.b
    dtype = np.dtype(k.c.buffer.dtype)
    t = F32 if dtype.itemsize == 4 else F64
    prefix = "s" if t == F32 else "d"
    name, vector = symbols().get(prefix + "gemm"), symbols().get(prefix + "gemv")
    ptr = {w: e.ptr[id(getattr(k, w).buffer)] for w in "abc"}

    def entry(batch_index):
        offsets = {}
        for w in "abc":
            op = getattr(k, w)
            flat = op.offset
            for i, s in zip(batch_index, op.batch_strides):
                flat = i * s + flat if s else flat
            offsets[w] = b.gep(ptr[w], [_value(b, flat)], inbounds=True)
        if k.m == 0 or k.n == 0:
            return
        if MODE["small"] == "generated" and microkernel.fits(k, t):
            microkernel.emit(e, t, k, offsets)  # forced (the measurements in microkernel's docstring)
        elif vector is not None and (k.m == 1 or k.n == 1) and k.beta == 0.0 and k.k > 0:
            _call_gemv(e, vector, t, k, offsets)  # a matrix-vector product: gemv is 3-4x faster than a 1-row gemm
        elif name is not None:
            _call_blas(e, name, t, k, offsets)
        elif microkernel.fits(k, t):
            microkernel.emit(e, t, k, offsets)
        else:
            _triple_loop(e, t, k, offsets)

    e.nest(list(k.batch), [], entry)
    if k.epilogue is not None:
        _epilogue(e, k, dtype)


def _value(b, v):
    return Index.of(b, v).value


def _call_blas(e, name, t, k, offsets) -> None:
    b, module = e.b, e.owner.module
    fn = module.globals.get(name)
    if fn is None:
        p = t.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [I32, I32, I32, I64, I64, I64, t, p, I64, p, I64, t, p, I64])
        fn = ir.Function(module, fnty, name)
    c = lambda v: ir.Constant(I64, v)  # noqa: E731
    b.call(fn, [ir.Constant(I32, ROW_MAJOR), ir.Constant(I32, TRANS if k.trans_a else NO_TRANS),
                ir.Constant(I32, TRANS if k.trans_b else NO_TRANS), c(k.m), c(k.n), c(k.k), ir.Constant(t, k.alpha),
                offsets["a"], c(max(k.lda, 1)), offsets["b"], c(max(k.ldb, 1)), ir.Constant(t, k.beta), offsets["c"],
                c(max(k.ldc, 1))])


def _call_gemv(e, name, t, k, offsets) -> None:
    """One row (m = 1) or one column (n = 1) of C as y = alpha·op(M)·v with gemv, M the other operand."""
    b, module = e.b, e.owner.module
    fn = module.globals.get(name)
    if fn is None:
        p = t.as_pointer()
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I32, I32, I64, I64, t, p, I64, p, I64, t, p, I64]), name)
    c = lambda v: ir.Constant(I64, v)  # noqa: E731
    if k.m == 1:  # c[0, :] = a[0, :] @ op(B): op(B)ᵀ·aᵀ; B stored k×n (ldb) or, transposed, n×k
        rows, cols, trans = (k.n, k.k, NO_TRANS) if k.trans_b else (k.k, k.n, TRANS)
        matrix, ld, v, inc_v, y, inc_y = offsets["b"], k.ldb, offsets["a"], (k.lda if k.trans_a else 1), offsets["c"], 1
    else:  # c[:, 0] = op(A) @ b[:, 0]; A stored m×k (lda) or, transposed, k×m
        rows, cols, trans = (k.k, k.m, TRANS) if k.trans_a else (k.m, k.k, NO_TRANS)
        matrix, ld, v, inc_v, y, inc_y = offsets["a"], k.lda, offsets["b"], (1 if k.trans_b else k.ldb), offsets["c"], k.ldc
    b.call(fn, [ir.Constant(I32, ROW_MAJOR), ir.Constant(I32, trans), c(rows), c(cols), ir.Constant(t, k.alpha), matrix,
                c(max(ld, 1)), v, c(max(inc_v, 1)), ir.Constant(t, 0.0), y, c(max(inc_y, 1))])


def _triple_loop(e, t, k, offsets) -> None:
    """C = alpha·op(A)·op(B) + beta·C without a BLAS (a NumPy build without the bundled OpenBLAS)."""
    b = e.b

    def at(base, i, j, ld, trans):
        flat = b.add(b.mul(j, ir.Constant(I64, ld)), i) if trans else b.add(b.mul(i, ir.Constant(I64, ld)), j)
        return b.gep(base, [flat], inbounds=True)

    def row(i):
        def col(j):
            acc = b.alloca(t)
            b.store(ir.Constant(t, 0.0), acc)

            def inner(p):
                x = b.load(at(offsets["a"], i, p, k.lda, k.trans_a))
                y = b.load(at(offsets["b"], p, j, k.ldb, k.trans_b))
                b.store(b.fadd(b.load(acc), b.fmul(x, y)), acc)
            e.counted(k.k, inner)
            where = at(offsets["c"], i, j, k.ldc, False)
            value = b.fmul(ir.Constant(t, k.alpha), b.load(acc))
            if k.beta:
                value = b.fadd(value, b.fmul(ir.Constant(t, k.beta), b.load(where)))
            b.store(value, where)
        e.counted(k.n, col)
    e.counted(k.m, row)


def _epilogue(e, k, dtype) -> None:
    """C[p] = epilogue(acc=C[p], loads at p) over the (batch, m, n) domain, in place."""
    b = e.b
    c_view = k.operand_view("c")

    def point(index):
        where = e.element(k.c.buffer, c_view.flat_index(index))
        values = {"acc": b.load(where)}
        for ld in k.epilogue_loads:
            values[ld.name] = from_memory(b, b.load(e.element(ld.buffer, ld.access.flat_index(index))), ld.buffer.dtype)
        b.store(to_memory(b, e.body(k.epilogue, values, index), dtype), where)
    e.nest(list(k.batch) + [k.m, k.n], [], point)

