"""The op registry: the `Op` base class every op subclasses, and node creation (hash-consed).

An op is declared once, as one subclass of `Op`, with everything known about it side by side:
its shape rule, dtype rule, reference NumPy semantics and vector-Jacobian product (written
with graph ops, so gradients are graphs). Calling an op instance on nodes creates a node; this
whole package works on `Node`s (the DSL's Tensor, in graphc.tensor, wraps it).
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Sequence

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, DTypeError, GraphError, GraphcError, ShapeError
from ..ir import Attrs, Node
from .arguments import checked

REGISTRY: dict[str, "Op"] = {}
COMPOSITES: dict[str, "Composite"] = {}

_hashcons: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()
_scope_stack: list[str] = []


@contextlib.contextmanager
def scope(name: str):
    """Group the nodes created inside (layers, composite ops) under `name` for naming and rendering."""
    _scope_stack.append(name)
    try:
        yield
    finally:
        _scope_stack.pop()


def current_scope() -> str:
    return "/".join(_scope_stack)


class Op:
    """Base class of every op. Subclasses override the rules they need.

    - `shape(*inputs, **attrs)`: the output shape from input nodes (raise ShapeError with the detail).
    - `dtype(*inputs, **attrs)`: the output dtype (default: promotion of the value inputs).
    - `reference(*arrays, **attrs)`: NumPy semantics; attrs arrive with symbolic dims bound.
    - `vjp(g, y, *inputs, **attrs)`: the cotangent of each input (a Node or None), built from
      graph ops, given the output cotangent g and the output y (Nodes, like the inputs).
      Ops with `differentiable = False` pass no gradient and need not define it.
    - `lower(ctx, *views, **attrs)`: kernels for the lowered Program (see graphc.lower).
    """

    name: str = ""
    kind: str = "other"          # elementwise | reduce | movement | linalg | nn | random | leaf
    value_inputs: tuple | None = None  # inputs that take part in dtype promotion (None: all)
    differentiable = True        # False: the op passes no gradient to any input
    # True: equal nodes are one node, shared by every expression that builds them (so a name makes
    # a distinct node). False for declarations (inputs, parameters): each node is its own value.
    hashcons = True

    @property
    def computes(self) -> bool:
        """Does the op do arithmetic on its value inputs? Then a storage-only dtype among them (float16) is
        computed in its compute type (dtypes.COMPUTE_TYPE) and the result rounded back (make_node). Ops that
        only move, select or convert values (a class attribute `computes = False`) work on the stored type."""
        return self.kind not in ("movement", "leaf")

    # -- rules -------------------------------------------------------------
    def shape(self, *inputs: Node, **attrs) -> tuple:
        raise NotImplementedError

    def dtype(self, *inputs: Node, **attrs):
        vals = self._value_positions(len(inputs))
        return dtypes.promote(*(inputs[i].dtype for i in vals)) if vals else dtypes.DEFAULT_FLOAT

    def reference(self, *arrays: np.ndarray, **attrs) -> np.ndarray:
        raise NotImplementedError

    def vjp(self, g, y, *inputs, **attrs) -> Sequence:
        if not self.differentiable:
            return [None] * len(inputs)
        raise NotImplementedError(f"op {self.name} declares no derivative")

    def vjp_label(self, index: int, out: str, inputs: Sequence[str]) -> str:
        """A short formula for the cotangent `vjp` gives input `index`, for renderings (graphc.render);
        `out` names the output's cotangent (∂L/∂y), `inputs` the operands."""
        return f"vjp of {self.name} w.r.t. input {index}"

    def vjp_label_for(self, node: Node, index: int, out: str, inputs: Sequence[str]) -> str:
        """vjp_label for one forward `node`, for ops whose formula shows its shapes or attributes."""
        return self.vjp_label(index, out, inputs)

    def lower(self, ctx, *inputs, **attrs):
        """Emit this node's kernels into `ctx` (a graphc.lower.LoweringContext) given the input Views;
        return the View holding the value (a new view of an input's buffer for pure data movement)."""
        raise NotImplementedError(f"op {self.name} has no lowering")

    def fills_nonfinite(self, **attrs) -> bool:
        """Does this op write infinities or NaNs by design (a pad with -inf before a max pool)? Debug mode's
        NaN/Inf check then leaves its value alone."""
        return False

    def normalize(self, inputs: Sequence[Node], attrs: dict) -> dict:
        """Canonicalise attributes (given the input nodes) before hashing; validate them."""
        return attrs

    # -- machinery ---------------------------------------------------------
    def _value_positions(self, n: int):
        return range(n) if self.value_inputs is None else [i for i in self.value_inputs if i < n]

    def infer(self, inputs: Sequence[Node], attrs) -> tuple[tuple, np.dtype]:
        return tuple(self.shape(*inputs, **attrs)), np.dtype(self.dtype(*inputs, **attrs))

    def __call__(self, *args, name: str | None = None, **attrs) -> Node:
        return make_node(self, args, attrs, name=name)

    def __repr__(self):
        return f"<op {self.name}>"


