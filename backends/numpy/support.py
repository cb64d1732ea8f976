"""Runtime helpers that generated NumPy modules import: erf, boxed loads, index range checks, NaN checks."""
from __future__ import annotations

import numpy as np
import scipy.special

from graphc.errors import IndexRangeError, NonFiniteError

_erf = scipy.special.erf


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
