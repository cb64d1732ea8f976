"""The call boundary, fuzzed: whatever arrays (or non-arrays) a user passes, every backend either computes what
the reference computes or raises one of graphc's errors; native code never sees a wrong buffer."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import graphc as gc
from graphc.errors import GraphcError
from tests.support import BACKENDS

DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int32, np.int64, np.uint64, np.bool_, np.complex64, object]


@st.composite
def user_arrays(draw, shape=None, dtypes=DTYPES):
    """An array as careless code makes them: any dtype and shape (or `shape`), zero-size, strided, Fortran,
    misaligned, or (without a shape) not an array at all."""
    kind = draw(st.sampled_from(["array", "array", "array", "list", "scalar", "none", "string"])) if shape is None else "array"
    if kind == "list":
        return draw(st.lists(st.lists(st.floats(allow_nan=True), max_size=4), max_size=4))
    if kind == "scalar":
        return draw(st.one_of(st.floats(), st.integers(-5, 5)))
    if kind == "none":
        return None
    if kind == "string":
        return "x"
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3))) if shape is None else shape
    dtype = draw(st.sampled_from(dtypes))
    values = np.asarray(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 7 - 2)
    arr = np.array(values, dtype=dtype)
    layout = draw(st.sampled_from(["c", "fortran", "strided", "misaligned", "readonly"]))
    if layout == "fortran":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim:
        arr = np.repeat(arr, 2, axis=-1)[..., ::2]
    elif layout == "misaligned" and dtype is not object and arr.size:
        raw = np.zeros(arr.nbytes + 1, np.uint8)
        arr = np.frombuffer(raw.data, dtype=arr.dtype, count=arr.size, offset=1).reshape(shape)
        arr[...] = values.astype(dtype)
    elif layout == "readonly":
        arr.flags.writeable = False
    return arr


def _function(backend):
    x = gc.input("x", (None, 3))
    idx = gc.input("idx", (None,), gc.int64)
    return gc.compile([gc.exp(x) * 2.0, gc.take(gc.sum(x, axis=1), idx)], backend=backend)


FUNCTIONS = {name: _function(name) for name in BACKENDS}


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=user_arrays(), idx=user_arrays())
def test_any_call_computes_what_the_reference_does_or_raises_a_graphc_error(backend, x, idx):
    def outcome(name):
        try:
            return [np.asarray(v) for v in FUNCTIONS[name](x=x, idx=idx)]
        except GraphcError as e:
            return type(e)
    got, want = outcome(backend), outcome("reference")
    if isinstance(want, type) or isinstance(got, type):
        assert isinstance(got, type) and isinstance(want, type), (got, want)
        return
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(0, 5))
def test_arrays_of_the_right_shapes_in_any_layout_compute_what_the_reference_does(backend, data, n):
    x = data.draw(user_arrays(shape=(n, 3), dtypes=[np.float32, np.float64, np.float16, np.int32, np.bool_]))
    idx = data.draw(user_arrays(shape=(n,), dtypes=[np.int64, np.int32, np.uint8, np.int8]))
    test_any_call_computes_what_the_reference_does_or_raises_a_graphc_error.hypothesis.inner_test(backend, x, idx)
