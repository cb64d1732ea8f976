"""Lowering: a Graph specialised to concrete dims becomes a Program of Loop and Gemm kernels.

`lower` walks the schedule with `ir.interpret`, asking each node's op to lower itself
(`Op.lower(ctx, *accesses, **attrs)`); ops that only move data return a new access on the same
buffer and emit nothing. `LoweringContext` is the whole vocabulary an op uses: elementwise
maps, reductions, matrix products, copies and general loops, so ops never import this layer.
Outputs get buffers of their own; parameter updates are the last kernels, after every read.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import dtypes, scalar_ops, shapes
from .ir import Graph, Node, identifier, interpret
from .program import Buffer, Chain, Gather, Gemm, Load, Loop, Operand, Program, View
from .shapes import concretize
from .scalar_ops import Builder


class LoweringContext:
    """What an op's `lower` method uses: fresh buffers, kernel builders, and the node being lowered."""

    def __init__(self, bindings: dict):
        self.bindings = bindings
        self.subs = {shapes.symbol(k): v for k, v in bindings.items()}
        self.program = Program(bindings=dict(bindings))
        self._ids = itertools.count()
        self._names: set[str] = set()
        self.node: Node | None = None
        self.nonfinite_by_design = False  # the node being lowered writes inf/NaN on purpose (Op.fills_nonfinite)
        self._copies: dict[tuple, View] = {}

    @property
    def label(self) -> str:
        return f"{self.node.op.name} '{self.node.qualname}'" if self.node is not None else ""  # as the interpreter says

    # -- buffers -------------------------------------------------------------------
    def buffer(self, shape, dtype, role: str = "temp", name: str | None = None, data=None, var=None) -> View:
        i = next(self._ids)
        name = name or f"t{i}"
        if name in self._names:
            name = f"{name}_{i}"
        self._names.add(name)
        buf = Buffer(i, name, np.dtype(dtype), math.prod(shape), role, data=data, var=var)
        self.program.buffers.append(buf)
        return View.whole(buf, tuple(shape))

    def out(self, dtype=None) -> View:
        """A fresh temporary for the current node's value (named after it when the user named it)."""
        name = "t_" + identifier(self.node.qualname) if self.node.name else None
        return self.buffer(self.shape(self.node), dtype or self.node.dtype, name=name)

    def shape(self, node: Node) -> tuple[int, ...]:
        return shapes.concrete_shape(node.shape, self.bindings)

    def emit(self, kernel):
        kernel.label = kernel.label or self.label
        kernel.nonfinite_by_design = self.nonfinite_by_design
        self.program.kernels.append(kernel)
        return kernel

    # -- kernels ---------------------------------------------------------------------
    def loop(self, domain, loads, body, store, *, reduce=(), combine=None, init=None, checks=()) -> None:
        """Emit one Loop; `loads` are Load objects (see graphc.program)."""
        self.emit(Loop(tuple(domain), tuple(loads), body, store, tuple(reduce), combine, init, tuple(checks)))

    def elementwise(self, formula, symbols, accesses, compute=None) -> View:
        """One Loop computing the sympy `formula` of `symbols` bound to `accesses`, broadcast to the node's shape.

        Scalar constant operands are folded into the body as numbers (`x * 0.5`, not a buffer).
        compute: the dtype arithmetic happens in (default: the result's; for a bool result the operands')."""
        out = self.out()
        result = out.buffer.dtype
        if compute is None:
            compute = result if result != scalar_ops.BOOL else dtypes.promote(*(a.buffer.dtype for a in accesses))
        compute = dtypes.compute_type(compute)  # arithmetic never happens in a storage-only type (float16)
        loads, binding = [], {}
        for sym, a in zip(symbols, accesses):
            if a.buffer.role == "const" and a.buffer.size == 1:
                value = a.buffer.data.reshape(())[()]
                binding[sym] = ("const", bool(value) if a.buffer.dtype.kind == "b" else
                                int(value) if a.buffer.dtype.kind in "iu" else float(value), None)
                continue
            name = f"a{len(loads)}"
            loads.append(Load(name, self.broadcast(a, out.shape)))
            binding[sym] = ("arg", name, a.buffer.dtype)
        body = scalar_ops.from_sympy(formula, binding, compute, result)
        self.loop(out.shape, loads, body, out)
        return out

    def map_body(self, accesses, build, dtype=None, shape=None) -> View:
        """A Loop whose Body `build(builder, load positions)` writes; accesses are broadcast to the output."""
        out = self.buffer(shape, dtype or self.node.dtype) if shape is not None else self.out(dtype)
        b = Builder()
        loads, operands = [], []
        for a in accesses:
            if a.buffer.role == "const" and a.buffer.size == 1:  # a scalar constant becomes a number in the body
                operands.append(b.const(a.buffer.data.reshape(())[()], a.buffer.dtype))
            else:
                loads.append(Load(f"a{len(loads)}", self.broadcast(a, out.shape)))
                operands.append(b.arg(loads[-1].name, a.buffer.dtype))
        res = build(b, operands)
        self.loop(out.shape, loads, b.build(b.cast(res, out.buffer.dtype)), out)
        return out

    def load(self, name: str, access, valid=None, fill: float = 0.0) -> Load:
        return Load(name, access, valid, fill)

    def body(self, loads, build, dtype):
        """The Body `build(builder, [one value per load])` computes, cast to `dtype`."""
        b = Builder()
        res = build(b, [b.arg(ld.name, ld.buffer.dtype) for ld in loads])
        return b.build(b.cast(res, dtype))

    def copy(self, src, dst: View | None = None, init=None) -> View:
        """Materialise `src` (any access) into `dst` or a fresh contiguous temporary; with `init`, every
        element of dst's buffer outside dst is set to it (the Loop is the buffer's one writer)."""
        dst = dst if dst is not None else self.buffer(src.shape, src.buffer.dtype)
        b = Builder()
        body = b.build(b.cast(b.arg("a0", src.buffer.dtype), dst.buffer.dtype))
        self.loop(dst.shape, [Load("a0", src)], body, dst, init=init)
        return dst

    def materialize(self, access) -> View:
        """`access` as a View: itself when it is one, else a copy."""
        return access if isinstance(access, View) else self.contiguous(access)

    def contiguous(self, access) -> View:
        """A contiguous copy of `access`, made once per lowering: a second request (the backward pass reading
        the im2col matrix the forward pass built, say) gets the same buffer."""
        key = access.key()
        hit = self._copies.get(key)
        if hit is None:
            hit = self._copies[key] = self.copy(access)
        return hit

    def reduce(self, x, axes, combine: str, dtype, body=None) -> View:
        """combine-reduce `x` over `axes` into a fresh buffer of x's shape with those axes at 1.

        body(builder, loaded x) -> value, default the element itself (cast to `dtype`)."""
        kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        out = self.buffer(kept, dtype)
        b = Builder()
        v = b.arg("a0", x.buffer.dtype)
        v = body(b, v) if body is not None else v
        store = View(out.buffer, tuple(x.shape), tuple(0 if i in axes else s for i, s in enumerate(out.strides)))
        self.loop(x.shape, [Load("a0", x)], b.build(b.cast(v, dtype)), store, reduce=tuple(axes), combine=combine)
        return out

    def matmul(self, a, b) -> View:
        """(*batch, m, k) @ (*batch, k, n) into a fresh (*batch, m, n) buffer: a Gemm for floats, a Loop otherwise."""
        out = self.out()
        batch, (m, k), n = out.shape[:-2], a.shape[-2:], b.shape[-1]
        if out.buffer.dtype.kind != "f":
            d = out.buffer.dtype
            a4 = self.broadcast(a, batch + (m, k)).reshape(batch + (m, 1, k)).broadcast_to(batch + (m, n, k))
            b4 = self.broadcast(b, batch + (k, n)).transpose(tuple(range(len(batch))) + (len(batch) + 1, len(batch)))
            b4 = b4.reshape(batch + (1, n, k)).broadcast_to(batch + (m, n, k))
            bb = Builder()
            body = bb.build(bb.binary("mul", bb.cast(bb.arg("a0", a.buffer.dtype), d), bb.cast(bb.arg("a1", b.buffer.dtype), d)))
            self.loop(batch + (m, n, k), [Load("a0", a4), Load("a1", b4)], body,
                      out.reshape(batch + (m, n, 1)).broadcast_to(batch + (m, n, k)), reduce=(len(batch) + 2,), combine="add")
            return out
        ops = []
        for v, rows, cols in ((a, m, k), (b, k, n)):
            if v.buffer.dtype != out.buffer.dtype:  # a BLAS product reads one dtype: cast the other operand once
                v = self.copy(v, self.buffer(v.shape, out.buffer.dtype))
            v = self.broadcast(v, batch + (rows, cols))
            layout = _gemm_layout(v, rows, cols) if isinstance(v, View) else None
            if layout is None:  # not a BLAS matrix (a chain, or no unit stride): copy once, contiguous
                v = self._matrix(v)
                layout = _gemm_layout(v, rows, cols)
            ops.append((v, *layout))
        (av, ta, lda), (bv, tb, ldb) = ops
        self.emit(Gemm(Operand(av.buffer, av.offset, av.strides[:-2]), Operand(bv.buffer, bv.offset, bv.strides[:-2]),
                       Operand(out.buffer, 0, out.strides[:-2]), tuple(batch), m, n, k, ta, tb, lda, ldb, max(n, 1)))
        return out

    def _matrix(self, access) -> View:
        """A BLAS-ready View of `access`: a chain ending in a swap of its last two axes is materialised without
        the swap (which the Gemm then reads as a transposition), so Xᵀ and X share one copy."""
        n = len(access.shape)
        swap = tuple(range(n - 2)) + (n - 1, n - 2)
        if isinstance(access, Chain) and access.steps[-1] == ("transpose", swap):
            inner = Chain(access.base, access.steps[:-1], _unswapped(access.shape)) if len(access.steps) > 1 else access.base
            return self.contiguous(inner).transpose(swap)
        return self.contiguous(access)

    # -- accesses --------------------------------------------------------------------
    def broadcast(self, access, shape):
        shape = tuple(shape)
        if tuple(access.shape) == shape:
            return access
        return access.broadcast_to(shape)

    def reshape(self, access, shape):
        return access.reshape(tuple(shape))

    def gather(self, access, axis: int, index: str, rank: int, domain) -> Gather:
        """`access` with axis `axis` indexed by the values of load `index` (see graphc.program.Gather)."""
        return Gather(self.materialize(access), axis, index, rank, tuple(domain))

    def windows(self, access, kernel, stride, dilation) -> View:
        return self.materialize(access).windows(kernel, stride, dilation)

    def padded(self, access, pads, value) -> View:
        """One Loop writing `access` with (before, after) padding per axis, `value` outside."""
        x = self.materialize(access)
        out = self.out()
        shifted = x.placed(out.shape, [lo for lo, _ in pads])
        box = tuple((lo, lo + d) for (lo, _), d in zip(pads, x.shape))
        b = Builder()
        self.loop(out.shape, [Load("a0", shifted, box, value)], b.build(b.arg("a0", x.buffer.dtype)), out)
        return out


