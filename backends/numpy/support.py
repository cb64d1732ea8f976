"""Runtime helpers that generated NumPy modules import: erf, the error state, boxed loads, index range checks, NaN checks."""
from __future__ import annotations

import numpy as np
import scipy.special

from graphc.errors import IndexRangeError, NonFiniteError
from graphc.scalar_ops import cast_array as _to_int

_erf = scipy.special.erf


class _ErrorState:
    """np.errstate(all='ignore') for a generated module's run(), entered and left at every call.

    NumPy 2 keeps its floating-point error state in a context variable; setting it directly costs a
    quarter of what entering an np.errstate does (2 µs on a 60 µs batch-1 forward pass). Where that
    variable is not there, np.errstate does the same."""

    def __init__(self):
        try:
            # here, not at the top: a NumPy without these private names must still import this module
            from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
            self._var, self._ignore = _extobj_contextvar, _make_extobj(all="ignore")
        except (ImportError, AttributeError, TypeError):  # another NumPy: the public way
            self._var = None

    def ignore(self):
        if self._var is not None:
            return self._var.set(self._ignore)
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def restore(self, token) -> None:
        if self._var is not None:
            self._var.reset(token)
        else:
            token.__exit__(None, None, None)


_errors = _ErrorState()


def _boxed(inner, shape, box, fill):
    """An array of `shape` holding `inner` inside the box (per-axis [lo, hi)) and `fill` elsewhere."""
    out = np.full(shape, fill, dtype=inner.dtype)
    out[tuple(slice(lo, hi) for lo, hi in box)] = inner
    return out


def _check_range(index, lo, hi, label):
    if index.size and (index.min() < lo or index.max() >= hi):
        raise IndexRangeError(f"{label} must be in [{lo}, {hi}), got values from {index.min()} to {index.max()}")


def _check_finite(value, label):
    if not np.all(np.isfinite(value)):
        bad = "NaN" if np.isnan(value).any() else "Inf"
        raise NonFiniteError(f"{bad} first produced by {label} (shape {value.shape})")
