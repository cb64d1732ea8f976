"""Graph rewrites before lowering: local algebraic rules run to a fixed point by one driver, constant
folding, and (by rebuilding from the outputs through hash-consing) dead-code elimination and CSE.

A rule is data: (name, the op names it looks at, fn(node) -> replacement or None). Every rule on by
default is exact in IEEE arithmetic: identities that return an operand unchanged (x·1, x + 0, x − 0,
x/1, −(−x)), compositions of movements (transpose∘transpose, reshape∘reshape, a reshape or broadcast
to the shape a value already has), `where` on a constant condition. Never x·0 → 0 (wrong for inf and
NaN). A replacement must have the node's shape and dtype, or the rule does not apply.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .. import shapes
from ..ir import Graph, Node
from ..ops.registry import REGISTRY, as_node, rebuilt

FOLD_LIMIT = 1 << 20  # constant folding skips results above this many elements (they would bloat the Program)


def _const_value(node: Node) -> np.ndarray | None:
    return node.attrs["value"].array if node.op.name == "const" else None


def _all(node: Node, value: float) -> bool:
    """Is `node` a constant whose every element equals `value`?"""
    a = _const_value(node)
    return a is not None and a.size > 0 and bool(np.all(a == value))


def _same_type(a: Node, b: Node) -> bool:
    return a.dtype == b.dtype and len(a.shape) == len(b.shape) and all(shapes.dims_equal(x, y) for x, y in zip(a.shape, b.shape))


def _operand_if(node: Node, keep: int, other_is: float) -> Node | None:
    """Operand `keep` when the other operand is a constant `other_is` everywhere and nothing broadcasts."""
    x, other = node.inputs[keep], node.inputs[1 - keep]
    return x if _all(other, other_is) and _same_type(x, node) else None


def _mul_one(node):
    return _operand_if(node, 0, 1) or _operand_if(node, 1, 1)


def _add_zero(node):
    return _operand_if(node, 0, 0) or _operand_if(node, 1, 0)


def _sub_zero(node):
    return _operand_if(node, 0, 0)


def _div_one(node):
    return _operand_if(node, 0, 1)


def _neg_neg(node):
    inner = node.inputs[0]
    return inner.inputs[0] if inner.op.name == "neg" else None


def _transpose_transpose(node):
    inner = node.inputs[0]
    if inner.op.name != "transpose":
        return None
    outer, first = node.attrs["perm"], inner.attrs["perm"]
    perm = tuple(first[p] for p in outer)
    source = inner.inputs[0]
    return source if perm == tuple(range(len(perm))) else REGISTRY["transpose"](source, perm=perm)


def _reshape_reshape(node):
    inner = node.inputs[0]
    if inner.op.name == "reshape":
        return REGISTRY["reshape"](inner.inputs[0], shape=node.attrs["shape"])
    return None


def _to_own_shape(node):
    """A reshape or broadcast to the shape its operand already has."""
    x = node.inputs[0]
    return x if _same_type(x, node) else None


def _where_constant(node):
    cond, a, b = node.inputs
    c = _const_value(cond)
    if c is None or c.size == 0:
        return None
    pick = a if bool(np.all(c)) else b if not bool(np.any(c)) else None
    return pick if pick is not None and _same_type(pick, node) else None


def _box(node):
    """(starts, stops) of an unslice with unit steps, else None."""
    if node.op.name != "unslice" or any(s != 1 for s in node.attrs["steps"]):
        return None
    return tuple(node.attrs["starts"]), tuple(node.attrs["stops"])


def _adjacent_unslices(node):
    """unslice(a, R) + unslice(b, S) with R and S side by side along one axis -> unslice(concat(a, b), R ∪ S).

    The gradients of x[:, t] for every t of an unrolled RNN become one concatenation, not T buffers of
    x's full size summed one after another (each element is one gradient plus zeros, so nothing rounds)."""
    a, b = node.inputs
    ra, rb = _box(a), _box(b)
    if ra is None or rb is None or a.dtype != b.dtype or not _same_type(a, b):
        return None
    eq = shapes.dims_equal
    differ = [k for k in range(a.ndim) if not (eq(ra[0][k], rb[0][k]) and eq(ra[1][k], rb[1][k]))]
    if len(differ) != 1:
        return None
    k = differ[0]
    if eq(ra[1][k], rb[0][k]):
        first, second, rf, rs = a, b, ra, rb
    elif eq(rb[1][k], ra[0][k]):
        first, second, rf, rs = b, a, rb, ra
    else:
        return None
    pieces = []
    for part in (first.inputs[0], second.inputs[0]):  # concatenations along the same axis flatten
        pieces += list(part.inputs) if part.op.name == "concat" and part.attrs["axis"] == k else [part]
    joined = REGISTRY["concat"](*pieces, axis=k)
    stops = rf[1][:k] + (rs[1][k],) + rf[1][k + 1:]
    return REGISTRY["unslice"](joined, shape=a.attrs["shape"], starts=rf[0], stops=stops, steps=a.attrs["steps"])


