"""The graph IR: immutable SSA nodes, graphs as ordered node lists, verify, hashing, printing.

Each Node defines exactly one value (multi-result computations, like split, are several
nodes), so a node *is* its value: it has a shape and a dtype. Node ids grow in creation
order, which is therefore always a valid schedule; a Graph is the ordered tuple of the
nodes its outputs need. Nothing here mutates a node's structure after creation: passes
build new nodes (and hash-consing in `graphc.ops.registry` makes equal nodes identical).
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from typing import Iterable, Sequence

import numpy as np
import sympy

from . import dtypes, shapes
from .errors import GraphError

_ids = itertools.count()


class Attrs(Mapping):
    """A frozen, hashable attribute mapping (keys sorted)."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping | Iterable = ()):
        self._items = tuple(sorted(dict(items).items()))
        self._hash = hash(self._items)

    def __getitem__(self, key):
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return (k for k, _ in self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, Attrs) and self._items == other._items

    def __repr__(self):
        return ", ".join(f"{k}={_fmt_attr(v)}" for k, v in self._items)


class Node:
    """One SSA value: `op(inputs; attrs) -> shape, dtype`, plus a user name, scope and free-form meta."""

    __slots__ = ("id", "op", "inputs", "attrs", "shape", "dtype", "name", "scope", "meta", "__weakref__")

    def __init__(self, op, inputs: Sequence["Node"], attrs: Attrs, shape: tuple, dtype, name=None, scope=""):
        self.id = next(_ids)
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.scope = scope
        self.meta: dict = {}  # non-structural facts (derivative labels, roles); never affects hashing

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def qualname(self) -> str:
        """The user-facing name: scope/name, or the op and id when unnamed."""
        base = self.name or f"{self.op.name}_{self.id}"
        return f"{self.scope}/{base}" if self.scope else base

    def type_str(self) -> str:
        return f"{dtypes.short(self.dtype)}[{','.join(shapes.fmt_dim(d) for d in self.shape)}]"

    def __repr__(self):
        return f"<Node {self.qualname}: {self.op.name} -> {self.type_str()}>"


def _fmt_attr(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt_attr(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, np.dtype):
        return str(v)
    if isinstance(v, sympy.Basic):
        return str(v)
    if hasattr(v, "graph_label"):
        return v.graph_label()
    return repr(v)


def identifier(text: str) -> str:
    """`text` as an ASCII identifier fragment (buffer and variable names in generated code): every
    other character becomes '_' ('layer1/weight' -> 'layer1_weight', 'w¼' -> 'w_')."""
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in text)


def stable_repr(v) -> str:
    """A process-independent text for an attribute value (the basis of graph hashing)."""
    if isinstance(v, tuple):
        return "(" + ",".join(stable_repr(x) for x in v) + ")"
    if isinstance(v, sympy.Basic):
        return "sympy:" + sympy.srepr(v)
    if isinstance(v, np.dtype):
        return "dtype:" + v.str
    if hasattr(v, "stable_key"):
        return v.stable_key()
    if isinstance(v, (bool, int, float, str, type(None))):
        return repr(v)
    raise GraphError(f"attribute value {v!r} has no stable representation")


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """Every node the outputs depend on, in creation (hence topological) order."""
    seen: dict[int, Node] = {}
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen[n.id] = n
        stack.extend(n.inputs)
    return [seen[i] for i in sorted(seen)]


def interpret(graph: "Graph", rule, env: dict | None = None, forget: dict | None = None) -> dict:
    """Walk the schedule: env[node] = rule(node, [env[input] for each input]) for every node not yet in env.

    The reference interpreter, lowering and graph passes are all this walk with different rules.
    forget: {node: [values to drop from env once node is computed]} (the interpreter frees dead arrays)."""
    env = {} if env is None else env
    for node in graph.nodes:
        if node not in env:
            env[node] = rule(node, [env[i] for i in node.inputs])
        if forget:
            for dead in forget.get(node, ()):
                env.pop(dead, None)
    return env


# How notebooks draw graphs, tensors and compiled functions: graphc.render (a layer above) installs
# a function target -> {mime type: data}; until then, and whenever drawing fails, they show as text.
display_hook = None


def rich_display(target) -> dict:
    """Jupyter's _repr_mimebundle_ for `target`: a drawing when one can be made, always its text."""
    bundle = {"text/plain": repr(target)}
    if display_hook is not None:
        bundle.update(display_hook(target))
    return bundle


