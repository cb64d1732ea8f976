"""Sorting by counting: sort, argsort, topk and take_along_axis, composites of comparisons, sums and gathers.

Each element's rank is the number of elements that precede it (smaller, or equal and earlier: a stable
order; NaN after every number ascending and before them descending, as NumPy and PyTorch order it), one
reduction over all pairs along the axis: O(n²) work per row, which suits the short axes a course's models
sort (class scores, beams, attention rows) and needs no new kernel kind. The values are gathered at the
ranked indices, so they are exact and their gradient is the gather's (a scatter to the chosen elements).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ArgumentError, ShapeError
from ..ir import Node
from .indexing import check_range, iota, take
from .math import add, cast, eq, logical_and, logical_not, logical_or, lt, mul, ne, where
from .movement import expand_dims, reshape, swapaxes
from .reduce import sum
from .registry import as_node, composite, scope


def _last(x: Node, axis: int, op: str) -> tuple:
    """x with `axis` moved last (a swap, undone the same way), and its normalised position."""
    if x.ndim == 0:
        raise ShapeError(f"{op}: needs at least one axis, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ArgumentError(f"{op}: axis {axis} is out of range for {x.ndim} dims")
    ax = axis % x.ndim
    return (swapaxes(x, ax, -1) if ax != x.ndim - 1 else x), ax


def _back(y: Node, ax: int) -> Node:
    return swapaxes(y, ax, -1) if ax != y.ndim - 1 else y


def _ranks(x: Node, descending: bool, op: str) -> Node:
    """int64 rank of every element along the last axis of x (a permutation of 0..n-1 in every row)."""
    n = x.shape[-1]
    if not isinstance(n, int):
        raise ShapeError(f"{op}: needs a static length along the sorted axis, got {n}")
    if x.dtype == dtypes.bool_:
        x = cast(x, dtypes.int8)
    mine, other = expand_dims(x, -1), expand_dims(x, -2)  # [..., i, j]: element i against element j
    precedes = lt(mine, other) if descending else lt(other, mine)
    same = eq(other, mine)
    if dtypes.is_float(x.dtype):  # NaN: after every number ascending, before them descending; NaNs tie
        nan_mine, nan_other = ne(mine, mine), ne(other, other)
        nan_wins = logical_and(nan_other, logical_not(nan_mine)) if descending else \
            logical_and(nan_mine, logical_not(nan_other))
        precedes = logical_or(precedes, nan_wins)
        same = logical_or(same, logical_and(nan_mine, nan_other))
    earlier = as_node(np.arange(n)[None, :] < np.arange(n)[:, None])  # [i, j]: j comes before i
    before = logical_or(precedes, logical_and(same, earlier))
    return sum(cast(before, dtypes.int64), axis=-1)


def _ranked_indices(x: Node, k: int, descending: bool, op: str) -> Node:
    """The indices (int64) of the first k elements of every row of x's last axis, in sorted order."""
    rank = expand_dims(_ranks(x, descending, op), -2)  # [..., 1, n]
    wanted = iota((k, 1), 0)                       # [k, 1]
    positions = iota((x.shape[-1],), 0)            # [n]
    return sum(where(eq(rank, wanted), positions, 0), axis=-1)


def _np_take_along_axis(x, indices, axis=-1):
    x, indices = np.asarray(x), np.asarray(indices)
    return np.take_along_axis(x, np.where(indices < 0, indices + x.shape[axis], indices), axis=axis)


