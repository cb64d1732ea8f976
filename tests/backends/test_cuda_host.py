"""The printed CUDA computes what the reference computes: every registry-sweep graph and its gradients, compiled
as C++ for the CPU over a shim of CUDA's thread model (tests/backends/cuda_host.py), where no GPU exists."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc as gc
from tests.backends.cuda_host import HostStep, build_library, sweep_cases
from tests.ops.test_ops_reference import CASES

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6), np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12),
       np.dtype(np.float16): dict(rtol=2e-3, atol=1e-3)}  # float16: one ulp, where float32 results differ by a few


def _printed(outs, feeds, inputs=None):
    fn = gc.compile(outs, backend="cuda", inputs=inputs)
    with pytest.raises(gc.DeviceError):
        fn(**feeds)
    return fn


def _cases():
    """(prefix, CUDA-compiled function, feeds, reference outputs, tolerance) for every sweep case and its gradient."""
    for prefix, outs, feeds, inputs in sweep_cases():
        want = gc.compile(outs, backend="reference", inputs=inputs)(**feeds)
        tol = dict(rtol=1e-4, atol=1e-5) if prefix.endswith("g_") else None
        yield prefix, _printed(outs, feeds, inputs), feeds, want, tol


def test_every_sweep_graph_and_gradient_computes_what_the_reference_does(tmp_path):
    cases = list(_cases())
    library = build_library({prefix: fn.backend.last.program for prefix, fn, *_ in cases}, tmp_path)
    failures = []
    for prefix, fn, feeds, want, tol in cases:
        spec = fn.backend.last
        spec.run = HostStep(library, prefix, spec.program).bind(spec.arena, spec.externals)
        got = fn(**feeds)
        for g, w in zip(got, want):
            try:
                assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
                if w.dtype.kind in "biu":
                    np.testing.assert_array_equal(g, w)
                else:
                    np.testing.assert_allclose(g, w, **(TOL[w.dtype] if w.dtype == np.float16 else tol or TOL[w.dtype]))
            except AssertionError as e:
                failures.append(f"{prefix} {CASES[int(prefix[1:-2])].id}: {str(e)[:300]}")
    assert not failures, f"{len(failures)} of {len(cases)} disagree:\n" + "\n".join(failures[:20])


def test_long_reductions_take_a_block_per_element_and_agree(tmp_path):
    rng = np.random.default_rng(0)
    x32 = rng.normal(size=(3, 5000)).astype(np.float32)
    x64 = rng.normal(size=(3000, 2))
    ints = rng.integers(-1000, 1000, size=(4, 1500))
    a, b, c = gc.input("a", x32.shape), gc.input("b", x64.shape, gc.float64), gc.input("c", ints.shape, gc.int64)
    outs = [gc.sum(gc.exp(a), axis=1), gc.mean(a), gc.max(b, axis=0), gc.min(b), gc.sum(c, axis=1)]
    feeds = dict(a=x32, b=x64, c=ints)
    fn = _printed(outs, feeds)
    assert fn.source.count("partial[threadIdx.x >> 5] = acc;") >= 4  # the block path, by warp shuffles
    library = build_library({"r_": fn.backend.last.program}, tmp_path)
    spec = fn.backend.last
    spec.run = HostStep(library, "r_", spec.program).bind(spec.arena, spec.externals)
    got = fn(**feeds)
    want = [np.exp(x32.astype(np.float64)).sum(axis=1), x32.astype(np.float64).mean(), x64.max(axis=0), x64.min(),
            ints.sum(axis=1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)
