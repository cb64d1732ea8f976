"""Linear algebra: batched matrix multiply (the primitive), and dot, outer, matmul on 1-D operands."""
from __future__ import annotations

import numpy as np

from .. import dtypes, shapes
from ..errors import ShapeError
from ..ir import Node
from .math import mul
from .movement import expand_dims, reshape, sum_to_shape, swapaxes
from .registry import Op, as_node, composite, register


class MatMul(Op):
    """(..., n, k) @ (..., k, m) -> (..., n, m) with NumPy broadcasting of the batch dims."""

    name, kind = "matmul", "linalg"

    def shape(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ShapeError(f"{shapes.fmt_shape(a.shape)} @ {shapes.fmt_shape(b.shape)}: the matmul primitive needs rank >= 2")
        if not shapes.dims_equal(a.shape[-1], b.shape[-2]):
            raise ShapeError(f"{shapes.fmt_shape(a.shape)} @ {shapes.fmt_shape(b.shape)}: inner dimensions "
                             f"{shapes.fmt_dim(a.shape[-1])} and {shapes.fmt_dim(b.shape[-2])} differ")
        batch = shapes.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return batch + (a.shape[-2], b.shape[-1])

    def dtype(self, a, b):
        d = dtypes.promote(a.dtype, b.dtype)
        if d == dtypes.bool_:
            raise ShapeError("matmul of bool operands")
        return d

    def reference(self, a, b):
        return np.matmul(a, b)

    def lower(self, ctx, a, b):
        return ctx.matmul(a, b)

    def vjp(self, g, y, a, b):
        ga = sum_to_shape(MATMUL(g, swapaxes(b, -1, -2)), a.shape) if dtypes.is_float(a.dtype) else None
        gb = sum_to_shape(MATMUL(swapaxes(a, -1, -2), g), b.shape) if dtypes.is_float(b.dtype) else None
        return [ga, gb]

    def vjp_label(self, index, out, inputs):
        a, b = inputs
        return f"{out}·{b}ᵀ" if index == 0 else f"{a}ᵀ·{out}"


MATMUL = register(MatMul)


def matmul(a, b, name=None) -> Node:
    """`a @ b` with NumPy semantics: 1-D operands are promoted to a row/column and squeezed back."""
    if isinstance(a, Node) or isinstance(b, Node):
        partner = (a if isinstance(a, Node) else b).dtype
        a = a if isinstance(a, Node) else as_node(a, dtypes.weak_dtype_for(a, partner))
        b = b if isinstance(b, Node) else as_node(b, dtypes.weak_dtype_for(b, partner))
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul {shapes.fmt_shape(a.shape)} @ {shapes.fmt_shape(b.shape)}: operands must not be scalars (use *)")
    if a.ndim >= 2 and b.ndim >= 2:
        return MATMUL(a, b, name=name)
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, -1) if b.ndim == 1 else b
    out = MATMUL(a2, b2)
    shape = out.shape
    if a.ndim == 1:
        shape = shape[:-2] + shape[-1:]
    if b.ndim == 1:
        shape = shape[:-1]
    return reshape(out, shape, name=name)


@composite("dot", lambda a, b: np.dot(a, b))
def dot(a, b, name=None):
    """The inner product of two vectors (or matmul for higher ranks, as np.dot does for 2-D)."""
    return matmul(a, b, name=name)


@composite("outer", lambda a, b: np.outer(a, b))
def outer(a, b, name=None):
    """The outer product of two vectors: (n,) x (m,) -> (n, m)."""
    a, b = as_node(a), as_node(b)
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))
