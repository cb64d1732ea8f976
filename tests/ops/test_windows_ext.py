"""gc.conv_transpose and gc.pool (ceil_mode, count_include_pad, dilation, N-d) against direct NumPy loops, with
gradients checked by finite differences."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc


def _conv_transpose_np(x, w, b, stride, pads, extra, dilation, groups):
    """Each input element adds its kernel-weighted window into the output (the definition), then the crop."""
    n, cin = x.shape[:2]
    nd = x.ndim - 2
    cg, cout_g, kernel = cin // groups, w.shape[1], w.shape[2:]
    full = [(s - 1) * st + d * (k - 1) + 1 + e for s, st, d, k, e in zip(x.shape[2:], stride, dilation, kernel, extra)]
    y = np.zeros((n, groups * cout_g, *full))
    for g in range(groups):
        for pos in itertools.product(*(range(s) for s in x.shape[2:])):
            for tap in itertools.product(*(range(k) for k in kernel)):
                at = tuple(p * st + t * d for p, st, t, d in zip(pos, stride, tap, dilation))
                contrib = np.einsum("nc,co->no", x[(slice(None), slice(g * cg, (g + 1) * cg)) + pos],
                                    w[(slice(g * cg, (g + 1) * cg), slice(None)) + tap])
                y[(slice(None), slice(g * cout_g, (g + 1) * cout_g)) + at] += contrib
    y = y[(slice(None), slice(None)) + tuple(slice(lo, f - hi) for f, (lo, hi) in zip(full, pads))]
    return y + (b.reshape((1, -1) + (1,) * nd) if b is not None else 0)


CONV_T = [  # x shape, w shape, stride, pads, output_padding, dilation, groups, bias
    ((2, 3, 4), (3, 2, 3), (2,), ((1, 1),), (1,), (1,), 1, True),
    ((1, 4, 3, 4), (4, 3, 2, 3), (2, 1), ((0, 0), (1, 0)), (0, 0), (1, 2), 1, False),
    ((2, 4, 3, 3), (4, 1, 3, 3), (2, 2), ((1, 1), (1, 1)), (1, 0), (1, 1), 2, True),
    ((1, 2, 2, 2, 2), (2, 2, 2, 2, 2), (2, 2, 2), ((0, 0),) * 3, (0, 0, 0), (1, 1, 1), 1, False),
]


@pytest.mark.parametrize("xs,ws,stride,pads,extra,dilation,groups,bias", CONV_T)
def test_conv_transpose_is_the_scatter_of_its_definition_and_its_gradients_check(xs, ws, stride, pads, extra, dilation,
                                                                                  groups, bias):
    rng = np.random.default_rng(0)
    xv, wv = rng.normal(size=xs), rng.normal(size=ws)
    bv = rng.normal(size=ws[1] * groups) if bias else None
    x, w = gc.input("x", xs, gc.float64), gc.input("w", ws, gc.float64)
    b = gc.input("b", bv.shape, gc.float64) if bias else None
    y = gc.conv_transpose(x, w, b, stride=stride, padding=pads, output_padding=extra, dilation=dilation, groups=groups)
    feeds = dict(x=xv, w=wv) | (dict(b=bv) if bias else {})
    np.testing.assert_allclose(gc.evaluate(y, **feeds), _conv_transpose_np(xv, wv, bv, stride, pads, extra, dilation, groups),
                               rtol=1e-10, atol=1e-10)
    inputs = [xv, wv] + ([bv] if bias else [])
    report = gc.check_grad(lambda *t: gc.sum(gc.conv_transpose(t[0], t[1], t[2] if bias else None, stride=stride,
                                                               padding=pads, output_padding=extra, dilation=dilation,
                                                               groups=groups) ** 2), inputs)
    assert max(report.values()) < 1e-6, report


def _pool_np(x, kind, kernel, stride, pads, dilation, ceil, include_pad):
    """Direct loops: every output position's window over the (padded) input, with PyTorch's ceil_mode rule."""
    spatial, out_shape = x.shape[2:], []
    for n, k, st, d, (lo, hi) in zip(spatial, kernel, stride, dilation, pads):
        span = d * (k - 1) + 1
        room = n + lo + hi - span
        out = (-(-room // st) if ceil else room // st) + 1
        if ceil and (out - 1) * st >= n + lo:
            out -= 1
        out_shape.append(out)
    y = np.zeros(x.shape[:2] + tuple(out_shape))
    for pos in itertools.product(*(range(o) for o in out_shape)):
        values, count = [], 0
        for tap in itertools.product(*(range(k) for k in kernel)):
            at = [p * st - lo + t * d for p, st, (lo, _), t, d in zip(pos, stride, pads, tap, dilation)]
            inside = all(0 <= a < n for a, n in zip(at, spatial))
            in_pad = all(-lo <= a < n + hi for a, n, (lo, hi) in zip(at, spatial, pads))
            if inside:
                values.append(x[(slice(None), slice(None)) + tuple(at)])
            count += inside or (include_pad and in_pad)
        if kind == "max":
            y[(slice(None), slice(None)) + pos] = np.max(values, axis=0)
        else:
            y[(slice(None), slice(None)) + pos] = np.sum(values, axis=0) / count
    return y


POOLS = [  # kind, x shape, kernel, stride, pads, dilation, ceil_mode, count_include_pad
    ("avg", (1, 2, 7, 6), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), True, False),
    ("avg", (1, 2, 7, 6), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), True, True),
    ("avg", (2, 1, 6, 5), (2, 3), (2, 1), ((1, 0), (1, 1)), (2, 1), False, False),
    ("max", (1, 2, 7, 6), (3, 2), (2, 2), ((1, 1), (0, 1)), (1, 2), True, True),
    ("avg", (1, 1, 4, 4, 5), (2, 2, 3), (2, 2, 2), ((0, 0), (1, 1), (1, 1)), (1, 1, 1), True, False),
    ("max", (1, 1, 5), (2,), (2,), ((0, 0),), (1,), True, True),
]


@pytest.mark.parametrize("kind,xs,kernel,stride,pads,dilation,ceil,include_pad", POOLS)
def test_pool_options_match_direct_loops_and_their_gradients_check(kind, xs, kernel, stride, pads, dilation, ceil,
                                                                    include_pad):
    xv = np.random.default_rng(1).normal(size=xs)
    x = gc.input("x", xs, gc.float64)
    y = gc.pool(x, kind, kernel, stride, pads, dilation, ceil_mode=ceil, count_include_pad=include_pad)
    np.testing.assert_allclose(gc.evaluate(y, x=xv), _pool_np(xv, kind, kernel, stride, pads, dilation, ceil, include_pad),
                               rtol=1e-12, atol=1e-12)
    report = gc.check_grad(lambda t: gc.sum(gc.pool(t, kind, kernel, stride, pads, dilation, ceil_mode=ceil,
                                                    count_include_pad=include_pad) ** 2), [xv])
    assert max(report.values()) < 1e-6, report


@pytest.mark.parametrize("kind,xs,kernel,stride,pads,dilation,ceil,include_pad", [p for p in POOLS if p[0] == "max"])
@pytest.mark.parametrize("column_major", [False, True])
def test_max_pool_indices_point_at_each_windows_first_maximum(kind, xs, kernel, stride, pads, dilation, ceil, include_pad,
                                                              column_major):
    if column_major and len(xs) != 4:
        pytest.skip("column-major offsets are defined for 2-D pooling")
    xv = np.random.default_rng(2).normal(size=xs)
    x = gc.input("x", xs, gc.float64)
    got = gc.evaluate(gc.max_pool_indices(x, kernel, stride, pads, dilation, ceil, column_major=column_major), x=xv)
    values = gc.evaluate(gc.pool(x, "max", kernel, stride, pads, dilation, ceil_mode=ceil), x=xv)
    assert got.dtype == np.int64 and got.shape == values.shape
    spatial = xs[2:]
    for index in np.ndindex(*got.shape):
        n, c = index[:2]
        rest = int(got[index]) - (n * xs[1] + c) * int(np.prod(spatial))
        coords = np.unravel_index(rest, spatial, order="F" if column_major else "C")
        assert xv[(n, c) + tuple(coords)] == values[index]  # the maximum is where the index says
        # and it is the first maximum of its window in row-major window order
        starts = [o * st - lo for o, st, (lo, _) in zip(index[2:], stride, pads)]
        window = [tuple(s + t * d for s, t, d in zip(starts, tap, dilation)) for tap in np.ndindex(*kernel)]
        inside = [p for p in window if all(0 <= a < n_ for a, n_ in zip(p, spatial))]
        first = next(p for p in inside if xv[(n, c) + p] == values[index])
        assert tuple(int(a) for a in coords) == first


@pytest.mark.parametrize("mode", ["edge", "reflect", "wrap"])
def test_pad_modes_are_numpys_and_their_gradients_check(mode):
    xv = np.arange(12.0).reshape(3, 4)
    x = gc.input("x", (3, 4), gc.float64)
    for pads in [((1, 2), (2, 0)), ((2, 2), (3, 3)), ((0, 0), (0, 1))]:
        np.testing.assert_array_equal(gc.evaluate(gc.pad(x, pads, mode=mode), x=xv), np.pad(xv, pads, mode=mode))
    report = gc.check_grad(lambda t: gc.sum(gc.pad(t, ((1, 2), (2, 0)), mode=mode) ** 2), [xv])
    assert max(report.values()) < 1e-6
    with pytest.raises(gc.ShapeError, match="at most"):
        gc.pad(x, ((0, 0), (5, 0)), mode=mode)