def _whole_unslice(node):
    """An unslice that covers its whole shape is its input."""
    box = _box(node)
    x = node.inputs[0]
    if box is None or not all(s == 0 for s in box[0]) or not _same_type(x, node):
        return None
    return x if all(shapes.dims_equal(b, d) for b, d in zip(box[1], node.shape)) else None


RULES = [
    ("mul_by_one", ("mul",), _mul_one),
    ("add_zero", ("add",), _add_zero),
    ("sub_zero", ("sub",), _sub_zero),
    ("div_by_one", ("div",), _div_one),
    ("neg_neg", ("neg",), _neg_neg),
    ("transpose_transpose", ("transpose",), _transpose_transpose),
    ("reshape_reshape", ("reshape",), _reshape_reshape),
    ("reshape_to_own_shape", ("reshape",), _to_own_shape),
    ("broadcast_to_own_shape", ("broadcast_to",), _to_own_shape),
    ("where_constant_condition", ("where",), _where_constant),
    ("adjacent_unslices_concat", ("add",), _adjacent_unslices),
    ("whole_unslice", ("unslice",), _whole_unslice),
]
_BY_OP: dict[str, list] = {}
for _rule in RULES:
    for _op in _rule[1]:
        _BY_OP.setdefault(_op, []).append(_rule)


def _folded(node: Node) -> Node | None:
    """`node` evaluated once with its reference semantics, when every input is a constant."""
    if not node.inputs or node.op.kind == "random" or not all(i.op.name == "const" for i in node.inputs):
        return None
    if not shapes.is_static(node.shape) or shapes.prod(node.shape) > FOLD_LIMIT:
        return None
    try:
        value = np.asarray(node.op.reference(*[_const_value(i) for i in node.inputs], **dict(node.attrs)))
    except Exception:  # noqa: BLE001 - an op the fold cannot evaluate here is simply not folded
        return None
    if value.shape != tuple(node.shape):
        return None
    return as_node(value.astype(node.dtype, copy=False), node.dtype)


def simplify(graph: Graph) -> Graph:
    """The graph with RULES applied to a fixed point and constants folded, rebuilt from its outputs:
    unreachable nodes are gone and equal nodes merged. `graph.pass_stats` counts rewrites by rule."""
    counts: Counter = Counter()
    new: dict[Node, Node] = {}
    for node in graph.nodes:
        current = rebuilt(node, [new[i] for i in node.inputs]) if node.inputs else node
        for _ in range(16):  # a rule's result may match another rule; the bound only guards against cycles
            replacement, rule = None, None
            for name, _, fn in _BY_OP.get(current.op.name, ()):
                candidate = fn(current)
                if candidate is not None and candidate is not current and _same_type(candidate, current):
                    replacement, rule = candidate, name
                    break
            if replacement is None:
                folded = _folded(current)
                if folded is not None and folded is not current:
                    replacement, rule = folded, "constant_fold"
            if replacement is None:
                break
            counts[rule] += 1
            current = replacement
        new[node] = current
    out = Graph([new[o] for o in graph.outputs])
    out.pass_stats = {"rewrites": dict(sorted(counts.items()))}
    return out
