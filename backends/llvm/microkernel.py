"""A generated register-blocked matrix product for small Gemms, where a BLAS call costs more than it computes.

C[i0:i0+MR, j0:j0+NR·VW] is held in MR·NR vector accumulators through the whole k loop: each step
loads NR vectors of B's row p, broadcasts MR elements of A's column p, and issues MR·NR fused
multiply-adds, so the tile never leaves registers (MR = 4, NR = 2: 8 accumulators, 2 B vectors and a
broadcast fit AVX2's 16 registers). A transposed B is first packed, one NR·VW-column panel at a
time, into a contiguous stack buffer; a transposed A needs nothing (its elements are broadcast one
by one). The rows and columns left over by the tiling run as scalar dot products. Each element's
sum runs over p in order, like the scalar loop; FMA contraction makes it differ from an unfused
sum in the last bit, as BLAS does.

Where it is used: for every product when the NumPy wheel has no bundled OpenBLAS (blas.py), not
otherwise. Measured against the OpenBLAS call on this project's machine (AMD EPYC, AVX2, one thread;
native time of the kernel alone, generated / BLAS): W1's products 32×128×64 0.90-0.95, 128×64×32
0.89-0.96 (a few percent faster, within the run-to-run noise), 64×64×64 0.93-1.56, 128×128×128
0.94-1.67, and on LeNet's shapes, whose n leaves long scalar edges, 16×100×150 2.2, 6×784×25 3.5-4.0,
64×25×784 15. OpenBLAS's small-matrix path is already direct (no packing below its thresholds), so
the call overhead this kernel would save is a few hundred nanoseconds: BLAS is chosen for every
shape. `blas.MODE["small"] = "generated"` forces this kernel wherever it fits, to measure it again.
"""
from __future__ import annotations

import llvmlite.ir as ir

from .scalars import F32, I64

MR, NR = 4, 2          # accumulator tile: MR rows × NR vectors
MAX_PANEL_K = 1024     # a transposed B's packed panel (k × NR·VW) lives on the stack


def vector_width(t) -> int:
    return 8 if t == F32 else 4  # one 256-bit register: AVX2's width, and half an AVX-512 register


def fits(k, t) -> bool:
    """Can this Gemm's shape use the tile (at least one MR × NR·VW tile; a transposed B's panel on the stack)?"""
    return k.m >= MR and k.n >= NR * vector_width(t) and k.k >= 1 and (not k.trans_b or k.k <= MAX_PANEL_K)


def emit(e, t, k, offsets) -> None:
    """C = alpha·op(A)·op(B) + beta·C for one batch entry, C's tile in registers (module docstring)."""
    b = e.b
    vw = vector_width(t)
    vt = ir.VectorType(t, vw)
    nb = NR * vw
    m_main, n_main = k.m - k.m % MR, k.n - k.n % nb
    c64 = lambda v: ir.Constant(I64, v)  # noqa: E731
    fmuladd = _fmuladd(e.owner.module, vt, f"v{vw}{'f32' if t == F32 else 'f64'}")
    zero = ir.Constant(vt, None)

    def a_at(i, p):  # op(A)[i, p]
        flat = b.add(b.mul(p, c64(k.lda)), i) if k.trans_a else b.add(b.mul(i, c64(k.lda)), p)
        return b.load(b.gep(offsets["a"], [flat], inbounds=True))

    def b_at(p, j):  # op(B)[p, j]
        flat = b.add(b.mul(j, c64(k.ldb)), p) if k.trans_b else b.add(b.mul(p, c64(k.ldb)), j)
        return b.load(b.gep(offsets["b"], [flat], inbounds=True))

    def splat(x):
        one = b.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(one, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), vw), None))

    def vload(pointer):
        return b.load(b.bitcast(pointer, vt.as_pointer()), align=4)  # element-aligned: an unaligned vector load

    with b.goto_block(e.fn.entry_basic_block):  # stack slots once per call, not per loop iteration
        panel = b.alloca(t, size=c64(max(k.k, 1) * nb)) if k.trans_b and n_main else None
        accs = [[b.alloca(vt) for _ in range(NR)] for _ in range(MR)]
        acc = b.alloca(t)
    fmuladd_scalar = _fmuladd(e.owner.module, t, "f32" if t == F32 else "f64")

    def column_block(jb):
        j0 = b.mul(jb, c64(nb))
        if panel is not None:  # pack op(B)[:, j0:j0+nb] row by row
            def pack(p):
                def one(jj):
                    b.store(b_at(p, b.add(j0, jj)), b.gep(panel, [b.add(b.mul(p, c64(nb)), jj)], inbounds=True))
                e.counted(nb, one)
            e.counted(k.k, pack)

        def row_block(ib):
            i0 = b.mul(ib, c64(MR))
            for row in accs:
                for acc in row:
                    b.store(zero, acc)

            def step(p):
                if panel is not None:
                    base = b.gep(panel, [b.mul(p, c64(nb))], inbounds=True)
                else:
                    base = b.gep(offsets["b"], [b.add(b.mul(p, c64(k.ldb)), j0)], inbounds=True)
                bv = [vload(b.gep(base, [c64(v * vw)], inbounds=True)) for v in range(NR)]
                for r in range(MR):
                    a = splat(a_at(b.add(i0, c64(r)), p))
                    for v in range(NR):
                        b.store(b.call(fmuladd, [a, bv[v], b.load(accs[r][v])]), accs[r][v])
            e.counted(k.k, step)
            for r in range(MR):
                row = b.add(i0, c64(r))
                for v in range(NR):
                    where = b.gep(offsets["c"], [b.add(b.add(b.mul(row, c64(k.ldc)), j0), c64(v * vw))], inbounds=True)
                    value = b.fmul(splat(ir.Constant(t, k.alpha)), b.load(accs[r][v]))
                    if k.beta:
                        value = b.fadd(value, b.fmul(splat(ir.Constant(t, k.beta)), vload(where)))
                    b.store(value, b.bitcast(where, vt.as_pointer()), align=4)
        e.counted(m_main // MR, row_block)
    e.counted(n_main // nb, column_block)

    def scalar(i, j):  # one element by a scalar dot product (the edges the tiling leaves)
        b.store(ir.Constant(t, 0.0), acc)
        e.counted(k.k, lambda p: b.store(b.call(fmuladd_scalar, [a_at(i, p), b_at(p, j), b.load(acc)]), acc))
        where = b.gep(offsets["c"], [b.add(b.mul(i, c64(k.ldc)), j)], inbounds=True)
        value = b.fmul(ir.Constant(t, k.alpha), b.load(acc))
        if k.beta:
            value = b.fadd(value, b.fmul(ir.Constant(t, k.beta), b.load(where)))
        b.store(value, where)

    if n_main < k.n:  # the right edge, rows of the tiled part
        e.counted(m_main, lambda i: e.counted(k.n - n_main, lambda jj: scalar(i, b.add(jj, c64(n_main)))))
    if m_main < k.m:  # the bottom edge, every column
        e.counted(k.m - m_main, lambda ii: e.counted(k.n, lambda j: scalar(b.add(ii, c64(m_main)), j)))


def _fmuladd(module, ty, suffix: str):
    """llvm.fmuladd for `ty` (declared by name: llvmlite cannot mangle vector types)."""
    name = f"llvm.fmuladd.{suffix}"
    return module.globals.get(name) or ir.Function(module, ir.FunctionType(ty, [ty, ty, ty]), name)
