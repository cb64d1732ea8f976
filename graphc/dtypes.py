"""The dtypes graphc supports and the one promotion rule between them.

Promotion is a lattice, as in JAX: bool below everything; each integer family widens
(int8 < int16 < int32 < int64, uint8 < uint16 < uint32 < uint64); an unsigned type sits below
the signed type twice its width (uint8 < int16, ...); every integer sits below every float, and
float16 < float32 < float64. Two tensor operands promote to the least dtype above both (int64
with float32 gives float32); uint64 with a signed integer has no integer above both and is
refused rather than silently turned into a float. Python scalars and NumPy arrays mixed into an
op are *weak*: they take the dtype of the tensor operand when their kind fits (a float array with
a float32 tensor stays float32), so a stray float64 literal never silently widens a float32 model.

float16 is a *storage* dtype: tensors hold it (inputs, parameters, movement, casts, selections),
but every op that computes (arithmetic, reductions, products) computes in float32 and rounds its
result to float16 once (`COMPUTE_TYPE`, applied where nodes are made: graphc.ops.registry).
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
bool_ = np.dtype(np.bool_)

DEFAULT_FLOAT = float32
# in order of preference: promotion picks the first dtype at or above both operands
SUPPORTED = (bool_, uint8, int8, uint16, int16, uint32, int32, uint64, int64, float16, float32, float64)
_ORDER = {d: i for i, d in enumerate(SUPPORTED)}
SHORT_NAMES = {bool_: "bool", int8: "i8", int16: "i16", int32: "i32", int64: "i64", uint8: "u8", uint16: "u16",
               uint32: "u32", uint64: "u64", float16: "f16", float32: "f32", float64: "f64"}
# storage-only dtypes and the dtype their arithmetic happens in
COMPUTE_TYPE = {float16: float32}


def _below(a: np.dtype, b: np.dtype) -> bool:
    """Is `a` at or below `b` in the promotion lattice?"""
    if a == b or a.kind == "b":
        return True
    if b.kind == "f":
        return a.kind in "iu" or a.itemsize <= b.itemsize
    if a.kind == "f" or b.kind == "b":
        return False
    if a.kind == b.kind:
        return a.itemsize <= b.itemsize
    return a.kind == "u" and b.kind == "i" and a.itemsize < b.itemsize


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
    if dt not in _ORDER:
        raise DTypeError(f"dtype {dt} is not supported; use one of {[str(s) for s in SUPPORTED]}")
    return dt


def is_float(d) -> bool:
    return np.dtype(d).kind == "f"


def is_int(d) -> bool:
    return np.dtype(d).kind in "iu"


def is_bool(d) -> bool:
    return np.dtype(d) == bool_


def promote(*dtypes) -> np.dtype:
    """The promoted dtype of tensor operands (strong types): the least dtype at or above all of them."""
    given = [as_dtype(d) for d in dtypes]
    if not given:
        raise DTypeError("promote() needs at least one dtype")
    if uint64 in given and any(d.kind == "i" for d in given):  # whatever else is there: the join is associative
        signed = next(d for d in given if d.kind == "i")
        raise DTypeError(f"uint64 and {signed} have no common dtype that holds both exactly; cast one of them "
                         f"first (x.astype('int64') or x.astype('float64'))")
    out = given[0]
    for d in given[1:]:
        out = _join(out, d)
    return out


def _join(a: np.dtype, b: np.dtype) -> np.dtype:
    if _below(a, b):
        return b
    if _below(b, a):
        return a
    for d in SUPPORTED:
        if _below(a, d) and _below(b, d):
            if d.kind == "f" and a.kind != "f" and b.kind != "f":
                break  # two integers with no integer above both (uint64 with a signed type)
            return d
    raise DTypeError(f"{a} and {b} have no common dtype that holds both exactly; cast one of them first "
                     f"(x.astype('int64') or x.astype('float64'))")


def compute_type(d) -> np.dtype:
    """The dtype arithmetic on `d` happens in (float32 for float16, else `d` itself)."""
    d = np.dtype(d)
    return COMPUTE_TYPE.get(d, d)


def weak_dtype_for(value, partner: np.dtype | None) -> np.dtype:
    """The dtype a Python scalar or NumPy array takes when it meets a tensor of dtype `partner`."""
    arr = np.asarray(value)
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise DTypeError(f"cannot use a value of dtype {arr.dtype} in a graph")
    if partner is not None:
        if kind == "b" or (kind in "iu" and partner.kind in "iuf") or (kind == "f" and partner.kind == "f"):
            if kind in "iu" and is_int(partner) and arr.size:
                info = np.iinfo(partner)
                if arr.min() < info.min or arr.max() > info.max:  # adopting the dtype would wrap silently
                    raise DTypeError(f"integer value(s) in [{arr.min()}, {arr.max()}] do not fit the {partner} tensor "
                                     f"they are combined with; cast the tensor first (x.astype('int64'))")
            return partner  # the value's kind fits inside the tensor's dtype: adopt it
        return DEFAULT_FLOAT if kind == "f" else int64
    if isinstance(value, (bool, int, float)):
        return {"b": bool_, "i": int64, "f": DEFAULT_FLOAT}[kind]
    return as_dtype(arr.dtype)


def can_cast_safely(src, dst) -> bool:
    """True when every value of `src` is represented exactly by `dst` (NumPy's 'safe' casting)."""
    return np.can_cast(np.dtype(src), np.dtype(dst), casting="safe")


def short(d) -> str:
    return SHORT_NAMES.get(np.dtype(d), str(d))
