"""Lowering: a Graph specialised to concrete dims becomes a Program (buffers + kernels over views).

The driver walks the schedule and asks each node's op to lower itself (`Op.lower`), giving it
the Views of its inputs; ops that only move data return a new View of the same buffer and
emit nothing. Parameter updates are assigned after every kernel has run, so they are
simultaneous, as `gc.compile` promises.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import shapes
from .interpreter import concretize
from .ir import Graph, Node
from .program import Buffer, Fill, Kernel, Map, Program, View, verify


class LoweringContext:
    """What an op's `lower` method uses: fresh buffers, kernel emission, and the node being lowered."""

    def __init__(self, bindings: dict):
        self.bindings = bindings
        self.subs = {shapes.symbol(k): v for k, v in bindings.items()}
        self.program = Program(bindings=dict(bindings))
        self._ids = itertools.count()
        self._names: set[str] = set()
        self.node: Node | None = None

    @property
    def label(self) -> str:
        return f"{self.node.op.name} {self.node.qualname}" if self.node is not None else ""

    def buffer(self, shape, dtype, role: str = "temp", name: str | None = None, data=None, var=None) -> View:
        i = next(self._ids)
        size = int(np.prod(shape, dtype=np.int64))
        name = name or f"t{i}"
        if name in self._names:
            name = f"{name}_{i}"
        self._names.add(name)
        buf = Buffer(i, name, np.dtype(dtype), size, role, data=data, var=var)
        self.program.buffers.append(buf)
        return View.whole(buf, tuple(shape))

    def out(self) -> View:
        """A fresh temporary buffer for the current node's value (named after it when the user named it)."""
        name = None
        if self.node.name:
            name = "t_" + "".join(c if c.isalnum() else "_" for c in self.node.qualname)
        return self.buffer(self.shape(self.node), self.node.dtype, name=name)

    def shape(self, node: Node) -> tuple[int, ...]:
        return shapes.concrete_shape(node.shape, self.bindings)

    def emit(self, kernel: Kernel) -> Kernel:
        kernel.label = kernel.label or self.label
        self.program.kernels.append(kernel)
        return kernel

    def copy(self, src: View, dst: View | None = None, accumulate: bool = False) -> View:
        """Materialise `src` (into `dst`, or a fresh contiguous buffer)."""
        import sympy

        a = sympy.Symbol("a0", real=True)
        dst = dst if dst is not None else self.buffer(src.shape, src.buffer.dtype)
        self.emit(Map(dst, (src,), body=a, args=(a,), accumulate=accumulate))
        return dst

    def fill(self, view: View, value: float = 0.0) -> View:
        self.emit(Fill(view, value=value))
        return view

    def reshape(self, view: View, shape) -> View:
        """`view` in a new shape, copied to contiguous storage first if strides cannot express it."""
        shape = tuple(shape)
        out = view.reshape(shape)
        return out if out is not None else self.copy(view).reshape(shape)


def lower(graph: Graph, bindings: dict, n_outputs: int, updates: list) -> Program:
    """Lower `graph` (its first n_outputs outputs are results, the rest update values) for `bindings`."""
    ctx = LoweringContext(bindings)
    views: dict[Node, View] = {}
    for node in graph.nodes:
        ctx.node = node
        attrs = {k: concretize(v, ctx.subs) for k, v in node.attrs.items()}
        views[node] = node.op.lower(ctx, *(views[i] for i in node.inputs), **attrs)
    ctx.node = None
    prog = ctx.program
    prog.inputs = {n.attrs["name"]: views[n].buffer for n in graph.inputs}
    prog.outputs = [views[o] for o in graph.outputs[:n_outputs]]
    updated = {id(var) for var, _ in updates}
    for (var, new_node) in updates:
        target = next((b for b in prog.buffers if b.var is var), None)
        if target is None:  # a parameter the graph never reads, only overwrites
            target = ctx.buffer(var.shape, var.dtype, role="param", name="p_" + var.name.replace("/", "_"), var=var).buffer
        src = views[new_node]
        if src.buffer.role == "param" and (id(src.buffer.var) in updated or src.buffer is target):
            src = ctx.copy(src)  # never read a parameter that an earlier update already overwrote
        prog.updates.append((target, src))
    used = {id(v.buffer) for k in prog.kernels for v in k.views}
    used |= {id(v.buffer) for v in prog.outputs} | {id(b) for b in prog.inputs.values()}
    used |= {id(v.buffer) for _, v in prog.updates} | {id(t) for t, _ in prog.updates}
    prog.buffers = [b for b in prog.buffers if id(b) in used]  # constants folded into kernel bodies need no buffer
    return verify(prog)


def lower_map(ctx: LoweringContext, body, args, views) -> View:
    """The common lowering of elementwise ops: one Map kernel over `views` broadcast to the output.

    Scalar constant operands are folded into the body as numbers (`x * 0.5`, not a buffer)."""
    out = ctx.out()
    subs, ins, syms = {}, [], []
    for a, v in zip(args, views):
        if v.buffer.role == "const" and v.buffer.size == 1:
            value = v.buffer.data.reshape(())[()]
            kind = v.buffer.dtype.kind
            # str() of a float32 is its shortest round-trip spelling: 0.1, not 0.10000000149011612
            subs[a] = bool(value) if kind == "b" else (int(value) if kind in "iu" else float(str(value)))
        else:
            ins.append(v.broadcast_to(out.shape))
            syms.append(a)
    body = body.subs(subs) if subs else body
    ctx.emit(Map(out, tuple(ins), body=body, args=tuple(syms)))
    return out
