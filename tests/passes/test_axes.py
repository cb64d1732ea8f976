"""split_merged_axes: a loop reading a reshaped strided view runs over the unmerged domain, with affine accesses
only, and computes exactly what the unsplit loop and the reference compute."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.program import Chain, Loop
from tests.support import CODEGEN_BACKENDS


def _chains(fn):
    return [ld for k in fn.program.kernels if isinstance(k, Loop) for ld in k.loads if isinstance(ld.access, Chain)]


@pytest.mark.parametrize("backend", CODEGEN_BACKENDS)
def test_the_im2col_copy_of_a_convolution_has_no_chain_and_trains_alike(backend):
    rng = np.random.default_rng(0)
    x = gc.input("x", (None, 3, 9, 9))
    w = gc.param("w", rng.normal(size=(4, 3, 3, 3)).astype(np.float32))
    y = gc.conv2d(x, w, stride=1, padding=0)
    loss = gc.sum(gc.tanh(y))
    (gw, gx) = gc.grad(loss, [w, x])
    fn, plain = gc.compile([y, gw, gx], backend=backend), gc.compile([y, gw, gx], backend="reference")
    data = rng.normal(size=(2, 3, 9, 9)).astype(np.float32)
    for a, b in zip(fn(x=data), plain(x=data)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert not _chains(fn)
    unsplit = gc.compile([y, gw, gx], backend=backend, optimize=1)  # no Program passes: the im2col chain is there
    unsplit(x=data)
    assert _chains(unsplit)


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=5), data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_reshaped_permutation_agrees_with_numpy(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    moved = [shape[p] for p in perm]
    cut = data.draw(st.integers(1, len(moved)))  # merge the axes before and after the cut
    merged = (int(np.prod(moved[:cut])), int(np.prod(moved[cut:])))
    x = gc.input("x", tuple(shape))
    y = gc.reshape(gc.transpose(x, tuple(perm)), merged) * 2.0 + 1.0
    value = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    want = value.transpose(perm).reshape(merged) * 2 + 1
    for backend in CODEGEN_BACKENDS:
        np.testing.assert_array_equal(gc.compile(y, backend=backend)(x=value), want)


def test_a_body_that_reads_a_merged_axis_index_is_left_unsplit():
    from graphc.passes import split_merged_axes
    from graphc.program import Buffer, Load, Program, View
    from graphc.scalar_ops import Body, SOp
    import dataclasses

    src = Buffer(0, "src", np.dtype(np.float32), 24, "input")
    dst = Buffer(1, "dst", np.dtype(np.float32), 24, "output")
    chain = View(src, (2, 3, 4), (12, 1, 3)).reshape((2, 12))
    assert isinstance(chain, Chain)
    body = Body((SOp("arg", (), np.dtype(np.float32), "a0"),), 0)
    loop = Loop((2, 12), (Load("a0", chain),), body, View.whole(dst, (2, 12)))
    split = split_merged_axes(Program([src, dst], [loop])).kernels[0]
    assert split.domain == (2, 3, 4) and not isinstance(split.loads[0].access, Chain)
    axis_body = Body((SOp("axis", (), np.dtype(np.int64), 1), SOp("cast", (0,), np.dtype(np.float32))), 1)
    kept = dataclasses.replace(loop, body=axis_body)
    assert split_merged_axes(Program([src, dst], [kept])).kernels[0] is kept
