"""Runtime helpers that generated NumPy modules import: the scalar functions NumPy lacks, and checked gathers."""
from __future__ import annotations

import numpy as np
import scipy.special

from graphc.errors import NonFiniteError
from graphc.ops.random import normal_samples as _random_normal, uniform_samples as _random_uniform  # noqa: F401
from graphc.scalar import stable_sigmoid as _sigmoid  # noqa: F401

_erf = scipy.special.erf


def _take(x, idx, axis):
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take: index out of range [{-n}, {n}) along axis {axis}: min {idx.min()}, max {idx.max()}")
    return np.take(x, idx, axis=axis)


def _scatter_add(out, g, idx, axis):
    size = out.shape[axis]
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise IndexError(f"scatter-add: index out of range [{-size}, {size}) along axis {axis}")
    gm = g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim:])
    np.add.at(np.moveaxis(out, axis, 0), idx.reshape(-1) % size, np.moveaxis(gm, axis, 0))


def _check_finite(value, label):
    if not np.all(np.isfinite(value)):
        bad = "NaN" if np.isnan(value).any() else "Inf"
        raise NonFiniteError(f"{bad} first produced by {label!r} (shape {value.shape})")
