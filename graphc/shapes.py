"""Shapes: tuples of dims, where a dim is an int or a symbolic sympy expression.

A symbolic dim (the batch size, typically) is declared as `None` (the shared batch symbol,
shown as `None`) or as a name; it is bound to an int when a compiled function is called.
Dim arithmetic (reshape's -1, conv output sizes) stays exact through sympy.
"""
from __future__ import annotations

import math
import operator
import os
from typing import Iterable

import numpy as np
import sympy

from .errors import ArgumentError, ShapeError, TooLargeError

BATCH = sympy.Symbol("N", integer=True, positive=True)  # what `None` in a declared shape means
_SYMBOLS: dict[str, sympy.Symbol] = {"N": BATCH}


def symbol(name: str) -> sympy.Symbol:
    """The symbolic dim called `name` (one symbol per name, shared across the session)."""
    if name not in _SYMBOLS:
        _SYMBOLS[name] = sympy.Symbol(name, integer=True, positive=True)
    return _SYMBOLS[name]


def as_dim(d):
    """Normalise one user-given dim: int, None (batch), str (named symbol) or sympy expression."""
    if d is None:
        return BATCH
    if isinstance(d, str):
        return symbol(d)
    if isinstance(d, sympy.Basic):
        return int(d) if d.is_Integer else d
    try:
        i = int(d)
    except (TypeError, ValueError):
        raise ShapeError(f"dim {d!r} is not an int, None or a name") from None
    if i != d or i < 0:
        raise ShapeError(f"dim {d!r} must be a non-negative integer")
    return i


def as_shape(shape) -> tuple:
    if shape is None:
        return ()
    if isinstance(shape, (int, str)) or shape is None:
        shape = (shape,)
    return tuple(as_dim(d) for d in shape)


def is_static(shape: Iterable) -> bool:
    return all(isinstance(d, int) for d in shape)


def fmt_dim(d) -> str:
    return "None" if d is BATCH else str(d)


def fmt_shape(shape) -> str:
    inner = ", ".join(fmt_dim(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def prod(dims):
    out = 1
    for d in dims:
        out = out * d
    return sympy.expand(out) if isinstance(out, sympy.Basic) else out


def simplify_dim(d):
    if isinstance(d, sympy.Basic):
        d = sympy.expand(d)
        return int(d) if d.is_Integer else d
    return d


def dims_equal(a, b) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


def broadcast_shapes(*shapes, what: str = "operands") -> tuple:
    """NumPy broadcasting of shapes that may hold symbols (a symbol only broadcasts against 1 or itself)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dim = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            d = s[k]
            if isinstance(d, int) and d == 1:
                continue
            if isinstance(dim, int) and dim == 1:
                dim = d
            elif not dims_equal(dim, d):
                shown = " and ".join(fmt_shape(s) for s in shapes)
                raise ShapeError(f"{shown} cannot be broadcast together: dims {fmt_dim(dim)} and {fmt_dim(d)} differ")
        out.append(dim)
    return tuple(out)


def as_int(value, what: str, limit: int | None = 2 ** 63) -> int:
    """An integer attribute (an axis, a count, a size, a seed), refused, never truncated, when it is
    not one: 1.7, 2.0, "1" and True are not axes. It must fit int64 (`limit=None`: any int, for seeds)."""
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{what} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ArgumentError(f"{what} must be an integer, got {value!r}") from None
    if limit is not None and not -limit <= value < limit:
        raise ArgumentError(f"{what} {value} is out of the int64 range")
    return value


def normalize_axis(axis: int, ndim: int, what: str = "axis") -> int:
    axis = as_int(axis, what)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of range for rank {ndim}")
    return axis % ndim


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """None means every axis; an int or a sequence of ints is normalised, sorted and deduplicated."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    axes = tuple(sorted({normalize_axis(a, ndim) for a in axis}))
    if len(axes) != len(tuple(axis)):
        raise ShapeError(f"repeated axis in {tuple(axis)}")
    return axes


def machine_memory() -> int:
    """Bytes of memory available now (Linux's MemAvailable; physical memory elsewhere; a generous
    bound when the system does not say)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2 ** 46


def fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.4g} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"


def check_fits(nbytes: int, what: str) -> None:
    """Refuse, naming `what`, an allocation larger than the machine's memory, before NumPy tries it."""
    if nbytes < 2 ** 26:  # small: not worth asking the system
        return
    available = machine_memory()
    if nbytes > available:
        raise TooLargeError(f"{what} needs {fmt_bytes(nbytes)}, more than the {fmt_bytes(available)} of memory available")


def concrete(dim, bindings: dict) -> int:
    """An int for `dim` under `bindings` (symbol name -> int)."""
    if isinstance(dim, int):
        return dim
    key = (dim, tuple(sorted(bindings.items())))
    hit = _CONCRETE.get(key)
    if hit is not None:
        return hit
    value = dim.xreplace({symbol(k): sympy.Integer(v) for k, v in bindings.items()})
    if not value.is_Integer:
        raise ShapeError(f"dim {fmt_dim(dim)} is not bound (bindings: {bindings})")
    _CONCRETE[key] = int(value)
    return int(value)


_CONCRETE: dict = {}  # (dim, bindings) -> int: lowering asks for the same few dims thousands of times


def concrete_shape(shape, bindings: dict) -> tuple[int, ...]:
    if is_static(shape):
        return tuple(shape)
    return tuple(concrete(d, bindings) for d in shape)


def free_symbols(shape) -> set[str]:
    names = set()
    for d in shape:
        if isinstance(d, sympy.Basic):
            names |= {s.name for s in d.free_symbols}
    return names


def conv_out_size(size, kernel: int, stride: int, padding_lo: int, padding_hi: int, dilation: int):
    """floor((W + p_lo + p_hi - d(k-1) - 1) / s) + 1, exact for symbolic W."""
    span = dilation * (kernel - 1) + 1
    total = size + padding_lo + padding_hi - span
    if isinstance(total, int):
        if total < 0:
            raise ShapeError(f"window span {span} exceeds padded size {size + padding_lo + padding_hi}")
        return total // stride + 1
    return simplify_dim(sympy.floor(total / stride) + 1)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations", "math", "Iterable", "sympy")]


def concretize(value, subs: dict):
    """An attribute with its symbolic dims replaced by the bound ints (`subs`: {symbol: int})."""
    if isinstance(value, tuple):
        return tuple(concretize(v, subs) for v in value)
    if isinstance(value, sympy.Basic) and value.free_symbols & subs.keys():
        out = value.xreplace({k: sympy.Integer(v) for k, v in subs.items()})
        return int(out) if isinstance(out, sympy.Integer) else out
    if isinstance(value, sympy.Integer):
        return int(value)
    return value


def contiguous_strides(shape) -> tuple[int, ...]:
    """The element strides of a C-order array of `shape` (concrete ints)."""
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))
