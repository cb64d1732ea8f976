"""Shape arithmetic on static values that hold symbolic dims: a model exported with a dynamic batch computes
its Reshape targets from Shape(x), and graphc keeps those values as arrays of ints and sympy dims.

A node whose static inputs include such an array is evaluated here (the few ops exporters use for shape
arithmetic) instead of by the reference interpreter; a result without symbols becomes an int64 array."""
from __future__ import annotations

import numpy as np
import sympy

SUPPORTED = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Add", "Sub", "Mul", "Div", "Cast",
             "Reshape", "Identity", "Neg")


def is_symbolic(array) -> bool:
    return isinstance(array, np.ndarray) and array.dtype == object


def settle(array: np.ndarray, dtype=np.int64) -> np.ndarray:
    """An integer array of `dtype` (the node's: Cast to int32 stays int32) when no entry is symbolic any more,
    else the object array."""
    if all(isinstance(v, (int, np.integer)) or (isinstance(v, sympy.Basic) and v.is_Integer) for v in array.reshape(-1)):
        return np.array([int(v) for v in array.reshape(-1)], dtype).reshape(array.shape)
    return array


def result_dtype(node):
    """The integer dtype a settled shape value takes: a Cast's target where it is int32, else int64."""
    if node.op_type == "Cast":
        to = next((a.i for a in node.attribute if a.name == "to"), 7)
        return np.int32 if to == 6 else np.int64
    return np.int64


def evaluate(ctx, values: list) -> np.ndarray:
    """The node's one output, from its inputs' static values (object arrays where symbolic)."""
    result = _evaluate(ctx, values)
    if isinstance(result, np.ndarray):
        return result.astype(object)
    out = np.empty((), object)  # NumPy hands one element of an object array back as the element itself
    out[()] = result
    return out


def _evaluate(ctx, values: list):
    op = ctx.op_type
    if op not in SUPPORTED:
        raise ctx.error(f"{op} on a shape with symbolic dims is not supported (export the model with static shapes)")
    x = np.asarray(values[0], dtype=object)
    if op == "Shape":  # the shape of a shape value is static
        return np.asarray(x.shape[slice(ctx.attr("start", 0), ctx.attr("end", None))], np.int64)
    if op in ("Identity", "Cast"):
        if op == "Cast":
            from .types import onnx_dtype  # the dtype table (no cycle: types imports nothing of this package)

            if onnx_dtype(ctx.attr("to"), ctx.label).kind not in "iu":
                raise ctx.error("a symbolic shape value cast to a non-integer type is not supported")
            ctx.attr("saturate", 1)
            ctx.attr("round_mode", "up")
        return x
    if op == "Neg":
        return -x
    if op in ("Add", "Sub", "Mul", "Div"):
        y = np.asarray(values[1], dtype=object)
        if op == "Div":  # integer division truncates (shape values are non-negative)
            return np.vectorize(lambda a, b: sympy.floor(sympy.sympify(a) / b), otypes=[object])(x, y)
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](x, y)
    if op == "Gather":
        axis = ctx.attr("axis", 0)
        indices = np.asarray(values[1], np.int64)
        n = x.shape[axis]
        return np.take(x, np.where(indices < 0, indices + n, indices), axis=axis)
    if op == "Unsqueeze":
        axes = sorted(int(a) % (x.ndim + len(values[1])) for a in np.asarray(values[1]).reshape(-1))
        for a in axes:
            x = np.expand_dims(x, a)
        return x
    if op == "Squeeze":
        axes = None if len(values) < 2 or values[1] is None else tuple(int(a) for a in np.asarray(values[1]).reshape(-1))
        return np.squeeze(x, axis=axes)
    if op == "Concat":
        return np.concatenate([np.asarray(v, dtype=object) for v in values], axis=ctx.attr("axis"))
    if op == "Reshape":
        ctx.attr("allowzero", 0)
        return x.reshape([int(d) for d in np.asarray(values[1]).reshape(-1)])
    # Slice
    starts, ends = (np.asarray(v, np.int64).reshape(-1) for v in values[1:3])
    axes = np.asarray(values[3], np.int64).reshape(-1) if len(values) > 3 and values[3] is not None else range(len(starts))
    steps = np.asarray(values[4], np.int64).reshape(-1) if len(values) > 4 and values[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        n = x.shape[int(axis)]
        start, end = int(np.clip(start, -n - 1, n + 1)), int(np.clip(end, -n - 1, n + 1))
        index[int(axis)] = slice(start, end, int(step))
    return x[tuple(index)]
