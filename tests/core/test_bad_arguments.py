"""Bad arguments when building graphs get one clear graphc error (a ValueError/TypeError subclass) that names
what is wrong, never an unrelated exception and never a silently truncated or wrapped value."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.errors import GraphcError
from tests.support import BACKENDS


def _loss():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 2), np.float32))
    return x, w, gc.sum(x @ w)


@pytest.mark.parametrize("wrt", [1.0, None, "w", [None], np.ones(3)])
def test_grad_names_what_wrt_must_be(wrt):
    _, _, loss = _loss()
    with pytest.raises(gc.DifferentiationError, match="wrt .* must be a tensor or a list of tensors"):
        gc.grad(loss, wrt)


@pytest.mark.parametrize("updates", [[("w", 1)], (1, 2), "w"])
def test_updates_must_be_a_dict(updates):
    _, _, loss = _loss()
    with pytest.raises(gc.GraphError, match="updates must be a dict"):
        gc.compile(loss, updates=updates)


def test_an_unknown_backend_lists_every_available_one():
    _, _, loss = _loss()
    with pytest.raises(gc.InputError, match=r"available: \['reference', .*'numpy'"):
        gc.compile(loss, backend="bogus")


@given(st.one_of(st.floats(allow_nan=True), st.booleans(), st.just(np.float64(1.0)), st.just(np.True_), st.text(max_size=2)))
@settings(max_examples=30, deadline=None)
def test_a_non_integer_index_is_refused_not_truncated(index):
    x = gc.input("x", (4, 3))
    with pytest.raises(GraphcError, match="not an integer"):
        x[1, index]


def test_integer_indices_of_any_integer_type_work():
    x = gc.input("x", (4, 3))
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    f = gc.compile([x[np.int64(2)], x[-1, np.int32(1)]], backend="numpy")
    got = f(x=data)
    np.testing.assert_array_equal(got[0], data[2])
    assert got[1] == data[-1, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_integer_to_a_negative_power_is_refused_when_built(backend):
    i = gc.input("i", (3,), gc.int64)
    with pytest.raises(gc.DTypeError, match="negative power .* cast the base to float"):
        i ** -1
    with pytest.raises(gc.DTypeError, match="negative power"):
        gc.pow(i, np.array([1, -2, 3]))
    f = gc.compile([i ** 2, gc.cast(i, gc.float32) ** -1], backend=backend)  # what is allowed agrees everywhere
    sq, inv = f(i=np.array([1, 2, 4]))
    np.testing.assert_array_equal(sq, [1, 4, 16])
    np.testing.assert_allclose(inv, [1, 0.5, 0.25])


@pytest.mark.parametrize("kw, match", [
    (dict(groups=0), "groups"), (dict(groups=-1), "groups"), (dict(groups=1.5), "groups"),
    (dict(stride=1.5), "stride must be an int"), (dict(stride=(1, 1.5)), "stride must be an int"),
    (dict(stride=True), "stride must be an int"), (dict(dilation="2"), "dilation must be an int"),
    (dict(stride=(1, 1, 1)), "stride needs 2"),
])
def test_convolution_arguments_are_checked(kw, match):
    d = gc.input("d", (1, 2, 5, 5))
    with pytest.raises((gc.ShapeError, gc.ArgumentError), match=match):
        gc.conv2d(d, np.ones((2, 2, 3, 3), np.float32), **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reduction_over_an_empty_axis_is_its_identity_on_every_backend(backend):
    """ONNX's definition: -inf for max and logsumexp, +inf for min, 0 for sum, 1 for prod (integer max and min:
    the dtype's lowest and highest values)."""
    e, i = gc.input("e", (None, 3)), gc.input("i", (None, 3), gc.int64)
    f = gc.compile([gc.max(e, 0), gc.min(e, 0), gc.sum(e, 0), gc.prod(e, 0), gc.logsumexp(e, 0), gc.max(e),
                    gc.max(i, 0), gc.min(i, 0)], backend=backend)
    got = f(e=np.zeros((0, 3), np.float32), i=np.zeros((0, 3), np.int64))
    want = [np.full(3, -np.inf), np.full(3, np.inf), np.zeros(3), np.ones(3), np.full(3, -np.inf), -np.inf,
            np.full(3, np.iinfo(np.int64).min), np.full(3, np.iinfo(np.int64).max)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].dtype == np.float32 and got[6].dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_of_a_mean_over_an_empty_batch_is_empty(backend):
    e = gc.input("e", (None, 3))
    w = gc.param("w", np.ones(3, np.float32))
    loss = gc.mean(e * w)
    f = gc.compile([gc.grad(loss, e)], backend=backend, inputs=[e])
    (g,) = f(e=np.zeros((0, 3), np.float32))
    assert g.shape == (0, 3)


def test_a_derivative_sympy_cannot_evaluate_is_refused_at_grad_time():
    import sympy

    floor_like = gc.elementwise("floor_like_for_grad", lambda t: sympy.floor(t))
    x = gc.input("x", (3,))
    with pytest.raises(gc.DifferentiationError, match="floor_like_for_grad.*cannot evaluate.*derivative="):
        gc.grad(gc.sum(floor_like(x)), x)
    stated = gc.elementwise("floor_stated_for_grad", lambda t: sympy.floor(t), derivative=lambda t, y: 0)
    g = gc.compile(gc.grad(gc.sum(stated(x) * x), x), backend="numpy")(x=np.array([0.5, 1.5, -2.5], np.float32))
    np.testing.assert_array_equal(g, [0, 1, -3])


