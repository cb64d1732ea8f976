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
from ..nn.module import MODULE_SCOPES

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


def _module_prefixes(path: tuple) -> list[tuple]:
    """The prefixes of a scope path that are scopes of nn modules, outermost first."""
    return [path[:i] for i in range(1, len(path) + 1) if "/".join(path[:i]) in MODULE_SCOPES]


class ViewBuilder:
    """Fills a Scene from an Analysis; `values` maps nodes to arrays, `grads` forward nodes to their gradients."""

    def __init__(self, analysis, values=None, grads=None, rankdir="TB"):
        self.a = analysis
        self.lab = Labeller(analysis)
        self.values = values or {}
        self.grads = grads or {}
        self.targets = set(analysis.targets)
        self.scene = Scene("graphc", rankdir)
        # collapsing draws one box per layer (see _layer); scopes that are no module's fall back to the
        # level just below what every such scope shares
        scopes = [_path(n.scope) for n in analysis.forward if n.scope] + [_path(s) for s in analysis.scope.values() if s]
        plain = [p for p in scopes if not _module_prefixes(p)]
        self.depth = 0
        if plain:
            while all(len(p) > self.depth + 1 and p[self.depth] == plain[0][self.depth] for p in plain):
                self.depth += 1

    def _layer(self, path: tuple) -> tuple | None:
        """The box a node in scope `path` collapses into: its outermost module, or that module's child
        module when the outermost one is a container (the model itself, an nn.Sequential) — one box per
        layer, never the whole model as one box."""
        modules = _module_prefixes(path)
        if modules:
            outer = modules[0]
            inside = "/".join(outer) + "/"
            is_container = any(m.startswith(inside) for m in MODULE_SCOPES)
            return modules[1] if is_container and len(modules) > 1 else (None if is_container else outer)
        return path[:self.depth + 1] if len(path) > self.depth else None

    def _group(self, scope: str, kind: str, prefix: tuple):
        """The collapse group of a node in `scope` ('fwd' or 'bwd'), registered on first use; None outside layers."""
        layer = self._layer(_path(scope))
        if layer is None:
            return None
        key = f"{kind}:{'/'.join(layer)}"
        if key not in self.scene.groups:
            label = layer[-1] if kind == "fwd" else f"∇ {layer[-1]}"
            self.scene.groups[key] = Group(label, STYLE["group_" + kind], prefix + layer[:-1])
        return key

    # -- forward ---------------------------------------------------------------------
    def forward(self, prefix: tuple = (), nodes=None):
        s = self.scene
        nodes = self.a.forward if nodes is None else nodes
        for n in nodes:
            kind = _kind(n)
            group = self._group(n.scope, "fwd", prefix)
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
            group = self._group(scope, "bwd", prefix)
            attrs = dict(STYLE["const"] if n.op.name == "const" else STYLE["grad"])
            if n in self.targets:
                attrs.update(penwidth="2.5", fillcolor="#fca5a5")
            self._add(n, self.lab.backward(n) if n.op.name != "const" else self.lab.forward(n),
                      prefix + _path(scope), group, attrs)
        if not with_forward:
            for f in sorted(a.reused(), key=lambda n: n.id):
                group = self._group(f.scope, "bwd", prefix)
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