def register(op_cls_or_obj):
    """Register an Op subclass (instantiated) or instance under its name; returns the instance."""
    op = op_cls_or_obj() if isinstance(op_cls_or_obj, type) else op_cls_or_obj
    if not op.name:
        raise GraphError(f"{op!r} has no name")
    if op.name in REGISTRY or op.name in COMPOSITES:
        raise GraphError(f"an op named {op.name!r} is already registered with another definition; choose another name")
    REGISTRY[op.name] = op
    return op


class Composite:
    """A registry entry for an op defined as a decomposition into primitives (softmax, conv2d, ...).

    The graph holds only the primitives (grouped under a scope named after the op); the entry
    records its function (on nodes) and an independent NumPy reference used by the test sweep.
    """

    def __init__(self, name: str, fn, reference):
        self.name, self.fn, self.reference = name, fn, reference

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def composite(name: str, reference):
    """Decorator: declare a composite op from its (node-level) function and a NumPy reference."""

    def wrap(fn):
        if name in REGISTRY or name in COMPOSITES:
            raise ValueError(f"an op named {name!r} is already registered")
        fn = checked(name, fn)
        COMPOSITES[name] = Composite(name, fn, reference)
        fn.composite = COMPOSITES[name]
        return fn

    return wrap


def as_node(value, dtype=None) -> Node:
    """A node for a node, a Python scalar or a NumPy array (constants take `dtype`, or their own weak type)."""
    if isinstance(value, Node):
        return value
    if hasattr(value, "node"):
        raise GraphcError(f"graphc.ops works on graph nodes, got a {type(value).__name__}: "
                          "call the DSL functions (graphc.*) on tensors")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.weak_dtype_for(value, None)
    return REGISTRY["const"].make(value, dtype)  # by name: graphc.ops.leaves builds on this module


def _to_node(value, partner) -> Node:
    """An operand as a node: Python scalars and arrays become constants of the partner's (weak) dtype."""
    if isinstance(value, Node) or hasattr(value, "node"):
        return as_node(value)  # a node as it is; a tensor is refused with a hint
    return as_node(value, dtypes.weak_dtype_for(value, partner))


