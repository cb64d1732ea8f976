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


def count(value, what: str) -> int:
    value = shapes.as_int(value, what)
    if value < 1:
        raise ArgumentError(f"{what} must be at least 1, got {value}")
    return value


def non_negative(value, what: str) -> float:
    if not finite(value, what) >= 0:
        raise ArgumentError(f"{what} must be 0 or more, got {value!r}")
    return value


def positive(value, what: str) -> float:
    if not finite(value, what) > 0:
        raise ArgumentError(f"{what} must be positive, got {value!r}")
    return value


def probability(value, what: str) -> float:
    if not 0 <= finite(value, what) < 1:
        raise ArgumentError(f"{what} must be in [0, 1), got {value!r}")
    return value


def fraction(value, what: str) -> float:
    if not 0 <= finite(value, what) <= 1:
        raise ArgumentError(f"{what} must be in [0, 1], got {value!r}")
    return value


# Annotations that say more than a type; they are the plain types to Python, and their names are
# what `checked` reads (annotations are strings under `from __future__ import annotations`).
Count = int            # a size or a number of things: an int of at least 1
NonNegative = float    # a finite real >= 0 (eps, weight decay)
Positive = float       # a finite real > 0 (a temperature, a learning rate)
Probability = float    # a finite real in [0, 1) (dropout)
Fraction = float       # a finite real in [0, 1] (a momentum, label smoothing)

# annotation text -> check; "X | None" also lets None through
CHECKS = {"int": shapes.as_int, "float": _real, "bool": _flag, "str": _text, "Count": count,
          "NonNegative": non_negative, "Positive": positive, "Probability": probability, "Fraction": fraction}


def checked(name: str, fn):
    """`fn` with its annotated int/float/bool/str parameters checked before it runs, and any other
    failure on a user's argument (TypeError, ValueError, ...) reported as an ArgumentError naming the op."""
    signature = inspect.signature(fn)
    plans = {}
    for pname, param in signature.parameters.items():
        text = str(param.annotation).replace(" ", "")
        optional = text.endswith("|None")
        base = text[:-len("|None")] if optional else text
        if pname == "seed":  # any int, wrapped to 64 bits where it is used
            plans[pname] = (lambda v, what: shapes.as_int(v, what, limit=None), True)
        elif base in CHECKS:
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
            raise ArgumentError(f"{name}: cannot be built from these arguments ({type(e).__name__}: {e})") from e

    call.argument_checked = True
    return call


def check_functions(namespace: dict, keep=lambda name, fn: True) -> None:
    """Replace every public plain function of a module's `namespace` (that `keep` accepts and that is not
    checked yet) by its checked form; aliases of one function share one wrapper."""
    wrapped: dict = {}
    for name, fn in list(namespace.items()):
        if (inspect.isfunction(fn) and not name.startswith("_") and not getattr(fn, "argument_checked", False)
                and keep(name, fn)):
            namespace[name] = wrapped.setdefault(id(fn), checked(name, fn))


def check_init(cls) -> None:
    """From a base class's __init_subclass__: graphc's own subclasses check their constructor's annotated
    arguments; a user's subclass keeps its own errors and traceback."""
    if cls.__module__.startswith("graphc.") and "__init__" in cls.__dict__:
        cls.__init__ = checked(cls.__name__, cls.__dict__["__init__"])
