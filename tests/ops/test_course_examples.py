"""Known answers: the worked examples of a deep-learning course (their published answers),
and the convolution output-size formula checked against graphc's shape rules over a grid."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy

import graphc as gc

# -- 1. 2-D convolution (valid, stride 1, no kernel flip) ---------------------------------------
IMAGE_7x7 = np.array([
    [0, 1, 1, 1, 0, 0, 0],
    [0, 0, 1, 1, 1, 0, 0],
    [0, 0, 0, 1, 1, 1, 0],
    [0, 0, 0, 1, 1, 0, 0],
    [0, 0, 1, 1, 0, 0, 0],
    [0, 1, 1, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0, 0],
], np.float32)
KERNEL_3x3 = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
ANSWER_5x5 = np.array([
    [1, 4, 3, 4, 1],
    [1, 2, 4, 3, 3],
    [1, 2, 3, 4, 1],
    [1, 3, 3, 1, 1],
    [3, 3, 1, 1, 0],
], np.float32)


def test_conv2d_7x7_known_answer():
    x = gc.input("img", (None, 1, 7, 7))
    w = gc.param("k", KERNEL_3x3.reshape(1, 1, 3, 3))
    y = gc.conv2d(x, w)
    assert y.shape[1:] == (1, 5, 5)
    out = gc.compile(y)(img=IMAGE_7x7.reshape(1, 1, 7, 7))
    np.testing.assert_array_equal(out[0, 0], ANSWER_5x5)


def test_conv2d_7x7_batch_and_padding_valid_agree():
    x = gc.input("img", (None, 1, 7, 7))
    k = gc.const(KERNEL_3x3.reshape(1, 1, 3, 3))
    f = gc.compile([gc.conv2d(x, k), gc.conv2d(x, k, padding="valid")])
    batch = np.stack([IMAGE_7x7, IMAGE_7x7.T])[:, None]
    a, b = f(img=batch)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0, 0], ANSWER_5x5)
    np.testing.assert_array_equal(a[1, 0], ANSWER_5x5.T)  # the kernel is symmetric under transposition


# -- 2. max pooling ---------------------------------------------------------------------------
def test_max_pool_4x4_known_answer():
    x = gc.input("x", (1, 1, 4, 4))
    y = gc.max_pool2d(x, 2, 2)
    a = np.array([[1, 2, 3, 1], [1, 1, 1, 1], [2, 3, 1, 6], [8, 1, 4, 5]], np.float32)
    out = gc.evaluate(y, x=a.reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(out[0, 0], [[2, 3], [8, 6]])
    # stride defaults to the kernel size
    np.testing.assert_array_equal(gc.evaluate(gc.max_pool2d(x, 2), x=a.reshape(1, 1, 4, 4))[0, 0], [[2, 3], [8, 6]])


# -- 3. 1-D convolution and stride -------------------------------------------------------------
@pytest.mark.parametrize("stride, answer", [(1, [-20, 20, -20, 20]), (2, [-20, -20])])
def test_conv1d_stride_known_answer(stride, answer):
    x = gc.input("x", (1, 1, 5))
    w = gc.const(np.array([10, -10], np.float32).reshape(1, 1, 2))
    y = gc.conv1d(x, w, stride=stride)
    assert y.shape == (1, 1, len(answer))
    out = gc.evaluate(y, x=np.array([-1, 1, -1, 1, -1], np.float32).reshape(1, 1, 5))
    np.testing.assert_array_equal(out[0, 0], answer)


# -- 4. LeNet-5: parameters and activation sizes -------------------------------------------------
def test_lenet5_parameter_and_activation_counts():
    rng = np.random.default_rng(0)

    def p(name, *shape):
        return gc.param(name, rng.normal(0, 0.1, shape).astype(np.float32))

    x = gc.input("x", (None, 1, 32, 32))
    c1w, c1b = p("c1w", 6, 1, 5, 5), p("c1b", 6)
    c3w, c3b = p("c3w", 16, 6, 5, 5), p("c3b", 16)
    c5w, c5b = p("c5w", 400, 120), p("c5b", 120)
    f6w, f6b = p("f6w", 120, 84), p("f6b", 84)
    ow, ob = p("ow", 84, 10), p("ob", 10)
    a1 = gc.tanh(gc.conv2d(x, c1w, c1b))
    a2 = gc.max_pool2d(a1, 2)
    a3 = gc.tanh(gc.conv2d(a2, c3w, c3b))
    a4 = gc.max_pool2d(a3, 2)
    flat = a4.reshape(-1, 400)
    a5 = gc.tanh(flat @ c5w + c5b)
    a6 = gc.tanh(a5 @ f6w + f6b)
    out = a6 @ ow + ob
    sizes = [int(np.prod(t.shape[1:])) for t in (a1, a2, a3, a4, a5, a6, out)]
    assert sizes == [4704, 1176, 1600, 400, 120, 84, 10]
    assert a1.shape[1:] == (6, 28, 28) and a2.shape[1:] == (6, 14, 14)
    assert a3.shape[1:] == (16, 10, 10) and a4.shape[1:] == (16, 5, 5)
    layer_params = [int(w.value.size + b.value.size) for w, b in [(c1w, c1b), (c3w, c3b), (c5w, c5b), (f6w, f6b), (ow, ob)]]
    assert layer_params == [156, 2416, 48120, 10164, 850]
    graph = gc.graph(out)
    assert sum(n.attrs["var"].value.size for n in graph.params) == 61706
    res = gc.compile(out)(x=rng.normal(size=(2, 1, 32, 32)).astype(np.float32))
    assert res.shape == (2, 10) and np.all(np.isfinite(res))


# -- the output-size formula floor((W + 2p - k)/s) + 1 (with dilation: k -> d(k-1) + 1) -------
def formula(w, k, p, s, d=1):
    span = d * (k - 1) + 1
    return (w + 2 * p - span) // s + 1


GRID = [(w, k, p, s, d) for w, k, p, s, d in itertools.product(range(4, 12), (1, 2, 3, 5), (0, 1, 2), (1, 2, 3), (1, 2))
        if w + 2 * p >= d * (k - 1) + 1]


def test_conv_output_size_formula_grid():
    assert len(GRID) > 300
    for w, k, p, s, d in GRID:
        x = gc.input("x", (1, 1, w, w + 1))
        kern = gc.input("kern", (1, 1, k, k))
        y = gc.conv2d(x, kern, stride=s, padding=p, dilation=d)
        assert y.shape == (1, 1, formula(w, k, p, s, d), formula(w + 1, k, p, s, d)), (w, k, p, s, d)


def test_conv_output_size_formula_per_axis_attrs():
    for (h, w), (kh, kw), (ph, pw), (sh, sw), (dh, dw) in [((9, 7), (3, 2), (1, 0), (2, 1), (1, 2)),
                                                          ((10, 11), (5, 3), (2, 1), (3, 2), (2, 1)),
                                                          ((6, 6), (1, 4), (0, 2), (1, 3), (1, 1))]:
        x = gc.input("x", (2, 3, h, w))
        kern = gc.input("kern", (4, 3, kh, kw))
        y = gc.conv2d(x, kern, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
        assert y.shape == (2, 4, formula(h, kh, ph, sh, dh), formula(w, kw, pw, sw, dw))


@pytest.mark.parametrize("w, k, p, s, d", [g for g in GRID if g[0] in (5, 8, 11) and g[1] != 1][::3])
def test_conv_output_size_formula_evaluated(w, k, p, s, d):
    """The evaluated result has the formula's size too (and the shape rule agrees with it)."""
    x = gc.input("x", (1, 1, w))
    kern = gc.const(np.ones((1, 1, k), np.float32))
    y = gc.conv1d(x, kern, stride=s, padding=p, dilation=d)
    out = gc.evaluate(y, x=np.arange(w, dtype=np.float32).reshape(1, 1, w))
    n = formula(w, k, p, s, d)
    assert out.shape == y.shape == (1, 1, n)
    padded = np.concatenate([np.zeros(p), np.arange(w), np.zeros(p)])
    want = [sum(padded[i * s + j * d] for j in range(k)) for i in range(n)]
    np.testing.assert_allclose(out[0, 0], want)


def test_conv_output_size_formula_symbolic_dims():
    """With symbolic spatial dims the shape rule is the formula, exactly, for every size."""
    H = sympy.Symbol("H", integer=True, positive=True)
    for k, p, s in [(3, 1, 2), (5, 0, 1), (2, 2, 3)]:
        x = gc.input("x", (None, 1, "H", 8))
        kern = gc.const(np.ones((1, 1, k, k), np.float32))
        y = gc.conv2d(x, kern, stride=s, padding=p)
        assert y.shape[3] == formula(8, k, p, s)
        for h in range(max(k - 2 * p, 1), 20):
            assert int(sympy.sympify(y.shape[2]).subs(H, h)) == formula(h, k, p, s), (k, p, s, h)
        h = 13
        out = gc.evaluate(y, x=np.zeros((2, 1, h, 8), np.float32))
        assert out.shape == (2, 1, formula(h, k, p, s), formula(8, k, p, s))