class Graph:
    """An immutable, ordered list of nodes (the schedule) with its inputs, parameters and outputs."""

    def _repr_mimebundle_(self, include=None, exclude=None):
        return rich_display(self)

    def __init__(self, outputs: Sequence[Node], nodes: Sequence[Node] | None = None):
        self.outputs = tuple(outputs)
        self.nodes = tuple(nodes) if nodes is not None else tuple(toposort(self.outputs))
        self.inputs = tuple(n for n in self.nodes if n.op.name == "input")
        self.params = tuple(n for n in self.nodes if n.op.name == "param")
        self._hash: str | None = None

    def __len__(self):
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def consumers(self) -> dict[Node, list[Node]]:
        out: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n)
        return out

    # -- hashing ---------------------------------------------------------
    def structural_hash(self) -> str:
        """A sha256 of what the graph computes: equal for equally built graphs, across processes.

        Each node's hash covers its op, attributes, type and its inputs' hashes (a Merkle hash),
        so it does not depend on node identities or on where shared nodes fall in the schedule;
        inputs are identified by name, shape and dtype, parameters by name, shape and dtype."""
        if self._hash is None:
            digest: dict[Node, str] = {}
            for n in self.nodes:
                attrs = ";".join(f"{k}={stable_repr(v)}" for k, v in n.attrs.items() if k != "uid")
                shape = ",".join(stable_repr(d) for d in n.shape)
                ins = ",".join(digest[i] for i in n.inputs)
                digest[n] = hashlib.sha256(f"{n.op.name}({ins})[{attrs}]:{n.dtype.str}[{shape}]".encode()).hexdigest()
            self._hash = hashlib.sha256(("out:" + ",".join(digest[o] for o in self.outputs)).encode()).hexdigest()
        return self._hash

    # -- views -----------------------------------------------------------
    def to_networkx(self):
        """A networkx.MultiDiGraph view (node key = Node.id) for analyses and layout."""
        import networkx as nx  # lazy: a heavy import that only this view needs

        g = nx.MultiDiGraph()
        for n in self.nodes:
            g.add_node(n.id, op=n.op.name, name=n.qualname, shape=n.shape, dtype=str(n.dtype), node=n)
            for pos, i in enumerate(n.inputs):
                g.add_edge(i.id, n.id, index=pos)
        return g

    def __str__(self):
        index = {n: f"%{i}" for i, n in enumerate(self.nodes)}
        for n in self.inputs + self.params:
            index[n] = n.name
        sig = ", ".join(f"{n.name}: {n.type_str()}" for n in self.inputs)
        par = ", ".join(f"{n.name}: {n.type_str()}" for n in self.params)
        lines = [f"graph({sig}{'; params ' + par if par else ''}) {{"]
        for n in self.nodes:
            if n.op.name in ("input", "param"):
                continue
            args = ", ".join(index[i] for i in n.inputs)
            attrs = ("; " if n.inputs else "") + repr(n.attrs) if len(n.attrs) else ""
            note = f"  # {n.qualname}" if n.name or n.scope else ""
            lines.append(f"  {index[n]} = {n.op.name}({args}{attrs}) : {n.type_str()}{note}")
        lines.append("  return " + ", ".join(index[o] for o in self.outputs))
        lines.append("}")
        return "\n".join(lines)

    __repr__ = __str__


def verify(graph: Graph) -> Graph:
    """Check SSA well-formedness and re-run every op's shape and dtype rules; raise GraphError on any fault."""
    problems = []
    defined: set[int] = set()
    for n in graph.nodes:
        if n.id in defined:
            problems.append(f"{n.qualname} is defined twice")
        for i in n.inputs:
            if i.id not in defined:
                problems.append(f"{n.qualname} ({n.op.name}) uses {i.qualname} before it is defined")
        defined.add(n.id)
        try:
            shape, dtype = n.op.infer(n.inputs, n.attrs)
        except Exception as e:  # a rule that fails now but passed at creation means corruption
            problems.append(f"{n.qualname} ({n.op.name}): rules fail: {e}")
            continue
        if len(shape) != len(n.shape) or not all(shapes.dims_equal(a, b) for a, b in zip(shape, n.shape)):
            problems.append(f"{n.qualname} ({n.op.name}): shape {shapes.fmt_shape(n.shape)} but rule gives {shapes.fmt_shape(shape)}")
        if np.dtype(dtype) != n.dtype:
            problems.append(f"{n.qualname} ({n.op.name}): dtype {n.dtype} but rule gives {np.dtype(dtype)}")
    for o in graph.outputs:
        if o.id not in defined:
            problems.append(f"output {o.qualname} is not a node of the graph")
    if problems:
        raise GraphError("graph failed verification:\n  " + "\n  ".join(problems))
    return graph
