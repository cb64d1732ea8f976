"""Property tests (hypothesis): broadcasting, reductions and reshape/transpose round trips agree
with NumPy for random shapes, axis sets and data."""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N = sympy.Symbol("N", integer=True, positive=True)


@st.composite
def compatible_shapes(draw, n_operands=2):
    """Shapes that broadcast together, and the result NumPy gives."""
    out = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    shapes = []
    for _ in range(n_operands):
        rank = draw(st.integers(0, len(out)))
        tail = out[len(out) - rank:]
        shapes.append(tuple(1 if draw(st.booleans()) else d for d in tail))
    return shapes


@st.composite
def incompatible_shapes(draw):
    a = list(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    b = list(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, min(len(a), len(b))))
    da = draw(st.integers(2, 5))
    db = draw(st.integers(2, 5).filter(lambda v: v != da))
    a[-k], b[-k] = da, db
    return tuple(a), tuple(b)


def _arrays(shapes, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-3, 3, s).astype(dtype) for s in shapes]


@SETTINGS
@given(compatible_shapes(2), st.sampled_from(["add", "mul", "sub", "maximum"]), st.integers(0, 2**16))
def test_binary_broadcasting_matches_numpy(shapes, op, seed):
    sa, sb = shapes
    a, b = _arrays(shapes, seed)
    x, y = gc.input("x", sa), gc.input("y", sb)
    t = getattr(gc, op)(x, y)
    want_shape = np.broadcast_shapes(sa, sb)
    assert t.shape == want_shape
    got = gc.evaluate(t, x=a, y=b)
    want = {"add": np.add, "mul": np.multiply, "sub": np.subtract, "maximum": np.maximum}[op](a, b)
    assert got.shape == want_shape
    np.testing.assert_allclose(got, want, rtol=1e-6)


@SETTINGS
@given(compatible_shapes(3), st.integers(0, 2**16))
def test_where_broadcasting_matches_numpy(shapes, seed):
    sc, sa, sb = shapes
    c = np.random.default_rng(seed).random(sc) < 0.5
    a, b = _arrays([sa, sb], seed + 1)
    t = gc.where(gc.input("c", sc, gc.bool_), gc.input("x", sa), gc.input("y", sb))
    assert t.shape == np.broadcast_shapes(sc, sa, sb)
    np.testing.assert_array_equal(gc.evaluate(t, c=c, x=a, y=b), np.where(c, a, b))


@SETTINGS
@given(compatible_shapes(2), st.booleans())
def test_broadcasting_with_a_symbolic_batch_dim(shapes, batch_first):
    """A leading None dim broadcasts against 1 or itself, and binds per call."""
    r = max(len(s) for s in shapes)
    sa, sb = ((1,) * (r - len(s)) + s for s in shapes)  # align ranks so the batch axes line up
    da = (None,) + sa
    db = ((None,) if batch_first else (1,)) + sb
    t = gc.input("x", da) + gc.input("y", db)
    assert t.shape == (N,) + np.broadcast_shapes(sa, sb)
    a, b = _arrays([(3,) + sa, ((3,) if batch_first else (1,)) + sb], 7)
    np.testing.assert_allclose(gc.evaluate(t, x=a, y=b), a + b, rtol=1e-6)


@SETTINGS
@given(incompatible_shapes(), st.sampled_from(["add", "mul", "where"]))
def test_incompatible_shapes_raise(shapes, op):
    sa, sb = shapes
    with pytest.raises(ValueError):  # NumPy agrees they are incompatible
        np.broadcast_shapes(sa, sb)
    x, y = gc.input("x", sa), gc.input("y", sb)
    with pytest.raises(gc.ShapeError, match="cannot be broadcast"):
        if op == "where":
            gc.where(gc.input("c", sa, gc.bool_), x, y)
        else:
            getattr(gc, op)(x, y)


@st.composite
def shape_and_axes(draw, min_rank=1):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=min_rank, max_size=4)))
    axes = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                          st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)).map(tuple)))
    negate = draw(st.booleans())
    if negate and isinstance(axes, tuple):
        axes = tuple(a - len(shape) for a in axes)
    return shape, axes


@SETTINGS
@given(shape_and_axes(), st.booleans(), st.sampled_from(["sum", "mean", "max", "min", "prod"]), st.integers(0, 2**16))
def test_reductions_match_numpy(shape_axes, keepdims, op, seed):
    shape, axes = shape_axes
    rng = np.random.default_rng(seed)
    a = (rng.uniform(0.5, 1.5, shape) if op == "prod" else rng.uniform(-3, 3, shape)).astype(np.float32)
    x = gc.input("x", shape)
    t = getattr(gc, op)(x, axes, keepdims)
    want = getattr(np, op)(a.astype(np.float64), axis=axes, keepdims=keepdims)
    assert t.shape == np.shape(want)
    got = gc.evaluate(t, x=a)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)


