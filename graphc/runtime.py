"""Checking the arrays a compiled function is called with, and binding symbolic dims, before anything runs."""
from __future__ import annotations

import numpy as np

from . import dtypes, shapes
from .errors import InputError
from .ir import Node

CAST_POLICIES = ("no", "safe", "same_kind")


def bind_inputs(inputs: tuple[Node, ...], given: dict, cast: str = "safe") -> tuple[dict, dict]:
    """Validate keyword arguments against the graph's inputs.

    Returns ({input node: array}, {symbol name: int}). Raises InputError naming the input and
    both shapes for: a missing or unknown name, a wrong rank, a wrong fixed dim, inconsistent
    bindings of a symbolic dim, or a dtype that cannot be cast under the `cast` policy
    ('safe': only value-preserving casts such as int32 -> float64; 'same_kind': float64 -> float32 too;
    'no': exact dtypes only)."""
    if cast not in CAST_POLICIES:
        raise ValueError(f"cast must be one of {CAST_POLICIES}, got {cast!r}")
    by_name = {n.attrs["name"]: n for n in inputs}
    unknown = sorted(set(given) - set(by_name))
    missing = [name for name in by_name if name not in given]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing input(s) {missing}")
        if unknown:
            parts.append(f"unknown input(s) {unknown}")
        raise InputError(f"{'; '.join(parts)}; the function takes {list(by_name)}")
    arrays, bindings, bound_by = {}, {}, {}
    for name, node in by_name.items():
        value = given[name]
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        if not isinstance(value, np.ndarray) and arr.dtype.kind in "biuf" and dtypes.weak_dtype_for(value, node.dtype) == node.dtype:
            arr = arr.astype(node.dtype)  # Python numbers and lists are weak, as when building graphs
        declared = node.attrs["shape"]
        expect = _Expect(declared)  # formatted only when an error message needs it (this runs every call)
        if arr.ndim != len(declared):
            raise InputError(f"input {name!r}: {expect} (rank {len(declared)}), got shape {arr.shape} (rank {arr.ndim})")
        for axis, (d, actual) in enumerate(zip(declared, arr.shape)):
            if isinstance(d, int):
                if d != actual:
                    raise InputError(f"input {name!r}: {expect}, got {arr.shape}: dim {axis} is {actual}, expected {d}")
            elif d.is_Symbol:
                prev = bindings.get(d.name)
                if prev is not None and prev != actual:
                    raise InputError(f"input {name!r}: {expect}, got {arr.shape}: dim {axis} ({shapes.fmt_dim(d)}) is {actual}, "
                                     f"but {bound_by[d.name]} bound it to {prev}")
                bindings[d.name] = actual
                bound_by.setdefault(d.name, f"input {name!r}")
        want = node.dtype
        if arr.dtype != want:
            ok = arr.dtype.kind in "biuf" and (cast != "no") and np.can_cast(arr.dtype, want, casting=cast)
            if not ok:
                hint = " (pass cast='same_kind' to allow it)" if np.can_cast(arr.dtype, want, casting="same_kind") else ""
                raise InputError(f"input {name!r}: expected dtype {want}, got {arr.dtype}; the cast is not allowed under cast={cast!r}{hint}")
            arr = arr.astype(want)
        arrays[node] = arr
    for name, node in by_name.items():  # compound dims (2*N) are checked once every symbol is bound
        for axis, d in enumerate(node.attrs["shape"]):
            if not isinstance(d, int) and not d.is_Symbol:
                unbound = sorted(shapes.free_symbols([d]) - set(bindings))
                if unbound:
                    raise InputError(f"input {name!r}: dim {axis} is {arrays[node].shape[axis]}, expected {d}, but "
                                     f"{', '.join(unbound)} is not bound by any input (declare it alone in some input's shape)")
                want_dim = shapes.concrete(d, bindings)
                if arrays[node].shape[axis] != want_dim:
                    raise InputError(f"input {name!r}: dim {axis} is {arrays[node].shape[axis]}, expected {d} = {want_dim}")
    return arrays, bindings


class _Expect:
    """'expected shape (None, 3)', formatted lazily."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape

    def __format__(self, spec):
        return f"expected shape {shapes.fmt_shape(self.shape)}"
