"""A drawing before Graphviz: nodes, edges, nested clusters and collapse groups, turned into a Digraph.

Views (graphc.render.views, graphc.render.compiled) fill a Scene; `collapse` merges every
group (a module's name scope) into one node, and `to_digraph` emits clusters and the layout
settings chosen for the drawing's size (graphc.render.output.layout_attrs).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import graphviz

from .output import GraphcDigraph, layout_attrs

FONT = "Helvetica"


@dataclass
class VNode:
    key: str
    lines: list            # label lines (plain text), or one HTML string when html=True
    attrs: dict = field(default_factory=dict)
    cluster: tuple = ()     # nested cluster path, outermost first
    group: str | None = None  # collapse key: nodes of a group become one node
    html: bool = False


@dataclass
class VEdge:
    src: str
    dst: str
    label: str = ""
    attrs: dict = field(default_factory=dict)


@dataclass
class Group:
    label: str
    attrs: dict
    cluster: tuple = ()


class Scene:
    """Nodes, edges and clusters of one drawing."""

    def __init__(self, name: str = "graphc", rankdir: str = "TB"):
        self.name, self.rankdir = name, rankdir
        self.nodes: dict[str, VNode] = {}
        self.edges: list[VEdge] = []
        self.clusters: dict[tuple, dict] = {}   # path -> attributes (label, style, colours)
        self.groups: dict[str, Group] = {}      # collapse key -> how the collapsed node looks
        self.graph_attrs: dict = {}

    def node(self, key, lines, cluster=(), group=None, html=False, **attrs) -> VNode:
        n = self.nodes[key] = VNode(key, list(lines) if not html else [lines], attrs, tuple(cluster), group, html)
        return n

    def edge(self, src, dst, label="", **attrs):
        self.edges.append(VEdge(src, dst, label, attrs))

    def __len__(self):
        return len(self.nodes)

    # -- collapsing modules ------------------------------------------------------
    def collapse(self) -> "Scene":
        """A new scene with each group drawn as one node (edges between groups merged)."""
        out = Scene(self.name, self.rankdir)
        out.clusters = {p: a for p, a in self.clusters.items()}
        out.graph_attrs = dict(self.graph_attrs)
        counts: dict[str, int] = {}
        where: dict[str, str] = {}
        for n in self.nodes.values():
            if n.group is None or n.group not in self.groups:
                out.nodes[n.key] = n
                where[n.key] = n.key
            else:
                counts[n.group] = counts.get(n.group, 0) + 1
                where[n.key] = "group_" + _ident(n.group)
        for g, k in counts.items():
            grp = self.groups[g]
            key = "group_" + _ident(g)
            out.node(key, [grp.label, f"{k} node{'s' if k != 1 else ''}"], cluster=grp.cluster, **grp.attrs)
        merged: dict[tuple, VEdge] = {}
        for e in self.edges:
            s, d = where[e.src], where[e.dst]
            if s == d:
                continue
            style = tuple(sorted((k, str(v)) for k, v in e.attrs.items()))
            k = (s, d, style)
            if k in merged:
                if merged[k].label != e.label:
                    merged[k].label = ""  # several tensors cross here: no single shape to show
                continue
            merged[k] = VEdge(s, d, e.label, dict(e.attrs))
        out.edges = list(merged.values())
        return out

    # -- emitting Graphviz --------------------------------------------------------
    def to_digraph(self, layout: dict | None = None) -> GraphcDigraph:
        dg = GraphcDigraph(self.name, engine="dot")
        attrs = dict(rankdir=self.rankdir, fontname=FONT, fontsize="11")
        attrs.update(layout_attrs(len(self.nodes), len(self.edges)))
        attrs.update(self.graph_attrs)
        attrs.update(layout or {})
        engine = attrs.pop("engine", "dot")
        dg.engine = engine
        dg.attr("graph", **attrs)
        dg.attr("node", fontname=FONT, fontsize="10", style="filled", fillcolor="white")
        dg.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.6")
        tree: dict[tuple, list[VNode]] = {}
        for n in self.nodes.values():
            tree.setdefault(n.cluster, []).append(n)
        self._emit(dg, (), tree)
        for e in self.edges:
            dg.edge(e.src, e.dst, label=_text([e.label]) if e.label else None, **e.attrs)
        return dg

    def _emit(self, parent, path: tuple, tree: dict):
        for n in tree.get(path, []):
            label = f"<{n.lines[0]}>" if n.html else _text(n.lines)
            parent.node(n.key, label=label, **n.attrs)
        children = list(dict.fromkeys(p[:len(path) + 1] for p in tree if len(p) > len(path) and p[:len(path)] == path))
        for child in children:
            with parent.subgraph(name="cluster_" + _ident("/".join(child))) as sub:
                a = dict(label=child[-1], style="rounded,dashed", color="#9a9a9a", fontcolor="#555555")
                a.update(self.clusters.get(child, {}))
                sub.attr(**a)
                self._emit(sub, child, tree)


def _ident(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s) or "_"


def _text(lines) -> str:
    """Plain-text label lines as a DOT escString (never read as an HTML label)."""
    body = "\\n".join(str(l).replace("\\", "\\\\").replace('"', '\\"') for l in lines)
    return graphviz.nohtml(body)


def html_table(rows, header_bg="#ffffff") -> str:
    """An HTML-like label: `rows` of (text, background or None); the first row is the header."""
    cells = []
    for i, (text, bg) in enumerate(rows):
        attrs = f' bgcolor="{bg}"' if bg else ""
        content = f"<b>{html.escape(text)}</b>" if i == 0 else html.escape(text)
        cells.append(f"<tr><td{attrs} align=\"left\">{content}</td></tr>")
    return f'<table border="0" cellborder="1" cellspacing="0" cellpadding="3" bgcolor="{header_bg}">{"".join(cells)}</table>'
