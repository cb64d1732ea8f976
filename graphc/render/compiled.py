"""The compiled view: a lowered Program drawn as kernels (nodes) joined by the buffers they pass (edges).

Edges run from the kernel that last wrote a buffer to each kernel that reads it, coloured by
the buffer's role (input, param, state, const, output) or, for temporaries, by the arena slot they
share (buffers that reuse the same bytes have one colour). Every buffer has one writer, so
each edge names the buffer it carries; parameter updates are the last kernels. A fused kernel is
drawn as a cluster, labelled with its fused formula, around the graph ops it implements
(`kernel.fused`), and arena slots (`buffer.offset`) are shown on buffer labels.
"""
from __future__ import annotations

from .. import shapes
from ..errors import RenderError
from ..pipeline import compile_program
from ..program import Gemm, Loop, Program
from .scene import Scene

ROLE_COLOR = {"input": "#2563eb", "param": "#b45309", "state": "#92400e", "const": "#6b7280", "temp": "#111827",
              "output": "#059669"}
ROLE_FILL = {"input": "#dbeafe", "param": "#fde68a", "state": "#fef3c7", "const": "#f3f4f6", "temp": "#ffffff",
             "output": "#d1fae5"}
SLOT_COLORS = ("#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#c2410c", "#0e7490", "#be185d", "#4d7c0f", "#a16207",
               "#334155")  # temporaries sharing an arena slot share a colour
_INFIX = {"add": "+", "sub": "−", "mul": "·", "div": "/", "lt": "<", "le": "≤", "eq": "=", "ne": "≠"}


def program_of(target) -> Program:
    """The Program of a compiled function's most recent call (or of a static-shaped function)."""
    if isinstance(target, Program):
        return target
    backend = getattr(target, "backend", None)
    last = getattr(backend, "last", None)
    if last is not None:
        return last.program
    graph = getattr(target, "graph", None)
    if graph is None:
        raise RenderError(f"the compiled view draws a compiled function (gc.compile) or a Program, not {type(target).__name__}")
    if any(shapes.free_symbols(n.shape) for n in graph.inputs):
        raise RenderError("the compiled view shows the program of one call's shapes: call the function once "
                          "(with backend='numpy') before rendering it")
    return compile_program(graph, {}, target.n_outputs, target.updates)


def arena_slot(buf) -> str:
    """Where a buffer lives in the arena: its byte offset, set by the memory plan (temporaries only)."""
    offset = getattr(buf, "offset", None)
    return f" @{offset}" if offset is not None else ""


def body_text(body, names: dict) -> str:
    """A Body as a one-line formula over the buffers' names (shared values are spelled out again)."""
    def text(i, depth=0):
        o = body.ops[i]
        if o.op == "const":
            return f"{o.value:g}" if isinstance(o.value, float) else str(o.value)
        if o.op == "arg":
            return names.get(o.value, o.value)
        if o.op == "axis":
            return f"i{o.value}"
        if depth > 6:
            return "…"
        args = [text(a, depth + 1) for a in o.args]
        if o.op in _INFIX:
            return f"({args[0]} {_INFIX[o.op]} {args[1]})"
        args = [a[1:-1] if a.startswith("(") and a.endswith(")") else a for a in args]  # f(a + b), not f((a + b))
        if o.op == "neg":
            return f"−{args[0]}"
        if o.op == "cast":
            return f"{o.dtype.name}({args[0]})"
        return f"{o.op}({', '.join(args)})"

    out = text(body.out)
    return out[1:-1] if out.startswith("(") and out.endswith(")") else out


def _kernel_lines(i, k) -> list:
    if isinstance(k, Gemm):
        t = lambda flag: "ᵀ" if flag else ""  # noqa: E731
        kind = "Gemm" + (" with epilogue" if k.epilogue is not None else "")
        product = f"{k.a.buffer.name}{t(k.trans_a)} @ {k.b.buffer.name}{t(k.trans_b)}"
        if k.epilogue is not None:
            names = {ld.name: ld.buffer.name for ld in k.epilogue_loads} | {"acc": f"({product})"}
            product = body_text(k.epilogue, names)
        detail = f"{k.c.buffer.name} = {product}"
    else:
        kind = "Loop" if not k.combine else f"Loop ({k.combine} over axes {tuple(k.reduce)})"
        names = {ld.name: ld.buffer.name for ld in k.loads}
        detail = f"{k.store.buffer.name} = {body_text(k.body, names)}"
    lines = [f"#{i} {kind}"]
    if detail:
        lines.append(detail if len(detail) <= 60 else detail[:57] + "...")
    if k.label and len(k.fused) <= 1:  # a fused kernel's ops are drawn around it
        lines.append(k.label)
    return lines


