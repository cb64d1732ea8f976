"""The bad-argument sweep: every public graph-building function is called with each of its attributes
replaced by values a careless user passes (1.5, -1, 0, None, a string, a huge int, NaN, a nested
list, ...). Each call must either build a graph that every backend then runs to the same answer, or
raise one graphc error (a ValueError/TypeError subclass): never an unrelated exception, never a crash."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import graphc as gc
from graphc.errors import GraphcError
from tests.support import agree_or_fail_alike

BAD = [1.5, -1, 0, -7, 2 ** 40, None, "bogus", "", (), (1.5,), (0, 0), (-1, 2), True, float("nan"),
       float("inf"), np.float32(2.0), np.int64(-3), [[1]], [None], object(), {"a": 1}]
# the listed values first, then whatever hypothesis finds around them (sizes either small or beyond any
# memory: a size that fits but takes gigabytes would only make the sweep slow)
BAD_VALUES = st.one_of(st.sampled_from(BAD), st.integers(-2 ** 70, 64), st.integers(2 ** 45, 2 ** 70), st.floats(),
                       st.text(max_size=3),
                       st.lists(st.integers(-3, 9), max_size=4).map(tuple), st.lists(st.floats(-3, 9), max_size=3))


def x4():
    return gc.input("x4", (2, 3, 6, 6))


def x3():
    return gc.input("x3", (2, 3, 8))


def x2():
    return gc.input("x2", (None, 4))


def ix():
    return gc.input("ix", (None,), gc.int64)


# name -> (positional builders, valid keyword attributes to corrupt)
CALLS = {
    "argmax": ((x2,), dict(axis=1, keepdims=False)),
    "argmin": ((x2,), dict(axis=0, keepdims=True)),
    "avg_pool1d": ((x3,), dict(kernel_size=2, stride=2, padding=0)),
    "avg_pool2d": ((x4,), dict(kernel_size=2, stride=None, padding=1)),
    "max_pool1d": ((x3,), dict(kernel_size=2, stride=1, padding=1, dilation=1)),
    "max_pool2d": ((x4,), dict(kernel_size=3, stride=2, padding=1, dilation=1)),
    "bernoulli": ((lambda: 0.5,), dict(shape=(3, 2), seed=1, counter=0, dtype="float32")),
    "uniform": ((), dict(shape=(3, 2), low=-1.0, high=1.0, seed=1, counter=0, dtype="float32")),
    "normal": ((), dict(shape=(3, 2), mean=0.0, std=1.0, seed=1, counter=0, dtype="float32")),
    "dropout": ((x2,), dict(p=0.5, seed=1, counter=0, training=True)),
    "broadcast_to": ((lambda: gc.input("b", (1, 4)),), dict(shape=(3, 4))),
    "cast": ((x2,), dict(dtype="int32")),
    "check_range": ((ix,), dict(lo=0, hi=3, what="labels")),
    "concat": ((lambda: [x2(), x2()],), dict(axis=1)),
    "stack": ((lambda: [x2(), x2()],), dict(axis=0)),
    "conv2d": ((x4, lambda: np.ones((6, 1, 3, 3), np.float32)), dict(stride=1, padding=1, dilation=1, groups=3)),
    "conv1d": ((x3, lambda: np.ones((4, 3, 3), np.float32)), dict(stride=2, padding=0, dilation=1, groups=1)),
    "expand_dims": ((x2,), dict(axis=1)),
    "squeeze": ((lambda: gc.input("s", (3, 1, 4)),), dict(axis=1)),
    "flip": ((x2,), dict(axis=1)),
    "gather": ((x2, ix), dict(axis=0)),
    "take": ((x2, ix), dict(axis=1)),
    "gelu": ((x2,), dict(approximate="tanh")),
    "elu": ((x2,), dict(alpha=1.0)),
    "leaky_relu": ((x2,), dict(alpha=0.1)),
    "iota": ((), dict(shape=(3, 4), axis=1, dtype="int64")),
    "log_softmax": ((x2,), dict(axis=-1)),
    "softmax": ((x2,), dict(axis=-1)),
    "logsumexp": ((x2,), dict(axis=1, keepdims=True)),
    "max": ((x2,), dict(axis=1, keepdims=False)),
    "min": ((x2,), dict(axis=(1,), keepdims=False)),
    "mean": ((x2,), dict(axis=0, keepdims=False)),
    "sum": ((x2,), dict(axis=1, keepdims=True)),
    "prod": ((x2,), dict(axis=1, keepdims=False)),
    "var": ((x2,), dict(axis=1, keepdims=False, ddof=1)),
    "std": ((x2,), dict(axis=1, keepdims=False, ddof=0)),
    "one_hot": ((ix,), dict(depth=4, dtype="float32")),
    "pad": ((x2,), dict(pads=((0, 0), (1, 2)), value=0.0)),
    "transpose": ((x2,), dict(axes=(1, 0))),
    "swapaxes": ((x4,), dict(a=1, b=3)),
    "reshape": ((x2,), dict(shape=(-1, 2, 2))),
    "slice_axis": ((x2,), dict(axis=1, start=1, stop=3, step=1)),
    "split": ((x2,), dict(sections=2, axis=1)),
    "unfold": ((x4,), dict(kernel=(2, 2), stride=(2, 2), dilation=(1, 1))),
    "const": ((), dict(value=np.ones(3, np.float32), dtype="float32")),
    "input": ((), dict(name="free", shape=(None, 2), dtype="float32")),
    "param": ((), dict(name="pp", value=np.ones((2, 2), np.float32), trainable=True)),
}

ARRAYS = {"x4": np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32),
          "x3": np.random.default_rng(1).normal(size=(2, 3, 8)).astype(np.float32),
          "x2": np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32),
          "ix": np.array([0, 2, 1]), "b": np.ones((1, 4), np.float32), "s": np.ones((3, 1, 4), np.float32),
          "free": np.ones((2, 2), np.float32)}


def _cases():
    for op, (_, kwargs) in sorted(CALLS.items()):
        for attr in kwargs:
            yield pytest.param(op, attr, id=f"{op}-{attr}")


def _build(op, attr, value):
    builders, kwargs = CALLS[op]
    return getattr(gc.dsl, op)(*[b() for b in builders], **{**kwargs, attr: value})


def test_every_valid_call_builds():
    for op in CALLS:
        builders, kwargs = CALLS[op]
        out = getattr(gc.dsl, op)(*[b() for b in builders], **kwargs)
        assert out is not None, op


def _run_everywhere(outputs):
    """Compile and run on the reference and NumPy backends: the same answer or the same graphc error."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    outputs = [o for o in outputs if isinstance(o, gc.Tensor)]
    if outputs:
        agree_or_fail_alike(outputs, lambda n: ARRAYS.get(n, ARRAYS["free"]))


@pytest.mark.parametrize("op, attr", list(_cases()))
@given(value=BAD_VALUES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_bad_attribute_is_refused_or_works_everywhere(op, attr, value):
    try:
        out = _build(op, attr, value)
    except GraphcError:
        return
    _run_everywhere(out)
