"""Leaf ops: graph inputs (bound per call), parameters (stored outside the graph) and constants."""
from __future__ import annotations

import hashlib
import itertools
import threading

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, DTypeError, ShapeError
from ..ir import Attrs, Node, identifier
from .math import cast
from .registry import Op, as_node, current_scope, make_node, register

# Each declared input's attributes carry a `uid`, so two inputs alike in name, shape and dtype never
# compare equal; like Node ids it is creation order, and Graph.structural_hash leaves it out.
_uids = itertools.count()


class ConstValue:
    """A constant array as a hashable attribute (hashed by content)."""

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray):
        self.array = np.array(array, copy=True, order="C")
        self.array.setflags(write=False)
        digest = hashlib.sha256(self.array.tobytes()).hexdigest()[:24]
        self._key = (self.array.dtype.str, self.array.shape, digest)

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, ConstValue) and self._key == other._key

    def stable_key(self) -> str:
        return f"const{self._key}"

    def graph_label(self) -> str:
        a = self.array
        return np.array2string(a, precision=4, threshold=6) if a.size <= 6 else f"<{a.dtype}{list(a.shape)}>"


# Parameters kept in a device's memory (Variable.holder): device steps and the host calls that share their
# Variables take this lock while they move or use them; `RESIDENT[0]` counts the live device steps, so host
# calls take it only while one exists.
RESIDENCY_LOCK = threading.RLock()
RESIDENT = [0]


class Variable:
    """The storage behind a parameter or a piece of optimiser state: a NumPy array updated in place.

    A device backend may keep the newest copy in its own memory between steps (`holder`: an object with
    `release(var)`, which copies it back into the host array and sets `holder` to None). Reading `value`
    brings it back first and hands the host array out as the current one: the device takes it again before
    its next step, so a change made through that array before the next device step is seen. The array is
    current until then: across device steps, keep the Variable (or its Param) and read `.value` again, as a
    host backend's in-place updates would otherwise suggest. Host backends release a holder before they
    run (runtime.Specialization)."""

    def __init__(self, name: str, value: np.ndarray, trainable: bool = True, role: str = "param"):
        self.name, self.trainable, self.role = name, trainable, role
        self._value = np.array(value, copy=True)
        self.holder = None

    @property
    def value(self) -> np.ndarray:
        if self.holder is not None:
            with RESIDENCY_LOCK:
                holder = self.holder
                if holder is not None:
                    holder.release(self)
        return self._value

    @value.setter
    def value(self, array):
        self.assign(array)

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    def assign(self, array):
        """Replace the contents in place (same shape and dtype), keeping the array object."""
        a = np.asarray(array)
        if a.shape != self.shape:
            raise ShapeError(f"parameter {self.name!r}: cannot assign shape {a.shape} to shape {self.shape}")
        if not np.can_cast(a.dtype, self.dtype, casting="same_kind"):
            raise DTypeError(f"parameter {self.name!r}: cannot assign {a.dtype} to {self.dtype}")
        self.value[...] = a  # through `value`: a device copy is released, so the next step takes this one

    def stable_key(self) -> str:
        return f"var({self.name!r},{self.dtype.str},{self.shape},{self.role})"

    def graph_label(self) -> str:
        return self.name

    def __repr__(self):
        return f"Variable({self.name!r}, shape={self.shape}, dtype={self.dtype})"


class Input(Op):
    name, kind, hashcons, differentiable = "input", "leaf", False, False

    def shape(self, *, name, shape, dtype, uid):
        return shape

    def dtype(self, *, name, shape, dtype, uid):
        return dtype

    def reference(self, **attrs):
        raise RuntimeError("inputs are bound by the interpreter, not evaluated")

    def lower(self, ctx, *, name, shape, dtype, uid):
        return ctx.buffer(shape, dtype, role="input", name=f"in_{name}")


