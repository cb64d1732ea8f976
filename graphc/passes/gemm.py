"""Batched matrix products made into single large ones: a batch over a broadcast weight becomes rows, a sum
over the batch of products becomes a longer inner dimension.

`fold_gemm_batches`: `x @ W` with x of shape (B, T, D) and W (D, E) lowers to a Gemm batched over B
whose W operand has batch stride 0; when A's and C's rows run on from one batch entry to the next,
it is one (B·T)×D @ D×E product (one BLAS call that blocks well, not B small ones).

`sum_gemm_batches`: its gradient dW = Σ_b x_bᵀ g_b lowers to a batched Gemm and a reduction Loop
over the batch; when A's and B's inner (k) runs continue across the batch, the pair is one Gemm
with K = B·k writing the reduction's result.
"""
from __future__ import annotations

import dataclasses

from ..program import Gemm, Loop, Operand, Program, View, contiguous_strides


def _runs_on(extents, strides, inner_extent: int, inner_stride: int) -> bool:
    """Do the batch axes (extents, strides) continue the inner axis's run: batch index b, inner index i at
    b·(inner_extent·inner_stride) + i·inner_stride, for the batch axes taken together in C order?"""
    step = inner_extent * inner_stride
    for d, s in reversed(list(zip(extents, strides))):
        if d == 1:
            continue
        if s != step:
            return False
        step *= d
    return True


def _batch(g: Gemm) -> int:
    n = 1
    for d in g.batch:
        n *= d
    return n


def fold_gemm_batches(program: Program) -> Program:
    """Gemms batched over a broadcast B operand become one product over the batch's rows (module docstring)."""
    out = []
    for k in program.kernels:
        folded = _folded(k) if isinstance(k, Gemm) and k.batch and _batch(k) > 1 else None
        out.append(folded or k)
    program.kernels = out
    return program


def _folded(g: Gemm) -> Gemm | None:
    if g.trans_a or g.epilogue is not None or any(s and d > 1 for d, s in zip(g.batch, g.b.batch_strides)):
        return None  # (the pass runs before epilogue fusion)
    if not (_runs_on(g.batch, g.a.batch_strides, g.m, g.lda) and _runs_on(g.batch, g.c.batch_strides, g.m, g.ldc)):
        return None
    return dataclasses.replace(g, a=Operand(g.a.buffer, g.a.offset, ()), b=Operand(g.b.buffer, g.b.offset, ()),
                               c=Operand(g.c.buffer, g.c.offset, ()), batch=(), m=_batch(g) * g.m,
                               label=f"{g.label} (batch folded into rows)".strip())


def sum_gemm_batches(program: Program) -> Program:
    """A reduction over the batch of a batched Gemm's product becomes one Gemm with a longer k (module docstring)."""
    kernels = list(program.kernels)
    protected = {id(b) for b, _ in program.outputs}
    step = 0
    while step < len(kernels):
        g = kernels[step]
        if isinstance(g, Gemm) and g.batch and g.epilogue is None and g.beta == 0.0 and id(g.c.buffer) not in protected:
            readers = [(j, k) for j, k in enumerate(kernels) if j > step and g.c.buffer in k.reads]
            merged = _summed(g, readers[0][1]) if len(readers) == 1 else None
            if merged is not None and not any(merged.c.buffer in k.reads or k.writes is merged.c.buffer
                                               for k in kernels[step + 1:readers[0][0]]):
                kernels[step] = merged
                del kernels[readers[0][0]]
        step += 1
    program.kernels = kernels
    program.prune_buffers()
    return program


def _summed(g: Gemm, k) -> Gemm | None:
    """The Gemm computing what the Loop `k` (a sum of g's product over exactly its batch axes) stores."""
    nb = len(g.batch)
    product = g.c.buffer
    if (not isinstance(k, Loop) or k.combine != "add" or k.init != 0 or k.checks or len(k.loads) != 1
            or k.body.is_arg() != k.loads[0].name or tuple(k.domain) != tuple(g.batch) + (g.m, g.n)
            or set(k.reduce) - set(range(nb)) or not isinstance(k.store, View) or k.store.buffer is product):
        return None
    ld = k.loads[0]
    if ld.valid is not None or not isinstance(ld.access, View) or ld.access.key() != g.operand_view("c").key():
        return None
    if any(k.store.strides[a] != 0 and k.domain[a] > 1 for a in range(nb)):
        return None  # a batch axis the sum keeps
    target = k.store.buffer
    if (k.store.offset or tuple(k.store.strides[nb:]) != contiguous_strides((g.m, g.n)) or target.size != g.m * g.n
            or target.dtype != product.dtype or target in (g.a.buffer, g.b.buffer)):
        return None
    # A's k axis: a column (stride 1) of the m×k matrix, or a row (stride lda) when transposed; B's likewise
    a_inner = g.lda if g.trans_a else 1
    b_inner = 1 if g.trans_b else g.ldb
    if not (_runs_on(g.batch, g.a.batch_strides, g.k, a_inner) and _runs_on(g.batch, g.b.batch_strides, g.k, b_inner)):
        return None
    if (not g.trans_a and g.lda < _batch(g) * g.k) or (g.trans_b and g.ldb < _batch(g) * g.k):
        return None  # rows of the merged matrix would overlap (the batch does not lie inside one row)
    return dataclasses.replace(g, a=Operand(g.a.buffer, g.a.offset, ()), b=Operand(g.b.buffer, g.b.offset, ()),
                               c=Operand(target, 0, ()), batch=(), k=_batch(g) * g.k, ldc=g.n,
                               label=f"{g.label} + {k.label} (batch summed into k)")