def test_registering_the_same_formula_twice_is_a_no_op_and_another_one_an_error():
    first = gc.elementwise("softsign_twice", lambda t: t / (1 + abs(t)))
    again = gc.elementwise("softsign_twice", lambda t: t / (1 + abs(t)))  # a notebook cell run again
    assert again.op is first.op
    with pytest.raises(gc.GraphError, match="already registered with another definition"):
        gc.elementwise("softsign_twice", lambda t: t / (2 + abs(t)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_and_huge_seeds_and_counters_wrap_as_uint64_on_every_backend(backend):
    draws = [gc.uniform((4,), seed=-1), gc.uniform((4,), seed=2 ** 64 - 1), gc.uniform((), seed=3, counter=-2),
             gc.uniform((), seed=3, counter=2 ** 64 - 2), gc.normal((2,), seed=5, counter=2 ** 40)]
    a, b, c, d, e = gc.compile(draws, backend=backend)()
    np.testing.assert_array_equal(a, b)
    assert c == d and np.isfinite(e).all()
    ref = gc.compile(draws, backend="reference")()
    for got, want in zip((a, b, c, d, e), ref):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_slice_axis_has_python_slice_semantics(backend):
    x = gc.input("x", (3, 5))
    data = np.arange(15, dtype=np.float32).reshape(3, 5)
    cases = [(1, -1, None, 1), (1, None, -2, 1), (1, None, None, -2), (0, -1, -3, -1), (-1, 1, 100, 2)]
    got = gc.compile([gc.slice_axis(x, *c) for c in cases], backend=backend)(x=data)
    for (axis, a, b, c), g in zip(cases, got):
        index = [slice(None)] * 2
        index[axis] = slice(a, b, c)
        np.testing.assert_array_equal(g, data[tuple(index)])
    with pytest.raises(gc.ArgumentError, match="start must be an integer, got 1.5"):
        gc.slice_axis(x, 1, 1.5, None)
    with pytest.raises(gc.ShapeError, match="step must not be zero"):
        gc.slice_axis(x, 1, 0, 3, 0)


@pytest.mark.parametrize("call, match", [
    (lambda x: gc.var(x, 1, ddof=None), r"var: ddof must be an integer"),
    (lambda x: gc.uniform((2,), low=None), r"uniform: low must be a real number"),
    (lambda x: gc.dropout(x, 0.5, training="yes"), r"dropout: training must be True or False"),
    (lambda x: gc.sum(x, 1.5), r"axis must be an integer, got 1.5"),
    (lambda x: gc.relu(x, name=3), r"relu: name must be a string"),
    (lambda x: gc.one_hot(gc.input("i", (2,), gc.int64), float("inf")), r"one_hot: depth must be an integer"),
    (lambda x: gc.gelu(x, approximate="fast"), r"gelu: approximate must be 'none' or 'tanh'"),
    (lambda x: gc.split(x, 0, axis=1), r"at least 1"),
    (lambda x: gc.max_pool2d(gc.input("im", (1, 1, 4, 4)), 2, padding=1.5), r"padding"),
])
def test_bad_plain_arguments_are_argument_errors_naming_the_argument(call, match):
    x = gc.input("x", (3, 4))
    with pytest.raises(GraphcError, match=match) as info:
        call(x)
    assert isinstance(info.value, (ValueError, TypeError))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_larger_than_memory_is_refused_before_allocation(backend):
    big = gc.uniform((2 ** 40,), seed=1)
    with pytest.raises(gc.TooLargeError, match="needs 4 TiB, more than the .* of memory available"):
        gc.compile(gc.sum(big), backend=backend)()


@pytest.mark.parametrize("kw, match", [
    (dict(cast=3), "cast must be one of"), (dict(cast="bogus"), "cast must be one of"),
    (dict(debug="yes"), "debug must be True or False"), (dict(outputs=1.0), "outputs must be a tensor or a list"),
    (dict(outputs=None), r"pass \[\] to compile updates alone"),
])
def test_compile_arguments_are_checked_when_compiling(kw, match):
    _, _, loss = _loss()
    kw = {"outputs": loss, **kw}
    with pytest.raises(gc.ArgumentError, match=match):
        gc.compile(kw.pop("outputs"), **kw)


@pytest.mark.parametrize("value, match", [
    ([[1, 2], [3]], "input 'x': cannot be read as an array"), (None, "input 'x': expected shape"),
    (np.ones((2, 3), complex), "expected dtype float32, got complex128"), ("abc", "input 'x': expected shape"),
])
def test_a_call_with_an_unreadable_input_names_it(value, match):
    x, _, loss = _loss()
    f = gc.compile(loss)
    with pytest.raises(gc.InputError, match=match):
        f(x=value)
    with pytest.raises(gc.InputError, match=r"pass inputs by name: f\(x=...\)"):
        f(np.ones((2, 3), np.float32))
