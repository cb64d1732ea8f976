"""The dtypes graphc supports and the one promotion rule between them.

Promotion is a single chain, bool < int32 < int64 < float32 < float64: two tensor operands
promote to the later of their two dtypes (so int64 with float32 gives float32, as in JAX).
Python scalars and NumPy arrays mixed into an op are *weak*: they take the dtype of the
tensor operand when their kind fits (a float array with a float32 tensor stays float32),
so a stray float64 literal never silently widens a float32 model.
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

DEFAULT_FLOAT = float32
SUPPORTED = (bool_, int32, int64, float32, float64)
_RANK = {d: i for i, d in enumerate(SUPPORTED)}
SHORT_NAMES = {bool_: "bool", int32: "i32", int64: "i64", float32: "f32", float64: "f64"}


def as_dtype(d) -> np.dtype:
    """Normalise anything NumPy understands ('float32', np.float32, float, ...) to a supported dtype."""
    if d is float:
        return DEFAULT_FLOAT
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and (not d.isprintable() or d != d.strip()):
        raise DTypeError(f"unknown dtype {d!r}")  # NumPy reads some control characters as dtype codes ('\\x00' is bool)
    try:
        dt = np.dtype(d)
    except Exception as e:  # noqa: BLE001 - NumPy raises TypeError, ValueError or even SyntaxError (',')
        raise DTypeError(f"unknown dtype {d!r}") from e
    if dt not in _RANK:
        raise DTypeError(f"dtype {dt} is not supported; use one of {[str(s) for s in SUPPORTED]}")
    return dt


def is_float(d) -> bool:
    return np.dtype(d).kind == "f"


def is_int(d) -> bool:
    return np.dtype(d).kind in "iu"


def is_bool(d) -> bool:
    return np.dtype(d) == bool_


def promote(*dtypes) -> np.dtype:
    """The promoted dtype of tensor operands (strong types)."""
    return max((as_dtype(d) for d in dtypes), key=_RANK.__getitem__)


def weak_dtype_for(value, partner: np.dtype | None) -> np.dtype:
    """The dtype a Python scalar or NumPy array takes when it meets a tensor of dtype `partner`."""
    arr = np.asarray(value)
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise DTypeError(f"cannot use a value of dtype {arr.dtype} in a graph")
    if partner is not None:
        if _RANK[partner] >= _RANK[_KIND_FLOOR[kind]]:
            if kind in "iu" and is_int(partner) and arr.size:
                info = np.iinfo(partner)
                if arr.min() < info.min or arr.max() > info.max:  # adopting the dtype would wrap silently
                    raise DTypeError(f"integer value(s) in [{arr.min()}, {arr.max()}] do not fit the {partner} tensor "
                                     f"they are combined with; cast the tensor first (x.astype('int64'))")
            return partner  # the value's kind fits inside the tensor's dtype: adopt it
        return DEFAULT_FLOAT if kind == "f" else int64
    if isinstance(value, (bool, int, float)):
        return {"b": bool_, "i": int64, "f": DEFAULT_FLOAT}[kind]
    return as_dtype(arr.dtype if arr.dtype.kind != "u" else int64)


_KIND_FLOOR = {"b": bool_, "i": int32, "u": int32, "f": float32}


def can_cast_safely(src, dst) -> bool:
    """True when every value of `src` is represented exactly by `dst` (NumPy's 'safe' casting)."""
    return np.can_cast(np.dtype(src), np.dtype(dst), casting="safe")


def short(d) -> str:
    return SHORT_NAMES.get(np.dtype(d), str(d))
