"""int8 to uint64 and float16 on every backend: the same values as the reference interpreter, bit for bit.

float16 is a storage dtype (graphc.dtypes): each op computes in float32 and rounds once, so its results
are NumPy's float16 arithmetic; the conversions are exact on every backend (every float16, ties to even,
float64 to float16 without double rounding). The printed CUDA runs over the CPU shim of CUDA's thread
model where g++ exists."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc as gc
from tests.support import CODEGEN_BACKENDS

INTS = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "uint64"]
RNG = np.random.default_rng(7)


def _ints(dtype, shape, lo=None, hi=None):
    info = np.iinfo(dtype)
    lo = max(info.min, -100 if lo is None else lo)
    hi = min(info.max, 100 if hi is None else hi)
    return RNG.integers(lo, hi, size=shape, endpoint=True, dtype=dtype)


def _int_graph(dtype):
    """Arithmetic, division, comparisons, reductions, products and movement in one integer dtype."""
    x, y = gc.input("x", (4, 6), dtype=dtype), gc.input("y", (4, 6), dtype=dtype)
    wide = gc.input("w", (4, 6), dtype=dtype)  # the whole range: wrapping arithmetic
    outs = [x + y, x - y, x * y, -x, gc.abs(x), gc.maximum(x, y), gc.minimum(x, y), gc.floor_divide(x, y), gc.mod(x, y),
            gc.sign(x), x < y, x >= y, gc.where(x < y, x, y),
            wide + wide, wide * wide, wide - x,
            gc.sum(x, axis=1), gc.max(x, axis=0), gc.min(wide), gc.argmax(x, axis=1), gc.matmul(x, gc.transpose(y)),
            gc.concat([x, y], axis=0), gc.pad(x, ((1, 0), (0, 2))), x[1:3, ::2], gc.transpose(x),
            x.astype("float32") * 0.5, x.astype("int64"), (x.astype("float32") * 3.7).astype(dtype), x + 3]
    info = np.iinfo(dtype)
    feeds = dict(x=_ints(dtype, (4, 6)), y=_ints(dtype, (4, 6)), w=_ints(dtype, (4, 6), info.min, info.max))
    if np.dtype(dtype).kind == "u":
        feeds["x"] = _ints(dtype, (4, 6), 0, 100)
    return outs, feeds


def _half_graph():
    """float16 through elementwise math, reductions, a product, movement, selections and conversions."""
    x, y = gc.input("x", (5, 8), dtype="float16"), gc.input("y", (8, 3), dtype="float16")
    big = gc.input("big", (3, 2000), dtype="float16")
    outs = [x * 1.5 + 2, gc.exp(x), gc.tanh(x), x / (gc.abs(x) + 1), gc.sqrt(gc.abs(x)), gc.maximum(x, 0.0),
            gc.sum(x, axis=0), gc.mean(x), gc.max(x, axis=1), gc.sum(big, axis=1), gc.matmul(x, y),
            gc.softmax(x, axis=-1), gc.where(x > 0, x, 0.0), gc.transpose(x), gc.concat([x, x], axis=1),
            gc.pad(x, ((0, 1), (2, 0))), x.astype("float32"), x.astype("float64"), x.astype("int32"), x.astype("uint8"),
            x.astype("bool"), (x.astype("float32") * 1e4).astype("float16"), x < 0.25]
    feeds = dict(x=(RNG.standard_normal((5, 8)) * 3).astype(np.float16), y=RNG.standard_normal((8, 3)).astype(np.float16),
                 big=RNG.random((3, 2000)).astype(np.float16))
    return outs, feeds


def _agree(outs, feeds, backend):
    want = gc.compile(outs, backend="reference")(**feeds)
    got = gc.compile(outs, backend=backend)(**feeds)
    for n, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (n, g.dtype, w.dtype, g.shape, w.shape)
        if w.dtype == np.float16 or w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w, err_msg=f"output {n}")
        else:  # transcendentals in float32: each backend's own (documented) accuracy
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"output {n}")


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
@pytest.mark.parametrize("dtype", INTS)
def test_integer_dtypes_agree_with_the_reference(dtype, backend):
    _agree(*_int_graph(dtype), backend)


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_float16_agrees_with_the_reference(backend):
    outs, feeds = _half_graph()
    want = gc.compile(outs, backend="reference")(**feeds)
    got = gc.compile(outs, backend=backend)(**feeds)
    for n, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (n, g.dtype, w.dtype)
        if w.dtype.kind == "f":  # a float32 transcendental a few ulps apart can round to the neighbouring float16
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-3, atol=1e-4, err_msg=f"output {n}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {n}")


def test_float16_rounds_once_per_op_as_numpy_does():
    x = (RNG.standard_normal(1000) * 10).astype(np.float16)
    y = (RNG.standard_normal(1000) * 10).astype(np.float16)
    a, b = gc.input("a", x.shape, dtype="float16"), gc.input("b", y.shape, dtype="float16")
    outs = [a + b, a * b, a / b, a - b * a, gc.sum(a)]
    for backend in ["reference", *CODEGEN_BACKENDS]:
        got = gc.compile(outs, backend=backend)(a=x, b=y)
        assert all(g.dtype == np.float16 for g in got)
        for g, w in zip(got, [x + y, x * y, x / y, x - y * x]):
            np.testing.assert_array_equal(g, w)  # NumPy's float16 arithmetic: float32, rounded once per op
        # a reduction accumulates in float32 and rounds at the end
        np.testing.assert_allclose(float(got[4]), float(np.float16(x.astype(np.float32).sum())), rtol=1e-3)


def test_float16_graph_holds_float32_arithmetic_between_casts():
    x = gc.input("x", (3,), dtype="float16")
    y = gc.exp(x) + 1
    assert y.dtype == gc.float16
    assert y.node.op.name == "cast" and y.node.inputs[0].dtype == gc.float32
    assert (x < 0).dtype == gc.bool_ and gc.argmax(x).dtype == gc.int64
    assert (x * gc.input("z", (3,), dtype="float64")).dtype == gc.float64  # float16 widened to float32, then promoted
    g = gc.grad(gc.sum(y * y), x)
    assert g.dtype == gc.float16
    xs = np.array([0.5, -1.0, 2.0], np.float16)
    ys = np.exp(xs.astype(np.float32)).astype(np.float16).astype(np.float32) + 1
    want = (2 * ys.astype(np.float16).astype(np.float32) * np.exp(xs.astype(np.float32)))
    np.testing.assert_allclose(gc.evaluate(g, {"x": xs}).astype(np.float32), want, rtol=2e-3)


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_float16_parameters_train(backend):
    w = gc.param("w", np.zeros((4, 1), np.float16))
    x, t = gc.input("x", (16, 4), dtype="float16"), gc.input("t", (16, 1), dtype="float16")
    loss = gc.mean((gc.matmul(x, w) - t) ** 2)
    xs = RNG.standard_normal((16, 4)).astype(np.float16)
    ts = (xs.astype(np.float32) @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32)).astype(np.float16)
    step = gc.compile(loss, updates={w: w - 0.1 * gc.grad(loss, w)}, backend=backend)
    first = float(step(x=xs, t=ts))
    for _ in range(200):
        last = float(step(x=xs, t=ts))
    assert w.value.dtype == np.float16 and last < first * 0.01


@pytest.mark.parametrize("backend", ["reference", *CODEGEN_BACKENDS])
def test_float_to_int_out_of_range_gives_the_minimum_everywhere(backend):
    values = np.array([np.nan, np.inf, -np.inf, 300.0, -129.0, 1e10, -1.0, 255.9, -0.9, 127.9, 2.0 ** 31, -2.0 ** 63, 1e20],
                      np.float64)
    x = gc.input("x", values.shape, dtype="float64")
    dtypes = [*INTS, "int64"]
    got = gc.compile([x.astype(d) for d in dtypes], backend=backend)(x=values)
    for d, g in zip(dtypes, got):
        info = np.iinfo(d)
        t = np.trunc(values)
        inside = (t >= info.min) & (t <= info.max) & ~np.isnan(values)
        want = np.where(inside, np.where(inside, values, 0).astype(d), info.min).astype(d)
        np.testing.assert_array_equal(g, want, err_msg=d)


def test_promotion_is_a_lattice():
    P = gc.dtypes.promote
    assert P("uint8", "int8") == gc.int16 and P("uint16", "int16") == gc.int32 and P("uint32", "int32") == gc.int64
    assert P("uint8", "uint16") == gc.uint16 and P("bool", "uint8") == gc.uint8 and P("int8", "int64") == gc.int64
    assert P("int64", "float16") == gc.float16 and P("float16", "float32") == gc.float32 and P("uint64", "float32") == gc.float32
    with pytest.raises(gc.DTypeError, match="uint64 and int64"):
        P("uint64", "int64")
    with pytest.raises(gc.DTypeError, match="add"):
        gc.input("a", (2,), dtype="uint64") + gc.input("b", (2,), dtype="int8")
    u8 = gc.input("u", (2,), dtype="uint8")
    assert (u8 + 3).dtype == gc.uint8 and (u8 * 1.5).dtype == gc.float32
    assert (gc.input("h", (2,), dtype="float16") + 0.1).dtype == gc.float16
    for bad in (300, -1):
        with pytest.raises(gc.DTypeError, match="do not fit"):
            u8 + bad


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_printed_cuda_computes_narrow_dtypes_as_the_reference(tmp_path):
    from tests.backends.cuda_host import HostStep, build_library

    cases = [("h_", *_half_graph())] + [(f"i{n}_", *_int_graph(d)) for n, d in enumerate(INTS)]
    fns = {}
    for prefix, outs, feeds in cases:
        fn = gc.compile(outs, backend="cuda")
        with pytest.raises(gc.DeviceError):
            fn(**feeds)
        fns[prefix] = fn
    library = build_library({p: fn.backend.last.program for p, fn in fns.items()}, tmp_path)
    for prefix, outs, feeds in cases:
        fn = fns[prefix]
        spec = fn.backend.last
        spec.run = HostStep(library, prefix, spec.program).bind(spec.arena, spec.externals)
        want = gc.compile(outs, backend="reference")(**feeds)
        for n, (g, w) in enumerate(zip(fn(**feeds), want)):
            assert g.dtype == w.dtype, (prefix, n)
            if w.dtype.kind == "f":
                np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-3, atol=1e-4,
                                           err_msg=f"{prefix} output {n}")
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{prefix} output {n}")


# -- hypothesis: random integer and float16 graphs --------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

INT_UNARY = [gc.neg, gc.abs, gc.bitwise_not, lambda t: t >> 1, lambda t: gc.sign(t), lambda t: t * t]
INT_BINARY = [gc.add, gc.sub, gc.mul, gc.maximum, gc.minimum, gc.floor_divide, gc.mod, gc.bitwise_and, gc.bitwise_or,
              gc.bitwise_xor, gc.left_shift, gc.right_shift]


@st.composite
def integer_graphs(draw):
    """A random chain of wrapping arithmetic, division, bit operations, reductions, movement and casts."""
    dtype = draw(st.sampled_from(INTS + ["int64"]))
    cols = draw(st.integers(1, 4))
    x, y = gc.input("x", (None, cols), dtype), gc.input("y", (1, cols), dtype)
    t = x
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "cast", "where", "transpose"]))
        if kind == "unary":
            t = draw(st.sampled_from(INT_UNARY))(t)
        elif kind == "binary":
            fn = draw(st.sampled_from(INT_BINARY))
            t = fn(t, y) if draw(st.booleans()) else fn(y, t)
        elif kind == "reduce":
            op = draw(st.sampled_from([gc.sum, gc.max, gc.min]))
            t = gc.cast(op(t, axis=draw(st.sampled_from([0, 1])), keepdims=True), dtype) + t
        elif kind == "cast":
            t = gc.cast(gc.cast(t, draw(st.sampled_from(INTS + ["int64", "float32", "float64"]))), dtype)
        elif kind == "where":
            t = gc.where(t < y, t, y - t)
        else:
            t = gc.transpose(gc.transpose(t) + 1)
    return t, dtype, cols


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
@settings(max_examples=30, deadline=None)
@given(integer_graphs(), st.integers(0, 2 ** 16))
def test_random_integer_graphs_agree_exactly(backend, graph, seed):
    t, dtype, cols = graph
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    feeds = dict(x=rng.integers(info.min, info.max, (3, cols), endpoint=True, dtype=dtype),
                 y=rng.integers(max(info.min, -9), min(info.max, 9), (1, cols), endpoint=True, dtype=dtype))
    feeds = {k: v for k, v in feeds.items() if k in _input_names([t])}
    want = gc.compile(t, backend="reference")(**feeds)
    got = gc.compile(t, backend=backend)(**feeds)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@st.composite
def half_graphs(draw):
    """A random chain on float16 operands: rounded after every op, reductions in float32."""
    cols = draw(st.integers(1, 4))
    x, y = gc.input("x", (None, cols), "float16"), gc.input("y", (1, cols), "float16")
    t = x
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "where", "cast"]))
        if kind == "unary":
            t = draw(st.sampled_from([gc.tanh, gc.sigmoid, gc.relu, gc.abs, gc.neg, lambda v: v * 0.5]))(t)
        elif kind == "binary":
            t = draw(st.sampled_from([gc.add, gc.sub, gc.mul, gc.maximum, gc.minimum]))(t, y)
        elif kind == "reduce":
            t = gc.sum(t, axis=draw(st.sampled_from([0, 1])), keepdims=True) + t
        elif kind == "where":
            t = gc.where(t > 0, t, y)
        else:
            t = gc.cast(gc.cast(t, draw(st.sampled_from(["float32", "float64", "int8"]))), "float16")
    return t, x, cols


def _input_names(outs):
    return {n.attrs["name"] for n in gc.graph(outs).inputs}


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
@settings(max_examples=30, deadline=None)
@given(half_graphs(), st.integers(0, 2 ** 16))
def test_random_float16_graphs_agree(backend, graph, seed):
    t, x, cols = graph
    rng = np.random.default_rng(seed)
    feeds = dict(x=rng.uniform(-2, 2, (3, cols)).astype(np.float16), y=rng.uniform(-2, 2, (1, cols)).astype(np.float16))
    loss = gc.sum(t * t)
    outs = [t, loss, gc.grad(loss, x)]
    feeds = {k: v for k, v in feeds.items() if k in _input_names(outs)}
    want = gc.compile(outs, backend="reference")(**feeds)
    got = gc.compile(outs, backend=backend)(**feeds)
    scale = max(float(np.max(np.abs(w.astype(np.float64)))) for w in want if w.size)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == np.float16
        # one float16 ulp where a float32 transcendental or a sum's order differs, carried through the chain
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=4e-3, atol=4e-3 * max(1.0, scale))


# -- regressions found by review: each a silent wrong answer or a raw error before ---------------------------
ALL = ["reference", *CODEGEN_BACKENDS]


@pytest.mark.parametrize("backend", ALL)
def test_one_hot_of_narrow_indices_counts_past_their_range(backend):
    i = gc.input("i", (2,), dtype="uint8")
    got = gc.compile([gc.one_hot(i, 300)], backend=backend)(i=np.array([5, 255], np.uint8))[0]
    assert got.sum() == 2 and got[0, 5] == 1 and got[1, 255] == 1
    with pytest.raises(gc.DTypeError, match="cannot count to 300"):
        gc.iota((300,), 0, dtype="int8")


@pytest.mark.parametrize("opt", [gc.optim.Adam, gc.optim.AdamW, gc.optim.RMSProp, gc.optim.AdaGrad])
def test_float16_parameters_keep_float32_optimiser_state(opt):
    w = gc.param("w16opt", np.array([0.5, 0.0], np.float16))
    xi = gc.input("xi", (2,), dtype="float16")
    loss = gc.sum(w * xi)
    optimizer = opt([w], lr=0.01)
    step = gc.compile(loss, updates=optimizer.updates(loss))
    for _ in range(3):
        step(xi=np.array([1.0, 0.0], np.float16))  # a zero gradient: eps must not round to 0 in float16
    assert w.value.dtype == np.float16 and np.isfinite(w.value).all() and w.value[1] == 0
    assert all(s.value.dtype != np.float16 for s in optimizer.state())


@pytest.mark.parametrize("backend", ALL)
def test_indices_out_of_range_are_refused_not_wrapped(backend):
    x = gc.input("x", (2, 3))
    big = gc.input("big", (1,), dtype="uint64")
    j = gc.input("j", (2, 1), dtype="int64")
    for out, feeds in [(gc.take(gc.reshape(x, (-1,)), big, axis=0), dict(big=np.array([2 ** 64 - 1], np.uint64))),
                       (gc.take_along_axis(gc.reshape(x, (-1,)), big, 0), dict(big=np.array([2 ** 64 - 1], np.uint64))),
                       (gc.take_along_axis(x, j, 1), dict(j=np.array([[3], [0]])))]:  # not x[1, 0]
        with pytest.raises(gc.IndexRangeError):
            gc.compile([out], backend=backend)(x=np.zeros((2, 3), np.float32), **feeds)


@pytest.mark.parametrize("backend", ALL)
def test_scatter_add_of_an_infinite_value_stays_where_it_lands(backend):
    x, j, c = gc.input("x", (5,)), gc.input("j", (4,), dtype="int64"), gc.input("c", (4,))
    g = gc.vjp([gc.take(x, j, axis=0)], [x], [c])[0]
    got = gc.compile([g], backend=backend)(j=np.array([1, 3, 1, 0]), c=np.array([1, np.inf, 1, 1], np.float32))[0]
    np.testing.assert_array_equal(got, [1, 2, 0, np.inf, 0])


@pytest.mark.parametrize("backend", ALL)
def test_sums_of_narrow_integers_do_not_wrap(backend):
    u, i = gc.input("u", (3,), dtype="uint8"), gc.input("i", (3,), dtype="int8")
    outs = [gc.sum(u), gc.cumsum(u), gc.prod(i), gc.sum(i)]
    got = gc.compile(outs, backend=backend)(u=np.full(3, 200, np.uint8), i=np.full(3, -100, np.int8))
    assert [g.dtype for g in got] == [np.uint64, np.uint64, np.int64, np.int64]
    assert got[0] == 600 and list(got[1]) == [200, 400, 600] and got[2] == -1000000 and got[3] == -300


def test_values_that_do_not_fit_an_integer_type_are_refused():
    k = gc.input("k", (2,), dtype="int8")
    with pytest.raises(gc.DTypeError, match="pad value 300"):
        gc.pad(k, ((1, 0),), value=300)
    with pytest.raises(gc.DTypeError, match="do not fit int8"):
        gc.const(np.array([300]), dtype="int8")
    fn = gc.compile(k + 1, backend="numpy", cast="same_kind")
    with pytest.raises(gc.InputError, match="do not fit int8"):
        fn(k=np.array([300, 1], np.int64))
    with pytest.raises(gc.DTypeError, match="float16"):
        gc.input("h", (2,), dtype="float16") << 1  # named as given, not as the float32 it would compute in


def test_promotion_does_not_depend_on_the_order_of_operands():
    import itertools

    def outcome(*ds):
        try:
            return str(gc.dtypes.promote(*ds))
        except gc.DTypeError:
            return "refused"

    for triple in itertools.combinations_with_replacement(gc.dtypes.SUPPORTED, 3):
        assert len({outcome(*p) for p in itertools.permutations(triple)}) == 1, triple


@pytest.mark.parametrize("backend", ALL)
def test_mixed_and_special_arithmetic_agrees_everywhere(backend):
    i, f = gc.input("i", (1,), gc.int32), gc.input("f", (3,))
    b, e = gc.input("b", (2,), gc.bool_), gc.input("e", (2,), gc.int64)
    got = gc.compile([gc.mod(i, f), gc.floor_divide(f, f * 0 + 0.5)], backend=backend)(
        i=np.array([1000000007], np.int32), f=np.array([10.0, np.nan, np.inf], np.float32))
    np.testing.assert_array_equal(got[0][:1], [np.float32(1000000007) % np.float32(10)])  # in float32, not float64
    np.testing.assert_array_equal(got[1], [20.0, np.nan, np.nan])
    with pytest.raises(gc.IndexRangeError):
        gc.compile(b ** e, backend=backend)(b=np.array([True, False]), e=np.array([-1, 2]))
