"""Lowering: each op becomes the kernels it should (a Loop with these axes, a Gemm with these transposes),
every buffer has exactly one writer, reshapes stay views, programs are cached per shape binding."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.pipeline import compile_program
from graphc.program import Chain, Gather, Gemm, Loop



def program(outputs, updates=None, **bindings):
    f = gc.compile(outputs, updates=updates, backend="numpy")
    return compile_program(f.graph, bindings, f.n_outputs, f.updates, debug=True)


def kernels(outputs, **bindings):
    return program(outputs, **bindings).kernels


def loops(ks):
    return [k for k in ks if isinstance(k, Loop)]


def test_elementwise_chain_is_one_loop_per_node_with_typed_bodies():
    x = gc.input("x", (4, 3))
    ks = kernels(gc.sigmoid(x * 2.0))
    assert len(ks) == 2 and all(isinstance(k, Loop) and not k.reduce and k.combine is None for k in ks)
    assert ks[0].body.dtype == np.float32 and ks[1].body.dtype == np.float32
    assert "exp" in str(ks[1].body) and "where" in str(ks[1].body)  # the stable sigmoid, decided in the body


def test_sum_is_a_reduction_loop_and_mean_a_sum_then_a_division():
    x = gc.input("x", (4, 3))
    (k,) = kernels(gc.sum(x, axis=1))
    assert k.domain == (4, 3) and k.reduce == (1,) and k.combine == "add" and k.init == 0
    assert k.store.strides[1] == 0
    ks = kernels(gc.mean(x, axis=0))
    assert [k.combine for k in ks] == ["add", None] and "div" in str(ks[1].body)


def test_argmax_is_a_max_then_a_min_over_positions():
    x = gc.input("x", (4, 5))
    ks = kernels(gc.argmax(x, axis=1))
    assert [k.combine for k in ks[:2]] == ["max", "min"]
    assert ks[1].body.axes() == [1] and ks[1].body.dtype == np.int64
    f = gc.compile(gc.argmax(x, axis=1), backend="numpy")
    data = np.array([[1, 3, 3, 0, 2], [np.nan, 1, np.nan, 0, 0], [0, 0, 0, 0, 0], [-np.inf] * 5], np.float32)
    np.testing.assert_array_equal(f(x=data), np.argmax(data, axis=1))
    g = gc.compile(gc.argmin(x, axis=0), backend="numpy")
    np.testing.assert_array_equal(g(x=data), np.argmin(data, axis=0))


def test_matmul_and_its_gradients_are_gemms_with_transposes_not_copies():
    x = gc.input("x", (8, 4))
    w = gc.param("w", np.ones((4, 3), np.float32))
    loss = gc.sum(x @ w)
    ks = kernels([loss, gc.grad(loss, w)])
    gemms = [k for k in ks if isinstance(k, Gemm)]
    assert len(gemms) == 2
    fwd, bwd = gemms
    assert (fwd.m, fwd.n, fwd.k, fwd.trans_a, fwd.trans_b) == (8, 3, 4, False, False)
    assert (bwd.m, bwd.n, bwd.k, bwd.trans_a) == (4, 3, 8, True)  # xᵀ·g reads x transposed in place


def test_integer_matmul_is_a_reduction_loop():
    a = gc.input("a", (2, 3), gc.int64)
    b = gc.input("b", (3, 4), gc.int64)
    (k,) = kernels(a @ b)
    assert isinstance(k, Loop) and k.combine == "add" and k.domain == (2, 4, 3)
    av, bv = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(gc.compile(a @ b, backend="numpy")(a=av, b=bv), av @ bv)


def test_pad_concat_unslice_fold_are_one_loop_each():
    x = gc.input("x", (2, 3))
    y = gc.input("y", (2, 2))
    for out in (gc.pad(x, 1, value=-1.0), gc.concat([x, y, x], axis=1)):
        ks = kernels(out)
        assert len(ks) == 1 and isinstance(ks[0], Loop)
    (k,) = kernels(gc.pad(x, 1, value=-1.0))
    assert k.loads[0].valid == ((1, 3), (1, 4)) and k.loads[0].fill == -1.0
    g = gc.input("g", (1, 1, 3, 3, 2, 2))
    fold = gc.REGISTRY["fold"](g, size=(4, 4), kernel=(2, 2), stride=(1, 1), dilation=(1, 1))
    (k,) = kernels(fold)
    assert k.combine == "add" and k.reduce == (2, 3, 4, 5)
    sl = gc.REGISTRY["unslice"](x, shape=(2, 7), starts=(0, 1), stops=(2, 7), steps=(1, 2))
    (k,) = kernels(sl)
    assert k.init == 0 and k.combine is None


def test_take_is_a_gather_load_and_its_adjoint_a_scatter_store():
    table = gc.input("table", (5, 3))
    idx = gc.input("idx", (4,), gc.int64)
    (k,) = kernels(gc.take(table, idx))
    assert any(isinstance(ld.access, Gather) for ld in k.loads) and k.checks == (("ix", -5, 5, "indices"),)
    g = gc.input("g", (4, 3))
    (k,) = kernels(gc.REGISTRY["take_adjoint"](g, idx, axis=0, size=5))
    assert isinstance(k.store, Gather) and k.combine == "add" and k.reduce == (0,)
    f = gc.compile(gc.REGISTRY["take_adjoint"](g, idx, axis=0, size=5), backend="numpy")
    gv, iv = np.ones((4, 3), np.float32), np.array([1, 1, -1, 0])
    want = np.zeros((5, 3), np.float32)
    np.add.at(want, iv % 5, gv)
    np.testing.assert_array_equal(f(g=gv, idx=iv), want)
    with pytest.raises(IndexError, match=r"indices must be in \[-5, 5\)"):
        gc.compile(gc.take(table, idx), backend="numpy")(table=np.zeros((5, 3), np.float32), idx=np.array([0, 5, 1, 2]))


def test_random_and_iota_are_loops_without_loads():
    (k,) = kernels(gc.uniform((3, 4), seed=7))
    assert not k.loads and "xor" in str(k.body) and "shr" in str(k.body)
    (k,) = kernels(gc.iota((3, 4), axis=1))
    assert not k.loads and k.body.axes() == [1]


def test_reshape_of_a_transposed_view_is_a_chain_read_once():
    x = gc.input("x", (2, 3, 4))
    y = gc.reshape(gc.transpose(x, (0, 2, 1)), (2, 12))
    f = gc.compile(gc.exp(y), backend="numpy")
    ks = compile_program(f.graph, {}, f.n_outputs, f.updates, optimize=1).kernels  # as lowered
    assert len(ks) == 1 and isinstance(ks[0].loads[0].access, Chain)
    (split,) = kernels(gc.exp(y))  # split_merged_axes: the merged axis (4·3) unmerged, the chain its base view
    assert split.domain == (2, 4, 3) and not isinstance(split.loads[0].access, Chain)
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10
    got = gc.compile(gc.exp(y), backend="numpy")(x=data)
    np.testing.assert_allclose(got, np.exp(data.transpose(0, 2, 1).reshape(2, 12)), rtol=1e-6)


def test_convolution_is_windows_copied_once_into_a_gemm_that_leaves_nchw():
    x = gc.input("x", (2, 3, 8, 8))
    w = gc.param("w", np.ones((4, 3, 3, 3), np.float32))
    b = gc.param("b", np.zeros(4, np.float32))
    pad, im2col, gemm, bias = kernels(gc.conv2d(x, w, b, padding=1))
    assert pad.loads[0].valid is not None                                   # padding is a predicate
    assert im2col.body.is_arg() and not isinstance(im2col.loads[0].access, Chain)  # the windows, written once
    assert im2col.domain == (2, 1, 3, 3, 3, 8, 8)  # split_merged_axes: (C·KH·KW, OH·OW) unmerged, affine reads
    assert isinstance(gemm, Gemm) and (gemm.m, gemm.n, gemm.k) == (4, 64, 27) and gemm.a.batch_strides[0] == 0
    assert gemm.b.buffer is im2col.store.buffer
    assert bias.loads[0].access.buffer is gemm.c.buffer and bias.loads[0].access.is_whole  # NCHW as it is: no transpose


def test_every_buffer_has_one_writer_in_a_training_step():
    x = gc.input("x", (None, 1, 8, 8))
    labels = gc.input("labels", (None,), gc.int64)
    net = gc.nn.Sequential(gc.nn.Conv2d(1, 4, 3, padding=1), gc.nn.ReLU(), gc.nn.MaxPool2d(2), gc.nn.Flatten(),
                           gc.nn.Linear(64, 10))
    loss = gc.losses.cross_entropy(net(x), labels)
    opt = gc.optim.Adam(net.parameters(), lr=1e-3)
    prog = program(loss, updates=opt.updates(loss), N=5)  # compile_program(debug=True) verifies every stage
    writers = {}
    for k in prog.kernels:
        writers.setdefault(k.writes.id, []).append(k)
    assert all(len(v) == 1 for v in writers.values())
    assert {b.role for b in prog.externals} >= {"input", "param", "state", "output"}


def test_the_cache_key_is_the_shape_binding():
    x = gc.input("x", (None, 2))
    f = gc.compile(gc.sum(x), backend="numpy")
    f(x=np.ones((3, 2), np.float32))
    f(x=np.ones((4, 2), np.float32))
    assert f.backend.bindings == [{"N": 3}, {"N": 4}]
    assert "N=4" in str(f.program) and "compiled for N=3; N=4" in repr(f)