def _unswapped(shape):
    return tuple(shape[:-2]) + (shape[-1], shape[-2])


def _gemm_layout(v: View, rows: int, cols: int):
    """(transposed, leading dimension) when the View is a BLAS matrix in its last two axes, else None."""
    rs, cs = v.strides[-2], v.strides[-1]
    if (cols <= 1 or cs == 1) and (rows <= 1 or rs >= max(cols, 1)):
        return False, (rs if rows > 1 else max(cols, 1))
    if (rows <= 1 or rs == 1) and (cols <= 1 or cs >= max(rows, 1)):
        return True, (cs if cols > 1 else max(rows, 1))
    return None


def lower(graph: Graph, bindings: dict, n_outputs: int, updates: list) -> Program:
    """Lower `graph` (its first n_outputs outputs are results, the rest update values) for `bindings`."""
    ctx = LoweringContext(bindings)

    def rule(node, accesses):
        ctx.node = node
        attrs = {k: concretize(v, ctx.subs) for k, v in node.attrs.items()}
        ctx.nonfinite_by_design = node.op.fills_nonfinite(**attrs)
        return node.op.lower(ctx, *accesses, **attrs)

    values = interpret(graph, rule)
    ctx.node, ctx.nonfinite_by_design = None, False
    prog = ctx.program
    prog.inputs = {n.attrs["name"]: values[n].buffer for n in graph.inputs}
    _lower_outputs(ctx, [values[o] for o in graph.outputs[:n_outputs]])
    _lower_updates(ctx, values, updates)
    used = {id(b) for k in prog.kernels for b in (*k.reads, k.writes)}
    used |= {id(b) for b in prog.inputs.values()}
    prog.buffers = [b for b in prog.buffers if id(b) in used]  # constants folded into kernel bodies need no buffer
    return prog


