"""Reverse-mode symbolic differentiation: grad/vjp build the backprop graph from each op's VJP rule.

The result is ordinary graph nodes, so it can be printed, rendered, compiled and differentiated
again. Only the nodes on a path between the requested inputs and the output are visited
(the backward graph is pruned), and forward values are reused, never recomputed. These functions
work on nodes; `graphc.grad`/`graphc.vjp` are the same on tensors.
"""
from __future__ import annotations

import numpy as np

from . import dtypes, shapes
from .errors import ArgumentError, DifferentiationError
from .ir import Node, toposort
from .ops.leaves import const_node
from .ops.math import add, cast
from .ops.movement import broadcast_to


def _node_list(values, what: str = "outputs") -> list[Node]:
    values = values if isinstance(values, (list, tuple)) else [values]
    for v in values:
        if not isinstance(v, Node):
            raise DifferentiationError(f"{what} must be a tensor or a list of tensors, got {type(v).__name__} {v!r:.40}")
    return list(values)


def _with_dtype(value, dtype) -> Node:
    """A node, Python scalar or array as a node of `dtype` (nodes of another dtype are cast)."""
    if isinstance(value, Node):
        return value if value.dtype == dtype else cast(value, dtype)
    return const_node(value, dtype)


def _between(outputs: list[Node], wrt: list[Node]) -> list[Node]:
    """The nodes that the outputs depend on and that depend on some wrt node, in schedule order."""
    order = toposort(outputs)
    targets = {w.id for w in wrt}
    reaches: set[int] = set()
    for n in order:
        if n.id in targets or any(i.id in reaches for i in n.inputs):
            if n.op.differentiable or n.id in targets:
                reaches.add(n.id)
    return [n for n in order if n.id in reaches and dtypes.is_float(n.dtype)]


def vjp(outputs, wrt, cotangents, disconnected: str = "zeros"):
    """Vector-Jacobian products: sum_k cotangents[k] · d outputs[k] / d wrt, for each wrt node.

    `outputs` and `cotangents` are a node or equally long lists (cotangents may be arrays);
    `wrt` is a node or a list (params, inputs or intermediates). Returns a node of wrt's shape,
    or a list for a list. disconnected='zeros' gives zeros where wrt does not influence the
    outputs; 'raise' raises DifferentiationError instead.
    """
    single = not isinstance(wrt, (list, tuple))
    out_nodes = _node_list(outputs)
    cts = cotangents if isinstance(cotangents, (list, tuple)) else [cotangents]
    if len(cts) != len(out_nodes):
        raise DifferentiationError(f"{len(out_nodes)} outputs but {len(cts)} cotangents")
    wrt_nodes = _node_list(wrt, "wrt (what to differentiate with respect to)")
    for w in wrt_nodes:
        if not dtypes.is_float(w.dtype):
            raise DifferentiationError(f"cannot differentiate with respect to {w.qualname!r} of dtype {w.dtype}")
    if disconnected not in ("zeros", "raise"):
        raise ArgumentError(f"disconnected must be 'zeros' or 'raise', got {disconnected!r}")

    acc: dict[Node, list[Node]] = {}
    for o, c in zip(out_nodes, cts):
        c = c if isinstance(c, Node) else const_node(c, o.dtype)
        if len(c.shape) != len(o.shape) or not all(shapes.dims_equal(a, b) for a, b in zip(c.shape, o.shape)):
            raise DifferentiationError(f"cotangent of shape {shapes.fmt_shape(c.shape)} for output {o.qualname!r} of shape {shapes.fmt_shape(o.shape)}")
        acc.setdefault(o, []).append(c)

    relevant = _between(out_nodes, wrt_nodes)
    relevant_ids = {n.id for n in relevant}
    wanted = {w.id for w in wrt_nodes}
    grads: dict[int, Node] = {}
    for node in reversed(relevant):
        parts = acc.pop(node, None)
        if not parts:
            continue
        g = _sum(parts)
        if node.id in wanted:
            grads[node.id] = g
        needs = [x.id in relevant_ids for x in node.inputs]
        if not any(needs) or not node.op.differentiable or not node.inputs:
            continue
        attrs = dict(node.attrs)
        contribs = node.op.vjp(g, node, *node.inputs, **attrs)
        if len(contribs) != len(node.inputs):
            raise DifferentiationError(f"the VJP of {node.op.name} returned {len(contribs)} cotangents for {len(node.inputs)} inputs")
        for x, need, c in zip(node.inputs, needs, contribs):
            if need and c is not None:
                c = _with_dtype(c, x.dtype)  # a cotangent has its value's dtype (f32 param in an f64 graph: f32 gradient)
                c.meta.setdefault("grad_of", (node, x))  # for renderings: which edge this gradient flows along
                acc.setdefault(x, []).append(c)

    result = []
    for w in wrt_nodes:
        g = grads.get(w.id)
        if g is None:
            if disconnected == "raise":
                raise DifferentiationError(f"the output does not depend on {w.qualname!r} (pass disconnected='zeros' to get zeros)")
            g = broadcast_to(const_node(np.zeros((), w.dtype), w.dtype), w.shape)
        result.append(g)
    return result[0] if single else result


def _sum(parts: list[Node]) -> Node:
    total = parts[0]
    for p in parts[1:]:
        total = add(total, p)  # fan-out: the contributions of every consumer add up
    return total


def grad(y, wrt, disconnected: str = "zeros"):
    """d y / d wrt for a scalar node y; a node for a single wrt, a list for a list.

    The seed dL/dL = 1 starts the reverse sweep; the result is a graph like any other."""
    (y,) = _node_list(y)
    if y.ndim != 0 and not (shapes.is_static(y.shape) and shapes.prod(y.shape) == 1):
        raise DifferentiationError(f"grad needs a scalar output, {y.qualname!r} has shape {shapes.fmt_shape(y.shape)}; "
                                   "reduce it (gc.sum/gc.mean) or use gc.vjp with a cotangent")
    if not dtypes.is_float(y.dtype):
        raise DifferentiationError(f"grad of {y.qualname!r}: output dtype {y.dtype} is not float")
    seed = const_node(np.ones(y.shape, y.dtype), y.dtype)
    seed.meta.setdefault("role", "seed")
    return vjp(y, wrt, seed, disconnected)
