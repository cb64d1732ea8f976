"""Data helpers for training: seeded mini-batch iteration and train/validation/test splits of NumPy arrays."""
from __future__ import annotations

from typing import Iterator, Sequence

import operator

import numpy as np

from .errors import InputError


def _check_lengths(arrays: Sequence[np.ndarray]) -> int:
    if any(np.ndim(a) == 0 for a in arrays):
        raise InputError("a scalar cannot be split into rows; pass arrays whose first axis holds the examples")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise InputError(f"arrays have different lengths {sorted(lengths)}; they must share the first axis")
    return lengths.pop()


def integer_at_least(value, what: str, minimum: int = 1) -> int:
    """`value` as an int of at least `minimum` (a float such as 32.0 or 1.5 is refused, never truncated)."""
    expected = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
    try:
        value = operator.index(value)
    except TypeError:
        raise InputError(f"{what} must be {expected}, got {value!r}") from None
    if value < minimum:
        raise InputError(f"{what} must be {expected}, got {value}")
    return value


def batches(arrays: Sequence[np.ndarray], batch_size: int, *, shuffle: bool = True, seed=None,
            drop_last: bool = False) -> Iterator[tuple]:
    """Yield tuples of aligned mini-batches. `seed` (an int or a sequence such as (seed, epoch))
    makes the shuffle reproducible, which is what lets an interrupted training run resume exactly."""
    n = _check_lengths(arrays)
    batch_size = integer_at_least(batch_size, "batch_size")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(a[idx] for a in arrays)


def split(*arrays: np.ndarray, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
          stratify: np.ndarray | None = None) -> list[tuple]:
    """Split aligned arrays into parts of the given fractions (e.g. train/validation/test), shuffled
    with `seed`; `stratify` (class labels) keeps every class's proportion in every part."""
    n = _check_lengths(arrays)
    fractions = np.asarray(fractions, dtype=float)
    if np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise InputError(f"fractions must be non-negative and sum to 1, got {tuple(fractions)}")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if stratify is None else [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for members in groups:
        members = rng.permutation(members)
        bounds = np.round(np.cumsum(fractions) * len(members)).astype(int)
        for k, (a, b) in enumerate(zip(np.concatenate([[0], bounds[:-1]]), bounds)):
            parts[k].append(members[a:b])
    out = []
    for chunks in parts:
        idx = rng.permutation(np.concatenate(chunks)) if chunks else np.arange(0)
        out.append(tuple(a[idx] for a in arrays))
    return out


def train_val_test_split(*arrays, val: float = 0.1, test: float = 0.1, seed: int = 0, stratify=None):
    """(train, val, test), each a tuple of the arrays' parts."""
    return split(*arrays, fractions=(1 - val - test, val, test), seed=seed, stratify=stratify)
