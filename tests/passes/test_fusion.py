"""Kernel fusion: composed views read what the unfused kernels read, chains and reductions become one kernel,
Gemms take their epilogues, expensive work is never duplicated, and results equal optimize=0's."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.passes.fusion import compose
from graphc.program import Buffer, Gemm, Loop, View
from graphc.shapes import contiguous_strides


def _element_map(view: View) -> np.ndarray:
    """The flat index the view reads at every point of its shape."""
    out = np.full(view.shape, view.offset, dtype=np.int64)
    for axis, (d, s) in enumerate(zip(view.shape, view.strides)):
        shape = [1] * len(view.shape)
        shape[axis] = d
        out = out + (np.arange(d) * s).reshape(shape)
    return out


@st.composite
def _views(draw, buffer, shape):
    """A view of `buffer` read as a contiguous `shape`: some transpose, slice (steps 1, 2 or -1) and broadcast."""
    v = View.whole(buffer, shape).transpose(draw(st.permutations(range(len(shape)))))
    starts, stops, steps = [], [], []
    for d in v.shape:
        step = draw(st.sampled_from([1, 2, -1]))
        lo = draw(st.integers(0, d - 1))
        hi = draw(st.integers(lo + 1, d))
        starts.append(lo if step > 0 else hi - 1)
        stops.append(hi if step > 0 else lo - 1)
        steps.append(step)
    v = View(v.buffer, tuple(len(range(a, b, c)) for a, b, c in zip(starts, stops, steps)),
             tuple(s * c for s, c in zip(v.strides, steps)), v.offset + sum(a * s for a, s in zip(starts, v.strides)))
    if draw(st.booleans()):
        v = v.reshape((1,) + tuple(v.shape)).broadcast_to((draw(st.integers(1, 3)),) + tuple(v.shape))
    if draw(st.booleans()) and v.is_contiguous:
        v = v.reshape((v.size,))
    return v


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_a_composed_view_reads_what_the_two_views_read_one_after_the_other(shape, data):
    shape = tuple(shape)
    size = int(np.prod(shape))
    x = Buffer(1, "x", np.dtype(np.float32), 4 * size, "input")
    inner = data.draw(_views(x, (4,) + shape))          # the producer's load: any view, one leading index fixed
    inner = View(x, inner.shape[1:], inner.strides[1:], inner.offset) if inner.shape[1:] == shape else View.whole(x, shape)
    temp = Buffer(2, "t", np.dtype(np.float32), size, "temp")
    outer = data.draw(_views(temp, shape))              # the consumer's view of the producer's result
    composed = compose(outer, shape, inner)
    if composed is None:
        return  # refused: not fused, never wrong
    expected = _element_map(inner).reshape(-1)[_element_map(outer).reshape(-1)].reshape(outer.shape)
    np.testing.assert_array_equal(_element_map(composed), expected)


def test_transposes_flattens_slices_and_broadcasts_compose_and_a_carry_is_refused():
    x = Buffer(1, "x", np.dtype(np.float32), 24, "input")
    t = Buffer(2, "t", np.dtype(np.float32), 24, "temp")
    inner = View.whole(x, (2, 3, 4))
    for outer in (View.whole(t, (2, 3, 4)).transpose((2, 0, 1)), View.whole(t, (6, 4)), View.whole(t, (24,)),
                  View.whole(t, (2, 3, 4)).slice([0, 1, 0], [2, 3, 4], [1, 1, 2])):
        assert compose(outer, (2, 3, 4), inner) is not None
    # the producer read its input transposed; reading its result flat would carry across axes: no strides
    assert compose(View.whole(t, (24,)), (2, 3, 4), View(x, (2, 3, 4), (1, 2, 6), 0)) is None


def _kernels(fn, kind=Loop):
    return [k for k in fn.program.kernels if isinstance(k, kind)]


def test_a_chain_of_elementwise_ops_is_one_kernel_and_equals_optimize_0():
    x = gc.input("x", (8, 5))
    y = gc.tanh(gc.exp(x * 0.5) - 1.0) * 3.0 + gc.sin(x)
    fused, plain = gc.compile(y), gc.compile(y, optimize=0)
    assert len(fused.program.kernels) == 1 < len(plain.program.kernels)
    data = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    np.testing.assert_array_equal(fused(x=data), plain(x=data))


def test_the_sum_of_a_squared_error_and_a_softmax_denominator_are_one_kernel_each():
    x, t = gc.input("x", (16, 10)), gc.input("t", (16, 10))
    fn = gc.compile(gc.sum(gc.square(x - t)))
    reductions = [k for k in _kernels(fn) if k.combine == "add"]
    assert len(reductions) == 1 and {ld.buffer.name for ld in reductions[0].loads} == {"in_x", "in_t"}
    m = gc.max(x, axis=1, keepdims=True)
    fn = gc.compile(gc.sum(gc.exp(x - m), axis=1))
    (denominator,) = [k for k in _kernels(fn) if k.combine == "add"]
    assert "exp" in str(denominator.body) and "in_x" in {ld.buffer.name for ld in denominator.loads}


def test_a_linear_layer_takes_bias_and_activation_as_its_gemm_epilogue():
    x = gc.input("x", (None, 4))
    w = gc.param("w", np.ones((4, 3), np.float32))
    b = gc.param("b", np.arange(3, dtype=np.float32))
    y = gc.tanh(x @ w + b)
    fn = gc.compile(y)
    data = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    got = fn(x=data)
    (gemm,) = _kernels(fn, Gemm)
    assert len(fn.program.kernels) == 1 and "tanh" in str(gemm.epilogue)
    np.testing.assert_array_equal(got, gc.compile(y, optimize=0)(x=data))


def test_the_relu_mask_of_the_backward_pass_is_an_epilogue():
    x = gc.input("x", (None, 4))
    w1, w2 = gc.param("w1", np.full((4, 6), 0.3, np.float32)), gc.param("w2", np.full((6, 2), -0.2, np.float32))
    loss = gc.sum(gc.relu(x @ w1) @ w2)
    (gx,) = gc.grad(loss, [x])
    fn = gc.compile(gx)
    data = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(fn(x=data), gc.compile(gx, optimize=0)(x=data))
    assert any(k.epilogue is not None and "lt" in str(k.epilogue) for k in _kernels(fn, Gemm))


def test_expensive_work_read_twice_is_computed_once():
    x = gc.input("x", (32,))
    e = gc.exp(x)
    fn = gc.compile([e * 2.0, e + 1.0, gc.sum(e)])
    exps = [k for k in fn.program.kernels if "exp" in str(k.body)]
    assert len(exps) == 1
    cheap = x * 2.0  # one multiplication may be inlined into both readers
    fn = gc.compile([gc.sin(cheap), gc.cos(cheap)])
    assert len(fn.program.kernels) == 2


def test_a_broadcast_read_is_never_fused_so_a_row_is_not_recomputed_per_column():
    v = gc.input("v", (64,))
    m = gc.input("m", (32, 64))
    fn = gc.compile(m * gc.exp(v))
    assert any(k.domain == (64,) and "exp" in str(k.body) for k in _kernels(fn))


def test_debug_mode_keeps_one_kernel_per_node_and_the_report_counts_kernels():
    x = gc.input("x", (4,))
    y = gc.exp(x) * 2.0
    assert len(gc.compile(y, debug=True).program.kernels) == 2
    fn = gc.compile(y)
    stages = {s["stage"]: s for s in fn.report()}
    assert stages["fuse_elementwise"]["kernels_before"] == 2 and stages["fuse_elementwise"]["kernels_after"] == 1


def test_adam_updates_each_weight_moment_and_weight_in_one_kernel_without_temporaries():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.full((3, 2), 0.5, np.float32))
    loss = gc.mean(gc.square(x @ w))
    step = gc.compile(loss, updates=dict(gc.optim.Adam([w], lr=0.01).updates(loss)))
    step(x=np.ones((4, 3), np.float32))
    elementwise = [k for k in step.program.kernels if isinstance(k, Loop) and k.domain == (3, 2)]
    assert sorted(k.writes.role for k in elementwise) == ["param", "state", "state"]  # w, and Adam's m and v
    assert len({id(k.writes) for k in elementwise}) == 3


@pytest.mark.parametrize("read", [lambda w: gc.flip(w, 0), lambda w: gc.transpose(gc.transpose(w) * 1.0)])
def test_an_update_that_reads_its_parameter_elsewhere_is_never_an_epilogue_writing_it(read):
    results = []
    for optimize in (0, 2):
        w = gc.param("w", np.arange(6, dtype=np.float32).reshape(3, 2))
        x, y = gc.input("x", (3, 3)), gc.input("y", (3, 2))
        step = gc.compile([], updates={w: read(w) - 0.01 * (gc.transpose(x) @ y)}, optimize=optimize)
        step(x=np.ones((3, 3), np.float32), y=np.ones((3, 2), np.float32))
        results.append(w.value.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_an_empty_batch_through_slices_of_inputs_and_temporaries():
    x = gc.input("x", (None, 3))
    for out in (x[:, 1:] * 2.0, gc.exp(x)[:, 1:] * 2.0):
        assert gc.compile(out)(x=np.zeros((0, 3), np.float32)).shape == (0, 2)


def test_overlapping_windows_never_recompute_their_producer():
    x = gc.input("x", (2, 1, 16))
    fn = gc.compile(gc.max_pool1d(gc.exp(x) * 2.0, 5, stride=1))
    pooled = [k for k in _kernels(fn) if k.combine == "max"]
    assert pooled and all("exp" not in str(k.body) for k in pooled)
