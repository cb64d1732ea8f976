"""Batched products made single: a batch over a broadcast weight folds into rows, a sum over the batch of
products into k; both agree with optimize=0 (up to the reassociation of a longer sum)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc
from graphc.program import Gemm


def _gemms(fn):
    return [k for k in fn.program.kernels if isinstance(k, Gemm)]


def test_a_linear_layer_on_a_sequence_is_one_product_forward_and_one_for_its_weight_gradient():
    x = gc.input("x", (None, 7, 4))
    w = gc.param("w", np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))
    y = gc.tanh(x @ w)
    loss = gc.sum(gc.square(y))
    (gw,) = gc.grad(loss, [w])
    fn, plain = gc.compile([y, gw]), gc.compile([y, gw], optimize=0)
    data = np.random.default_rng(1).normal(size=(5, 7, 4)).astype(np.float32)
    for a, b in zip(fn(x=data), plain(x=data)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    gemms = _gemms(fn)
    assert all(not g.batch for g in gemms)
    assert any(g.m == 35 for g in gemms) and any(g.k == 35 and g.m == 4 and g.n == 3 for g in gemms)


@pytest.mark.parametrize("batch, transpose_x, transpose_w", list(itertools.product([(2,), (2, 3), (1, 4)], [False, True], [False, True])))
def test_batched_products_with_a_broadcast_operand_agree_with_optimize_0(batch, transpose_x, transpose_w):
    rng = np.random.default_rng(len(batch))
    x = gc.input("x", batch + ((6, 5) if transpose_x else (5, 6)))
    w = gc.param("w", rng.normal(size=(4, 6) if transpose_w else (6, 4)).astype(np.float32))
    xs = gc.transpose(x, tuple(range(len(batch))) + (len(batch) + 1, len(batch))) if transpose_x else x
    y = xs @ (w.T if transpose_w else w)
    (gx, gw) = gc.grad(gc.sum(y * y), [x, w])
    outs = [y, gx, gw]
    data = rng.normal(size=batch + ((6, 5) if transpose_x else (5, 6))).astype(np.float32)
    for a, b in zip(gc.compile(outs)(x=data), gc.compile(outs, optimize=0)(x=data)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_products_batched_on_both_sides_stay_batched():
    q, k = gc.input("q", (3, 5, 4)), gc.input("k", (3, 6, 4))
    s = q @ gc.transpose(k, (0, 2, 1))
    fn = gc.compile(s)
    rng = np.random.default_rng(2)
    data = dict(q=rng.normal(size=(3, 5, 4)).astype(np.float32), k=rng.normal(size=(3, 6, 4)).astype(np.float32))
    np.testing.assert_allclose(fn(**data), data["q"] @ data["k"].transpose(0, 2, 1), rtol=1e-5)
    assert _gemms(fn)[0].batch == (3,)
