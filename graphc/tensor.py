"""The DSL's Tensor: a thin handle on a graph node with NumPy-like operator overloading."""
from __future__ import annotations

import numpy as np

from . import shapes
from .errors import GraphcError
from .ir import Node


class Tensor:
    """A symbolic value in the graph being built. Each node has exactly one handle (`Tensor.of`)."""

    __slots__ = ("node", "__weakref__")
    __array_priority__ = 1000  # make `ndarray op Tensor` defer to Tensor's reflected operators

    def __init__(self, node: Node):
        self.node = node

    @classmethod
    def of(cls, node: Node) -> "Tensor":
        if node.handle is None:
            node.handle = (_PARAM_CLASS if node.op.name == "param" else cls)(node)
        return node.handle

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
        self.node.name = value

    def named(self, name: str) -> "Tensor":
        """Give this value a user name (shown in listings, renderings and error messages)."""
        self.node.name = name
        return self

    def __repr__(self):
        return f"Tensor({self.name!r}, op={self.op}, shape={shapes.fmt_shape(self.shape)}, dtype={self.dtype})"

    def __hash__(self):
        return hash(self.node.id)

    def __bool__(self):
        raise GraphcError(f"the truth value of symbolic tensor {self.name!r} is unknown until the graph runs; "
                          "use gc.where(...) for data-dependent choices")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        raise TypeError("a symbolic tensor is not iterable; index it or use gc.split")

    # -- operators (all defined through the op functions in graphc.ops) ----
    def __add__(self, o): return _ops.add(self, o)
    def __radd__(self, o): return _ops.add(o, self)
    def __sub__(self, o): return _ops.sub(self, o)
    def __rsub__(self, o): return _ops.sub(o, self)
    def __mul__(self, o): return _ops.mul(self, o)
    def __rmul__(self, o): return _ops.mul(o, self)
    def __truediv__(self, o): return _ops.div(self, o)
    def __rtruediv__(self, o): return _ops.div(o, self)
    def __pow__(self, o): return _ops.pow(self, o)
    def __rpow__(self, o): return _ops.pow(o, self)
    def __matmul__(self, o): return _ops.matmul(self, o)
    def __rmatmul__(self, o): return _ops.matmul(o, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __invert__(self): return _ops.logical_not(self)
    def __and__(self, o): return _ops.logical_and(self, o)
    def __rand__(self, o): return _ops.logical_and(o, self)
    def __or__(self, o): return _ops.logical_or(self, o)
    def __ror__(self, o): return _ops.logical_or(o, self)
    def __eq__(self, o): return _ops.eq(self, o)
    def __ne__(self, o): return _ops.ne(self, o)
    def __lt__(self, o): return _ops.lt(self, o)
    def __le__(self, o): return _ops.le(self, o)
    def __gt__(self, o): return _ops.gt(self, o)
    def __ge__(self, o): return _ops.ge(self, o)
    def __getitem__(self, index): return _ops.getitem(self, index)

    @property
    def T(self): return _ops.transpose(self)

    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes): return _ops.transpose(self, axes or None)
    def astype(self, dtype): return _ops.cast(self, dtype)
    def sum(self, axis=None, keepdims=False): return _ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops.min(self, axis, keepdims)
    def prod(self, axis=None, keepdims=False): return _ops.prod(self, axis, keepdims)
    def var(self, axis=None, keepdims=False): return _ops.var(self, axis, keepdims)
    def std(self, axis=None, keepdims=False): return _ops.std(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return _ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _ops.argmin(self, axis, keepdims)
    def flatten(self): return _ops.reshape(self, (-1,))


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


_PARAM_CLASS = Param


def as_nodes(outputs) -> list[Node]:
    """Normalise a tensor or a list/tuple of tensors to a list of nodes."""
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
    """A Tensor for a tensor, Python scalar or NumPy array (constants take `dtype`, or their own)."""
    if isinstance(value, Tensor):
        return value if dtype is None or value.dtype == np.dtype(dtype) else _ops.cast(value, dtype)
    if isinstance(value, Node):
        return Tensor.of(value)
    from . import dtypes

    return Tensor.of(const_node(value, dtypes.as_dtype(dtype) if dtype is not None else dtypes.weak_dtype_for(value, None)))


def const_node(value, dtype) -> Node:
    from .ops import leaves

    return leaves.const_node(value, dtype)


from . import ops as _ops  # noqa: E402  (the op functions need Tensor defined first)
