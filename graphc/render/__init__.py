"""gc.render: Graphviz drawings of forward, backward and compiled graphs that teach backprop.

Modules: `formulas` (one-line unicode formulas, names), `analysis` (forward/backward split,
seed, cotangents), `labels` (node labels, derivative formulas, value summaries), `scene`
(nodes, clusters, collapsing), `views` (forward/backward/both/values), `compiled` (kernels and
buffers), `output` (the Digraph, layout settings, atomic writes, missing-`dot` error).
"""
from __future__ import annotations

from .. import dtypes
from ..autodiff import grad
from ..errors import GraphcError, RenderError
from ..interpreter import run
from .. import ir as ir_module, pipeline
from ..ir import Graph, Node, toposort
from ..program import Program
from ..runtime import bind_inputs
from ..tensor import as_nodes
from .analysis import Analysis
from .compiled import compiled_scene, program_of
from .memory import memory_figure
from .output import GraphcDigraph, write
from .views import build

VIEWS = ("forward", "backward", "both", "values", "compiled", "memory")
COLLAPSE_AUTO = 120  # drawings with more nodes than this collapse each module to one node under collapse="auto"


def render(target, view: str | None = None, values: dict | None = None, *, wrt=None, path=None,
           collapse="auto", rankdir: str = "TB", layout: dict | None = None) -> GraphcDigraph:
    """Draw a graph with Graphviz; returns a graphviz.Digraph (`.source`, `.pipe()`, `.render()`, Jupyter display).

    target: a tensor, a list of tensors (such as gc.grad's result, or [loss, *grads]), a Graph,
        or a compiled function (gc.compile).
    view: 'forward' (ops, inputs, parameters, constants, shapes, scopes as clusters); 'backward'
        (each gradient node with the local derivative it applies; the seed ∂L/∂L = 1 on top;
        reused forward values on dashed blue edges); 'both' (side by side); 'values' (the forward
        graph with each node's value and gradient, computed by the reference interpreter from
        `values`); 'compiled' (a compiled function's kernels and buffers, after a call); 'memory'
        (a compiled function's arena: each temporary over the kernels it is live, a matplotlib
        Figure, written to `path` when given).
        Default: 'compiled' for a compiled function, 'backward' for gradients, 'both' for
        [loss, *gradients], else 'forward'.
    values: {input name or tensor: array}: annotate nodes with their values ('values' view: required
        when the graph has inputs).
    wrt: for a scalar loss drawn in the backward/both/values view: the tensors to differentiate
        with respect to (default: its trainable parameters; 'values' default: every node).
    path: also write the drawing there: .svg, .png, .pdf (laid out by Graphviz) or .dot (source only).
    collapse: True draws each top-level name scope (module) as one node; 'auto' does so above
        COLLAPSE_AUTO nodes; False never.
    layout: extra Graphviz graph attributes (e.g. {'splines': 'ortho'}, {'engine': 'sfdp'}).
    """
    if view is not None and view not in VIEWS:
        raise RenderError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    is_compiled = isinstance(target, Program) or (hasattr(target, "backend") and hasattr(target, "graph"))
    if view == "memory":  # a matplotlib Figure, not a Graphviz drawing
        return memory_figure(program_of(target), path)
    if view == "compiled" or (view is None and is_compiled):
        scene = compiled_scene(program_of(target), rankdir)
    else:
        targets = _target_nodes(target)
        analysis = Analysis(targets)
        if view is None:
            if not analysis.has_backward:
                view = "forward"
            else:
                view = "both" if any(t in analysis.forward_set for t in targets) else "backward"
        grads = None
        if view in ("backward", "both") and not analysis.has_backward:
            loss = _scalar_loss(analysis.targets, view)
            analysis = Analysis(targets + grad(loss, _default_wrt(loss, wrt)), loss=loss)
        node_values = None
        if view == "values":
            node_values, grads = _values_and_grads(analysis, values, wrt)
        elif values is not None:
            node_values = _evaluate(analysis.nodes, values)
        scene = build(analysis, view, node_values, grads, rankdir)
    if collapse is True or (collapse == "auto" and len(scene) > COLLAPSE_AUTO and scene.groups):
        scene = scene.collapse()
    dg = scene.to_digraph(layout)
    if path is not None:
        write(dg, path)
    return dg


def _draw_stage(result, path: str) -> None:
    """A pipeline stage's drawing for gc.compile(dump=...): a Graph as the graph it is (its backward part
    is ordinary ops), a Program as its kernels."""
    render(result, view="compiled" if isinstance(result, Program) else "forward", path=path)