@SETTINGS
@given(shape_and_axes(), st.booleans(), st.sampled_from(["sum", "max"]))
def test_integer_reductions_match_numpy(shape_axes, keepdims, op):
    shape, axes = shape_axes
    a = np.random.default_rng(0).integers(-50, 50, shape).astype(np.int32)
    t = getattr(gc, op)(gc.input("x", shape, gc.int32), axes, keepdims)
    want = getattr(np, op)(a.astype(np.int64), axis=axes, keepdims=keepdims)
    got = gc.evaluate(t, x=a)
    assert t.dtype == (np.int64 if op == "sum" else np.int32)
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), st.data(), st.booleans(),
       st.sampled_from(["argmax", "argmin"]), st.integers(0, 2**16))
def test_arg_reductions_match_numpy(shape, data, keepdims, op, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = np.round(np.random.default_rng(seed).uniform(-2, 2, shape)).astype(np.float32)  # ties: first wins
    t = getattr(gc, op)(gc.input("x", shape), axis, keepdims)
    want = getattr(np, op)(a, axis=axis, keepdims=keepdims)
    got = gc.evaluate(t, x=a)
    assert t.dtype == np.int64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(shape_and_axes(min_rank=2), st.booleans())
def test_reductions_with_symbolic_batch(shape_axes, keepdims):
    shape, axes = shape_axes
    decl = (None,) + shape[1:]
    t = gc.sum(gc.input("x", decl), axes, keepdims)
    a = np.random.default_rng(1).uniform(-1, 1, (5,) + shape[1:]).astype(np.float32)
    want = np.sum(a.astype(np.float64), axis=axes, keepdims=keepdims)
    got = gc.evaluate(t, x=a)
    bound = tuple(int(sympy.sympify(d).subs(N, 5)) for d in t.shape)
    assert bound == want.shape == got.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)


@st.composite
def shape_and_perm(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=5)))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    return shape, perm


@SETTINGS
@given(shape_and_perm())
def test_transpose_round_trip(shape_perm):
    shape, perm = shape_perm
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    x = gc.input("x", shape)
    t = gc.transpose(x, perm)
    assert t.shape == tuple(shape[p] for p in perm)
    back = gc.transpose(t, tuple(np.argsort(perm).tolist()))
    assert back.shape == shape
    got_t, got_back = gc.evaluate([t, back], x=a)
    np.testing.assert_array_equal(got_t, np.transpose(a, perm))
    np.testing.assert_array_equal(got_back, a)


@st.composite
def reshape_pair(draw):
    """A shape and another with the same number of elements (random factorisation), maybe with a -1."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=4)))
    size = int(np.prod(shape))
    factors = []
    rest = size
    while rest > 1 and len(factors) < 4:
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        f = draw(st.sampled_from(divisors))
        factors.append(f)
        rest //= f
    factors.append(rest)
    target = tuple(draw(st.permutations(factors)))
    if draw(st.booleans()):
        k = draw(st.integers(0, len(target) - 1))
        target = target[:k] + (-1,) + target[k + 1:]
    return shape, target


@SETTINGS
@given(reshape_pair())
def test_reshape_round_trip(pair):
    shape, target = pair
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    x = gc.input("x", shape)
    r = gc.reshape(x, target)
    want = a.reshape(target)
    assert r.shape == want.shape
    back = gc.reshape(r, shape)
    assert back.shape == shape
    got_r, got_back, got_flat = gc.evaluate([r, back, x.flatten()], x=a)
    np.testing.assert_array_equal(got_r, want)
    np.testing.assert_array_equal(got_back, a)
    np.testing.assert_array_equal(got_flat, a.ravel())


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), st.integers(1, 5))
def test_reshape_with_symbolic_batch_round_trip(rest, n):
    x = gc.input("x", (None,) + rest)
    size = int(np.prod(rest))
    flat = x.reshape(-1, size)
    assert flat.shape == (N, size)
    back = flat.reshape((None,) + rest)
    assert back.shape == (N,) + rest
    whole = x.reshape(-1)
    assert whole.shape == (size * N,)
    a = np.arange(n * size, dtype=np.float32).reshape((n,) + rest)
    f, b, w = gc.evaluate([flat, back, whole], x=a)
    np.testing.assert_array_equal(f, a.reshape(n, size))
    np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(w, a.ravel())
