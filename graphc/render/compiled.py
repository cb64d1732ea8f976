"""The compiled view: a lowered Program drawn as kernels (nodes) joined by the buffers they pass (edges).

Edges run from the kernel that last wrote a buffer to each kernel that reads it, coloured by
the buffer's role (input, param, const, temp); a second write into a buffer (an accumulating
Map, a copy into a filled buffer) is a dotted edge from the previous writer. Two hooks wait
for passes that do not exist yet: fusion groups (`program.groups`, lists of kernel indices)
are drawn as clusters, and arena slots (`buffer.offset`) are shown on buffer labels.
"""
from __future__ import annotations

import sympy

from .. import shapes
from ..errors import RenderError
from ..lower import lower
from ..program import Fill, Gather, Map, MatMul, Program, Random, Reduce, ScatterAdd
from .formulas import fmt
from .scene import Scene

ROLE_COLOR = {"input": "#2563eb", "param": "#b45309", "const": "#6b7280", "temp": "#111827", "output": "#059669"}
ROLE_FILL = {"input": "#dbeafe", "param": "#fde68a", "const": "#f3f4f6", "temp": "#ffffff", "output": "#d1fae5"}


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
    return lower(graph, {}, target.n_outputs, target.updates)


def fusion_groups(program) -> list:
    """Hook: kernel index lists that a fusion pass merged into one kernel (drawn as clusters). None yet."""
    return getattr(program, "groups", None) or []


def arena_slot(buf) -> str:
    """Hook: where a buffer lives in the arena once a memory planner assigns offsets. Empty for now."""
    offset = getattr(buf, "offset", None)
    return f" @{offset}" if offset is not None else ""


def _kernel_lines(i, k) -> list:
    kind = type(k).__name__
    if isinstance(k, Map):
        subs = {a: sympy.Symbol(v.buffer.name) for a, v in zip(k.args, k.inputs)}
        body = fmt(k.body.xreplace(subs)) if k.body is not None else "?"
        detail = f"{k.out.buffer.name} {'+=' if k.accumulate else '='} {body}"
    elif isinstance(k, Reduce):
        detail = f"{k.op} over axes {tuple(k.axes)}"
    elif isinstance(k, MatMul):
        detail = f"{k.out.buffer.name} = {k.inputs[0].buffer.name} @ {k.inputs[1].buffer.name}"
    elif isinstance(k, Fill):
        detail = f"{k.out.buffer.name} = {k.value:g}"
    elif isinstance(k, (Gather, ScatterAdd)):
        detail = f"axis {k.axis}"
    elif isinstance(k, Random):
        detail = f"{k.dist} (seed {k.seed})"
    else:
        detail = ""
    lines = [f"#{i} {kind}"]
    if detail:
        lines.append(detail if len(detail) <= 60 else detail[:57] + "...")
    if k.label:
        lines.append(k.label)
    return lines


def _view_text(v) -> str:
    return f"{v.buffer.name}{arena_slot(v.buffer)} {list(v.shape)}"


def compiled_scene(program: Program, rankdir: str = "TB") -> Scene:
    s = Scene("graphc_program", rankdir)
    writer: dict[int, str] = {}   # buffer id -> key of the last kernel that wrote it
    sources: set = set()
    group_of = {k: gi for gi, ks in enumerate(fusion_groups(program)) for k in ks}

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
        cluster = (f"fusion group {group_of[i]}",) if i in group_of else ()
        s.node(key, _kernel_lines(i, k), cluster=cluster, shape="box", style="filled,rounded", fillcolor="#f9fafb")
        for v in k.inputs:
            role = v.buffer.role
            s.edge(read(v.buffer), key, _view_text(v), color=ROLE_COLOR.get(role, "black"), fontcolor=ROLE_COLOR.get(role, "black"))
        out = k.out.buffer
        if out.id in writer:
            s.edge(writer[out.id], key, f"{out.name} (written again)", style="dotted", color=ROLE_COLOR.get(out.role, "black"))
        writer[out.id] = key
    for j, v in enumerate(program.outputs):
        s.node(f"out{j}", [f"output {j}"], shape="oval", style="filled",
               fillcolor=ROLE_FILL["output"], color=ROLE_COLOR["output"])
        s.edge(read(v.buffer), f"out{j}", _view_text(v), color=ROLE_COLOR["output"], fontcolor=ROLE_COLOR["output"])
    for j, (target, v) in enumerate(program.updates):
        s.node(f"upd{j}", [f"update {target.name}"], shape="oval", style="filled", fillcolor=ROLE_FILL["param"],
               color=ROLE_COLOR["param"])
        s.edge(read(v.buffer), f"upd{j}", _view_text(v), color=ROLE_COLOR["param"], fontcolor=ROLE_COLOR["param"])
    legend = " ".join(f'<font color="{ROLE_COLOR[r]}">{r}</font>' for r in ("input", "param", "const", "temp", "output"))
    s.graph_attrs.update(label=f"<kernels (boxes) and the buffers they pass (edges), by role: {legend}>", labelloc="t")
    return s
