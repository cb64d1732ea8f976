"""The forward, backward and both views (optionally annotated with values) as Scenes.

Forward: inputs, parameters and constants drawn distinctly, ops with their user names, edges
with shapes, name scopes as clusters. Backward: one node per backward value labelled with the
local derivative it applies, the seed ∂L/∂L = 1 on top, forward values it reuses linked by
dashed blue edges. Both: the two side by side, linked by those same edges.
"""
from __future__ import annotations

from .formulas import unwrap
from .labels import Labeller, summarize, type_text
from .scene import Group, Scene, html_table
from ..errors import ArgumentError

BLUE, RED, AMBER = "#2563eb", "#b91c1c", "#b45309"
STYLE = {
    "input": dict(shape="parallelogram", fillcolor="#dbeafe", color=BLUE),
    "param": dict(shape="box", style="filled,rounded,bold", fillcolor="#fde68a", color=AMBER),
    "const": dict(shape="box", style="filled", fillcolor="#f3f4f6", color="#d1d5db", fontcolor="#374151", fontsize="9",
                  height="0.25", margin="0.05,0.02"),
    "op": dict(shape="box", style="filled,rounded", fillcolor="white", color="#374151"),
    "grad": dict(shape="box", style="filled", fillcolor="#fee2e2", color=RED),
    "seed": dict(shape="box", style="filled,bold", fillcolor="#fca5a5", color="#7f1d1d"),
    "saved": dict(shape="ellipse", style="filled", fillcolor="#dbeafe", color=BLUE, fontsize="9"),
    "group_fwd": dict(shape="box3d", style="filled", fillcolor="#eef2ff", color="#4338ca"),
    "group_bwd": dict(shape="box3d", style="filled", fillcolor="#fee2e2", color=RED),
}
EDGE_FWD = dict(color="#374151")
EDGE_GRAD = dict(color=RED, fontcolor=RED)
EDGE_SAVED = dict(style="dashed", color=BLUE, fontcolor=BLUE, penwidth="1.2")
CLUSTER_FWD = dict(label="forward", style="rounded", color=BLUE, fontcolor=BLUE, penwidth="1.5")
CLUSTER_BWD = dict(style="rounded", color=RED, fontcolor=RED, penwidth="1.5")


def _key(node) -> str:
    return f"n{node.id}"


def _kind(node) -> str:
    return node.op.name if node.op.name in ("input", "param", "const") else "op"


def _path(scope: str) -> tuple:
    return tuple(scope.split("/")) if scope else ()


class ViewBuilder:
    """Fills a Scene from an Analysis; `values` maps nodes to arrays, `grads` forward nodes to their gradients."""

    def __init__(self, analysis, values=None, grads=None, rankdir="TB"):
        self.a = analysis
        self.lab = Labeller(analysis)
        self.values = values or {}
        self.grads = grads or {}
        self.targets = set(analysis.targets)
        self.scene = Scene("graphc", rankdir)

    # -- forward ---------------------------------------------------------------------
    def forward(self, prefix: tuple = (), nodes=None):
        s = self.scene
        nodes = self.a.forward if nodes is None else nodes
        for n in nodes:
            kind = _kind(n)
            top = n.scope.split("/")[0] if n.scope else None
            group = f"fwd:{top}" if top else None
            if group and group not in s.groups:
                s.groups[group] = Group(top, STYLE["group_fwd"], prefix)
            attrs = dict(STYLE[kind])
            if n in self.targets:
                attrs["penwidth"] = "2.5"
            self._add(n, self.lab.forward(n), prefix + _path(n.scope), group, attrs, grad=True)
        drawn = set(nodes)
        for n in nodes:
            for i in n.inputs:
                if i in drawn:
                    s.edge(_key(i), _key(n), type_text(i), **EDGE_FWD)

    def _add(self, node, lines, cluster, group, attrs, grad=False):
        value = self.values.get(node)
        if value is None:
            self.scene.node(_key(node), lines, cluster=cluster, group=group, **attrs)
            return
        if len(lines) == 2 and node in self.a.forward_set:  # "z  (add)", "−z  (neg)"
            header = f"{unwrap(lines[1].removeprefix('= '))}  ({lines[0]})"
        else:
            header = "  ".join(lines)
        rows = [(header, None), (f"value {summarize(value)}", None)]
        if grad and node in self.grads:
            rows.append((f"grad {summarize(self.grads[node])}", "#fee2e2"))
        fill = attrs.get("fillcolor", "white")
        style = {k: v for k, v in attrs.items() if k in ("color", "penwidth")}
        self.scene.node(_key(node), html_table(rows, header_bg=fill), cluster=cluster, group=group, html=True,
                        shape="plain", **style)

    # -- backward --------------------------------------------------------------------
    def backward(self, prefix: tuple = (), with_forward: bool = False):
        """The backward nodes; reused forward values are drawn too unless the forward view is already there."""
        s, a = self.scene, self.a
        seed_key = None
        if a.seed is not None:
            seed_key = _key(a.seed) if a.seed in a.backward_set else "seed"
            s.node(seed_key, self.lab.backward(a.seed), cluster=prefix, **STYLE["seed"])
        for n in a.backward:
            if n is a.seed:
                continue
            scope = a.scope.get(n, "")
            top = scope.split("/")[0] if scope else None
            group = f"bwd:{top}" if top else None
            if group and group not in s.groups:
                s.groups[group] = Group(f"∇ {top}", STYLE["group_bwd"], prefix)
            attrs = dict(STYLE["const"] if n.op.name == "const" else STYLE["grad"])
            if n in self.targets:
                attrs.update(penwidth="2.5", fillcolor="#fca5a5")
            self._add(n, self.lab.backward(n) if n.op.name != "const" else self.lab.forward(n),
                      prefix + _path(scope), group, attrs)
        if not with_forward:
            for f in sorted(a.reused(), key=lambda n: n.id):
                top = f.scope.split("/")[0] if f.scope else None
                group = f"bwd:{top}" if top else None
                kind = _kind(f)
                style = STYLE["saved"] if kind == "op" else dict(STYLE[kind], fontsize="9")
                self._add(f, [self.lab.names.text(f)] if kind == "op" else self.lab.forward(f), prefix + _path(f.scope),
                          group, style)
        for n in a.backward:
            if n is a.seed:
                continue
            for i in n.inputs:
                label = type_text(i) if i.ndim else ""
                if i is a.seed:
                    s.edge(seed_key, _key(n), label, **EDGE_GRAD)
                elif i in a.backward_set:
                    s.edge(_key(i), _key(n), label, **EDGE_GRAD)
                else:
                    extra = {"constraint": "false"} if with_forward else {}
                    s.edge(_key(i), _key(n), label, **EDGE_SAVED, **extra)


def build(analysis, view: str, values=None, grads=None, rankdir="TB") -> Scene:
    """The Scene of `view` ('forward', 'backward', 'both' or 'values') for an Analysis."""
    b = ViewBuilder(analysis, values, grads, rankdir)
    if view in ("forward", "values"):
        b.forward()
    elif view == "backward":
        b.backward()
    elif view == "both":
        b.scene.clusters[("forward",)] = CLUSTER_FWD
        loss = b.lab.loss_name
        b.scene.clusters[("backward",)] = dict(CLUSTER_BWD, label=f"backward: ∂{loss}/∂·, each node applying one local derivative")
        b.forward(prefix=("forward",))
        b.backward(prefix=("backward",), with_forward=True)
    else:
        raise ArgumentError(view)
    return b.scene
