"""Random ops from a counter-based generator: the same (seed, counter, index) gives the same number
on every backend. Each element i is SplitMix64(key + i·φ) where key mixes the seed and an optional
int counter input (a training step, say, so that dropout masks change every step).

Seeds: `seed=` fixes the numbers. Without one, the seed is derived from what is drawn and where:
the distribution, the scope path, the op's name, its shape and dtype, and how many identical
requests that scope has already made (so two unseeded `uniform((20,))` calls in a row differ).
Nothing else enters it, so graphs built under different scopes, or drawing other shapes or names,
get the same seeds whatever else was built before them; identical requests in one scope are told
apart by the order they are made in: give them a seed or a name to pin them.
"""
from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

from .. import dtypes, shapes
from ..scalar_ops import INDEX, U64
from ..errors import ArgumentError, DTypeError
from ..ir import Node, stable_repr
from .math import add, cast, lt, mul
from .registry import Op, as_node, composite, current_scope, register, scope

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
COUNTER_MIX = np.uint64(0xD1B54A32D192ED03)
_seed_requests: Counter = Counter()  # (distribution, scope, name, shape, dtype) -> unseeded draws made so far


def splitmix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser over uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def random_bits(seed: int, counter: int, n: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        key = np.uint64(seed % 2 ** 64) * GOLDEN + np.uint64(counter % 2 ** 64) * COUNTER_MIX
        return splitmix64(key + np.arange(1, n + 1, dtype=np.uint64) * GOLDEN)


def unit_uniform(bits: np.ndarray, dtype) -> np.ndarray:
    """Uniform in [0, 1) from the top 24 (float32) or 53 (float64) bits: exactly representable."""
    if np.dtype(dtype) == np.float32:
        return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def uniform_samples(seed: int, counter: int, shape, dtype) -> np.ndarray:
    """U[0, 1) samples: element i from SplitMix64 of (seed, counter, i)."""
    return unit_uniform(random_bits(seed, counter, int(np.prod(shape, dtype=np.int64))), dtype).reshape(shape)


def normal_samples(seed: int, counter: int, shape, dtype) -> np.ndarray:
    """Standard normal samples: Box-Muller on the uniforms of elements 2i and 2i+1."""
    n = int(np.prod(shape, dtype=np.int64))
    u = unit_uniform(random_bits(seed, counter, 2 * n), np.float64).reshape(n, 2)
    r = np.sqrt(-2.0 * np.log1p(-u[:, 0]))  # 1 - u in (0, 1]: log never sees 0
    return (r * np.cos(2 * np.pi * u[:, 1])).astype(dtype).reshape(shape)


class RandomOp(Op):
    kind, differentiable, value_inputs = "random", False, ()

    def normalize(self, inputs, attrs):
        if len(inputs) > 1 or (inputs and not dtypes.is_int(inputs[0].dtype)) or (inputs and inputs[0].ndim):
            raise DTypeError("the optional counter input must be one integer scalar")
        attrs["shape"] = shapes.as_shape(attrs["shape"])
        attrs["seed"] = shapes.as_int(attrs["seed"], "seed", limit=None) % 2 ** 64  # any int: a negative seed wraps, as in JAX
        attrs["dtype"] = dtypes.as_dtype(attrs.get("dtype", dtypes.DEFAULT_FLOAT))
        if not dtypes.is_float(attrs["dtype"]):
            raise DTypeError(f"random values must be float, got {attrs['dtype']}")
        return attrs

    def shape(self, *counter, shape, seed, dtype):
        return shape

    def dtype(self, *counter, shape, seed, dtype):
        return dtype

    def lower(self, ctx, *counter, shape, seed, dtype):
        """The generator as integer scalar operations: element i is SplitMix64(key + position·φ)."""

        def build(b, ops):
            key = b.const(seed * int(GOLDEN) % 2 ** 64, U64)
            if ops:
                key = b.binary("add", key, b.binary("mul", b.cast(ops[0], U64), b.const(int(COUNTER_MIX), U64)))
            flat = b.const(0, INDEX)
            for k, stride in enumerate(shapes.contiguous_strides(shape)):
                flat = b.binary("add", flat, b.binary("mul", b.axis(k), b.const(stride, INDEX)))
            return self.sample(b, lambda position: _splitmix64(b, b.binary("add", key, b.binary(
                "mul", position(b.cast(flat, U64)), b.const(int(GOLDEN), U64)))), dtype)

        return ctx.map_body(counter, build)

    def sample(self, b, bits_at, dtype):
        """The sample's Body from `bits_at(position)`, the random bits at a 1-based position."""
        raise NotImplementedError


class Uniform(RandomOp):
    """U[0, 1) samples of `shape`."""

    name = "random_uniform"

    def reference(self, *counter, shape, seed, dtype):
        return uniform_samples(seed, int(counter[0]) if counter else 0, shape, dtype)

    def sample(self, b, bits_at, dtype):
        return _unit(b, bits_at(lambda i: b.binary("add", i, b.const(1, U64))), dtype)


class Normal(RandomOp):
    """Standard normal samples of `shape` (Box-Muller on consecutive pairs of uniforms)."""

    name = "random_normal"

    def reference(self, *counter, shape, seed, dtype):
        return normal_samples(seed, int(counter[0]) if counter else 0, shape, dtype)

    def sample(self, b, bits_at, dtype):
        f64 = np.dtype(np.float64)
        two_i = lambda i: b.binary("mul", i, b.const(2, U64))  # noqa: E731
        u0 = _unit(b, bits_at(lambda i: b.binary("add", two_i(i), b.const(1, U64))), f64)
        u1 = _unit(b, bits_at(lambda i: b.binary("add", two_i(i), b.const(2, U64))), f64)
        r = b.unary("sqrt", b.binary("mul", b.const(-2.0, f64), b.unary("log1p", b.unary("neg", u0))))
        z = b.binary("mul", r, b.unary("cos", b.binary("mul", b.const(2 * np.pi, f64), u1)))
        return b.cast(z, dtype)


def _splitmix64(b, z):
    """splitmix64 (above) as scalar operations of a Body."""
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        z = b.binary("mul", b.binary("xor", z, b.binary("shr", z, b.const(shift, U64))), b.const(mult, U64))
    return b.binary("xor", z, b.binary("shr", z, b.const(31, U64)))


def _unit(b, bits, dtype):
    """unit_uniform (above) as scalar operations: the top 24 or 53 bits, scaled into [0, 1)."""
    dtype = np.dtype(dtype)
    keep, scale = (40, 2.0 ** -24) if dtype == np.float32 else (11, 2.0 ** -53)
    return b.binary("mul", b.cast(b.binary("shr", bits, b.const(keep, U64)), dtype), b.const(scale, dtype))


UNIFORM, NORMAL = register(Uniform), register(Normal)


def default_seed(distribution: str, shape, dtype, name=None) -> int:
    """The seed of an unseeded draw (see the module docstring): a hash of the request, its scope and
    its rank among identical requests in that scope."""
    request = (distribution, current_scope(), name, stable_repr(shapes.as_shape(shape)), dtypes.as_dtype(dtype).str)
    rank = _seed_requests[request]
    _seed_requests[request] += 1
    digest = hashlib.sha256(repr(request + (rank,)).encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2 ** 31 - 1) + 1


def _draw(op, shape, seed, counter, dtype, name) -> Node:
    seed = default_seed(op.name, shape, dtype, name) if seed is None else seed
    if counter is not None and not isinstance(counter, Node):  # a number: any int, as its int64 bit pattern
        counter = (shapes.as_int(counter, "counter", limit=None) + 2 ** 63) % 2 ** 64 - 2 ** 63
    stored = dtypes.as_dtype(dtype)
    if stored in dtypes.COMPUTE_TYPE:  # float16 samples: drawn in float32 and rounded once
        wide = op(*([counter] if counter is not None else []), shape=shape, seed=seed, dtype=dtypes.compute_type(stored))
        return cast(wide, stored, name=name)
    return op(*([counter] if counter is not None else []), shape=shape, seed=seed, dtype=dtype, name=name)


def uniform(shape, low: float = 0.0, high: float = 1.0, seed: int | None = None, counter=None, dtype=dtypes.DEFAULT_FLOAT, name=None) -> Node:
    """Uniform samples in [low, high); without a seed, see the module docstring."""
    u = _draw(UNIFORM, shape, seed, counter, dtype, name)
    return u if (low, high) == (0.0, 1.0) else add(low, mul(high - low, u))


def normal(shape, mean: float = 0.0, std: float = 1.0, seed: int | None = None, counter=None, dtype=dtypes.DEFAULT_FLOAT, name=None) -> Node:
    """Normal samples N(mean, std²); without a seed, see the module docstring."""
    z = _draw(NORMAL, shape, seed, counter, dtype, name)
    return z if (mean, std) == (0.0, 1.0) else add(mean, mul(std, z))


@composite("bernoulli", lambda p, shape, seed=0, counter=0: (unit_uniform(random_bits(seed, counter, int(np.prod(shape))), np.float32).reshape(shape) < p).astype(np.float32))
def bernoulli(p, shape, seed: int | None = None, counter=None, dtype=dtypes.DEFAULT_FLOAT, name=None):
    """1 with probability p, else 0 (as `dtype`): the mask of dropout."""
    return cast(lt(uniform(shape, seed=seed, counter=counter), p), dtype, name=name)


def dropout(x, p: float, seed: int | None = None, counter=None, training: bool = True, name=None):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p); identity when not training."""
    x = as_node(x)
    if not training or p == 0:
        return x
    if not 0 <= p < 1:
        raise ArgumentError(f"dropout probability must be in [0, 1), got {p}")
    with scope(name or "dropout"):
        keep = bernoulli(1.0 - p, x.shape, seed=seed, counter=counter, dtype=x.dtype)
        return mul(mul(x, keep), 1.0 / (1.0 - p))
