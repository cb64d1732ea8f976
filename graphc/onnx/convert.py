"""The converters' registry and what a converter sees of its node: inputs as tensors or static arrays, attributes."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from ..errors import OnnxError

CONVERTERS: dict = {}  # ONNX op type -> function(NodeContext) -> Tensor | array | list of them
_REQUIRED = object()


def converts(*op_types):
    """Register a converter for ONNX op types."""
    def register(fn):
        for op_type in op_types:
            CONVERTERS[op_type] = fn
        return fn
    return register


class Static:
    """A value known at import time: its array, and the graph constant made from it on first use."""

    __slots__ = ("array", "_tensor")

    def __init__(self, array):
        self.array, self._tensor = np.asarray(array), None

    def tensor(self):
        if self.array.dtype == object:
            raise OnnxError(f"a shape value with symbolic dims {list(self.array.reshape(-1))} is used as data; graphc "
                            "needs such values at import time (export the model with static shapes)")
        if self._tensor is None:
            self._tensor = gc.const(self.array, dtype=self.array.dtype)
        return self._tensor


class NodeContext:
    """One node being converted: `x(i)` its i-th input as a tensor, `static(i)` as an array known at import time,
    `attr(name)` an attribute (every attribute must be read by the converter, or the node is refused)."""

    def __init__(self, importer, node, label: str):
        self.importer, self.node, self.label, self.opset = importer, node, label, importer.opset
        self.op_type = node.op_type
        self.attributes = {a.name: a for a in node.attribute}
        self.read: set = set()

    # -- inputs --------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return len(self.node.input)

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def x(self, i: int = 0):
        if not self.has(i):
            raise self.error(f"input {i} is required")
        return self.importer.tensor(self.node.input[i])

    def inputs(self) -> list:
        return [self.x(i) for i in range(self.n_inputs) if self.has(i)]

    def static(self, i: int, what: str, default=_REQUIRED) -> np.ndarray:
        """Input i's value, which graphc needs at import time (a shape, axes, bounds)."""
        if not self.has(i):
            if default is _REQUIRED:
                raise self.error(f"input {i} ({what}) is required")
            return default
        value = self.importer.static(self.node.input[i])
        if value is None:
            raise self.error(f"input {self.node.input[i]!r} ({what}) must be known when the model is imported (a "
                             "constant or an initializer, or computed from them); graphc compiles static graphs. "
                             "Pass it with gc.onnx.load(..., constants={name: array}) if it is a graph input")
        return value

    def ints(self, i: int, what: str, default=_REQUIRED) -> list | None:
        value = self.static(i, what, default)
        if value is not None and np.asarray(value).dtype == object:
            raise self.error(f"input {self.node.input[i]!r} ({what}) holds symbolic dims; graphc needs integers here")
        return value if value is None or isinstance(value, list) else [int(v) for v in np.asarray(value).reshape(-1)]

    def dims(self, i: int, what: str) -> list:
        """A static shape: ints, or symbolic dims (sympy) where the model computed them from Shape."""
        return [int(v) if isinstance(v, (int, np.integer)) else v for v in np.asarray(self.static(i, what)).reshape(-1)]

    # -- attributes ----------------------------------------------------------------------
    def attr(self, name: str, default=_REQUIRED):
        self.read.add(name)
        a = self.attributes.get(name)
        if a is None:
            if default is _REQUIRED:
                raise self.error(f"attribute {name!r} is required")
            return default
        kind = a.type
        if kind == 1:
            return float(a.f)
        if kind == 2:
            return int(a.i)
        if kind == 3:
            return a.s.decode("utf-8", errors="replace")
        if kind == 4:
            return self.importer.array(a.t, f"{self.label}: attribute {name!r}")
        if kind == 6:
            return [float(v) for v in a.floats]
        if kind == 7:
            return [int(v) for v in a.ints]
        if kind == 8:
            return [s.decode("utf-8", errors="replace") for s in a.strings]
        raise self.error(f"attribute {name!r} of this kind (graphs, sparse tensors, types) is not supported")

    def unsupported(self, what: str):
        return self.error(f"{what} is not supported")

    def error(self, what: str) -> OnnxError:
        return OnnxError(f"{self.label}: {what}")

    def check_attributes_read(self) -> None:
        unread = sorted(set(self.attributes) - self.read)
        if unread:
            raise self.error(f"attribute(s) {unread} are not supported by graphc's importer")


def axis_of(ctx, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ctx.error(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0
