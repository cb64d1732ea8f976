"""Checks of the plain (non-tensor) arguments of composite ops, declared by their annotations, and the
net that turns any other failure of a decomposition on a user's argument into one graphc error."""
from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

from .. import shapes
from ..errors import ArgumentError, GraphcError


def _real(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentError(f"{what} must be a real number, got {value!r}")
    return value


def _flag(value, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"{what} must be a string, got {value!r}")
    return value


def finite(value, what: str) -> float:
    """A finite real number (a probability, a bound, a scale)."""
    value = _real(value, what)
    if not math.isfinite(value):
        raise ArgumentError(f"{what} must be finite, got {value!r}")
    return value


# annotation text -> check; "X | None" also lets None through
CHECKS = {"int": shapes.as_int, "float": _real, "bool": _flag, "str": _text}


def checked(name: str, fn):
    """`fn` with its annotated int/float/bool/str parameters checked before it runs, and any other
    failure on a user's argument (TypeError, ValueError, ...) reported as an ArgumentError naming the op."""
    signature = inspect.signature(fn)
    plans = {}
    for pname, param in signature.parameters.items():
        text = str(param.annotation).replace(" ", "")
        optional = text.endswith("|None")
        base = text[:-len("|None")] if optional else text
        if base in CHECKS:
            plans[pname] = (CHECKS[base], optional)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise ArgumentError(f"{name}: {e}") from None
        label = bound.arguments.get("name")
        if label is not None and not isinstance(label, str):
            raise ArgumentError(f"{name}: name must be a string, got {label!r}")
        for pname, (check, optional) in plans.items():
            if pname in bound.arguments and not (optional and bound.arguments[pname] is None):
                check(bound.arguments[pname], f"{name}: {pname}")
        try:
            return fn(*args, **kwargs)
        except GraphcError:
            raise
        except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError, ZeroDivisionError) as e:
            raise ArgumentError(f"{name}: cannot be built from these arguments ({type(e).__name__}: {e})") from None

    return call
