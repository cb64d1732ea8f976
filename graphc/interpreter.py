"""The reference interpreter: runs a graph node by node with each op's NumPy semantics (the test oracle)."""
from __future__ import annotations

import numpy as np

from . import dtypes, shapes
from .errors import GraphError, NonFiniteError, TooLargeError
from .ir import Graph, Node, interpret
from .shapes import concretize


def run(graph: Graph, arrays: dict[Node, np.ndarray], bindings: dict, *, float64: bool = False,
        check_finite: bool = False, keep: str = "outputs") -> dict[Node, np.ndarray]:
    """Evaluate every node of `graph`. `arrays` binds its input nodes (and may override any other node).

    float64: compute every float value in float64 (for finite-difference checks).
    check_finite: raise NonFiniteError at the first node producing NaN/Inf.
    keep: 'outputs' returns the outputs' values, 'all' every node's (for rendering values).
    """
    subs = {shapes.symbol(k): v for k, v in bindings.items()}

    def rule(node: Node, values: list) -> np.ndarray:
        want = dtypes.float64 if float64 and dtypes.is_float(node.dtype) else node.dtype
        if float64 and node.op.name == "cast" and dtypes.is_float(node.dtype) and dtypes.is_float(node.inputs[0].dtype):
            value = values[0]  # float64 mode: a float-to-float cast must not round
        else:
            attrs = {k: concretize(v, subs) for k, v in node.attrs.items()}
            size = shapes.prod(shapes.concrete_shape(node.shape, bindings)) * np.dtype(want).itemsize
            label = f"{node.op.name} {node.qualname!r}"
            shapes.check_fits(size, label)
            try:
                value = node.op.reference(*values, **attrs)
            except MemoryError:
                raise TooLargeError(f"{label} of shape {shapes.concrete_shape(node.shape, bindings)} ran out of memory") from None
            except (IndexError, ValueError, FloatingPointError) as e:
                raise type(e)(f"{label}: {e}") from None
        value = np.asarray(value)
        if value.dtype != want:
            value = value.astype(want)
        expected = shapes.concrete_shape(node.shape, bindings)
        if value.shape != expected:
            raise GraphError(f"{node.op.name} {node.qualname!r} produced shape {value.shape}, its shape rule says {expected}")
        # movement ops only move values (any inf they hold was made, and checked, before); a -inf pad is on purpose
        moves = node.op.kind == "movement" or getattr(node.op, "moves_values", False)
        if (check_finite and value.dtype.kind == "f" and not moves and not np.all(np.isfinite(value))
                and not node.op.fills_nonfinite(**{k: concretize(v, subs) for k, v in node.attrs.items()})):
            bad = "NaN" if np.isnan(value).any() else "Inf"
            raise NonFiniteError(f"{bad} first produced by {node.op.name} {node.qualname!r} "
                                 f"(shape {value.shape}) from inputs {[x.qualname for x in node.inputs]}")
        return value

    env = {n: _given(n, a, float64) for n, a in arrays.items()}
    forget = _last_uses(graph, keep=set(graph.outputs) | set(arrays)) if keep == "outputs" else None
    with np.errstate(all="ignore"):
        env = interpret(graph, rule, env, forget)
    return env if keep == "all" else {o: env[o] for o in graph.outputs}


def _given(node: Node, array, float64: bool) -> np.ndarray:
    want = dtypes.float64 if float64 and dtypes.is_float(node.dtype) else node.dtype
    value = np.asarray(array)
    return value if value.dtype == want else value.astype(want)


def _last_uses(graph: Graph, keep: set) -> dict[Node, list[Node]]:
    """{node: the values whose last reader it is}, leaving out the values in `keep`."""
    last: dict[Node, Node] = {}
    for n in graph.nodes:
        for x in n.inputs:
            last[x] = n
    out: dict[Node, list[Node]] = {}
    for x, n in last.items():
        if x not in keep:
            out.setdefault(n, []).append(x)
    return out

