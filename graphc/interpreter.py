"""The reference interpreter: runs a graph node by node with each op's NumPy semantics (the test oracle)."""
from __future__ import annotations

import numpy as np
import sympy

from . import dtypes, shapes
from .errors import GraphError, NonFiniteError
from .ir import Graph, Node


def concretize(value, subs: dict):
    """An attribute with its symbolic dims replaced by the bound ints."""
    if isinstance(value, tuple):
        return tuple(concretize(v, subs) for v in value)
    if isinstance(value, sympy.Basic) and value.free_symbols & subs.keys():
        out = value.subs(subs)
        return int(out) if isinstance(out, sympy.Integer) else out
    if isinstance(value, sympy.Integer):
        return int(value)
    return value


def run(graph: Graph, arrays: dict[Node, np.ndarray], bindings: dict, *, float64: bool = False,
        check_finite: bool = False, keep: str = "outputs") -> dict[Node, np.ndarray]:
    """Evaluate every node of `graph`. `arrays` binds its input nodes (and may override any other node).

    float64: compute every float value in float64 (for finite-difference checks).
    check_finite: raise NonFiniteError at the first node producing NaN/Inf.
    keep: 'outputs' returns the outputs' values, 'all' every node's (for rendering values).
    """
    subs = {shapes.symbol(k): v for k, v in bindings.items()}
    env: dict[Node, np.ndarray] = {}
    last_use = _last_uses(graph) if keep == "outputs" else {}
    keep_nodes = set(graph.outputs)
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            want = dtypes.float64 if float64 and dtypes.is_float(node.dtype) else node.dtype
            if node in arrays:
                value = arrays[node]
            elif float64 and node.op.name == "cast" and dtypes.is_float(node.dtype) and dtypes.is_float(node.inputs[0].dtype):
                value = env[node.inputs[0]]  # float64 mode: a float-to-float cast must not round
            else:
                attrs = {k: concretize(v, subs) for k, v in node.attrs.items()}
                try:
                    value = node.op.reference(*(env[x] for x in node.inputs), **attrs)
                except (IndexError, ValueError, FloatingPointError) as e:
                    raise type(e)(f"{node.op.name} {node.qualname!r}: {e}") from None
            value = np.asarray(value)
            if value.dtype != want:
                value = value.astype(want)
            expected = shapes.concrete_shape(node.shape, bindings)
            if value.shape != expected:
                raise GraphError(f"{node.op.name} {node.qualname!r} produced shape {value.shape}, its shape rule says {expected}")
            if check_finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                bad = "NaN" if np.isnan(value).any() else "Inf"
                raise NonFiniteError(f"{bad} first produced by {node.op.name} {node.qualname!r} "
                                     f"(shape {value.shape}) from inputs {[x.qualname for x in node.inputs]}")
            env[node] = value
            for x in last_use.get(i, ()):  # free values no later node needs
                if x not in keep_nodes:
                    env.pop(x, None)
    return env if keep == "all" else {o: env[o] for o in graph.outputs}


def _last_uses(graph: Graph) -> dict[int, list[Node]]:
    last: dict[Node, int] = {}
    for i, n in enumerate(graph.nodes):
        for x in n.inputs:
            last[x] = i
    out: dict[int, list[Node]] = {}
    for x, i in last.items():
        out.setdefault(i, []).append(x)
    return out

