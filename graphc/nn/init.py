"""Seeded weight initialisers: zeros, constant, normal, uniform, Xavier/Glorot and He/Kaiming.

Every initialiser is a function `init(shape, rng=None, **options) -> np.ndarray` (float32 by default).
`rng` is a `numpy.random.Generator`, an int seed, or None for the module-wide default generator
(seeded 0 at import; reset it with `manual_seed`). Layers take `init=` as a name from `INITS`
or any callable `(shape, rng) -> array`, and `rng=`/`seed=` to draw from.

Fans follow graphc's layouts: a 2-D weight is (in, out) because layers compute `x @ W`; a
convolution weight is (out, in/groups, *kernel), so fan_in = in/groups·prod(kernel) and
fan_out = out·prod(kernel); a 1-D shape has fan_in = fan_out = its length.
"""
from __future__ import annotations

import math

import numpy as np

from .. import shapes
from ..errors import ArgumentError

_default = np.random.default_rng(0)


def manual_seed(seed: int):
    """Reset the default generator used when no `rng` or `seed` is given."""
    global _default
    _default = np.random.default_rng(seed)


def as_rng(rng=None) -> np.random.Generator:
    """A Generator from a Generator (returned as is), an int seed, or None (the default generator)."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(shapes.as_int(rng, "seed", limit=None) % 2 ** 64)  # any int; a negative one wraps


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape (see the module docstring for the layouts)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    field = int(np.prod(shape[2:]))
    return shape[1] * field, shape[0] * field


def _out(values, dtype):
    return np.asarray(values, dtype=dtype)


def zeros(shape, rng=None, dtype=np.float32):
    return np.zeros(shape, dtype)


def ones(shape, rng=None, dtype=np.float32):
    return np.ones(shape, dtype)


def constant(shape, value=0.0, rng=None, dtype=np.float32):
    return np.full(shape, value, dtype)


def normal(shape, rng=None, mean=0.0, std=0.01, dtype=np.float32):
    """N(mean, std²): the classic "small normal" initialisation."""
    return _out(as_rng(rng).normal(mean, std, size=shape), dtype)


def uniform(shape, rng=None, low=-0.05, high=0.05, dtype=np.float32):
    return _out(as_rng(rng).uniform(low, high, size=shape), dtype)


def xavier_uniform(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot & Bengio (2010): U(-a, a) with a = gain·√(6 / (fan_in + fan_out)); for sigmoid/tanh."""
    fi, fo = fans(shape)
    a = gain * math.sqrt(6.0 / (fi + fo))
    return uniform(shape, rng, -a, a, dtype)


def xavier_normal(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot normal: N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out))."""
    fi, fo = fans(shape)
    return normal(shape, rng, 0.0, gain * math.sqrt(2.0 / (fi + fo)), dtype)


def _gain(nonlinearity, a):
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity in ("linear", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def _fan(shape, mode):
    fi, fo = fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fi if mode == "fan_in" else fo


def kaiming_uniform(shape, rng=None, mode="fan_in", nonlinearity="relu", a=0.0, dtype=np.float32):
    """He et al. (2015): U(-b, b) with b = gain·√(3 / fan), gain √2 for ReLU."""
    b = _gain(nonlinearity, a) * math.sqrt(3.0 / _fan(shape, mode))
    return uniform(shape, rng, -b, b, dtype)


def kaiming_normal(shape, rng=None, mode="fan_in", nonlinearity="relu", a=0.0, dtype=np.float32):
    """He normal: N(0, σ²) with σ = gain / √fan, gain √2 for ReLU."""
    return normal(shape, rng, 0.0, _gain(nonlinearity, a) / math.sqrt(_fan(shape, mode)), dtype)


glorot_uniform, glorot_normal = xavier_uniform, xavier_normal
he_uniform, he_normal = kaiming_uniform, kaiming_normal

INITS = {
    "zeros": zeros, "ones": ones, "normal": normal, "uniform": uniform,
    "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform, "glorot_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform, "kaiming_normal": kaiming_normal,
    "he_uniform": kaiming_uniform, "he_normal": kaiming_normal,
}


def get(init):
    """An initialiser from a name in INITS, a callable `(shape, rng)`, or a number (a constant)."""
    if callable(init):
        return init
    if isinstance(init, (int, float)):
        return lambda shape, rng=None, dtype=np.float32: constant(shape, init, dtype=dtype)
    try:
        return INITS[init]
    except KeyError:
        raise ValueError(f"unknown initialiser {init!r}; choose one of {sorted(INITS)} or pass a callable") from None
