"""Bad input gets clear errors: shape errors at graph-building time name the op, the user's
node name and scope, and the shapes; compiled functions validate their arguments before
anything runs; debug mode names the first node producing NaN/Inf."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.errors import NonFiniteError


def test_error_hierarchy():
    assert issubclass(gc.ShapeError, ValueError) and issubclass(gc.ShapeError, gc.GraphcError)
    assert issubclass(gc.InputError, ValueError) and issubclass(gc.DTypeError, TypeError)
    assert issubclass(NonFiniteError, FloatingPointError) and issubclass(NonFiniteError, gc.GraphcError)


# =============================================================================================
# shape errors while building
# =============================================================================================
def test_matmul_error_names_op_scope_name_and_shapes_exactly():
    a = gc.input("a", (None, 3))
    b = gc.param("b", np.zeros((4, 5), np.float32))
    with gc.scope("layer2"):
        with pytest.raises(gc.ShapeError) as e:
            gc.matmul(a, b, name="z")
    assert str(e.value) == "matmul 'layer2/z': (None, 3) @ (4, 5): inner dimensions 3 and 4 differ"


def test_matmul_error_without_a_name():
    a, b = gc.input("a", (2, 3)), gc.input("b", (2, 3))
    with pytest.raises(gc.ShapeError, match=re.escape("matmul: (2, 3) @ (2, 3): inner dimensions 3 and 2 differ")):
        a @ b
    with gc.scope("blk"):
        with pytest.raises(gc.ShapeError, match=re.escape("matmul in 'blk': (2, 3) @ (2, 3)")):
            a @ b
    with pytest.raises(gc.ShapeError, match="scalar"):
        a @ gc.input("s", ())


@pytest.mark.parametrize("sa, sb", [((None, 3), (4,)), ((2, 3), (3, 2)), ((None, 5), (None, 4)), ((2, 1, 3), (4, 2))])
def test_broadcast_mismatch(sa, sb):
    a, b = gc.input("a", sa), gc.input("b", sb)
    fmt = gc.shapes.fmt_shape
    with gc.scope("blk"):
        for build, op in [(lambda: gc.add(a, b, name="s"), "add"), (lambda: gc.mul(a, b, name="s"), "mul"),
                          (lambda: gc.where(gc.input("c", sa, gc.bool_), a, b, name="s"), "where"),
                          (lambda: gc.maximum(a, b, name="s"), "maximum")]:
            with pytest.raises(gc.ShapeError) as e:
                build()
            msg = str(e.value)
            assert msg.startswith(f"{op} 'blk/s': "), msg
            assert fmt(gc.input("a", sa).shape) in msg and fmt(gc.input("b", sb).shape) in msg
            assert "cannot be broadcast" in msg
    with pytest.raises(gc.ShapeError, match=r"^sub: .*cannot be broadcast"):
        a - b


def test_conv_channel_mismatch_names_layer_and_shapes():
    x = gc.input("x", (None, 3, 8, 8))
    w = gc.param("w", np.zeros((4, 2, 3, 3), np.float32))
    with gc.scope("encoder"):
        with pytest.raises(gc.ShapeError) as e:
            gc.conv2d(x, w, name="c1")
    msg = str(e.value)
    assert msg.startswith("conv2d 'encoder/c1': "), msg
    assert "(None, 3, 8, 8)" in msg and "(4, 2, 3, 3)" in msg and "channels" in msg
    with pytest.raises(gc.ShapeError, match=r"conv2d: .*groups=2"):
        gc.conv2d(x, gc.input("v", (4, 3, 3, 3)), groups=2)
    with pytest.raises(gc.ShapeError, match=r"conv1d: input \(None, 3, 8, 8\) must have rank 3"):
        gc.conv1d(x, gc.input("k", (4, 3, 3)))


def test_conv_and_pool_window_too_large():
    x = gc.input("x", (None, 3, 8, 8))
    with pytest.raises(gc.ShapeError) as e:
        gc.conv2d(x, gc.input("w", (4, 3, 9, 9)), name="big")
    msg = str(e.value)
    assert msg.startswith("conv2d 'big': ") and "(None, 3, 8, 8)" in msg and "(4, 3, 9, 9)" in msg and "exceeds" in msg
    with pytest.raises(gc.ShapeError, match=r"^max_pool2d 'mp': input \(1, 1, 2, 2\): .*exceeds"):
        gc.max_pool2d(gc.input("p", (1, 1, 2, 2)), 3, name="mp")
    with pytest.raises(gc.ShapeError, match=r"^avg_pool1d: .*rank 3"):
        gc.avg_pool1d(gc.input("q", (1, 2)), 2)


@pytest.mark.parametrize("src, target", [((2, 3), (4, 2)), ((2, 3), (4, -1)), ((None, 3), (4, -1)), ((6,), (-1, -1)),
                                         ((None, 3), (None, 4))])
def test_reshape_impossible(src, target):
    x = gc.input("x", src)
    with gc.scope("flat"):
        with pytest.raises(gc.ShapeError) as e:
            gc.reshape(x, target, name="r")
    msg = str(e.value)
    assert msg.startswith("reshape 'flat/r': ") and gc.shapes.fmt_shape(x.shape) in msg, msg


def test_other_building_errors():
    a = gc.input("a", (None, 3))
    with pytest.raises(gc.ShapeError, match=r"concat: cannot concat \(None, 3\) and \(None, 4\) along axis 0"):
        gc.concat([a, gc.input("c", (None, 4))], 0)
    with pytest.raises(gc.ShapeError, match="out of range"):
        gc.sum(a, axis=2)
    with pytest.raises(gc.ShapeError, match="repeated axis"):
        gc.sum(a, axis=(1, -1))
    with pytest.raises(gc.ShapeError, match="not a permutation"):
        gc.transpose(a, (0, 0))
    with pytest.raises(gc.ShapeError, match="out of bounds"):
        gc.input("v", (3,))[3]
    with pytest.raises(gc.ShapeError, match="too many indices"):
        a[0, 1, 2]
    with pytest.raises(gc.DTypeError, match="condition must be bool"):
        gc.where(a, a, a)
    with pytest.raises(gc.DTypeError, match="bool"):
        gc.input("b", (2,), gc.bool_) * gc.input("b2", (2,), gc.bool_)
    with pytest.raises(ValueError, match="identifier"):
        gc.input("not a name", (2,))


# =============================================================================================
# calling a compiled function with bad arguments
# =============================================================================================
@pytest.fixture
def trainer():
    """A compiled step with an update: any call that gets past validation changes w."""
    x = gc.input("x", (None, 3))
    y = gc.input("y", (None, 1))
    w = gc.param("w", np.full((3, 1), 0.5, np.float32))
    loss = gc.mean((x @ w - y) ** 2)
    f = gc.compile(loss, updates={w: w - 0.1})
    calls = []
    backend = f.backend
    f.backend = lambda arrays, bindings: (calls.append(1), backend(arrays, bindings))[1]
    return f, w, calls


GOOD = dict(x=np.ones((4, 3), np.float32), y=np.zeros((4, 1), np.float32))


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(x=GOOD["x"]), r"missing input\(s\) \['y'\]; the function takes \['x', 'y'\]"),
    (dict(GOOD, z=np.ones(3)), r"unknown input\(s\) \['z'\]"),
    (dict(GOOD, x=np.ones((4, 3, 1), np.float32)), r"input 'x': expected shape \(None, 3\) \(rank 2\), got shape \(4, 3, 1\) \(rank 3\)"),
    (dict(GOOD, x=np.ones(3, np.float32)), r"input 'x': expected shape \(None, 3\).*got shape \(3,\)"),
    (dict(GOOD, x=np.ones((4, 2), np.float32)), r"input 'x': expected shape \(None, 3\), got \(4, 2\): dim 1 is 2, expected 3"),
    (dict(GOOD, x=np.ones((4, 3), np.float64)), r"input 'x': expected dtype float32, got float64.*cast='same_kind'"),
    (dict(GOOD, y=np.zeros((5, 1), np.float32)), r"input 'y': expected shape \(None, 1\), got \(5, 1\): .*5.*input 'x' bound it to 4"),
    (dict(GOOD, y=np.zeros((4, 1), np.int64)), r"input 'y': expected dtype float32, got int64"),
])
def test_bad_call_raises_input_error_and_changes_nothing(trainer, kwargs, pattern):
    f, w, calls = trainer
    before = w.value.copy()
    with pytest.raises(gc.InputError, match=pattern):
        f(**kwargs)
    assert calls == []  # nothing was evaluated
    np.testing.assert_array_equal(w.value, before)  # nothing was updated
    f(**GOOD)  # the function still works, and a good call does update
    assert calls == [1]
    np.testing.assert_allclose(w.value, before - 0.1)


def test_float64_input_accepted_with_same_kind_cast():
    x = gc.input("x", (None, 2))
    f_strict = gc.compile(gc.sum(x, 1))
    f_loose = gc.compile(gc.sum(x, 1), cast="same_kind")
    a = np.array([[1.25, 2.5], [0.1, 0.2]])
    with pytest.raises(gc.InputError):
        f_strict(x=a)
    out = f_loose(x=a)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, a.astype(np.float32).sum(1))
    f_no = gc.compile(gc.sum(x, 1), cast="no")
    with pytest.raises(gc.InputError):
        f_no(x=a.astype(np.float32).astype(np.float64))
    with pytest.raises(ValueError, match="cast must be one of"):
        gc.compile(gc.sum(x, 1), cast="unsafe")(x=a)


def test_safe_cast_widens_ints_to_float64():
    x = gc.input("x", (3,), gc.float64)
    np.testing.assert_array_equal(gc.compile(x * 2)(x=np.array([1, 2, 3], np.int32)), [2.0, 4.0, 6.0])


def test_inconsistent_bindings_message_names_the_first_binder():
    a, b, c = gc.input("a", (None,)), gc.input("b", (None,)), gc.input("c", (None,))
    f = gc.compile(a + b + c)
    ones = np.ones(4, np.float32)
    with pytest.raises(gc.InputError) as e:
        f(a=ones, b=ones, c=np.ones(5, np.float32))
    assert str(e.value) == "input 'c': expected shape (None,), got (5,): dim 0 (None) is 5, but input 'a' bound it to 4"


def test_named_symbolic_dims_are_checked_across_inputs():
    q = gc.input("q", ("T", 8))
    k = gc.input("k", ("T", 8))
    f = gc.compile(gc.sum(q * k, 1))
    with pytest.raises(gc.InputError, match=r"input 'k'.*\(T, 8\).*\(6, 8\).*bound it to 5"):
        f(q=np.ones((5, 8), np.float32), k=np.ones((6, 8), np.float32))
    np.testing.assert_array_equal(f(q=np.ones((6, 8), np.float32), k=np.ones((6, 8), np.float32)), np.full(6, 8.0))


def test_compound_symbolic_dims():
    N = gc.shapes.BATCH
    x, y = gc.input("x", (2 * N,)), gc.input("y", (None,))
    g = gc.compile(gc.sum(x) + gc.sum(y))
    assert g(x=np.ones(6, np.float32), y=np.ones(3, np.float32)) == 9.0
    with pytest.raises(gc.InputError, match=r"input 'x': dim 0 is 7, expected 2\*N = 6"):
        g(x=np.ones(7, np.float32), y=np.ones(3, np.float32))
    with pytest.raises(gc.InputError, match=r"input 'x': dim 0 is 6, expected 2\*N, but N is not bound"):
        gc.compile(gc.sum(x))(x=np.ones(6, np.float32))


def test_all_outputs_and_updates_use_values_from_before_the_call():
    w = gc.param("w2", np.array([1.0, 2.0], np.float32))
    v = gc.param("v2", np.array([10.0, 20.0], np.float32))
    f = gc.compile(w + v, updates={w: v, v: w})  # a swap: both new values computed before assignment
    out = f()
    np.testing.assert_array_equal(out, [11.0, 22.0])
    np.testing.assert_array_equal(w.value, [10.0, 20.0])
    np.testing.assert_array_equal(v.value, [1.0, 2.0])


# =============================================================================================
# debug mode
# =============================================================================================
def test_debug_mode_names_the_first_node_producing_nan():
    x = gc.input("x", (None,))
    with gc.scope("head"):
        y = gc.log(x, name="logx")
    z = gc.exp(y) * 2.0  # NaN propagates to later nodes: the error must name the log
    f = gc.compile(z, debug=True)
    with pytest.raises(NonFiniteError) as e:
        f(x=np.array([1.0, -1.0], np.float32))
    msg = str(e.value)
    assert msg.startswith("NaN first produced by log 'head/logx'"), msg
    assert "exp" not in msg.split("from inputs")[0]
    # without debug the NaN just flows through
    out = gc.compile(z)(x=np.array([1.0, -1.0], np.float32))
    assert out[0] == pytest.approx(2.0) and np.isnan(out[1])
    # and finite input passes in debug mode
    np.testing.assert_allclose(f(x=np.array([1.0, 3.0], np.float32)), [2.0, 6.0], rtol=1e-6)


def test_debug_mode_names_the_node_producing_inf():
    x = gc.input("x", (3,))
    d = gc.div(1.0, x, name="inv")
    f = gc.compile(gc.sum(d * 0.0 + 1.0), debug=True)
    with pytest.raises(NonFiniteError, match=r"^Inf first produced by div 'inv'"):
        f(x=np.array([1.0, 0.0, 2.0], np.float32))
    e = gc.exp(x)
    with pytest.raises(NonFiniteError, match=rf"^Inf first produced by exp '{e.name}'"):
        gc.compile(e, debug=True)(x=np.array([1.0, 1000.0, 2.0], np.float32))


def test_debug_mode_does_not_update_params_on_failure():
    x = gc.input("x", ())
    w = gc.param("w3", np.float32(1.0))
    f = gc.compile(gc.log(x), updates={w: w + 1.0}, debug=True)
    with pytest.raises(NonFiniteError):
        f(x=np.float32(-1.0))
    assert w.value == 1.0
    f(x=np.float32(2.0))
    assert w.value == 2.0


def test_outputs_are_not_aliased_to_parameter_storage():
    w = gc.param("w4", np.array([1.0, 2.0], np.float32))
    f = gc.compile(w, updates={w: w + 1.0})
    out = f()
    np.testing.assert_array_equal(w.value, [2.0, 3.0])
    np.testing.assert_array_equal(out, [1.0, 2.0])  # the value before the update


def test_outputs_computed_from_params_show_values_before_the_update():
    w = gc.param("w5", np.array([1.0, 2.0], np.float32))
    f = gc.compile(w * 3.0, updates={w: w + 1.0})
    np.testing.assert_array_equal(f(), [3.0, 6.0])
    np.testing.assert_array_equal(w.value, [2.0, 3.0])
    np.testing.assert_array_equal(f(), [6.0, 9.0])


@pytest.mark.parametrize("backend", ["reference", "numpy"])
def test_debug_mode_names_an_input_that_holds_nan(backend):
    x = gc.input("x", (3,))
    f = gc.compile(gc.exp(x) * 2.0, debug=True, backend=backend)
    with pytest.raises(NonFiniteError, match=r"^NaN in input 'x'"):
        f(x=np.array([1.0, np.nan, 2.0], np.float32))
    with pytest.raises(NonFiniteError, match=r"^Inf in input 'x'"):
        f(x=np.array([1.0, np.inf, 2.0], np.float32))