def _lower_outputs(ctx: LoweringContext, accesses: list):
    """Give every output a buffer of its own: a whole temporary becomes one, anything else is copied into one."""
    taken: set[int] = set()
    for access in accesses:
        b = access.buffer
        if isinstance(access, View) and access.is_whole and b.role == "temp" and id(b) not in taken:
            b.role = "output"
        else:  # a view, a parameter (the updates overwrite it), an input or a constant: the caller gets a copy
            dst = ctx.buffer(access.shape, b.dtype, role="output")
            ctx.copy(access, dst)
            ctx.program.kernels[-1].label = f"output {len(ctx.program.outputs)}"
            b = dst.buffer
        taken.add(id(b))
        ctx.program.outputs.append((b, tuple(access.shape)))


def _lower_updates(ctx: LoweringContext, values: dict, updates: list):
    """Copy each new value into its parameter's buffer, after every kernel has read the old values."""
    prog = ctx.program
    updated = {id(var) for var, _ in updates}
    sources = []
    for var, new_node in updates:
        src = values[new_node]
        if src.buffer.role in ("param", "state") and id(src.buffer.var) in updated:
            src = ctx.copy(src)  # never read a parameter that an earlier update already overwrote
            prog.kernels[-1].label = f"save {src.buffer.name} before the updates"
        sources.append(src)
    for (var, new_node), src in zip(updates, sources):
        target = next((b for b in prog.buffers if b.var is var), None)
        if target is None:  # a parameter the graph never reads, only overwrites
            target = ctx.buffer(var.shape, var.dtype, role=var.role if var.role == "state" else "param",
                                name="p_" + identifier(var.name), var=var).buffer
        ctx.copy(src, View.whole(target, src.shape))
        prog.kernels[-1].label = f"update {var.name}"

