"""The generated register-blocked Gemm (the LLVM backend's product where the NumPy wheel has no OpenBLAS):
every tile/edge split, transpose and dtype agrees with float64 NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import blas


@pytest.fixture(params=["forced", "no BLAS"])
def generated(request, monkeypatch):
    if request.param == "forced":
        monkeypatch.setitem(blas.MODE, "small", "generated")
    else:
        monkeypatch.setattr(blas, "_symbols", {})  # as on a NumPy build without the bundled OpenBLAS
    return request.param


SHAPES = [(4, 16, 1), (5, 17, 3), (32, 128, 64), (7, 40, 9), (13, 33, 70), (3, 8, 5), (64, 25, 50)]


@pytest.mark.parametrize("m, n, k", SHAPES)
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_generated_products_agree_with_numpy(generated, m, n, k, trans_a, trans_b, dtype):
    rng = np.random.default_rng(m * 100 + n + k)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    x, y = gc.input("a", a.shape, dtype), gc.input("b", b.shape, dtype)
    fn = gc.compile(gc.relu((x.T if trans_a else x) @ (y.T if trans_b else y)), backend="llvm")
    want = np.maximum((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64), 0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fn(a=a, b=b), want, rtol=tol, atol=tol * np.sqrt(k))


def test_a_small_mlp_trains_alike_on_the_generated_products(generated):
    rng = np.random.default_rng(0)
    results = []
    for mode in ("blas", generated):
        x, labels = gc.input("x", (None, 20)), gc.input("y", (None,), gc.int64)
        w1 = gc.param("w1", rng.normal(size=(20, 32)).astype(np.float32) * 0.3)
        w2 = gc.param("w2", rng.normal(size=(32, 5)).astype(np.float32) * 0.3)
        loss = gc.losses.cross_entropy(gc.tanh(x @ w1) @ w2, labels)
        g1, g2 = gc.grad(loss, [w1, w2])
        fn = gc.compile(loss, updates={w1: w1 - 0.1 * g1, w2: w2 - 0.1 * g2}, backend="numpy" if mode == "blas" else "llvm")
        data = np.random.default_rng(1).normal(size=(24, 20)).astype(np.float32)
        ys = np.arange(24) % 5
        results.append([float(fn(x=data, y=ys)) for _ in range(5)])
        rng = np.random.default_rng(0)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)