def _fused_formula(k, limit: int = 90) -> str:
    if isinstance(k, Gemm):
        names = {ld.name: ld.buffer.name for ld in k.epilogue_loads} | {"acc": f"({k.a.buffer.name} @ {k.b.buffer.name})"}
        text = body_text(k.epilogue, names)
    else:
        text = body_text(k.body, {ld.name: ld.buffer.name for ld in k.loads})
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _view_text(access) -> str:
    return f"{access.buffer.name}{arena_slot(access.buffer)} {list(access.shape)}"


def compiled_scene(program: Program, rankdir: str = "TB") -> Scene:
    s = Scene("graphc_program", rankdir)
    writer: dict[int, str] = {}   # buffer id -> key of the last kernel that wrote it
    sources: set = set()
    slots = {o: n for n, o in enumerate(sorted({b.offset for b in program.temporaries if b.offset is not None}))}

    def color(buf) -> str:
        if buf.role == "temp" and buf.offset is not None:
            return SLOT_COLORS[slots[buf.offset] % len(SLOT_COLORS)]
        return ROLE_COLOR.get(buf.role, "black")

    def source(buf) -> str:
        key = f"b{buf.id}"
        if key not in sources:
            sources.add(key)
            s.node(key, [buf.name, f"{buf.role} {buf.dtype}[{buf.size}]{arena_slot(buf)}"], shape="note", style="filled",
                   fillcolor=ROLE_FILL.get(buf.role, "white"), color=ROLE_COLOR.get(buf.role, "black"), fontsize="9")
        return key

    def read(buf):
        return writer.get(buf.id) or source(buf)

    for i, k in enumerate(program.kernels):
        key = f"k{i}"
        cluster = ()
        if len(k.fused) > 1:  # the graph ops this one kernel implements, inside a cluster named by its formula
            cluster = (f"#{i} fused: {_fused_formula(k)}",)
            s.clusters[cluster] = dict(style="rounded,filled", fillcolor="#eef2ff", color="#6366f1", fontcolor="#3730a3")
            for j, part in enumerate(k.fused):
                s.node(f"{key}_op{j}", [part], cluster=cluster, shape="ellipse", style="filled", fillcolor="#e0e7ff",
                       color="#a5b4fc", fontsize="8")
                s.edge(f"{key}_op{j}", key, style="invis")
        s.node(key, _kernel_lines(i, k), cluster=cluster, shape="box", style="filled,rounded", fillcolor="#f9fafb")
        accesses = ([ld.access for ld in k.loads] if isinstance(k, Loop) else
                    [k.operand_view("a"), k.operand_view("b")] + [ld.access for ld in k.epilogue_loads])
        for access in accesses:
            s.edge(read(access.buffer), key, _view_text(access), color=color(access.buffer), fontcolor=color(access.buffer))
        writer[k.writes.id] = key
    for j, (buf, shape) in enumerate(program.outputs):
        s.node(f"out{j}", [f"output {j}"], shape="oval", style="filled",
               fillcolor=ROLE_FILL["output"], color=ROLE_COLOR["output"])
        s.edge(read(buf), f"out{j}", f"{buf.name} {list(shape)}", color=ROLE_COLOR["output"], fontcolor=ROLE_COLOR["output"])
    legend = " ".join(f'<font color="{ROLE_COLOR[r]}">{r}</font>' for r in ("input", "param", "state", "const", "output"))
    s.graph_attrs.update(label=f"<kernels (boxes) and the buffers they pass (edges), by role: {legend}; temporaries "
                               f"coloured by arena slot (one colour, one range of bytes: @offset)>", labelloc="t")
    return s