def make_node(op: Op, args: Sequence, attrs: dict, name: str | None = None) -> Node:
    """Create (or find, by hash-consing) the node `op(args; attrs)`, checking its rules.

    A name is part of a node's identity: `name=` gives the named node, distinct from the
    unnamed one that computes the same value (so naming never renames another expression)."""
    if name is not None and not isinstance(name, str):
        raise ArgumentError(f"{op.name}: name must be a string, got {name!r}")
    positions = set(op._value_positions(len(args)))
    where = current_scope()
    label = f"{op.name} '{where + '/' if where else ''}{name}'" if name else (f"{op.name} in '{where}'" if where else op.name)
    try:
        strong = [a.dtype for i, a in enumerate(args) if i in positions and isinstance(a, Node)]
        partner = dtypes.promote(*strong) if strong else None
    except DTypeError as e:
        raise DTypeError(f"{label}: {e}") from None
    wide = op.computes and partner in dtypes.COMPUTE_TYPE
    # a Python number meeting float16 in arithmetic is taken at the compute type's precision (Adam's eps=1e-8
    # would round to 0 in float16); the result is still float16, the operands' strong type
    weak_partner = dtypes.compute_type(partner) if wide else partner
    inputs = [_to_node(a, weak_partner if i in positions else None) for i, a in enumerate(args)]
    if wide:
        return _computed_wide(op, inputs, positions, attrs, name, partner)
    try:
        attrs = op.normalize(inputs, dict(attrs))
        frozen = Attrs(attrs)
        shape, dtype = op.infer(inputs, frozen)
    except (ShapeError, DTypeError) as e:
        raise type(e)(f"{label}: {e}") from None
    except GraphcError:
        raise
    except (TypeError, ValueError) as e:
        raise ShapeError(f"{label}: {e}") from None
    shape = tuple(shapes.simplify_dim(d) for d in shape)
    return _interned(op, inputs, frozen, shape, dtype, name, where)


def _computed_wide(op: Op, inputs: list, positions, attrs: dict, name, stored) -> Node:
    """`op` over storage-only operands (float16): the operands widened to their compute type (float32),
    the op made there, and its result rounded back to the storage type where the operands' promotion
    gives it (a comparison's bool, an argmax's index stay what they are). One rounding per op, as
    NumPy's float16 arithmetic and PyTorch's CPU half ops do."""
    cast = REGISTRY["cast"]  # by name: graphc.ops.math builds on this module
    wide = [cast(x, dtype=dtypes.compute_type(x.dtype)) if i in positions and x.dtype in dtypes.COMPUTE_TYPE else x
            for i, x in enumerate(inputs)]
    y = make_node(op, wide, attrs)
    if stored in dtypes.COMPUTE_TYPE and y.dtype == dtypes.compute_type(stored):
        y = cast(y, dtype=stored)
    return named(y, name) if name is not None else y


def _interned(op: Op, inputs, attrs: Attrs, shape, dtype, name, where) -> Node:
    """The one node with this op, inputs, attributes and (scoped) name, created on first request."""
    key = (op.name, tuple(i.id for i in inputs), attrs, (name, where) if name else None) if op.hashcons else None
    node = _hashcons.get(key) if key is not None else None
    if node is None:
        node = Node(op, inputs, attrs, shape, dtype, name=name, scope=where)
        if key is not None:
            _hashcons[key] = node
    return node


def rebuilt(node: Node, inputs: Sequence[Node]) -> Node:
    """`node`'s op, attributes, name and scope over new inputs, hash-consed (so rewriting also merges
    equal nodes): the builder of the graph passes. The op's rules are checked again."""
    if len(inputs) == len(node.inputs) and all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    shape, dtype = node.op.infer(list(inputs), node.attrs)
    shape = tuple(shapes.simplify_dim(d) for d in shape)
    return _interned(node.op, list(inputs), node.attrs, shape, dtype, node.name, node.scope)


def named(node: Node, name: str) -> Node:
    """`node` under the user name `name` (in its own scope), for listings, renderings and errors.

    A declaration (an input, a parameter: not hash-consed) is renamed in place: it is one value,
    whoever holds it. Any other node may be shared by every expression that computed the same
    thing, so the named value is a distinct node with the same op, inputs and attributes."""
    if not node.op.hashcons:
        node.name = name
        return node
    if node.name == name:
        return node
    twin = _interned(node.op, node.inputs, node.attrs, node.shape, node.dtype, name, node.scope)
    if twin is not node and not twin.meta:
        twin.meta.update(node.meta)
    return twin
