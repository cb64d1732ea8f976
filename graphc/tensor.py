"""The DSL's Tensor: a thin handle on a graph node with NumPy-like operator overloading, and `lift`,
which turns a function of nodes (every op of graphc.ops) into the same function of tensors."""
from __future__ import annotations

import functools
import weakref

import numpy as np

from . import dtypes, ops, shapes
from .errors import GraphcError
from .ir import Node, rich_display
from .ops.registry import Op, named

# the one handle of each declared node (input, parameter), so that every way of reaching a
# declaration (its creation, Graph.params, a lifted function's result) gives the same object
_declared: "weakref.WeakValueDictionary[int, Tensor]" = weakref.WeakValueDictionary()


class Tensor:
    """A symbolic value in the graph being built: a handle on one node.

    Hash-consing shares a node between every expression that computes the same thing, so
    handles are per expression, not per node (`x * 2` twice gives two handles on one node):
    naming one (`named`) never renames another. Inputs and parameters are declarations, with
    one handle each. Tensors hash by identity (`==` builds an `eq` node)."""

    __slots__ = ("node", "__weakref__")
    __array_priority__ = 1000  # make `ndarray op Tensor` defer to Tensor's reflected operators

    def __init__(self, node: Node):
        self.node = node

    @classmethod
    def of(cls, node: Node) -> "Tensor":
        """A handle on `node`: the declaration's own for an input or parameter, else a new one."""
        kind = Param if node.op.name == "param" else Tensor
        if node.op.hashcons:
            return kind(node)
        handle = _declared.get(node.id)
        if handle is None:
            handle = _declared[node.id] = kind(node)
        return handle

    # -- description -------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.node.shape

    @property
    def dtype(self) -> np.dtype:
        return self.node.dtype

    @property
    def ndim(self) -> int:
        return self.node.ndim

    @property
    def op(self) -> str:
        return self.node.op.name

    @property
    def name(self) -> str:
        return self.node.qualname

    @name.setter
    def name(self, value: str):
        self.named(value)

    def named(self, name: str) -> "Tensor":
        """Give this value a user name (shown in listings, renderings and error messages).

        The handle moves to the named node (see graphc.ops.registry.named): other tensors that
        computed the same expression keep their own names."""
        self.node = named(self.node, name)
        return self

    def __repr__(self):
        return f"Tensor({self.name!r}, op={self.op}, shape={shapes.fmt_shape(self.shape)}, dtype={self.dtype})"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """A notebook draws the graph that computes this tensor (see graphc.ir.rich_display)."""
        return rich_display(self)

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise GraphcError(f"the truth value of symbolic tensor {self.name!r} is unknown until the graph runs; "
                          "use gc.where(...) for data-dependent choices")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        raise TypeError("a symbolic tensor is not iterable; index it or use gc.split")

    # -- operators (each applies an op function of graphc.ops to the nodes) ----
    def __add__(self, o): return call(ops.add, self, o)
    def __radd__(self, o): return call(ops.add, o, self)
    def __sub__(self, o): return call(ops.sub, self, o)
    def __rsub__(self, o): return call(ops.sub, o, self)
    def __mul__(self, o): return call(ops.mul, self, o)
    def __rmul__(self, o): return call(ops.mul, o, self)
    def __truediv__(self, o): return call(ops.div, self, o)
    def __rtruediv__(self, o): return call(ops.div, o, self)
    def __floordiv__(self, o): return call(ops.floor_divide, self, o)
    def __rfloordiv__(self, o): return call(ops.floor_divide, o, self)
    def __mod__(self, o): return call(ops.mod, self, o)
    def __rmod__(self, o): return call(ops.mod, o, self)
    def __pow__(self, o): return call(ops.pow, self, o)
    def __rpow__(self, o): return call(ops.pow, o, self)
    def __matmul__(self, o): return call(ops.matmul, self, o)
    def __rmatmul__(self, o): return call(ops.matmul, o, self)
    def __neg__(self): return call(ops.neg, self)
    def __pos__(self): return self
    def __abs__(self): return call(ops.abs, self)
    # on bools the logical ops, on integers the bit operations (as NumPy and PyTorch)
    def __invert__(self): return call(ops.logical_not if self.dtype == bool else ops.bitwise_not, self)
    def __and__(self, o): return call(ops.logical_and if self.dtype == bool else ops.bitwise_and, self, o)
    def __rand__(self, o): return call(ops.logical_and if self.dtype == bool else ops.bitwise_and, o, self)
    def __or__(self, o): return call(ops.logical_or if self.dtype == bool else ops.bitwise_or, self, o)
    def __ror__(self, o): return call(ops.logical_or if self.dtype == bool else ops.bitwise_or, o, self)
    def __xor__(self, o): return call(ops.ne if self.dtype == bool else ops.bitwise_xor, self, o)
    def __rxor__(self, o): return call(ops.ne if self.dtype == bool else ops.bitwise_xor, o, self)
    def __lshift__(self, o): return call(ops.left_shift, self, o)
    def __rlshift__(self, o): return call(ops.left_shift, o, self)
    def __rshift__(self, o): return call(ops.right_shift, self, o)
    def __rrshift__(self, o): return call(ops.right_shift, o, self)
    def __eq__(self, o): return call(ops.eq, self, o)
    def __ne__(self, o): return call(ops.ne, self, o)
    def __lt__(self, o): return call(ops.lt, self, o)
    def __le__(self, o): return call(ops.le, self, o)
    def __gt__(self, o): return call(ops.gt, self, o)
    def __ge__(self, o): return call(ops.ge, self, o)
    def __getitem__(self, index): return call(ops.getitem, self, index)

    @property
    def T(self): return call(ops.transpose, self)

    def reshape(self, *shape):
        return call(ops.reshape, self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes): return call(ops.transpose, self, axes or None)
    def astype(self, dtype): return call(ops.cast, self, dtype)
    def sum(self, axis=None, keepdims=False): return call(ops.sum, self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return call(ops.mean, self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return call(ops.max, self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return call(ops.min, self, axis, keepdims)
    def prod(self, axis=None, keepdims=False): return call(ops.prod, self, axis, keepdims)
    def var(self, axis=None, keepdims=False): return call(ops.var, self, axis, keepdims)
    def std(self, axis=None, keepdims=False): return call(ops.std, self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return call(ops.argmax, self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return call(ops.argmin, self, axis, keepdims)
    def flatten(self): return call(ops.reshape, self, (-1,))


class Param(Tensor):
    """A trainable (or state) tensor whose storage lives outside the graph: `.value` is its array."""

    __slots__ = ()

    @property
    def variable(self):
        return self.node.attrs["var"]

    @property
    def value(self) -> np.ndarray:
        return self.variable.value

    @value.setter
    def value(self, array):
        self.variable.assign(array)

    @property
    def trainable(self) -> bool:
        return self.variable.trainable


# -- between tensors and nodes -------------------------------------------------------
def as_nodes(outputs) -> list[Node]:
    """Normalise a tensor or a list/tuple of tensors (or nodes) to a list of nodes."""
    if isinstance(outputs, (Tensor, Node)):
        outputs = [outputs]
    nodes = []
    for o in outputs:
        if isinstance(o, Tensor):
            nodes.append(o.node)
        elif isinstance(o, Node):
            nodes.append(o)
        else:
            raise GraphcError(f"expected a graphc tensor, got {type(o).__name__}")
    return nodes


def as_tensor(value, dtype=None) -> Tensor:
    """A Tensor for a tensor, node, Python scalar or NumPy array (constants take `dtype`, or their own)."""
    if isinstance(value, Tensor):
        return value if dtype is None or value.dtype == dtypes.as_dtype(dtype) else call(ops.cast, value, dtype)
    return Tensor.of(ops.const(value, dtype))


def call(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on nodes: tensors among the arguments (also inside lists, tuples and
    dicts) are passed as their nodes, and nodes in the result (also inside lists and tuples) come
    back as tensors; a result that is an argument's node comes back as that argument's tensor."""
    handles: dict[Node, Tensor] = {}
    return _to_tensors(fn(*_to_nodes(args, handles), **_to_nodes(kwargs, handles)), handles)


def _to_nodes(value, handles: dict):
    if isinstance(value, Tensor):
        handles.setdefault(value.node, value)
        return value.node
    if isinstance(value, (list, tuple)):
        return type(value)(_to_nodes(v, handles) for v in value)
    if isinstance(value, dict):
        return {k: _to_nodes(v, handles) for k, v in value.items()}
    return value


def _to_tensors(value, handles: dict):
    if isinstance(value, Node):
        handle = handles.get(value)
        return handle if handle is not None else Tensor.of(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_tensors(v, handles) for v in value)
    return value


_lifted: dict = {}


def lift(fn):
    """The function of tensors that applies `fn`, a function of nodes (see `call`); one per `fn`.

    An op or a composite (a registry entry) becomes a `DslOp`, which keeps its attributes."""
    lifted = _lifted.get(id(fn))
    if lifted is None or lifted[0] is not fn:
        if isinstance(fn, (Op, ops.Composite)):
            dsl_fn = DslOp(fn)
        else:
            @functools.wraps(fn)
            def dsl_fn(*args, **kwargs):
                return call(fn, *args, **kwargs)
        lifted = _lifted[id(fn)] = (fn, dsl_fn)
    return lifted[1]


class DslOp:
    """A registry entry (an op or a composite) as the DSL sees it: called on tensors, it returns
    tensors; `entry` is the node-level original, whose other attributes show through."""

    def __init__(self, entry):
        self.entry = entry
        self.__doc__ = type(entry).__doc__ if isinstance(entry, Op) else entry.fn.__doc__

    def __call__(self, *args, **kwargs):
        return call(self.entry, *args, **kwargs)

    @property
    def fn(self):
        """A composite's DSL function (the node-level one is `entry.fn`)."""
        return lift(self.entry.fn)

    def __getattr__(self, attr):
        if attr == "entry":  # not yet set (copy, pickle): no recursion
            raise AttributeError(attr)
        return getattr(self.entry, attr)

    def __repr__(self):
        return repr(self.entry)