@composite("take_along_axis", _np_take_along_axis)
def take_along_axis(x, indices, axis: int = -1, name=None):
    """x[..., indices[..., j], ...] along `axis` (np.take_along_axis): `indices` has x's shape but along `axis`;
    negative indices count from the end; out-of-range ones raise IndexRangeError when the call runs."""
    x = as_node(x)
    idx = indices if isinstance(indices, Node) else as_node(np.asarray(indices, dtype=np.int64))
    if not dtypes.is_int(idx.dtype):
        raise ArgumentError(f"take_along_axis: indices must be integers, got {idx.dtype}")
    if idx.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices have {idx.ndim} dims, x has {x.ndim}: they must have the same")
    with scope(name or "take_along_axis"):
        xm, ax = _last(x, axis, "take_along_axis")
        im, _ = _last(idx, axis, "take_along_axis")
        if tuple(xm.shape[:-1]) != tuple(im.shape[:-1]):
            raise ShapeError(f"take_along_axis: indices of shape {tuple(idx.shape)} do not match x's {tuple(x.shape)} "
                             f"off axis {axis}")
        n, k = xm.shape[-1], im.shape[-1]
        if not isinstance(n, int):
            raise ShapeError(f"take_along_axis: needs a static length along axis {axis}, got {n}")
        im = cast(check_range(im, -n, n, f"take_along_axis indices along axis {axis}"), dtypes.int64)
        im = where(lt(im, 0), add(im, n), im)  # checked first: a flat index must not reach a neighbouring row
        rows = reshape(xm, (-1, n))
        flat = add(mul(iota((rows.shape[0], k), 0), n), reshape(im, (-1, k)))  # row r's element j: r·n + j
        picked = take(reshape(rows, (-1,)), flat, axis=0)
        return _back(reshape(picked, tuple(im.shape)), ax)


def _np_order(x, axis, descending):
    x = np.moveaxis(np.asarray(x), axis, -1)
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty(rows.shape, np.int64)
    for r, row in enumerate(rows):  # Python's sort is stable, reversed too; NaN keyed above every number
        key = [(v != v, 0 if v != v else v) for v in row.tolist()]
        out[r] = sorted(range(len(key)), key=key.__getitem__, reverse=descending)
    return np.moveaxis(out.reshape(x.shape), -1, axis)


def _np_argsort(x, axis=-1, descending=False):
    return _np_order(x, axis, descending)


def _np_sort(x, axis=-1, descending=False):
    return np.take_along_axis(np.asarray(x), _np_order(x, axis, descending), axis=axis)


def _np_topk(x, k, axis=-1, largest=True):
    order = np.take(_np_order(x, axis, largest), range(k), axis=axis)
    return np.take_along_axis(np.asarray(x), order, axis=axis), order


@composite("argsort", _np_argsort)
def argsort(x, axis: int = -1, descending: bool = False, name=None):
    """The indices (int64) that sort x along `axis`, stably (equal elements keep their order); NaN last
    ascending, first descending. O(n²) comparisons along the axis (module docstring)."""
    x = as_node(x)
    with scope(name or "argsort"):
        xm, ax = _last(x, axis, "argsort")
        return _back(_ranked_indices(xm, xm.shape[-1], descending, "argsort"), ax)


@composite("sort", _np_sort)
def sort(x, axis: int = -1, descending: bool = False, name=None):
    """x sorted along `axis` (ascending unless `descending`; NaN last ascending); differentiable: the gradient
    goes back to the elements where each sorted value came from."""
    x = as_node(x)
    with scope(name or "sort"):
        xm, ax = _last(x, axis, "sort")
        return _back(take_along_axis(xm, _ranked_indices(xm, xm.shape[-1], descending, "sort"), -1), ax)


@composite("topk", _np_topk)
def topk(x, k: int, axis: int = -1, largest: bool = True, name=None):
    """(values, indices) of the k largest (or smallest) elements along `axis`, in order; equal values by
    their position (ONNX's TopK and torch.topk); NaN counts as the largest."""
    x = as_node(x)
    with scope(name or "topk"):
        xm, ax = _last(x, axis, "topk")
        n = xm.shape[-1]
        if isinstance(n, int) and not 0 <= k <= n:
            raise ArgumentError(f"topk: k must be in [0, {n}] (the length along axis {axis}), got {k}")
        indices = _ranked_indices(xm, k, largest, "topk")
        return _back(take_along_axis(xm, indices, -1), ax), _back(indices, ax)