class Parameter(Op):
    name, kind, hashcons, differentiable = "param", "leaf", False, False  # one node per Variable, made by param()

    def shape(self, *, var):
        return tuple(var.shape)

    def dtype(self, *, var):
        return var.dtype

    def reference(self, *, var):
        return var.value

    def lower(self, ctx, *, var):
        role = "state" if var.role == "state" else "param"  # optimiser state follows the parameters in the calling convention
        return ctx.buffer(var.shape, var.dtype, role=role, name="p_" + identifier(var.name), var=var)


class Const(Op):
    name, kind, differentiable = "const", "leaf", False

    def shape(self, *, value):
        return value.array.shape

    def dtype(self, *, value):
        return value.array.dtype

    def reference(self, *, value):
        return value.array

    def lower(self, ctx, *, value):
        return ctx.buffer(value.array.shape, value.array.dtype, role="const", data=value.array)

    def make(self, value, dtype) -> Node:
        """The constant node holding `value` (a Python scalar or array) as `dtype`."""
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise DTypeError(f"cannot make a constant from a value of dtype {arr.dtype}")
        if arr.dtype != dtype:
            dtype = np.dtype(dtype)
            if dtype.kind in "iu" and arr.dtype.kind in "iuf" and arr.size:
                info = np.iinfo(dtype)
                if not (np.all(np.isfinite(arr)) and arr.min() >= info.min and arr.max() <= info.max):
                    raise DTypeError(f"constant values in [{arr.min()}, {arr.max()}] do not fit {dtype} "
                                     f"([{info.min}, {info.max}]); the cast would wrap")
            arr = arr.astype(dtype)
        return make_node(self, (), {"value": ConstValue(arr)})


def input(name: str, shape=(), dtype=dtypes.DEFAULT_FLOAT) -> Node:
    """A graph input, bound by keyword when the compiled function is called. `None` dims are the batch size."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ArgumentError(f"input name {name!r} must be a Python identifier (inputs are passed by keyword)")
    if shape is None:
        raise ShapeError(f"input {name!r}: give a shape tuple: () for a scalar, (None,) for one value per batch row")
    attrs = Attrs(dict(name=name, shape=shapes.as_shape(shape), dtype=dtypes.as_dtype(dtype), uid=next(_uids)))
    return Node(INPUT, (), attrs, attrs["shape"], attrs["dtype"], name=name, scope="")


def param(name: str, value=None, *, shape=None, init=None, dtype=None, trainable=True, role="param") -> Node:
    """A parameter with storage: give its initial `value`, or a `shape` and an `init(shape, rng)` or init name."""
    if value is None:
        if shape is None:
            raise ArgumentError(f"param {name!r}: give a value or a shape")
        shape = tuple(int(s) for s in shapes.as_shape(shape))
        value = np.zeros(shape) if init is None else _initial_value(init, shape, name)
    arr = np.asarray(value)
    if dtype is None:  # float64 values (NumPy's default) become float32, like every graphc tensor; float16 stays
        dtype = dtypes.DEFAULT_FLOAT if arr.dtype.kind == "f" and arr.dtype != dtypes.float16 else arr.dtype
    arr = arr.astype(dtypes.as_dtype(dtype))
    full = f"{current_scope()}/{name}" if current_scope() else name
    var = Variable(full, arr, trainable=trainable, role=role)
    node = make_node(PARAM, (), {"var": var}, name=name)
    node.meta["role"] = role
    return node


def _initial_value(init, shape, name):
    if callable(init):
        return np.asarray(init(shape))
    raise ArgumentError(f"param {name!r}: init must be a callable taking the shape")


def const(value, dtype=None) -> Node:
    """A constant (a Python scalar or a NumPy array); it keeps its own dtype unless one is given.
    Given a node, returns it (cast to `dtype` if one is given)."""
    if isinstance(value, Node):
        return value if dtype is None else cast(value, dtype)
    return as_node(value, dtype)


def const_node(value, dtype) -> Node:
    return CONST.make(value, dtype)


INPUT, PARAM, CONST = register(Input), register(Parameter), register(Const)