pipeline.STAGE_DRAWING["draw"] = _draw_stage


def _target_nodes(target) -> list[Node]:
    if isinstance(target, Graph):
        return list(target.outputs)
    if hasattr(target, "backend") and hasattr(target, "graph"):
        return list(target.graph.outputs)
    try:
        out = as_nodes(target if isinstance(target, (list, tuple)) else [target])
    except GraphcError:
        raise RenderError(f"cannot render {target!r}: give tensors, a list of tensors, a Graph or a compiled function") from None
    if not out:
        raise RenderError("nothing to render: the target list is empty")
    return out


def _scalar_loss(targets, view) -> Node:
    loss = targets[0]
    if len(targets) != 1 or not dtypes.is_float(loss.dtype) or any(d != 1 for d in loss.shape if isinstance(d, int)) \
            or not all(isinstance(d, int) for d in loss.shape):
        raise RenderError(f"the {view} view needs gradients: render gc.grad(loss, params) (or [loss, *grads]), "
                          f"or a single scalar float loss to differentiate")
    return loss


def _default_wrt(loss: Node, wrt) -> list[Node]:
    if wrt is not None:
        return as_nodes(wrt)
    graph = Graph([loss])
    params = [n for n in graph.params if dtypes.is_float(n.dtype) and n.attrs["var"].trainable]
    chosen = params or [n for n in graph.inputs if dtypes.is_float(n.dtype)]
    if not chosen:
        raise RenderError(f"{loss.qualname!r} depends on no parameter or float input: nothing to differentiate")
    return chosen


def _evaluate(nodes, values) -> dict:
    """Every node's value by the reference interpreter, inputs bound from `values` {name or tensor: array}."""
    given = {}
    for k, v in (values or {}).items():
        node = getattr(k, "node", k)
        given[node.attrs["name"] if isinstance(node, Node) else k] = v
    graph = Graph(list(nodes))
    arrays, bindings = bind_inputs(graph.inputs, given, cast="same_kind")
    return run(graph, arrays, bindings, keep="all")


def _values_and_grads(analysis, values, wrt):
    """Values of every drawn node and, for a scalar loss, the gradient of every forward node on a path to it."""
    forward = analysis.forward
    loss = analysis.targets[0]
    grads_nodes = {}
    scalar = dtypes.is_float(loss.dtype) and all(isinstance(d, int) and d == 1 for d in loss.shape)
    if scalar and loss in analysis.forward_set:
        upstream = set(toposort([loss]))
        candidates = [n for n in forward if n in upstream and dtypes.is_float(n.dtype) and n.op.name != "const"]
        if wrt is not None:
            roots = set(as_nodes(wrt))
            reach = set()
            for n in forward:
                if n in roots or any(i in reach for i in n.inputs):
                    reach.add(n)
            candidates = [n for n in candidates if n in reach]
        if candidates:
            grads_nodes = dict(zip(candidates, grad(loss, candidates)))
    needed = [n.attrs["name"] for n in Graph(list(analysis.nodes)).inputs]
    if needed and not values:
        raise RenderError(f"the values view computes every node's value: pass values={{name: array}} for the inputs {needed}")
    env = _evaluate(list(analysis.nodes) + list(grads_nodes.values()), values)
    node_values = {n: env[n] for n in analysis.nodes if n in env}
    grads = {n: env[g] for n, g in grads_nodes.items() if g in env}
    return node_values, grads


DISPLAY_NODES = 400  # a notebook draws graphs up to this size (collapsed by layer); larger ones show as text


def notebook_drawing(target) -> dict:
    """{'image/svg+xml': svg} for a notebook's display of a Graph, tensor or compiled function; {} when
    it cannot be drawn (Graphviz missing, too large, nothing to draw): a display never raises."""
    try:
        if isinstance(target, Graph):
            target, size = list(target.outputs), len(target)
        elif hasattr(target, "backend") and hasattr(target, "graph"):
            size = len(target.graph)
            ran = getattr(target.backend, "last", None) is not None
            target = target if ran else list(target.graph.outputs)
        else:
            size = len(toposort(as_nodes([target])))
        if size > DISPLAY_NODES or (isinstance(target, list) and not target):
            return {}
        return {"image/svg+xml": render(target).pipe(format="svg").decode()}
    except Exception:  # noqa: BLE001 - a notebook display falls back to text, whatever went wrong
        return {}


ir_module.display_hook = notebook_drawing

__all__ = ["render", "RenderError", "VIEWS", "notebook_drawing"]
