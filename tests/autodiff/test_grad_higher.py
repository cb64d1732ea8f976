"""Second- and higher-order derivatives: every VJP is built from graph ops, so gradients are
differentiated again like any graph.

- gradient of the gradient: `gc.check_grad` on sum(grad(f, x) * v) for a fixed random v (which
  checks the symbolic Hessian-vector product against finite differences of the symbolic gradient);
- Hessian-vector products against central differences of the first gradient, evaluated directly;
- the spec's form `gc.grad(gc.sum(gc.grad(f, x) ** 2), x)` and third derivatives against
  closed forms; Hessians of quadratic forms are exact and symmetric.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.interpreter import run

TOL = 1e-6
EPS = 1e-5


def rng(seed):
    return np.random.default_rng(seed)


def fixed(shape, seed=99):
    return rng(seed).standard_normal(shape)


def second_order(f, argnum=0, wrt2=None):
    """x -> sum(grad(f(*xs), xs[argnum]) * v): its gradient is the Hessian-vector product (rows of mixed
    partials for the other arguments)."""

    def fn(*xs):
        y = f(*xs)
        g = gc.grad(y, xs[argnum])
        return gc.sum(g * fixed(g.shape))

    return fn


def positive(shape, seed):
    return rng(seed).uniform(0.5, 2.0, shape)


def normal(shape, seed):
    return rng(seed).standard_normal(shape)


def away(shape, seed):
    r = rng(seed)
    return r.choice([-1.0, 1.0], size=shape) * r.uniform(0.2, 2.0, size=shape)


def distinct(shape, seed):
    n = int(np.prod(shape))
    r = rng(seed)
    return r.permutation((np.arange(n) - n / 2) * 0.1 + r.uniform(-0.02, 0.02, n)).reshape(shape)


W = fixed((3, 4), seed=5)

# name -> (f, input arrays); f returns a scalar
CASES = {
    # elementwise chains
    "sin_exp": (lambda x: gc.sum(gc.sin(x) * gc.exp(x) * W), [normal((3, 4), 1)]),
    "sigmoid": (lambda x: gc.sum(gc.sigmoid(x) * W), [normal((3, 4), 2)]),
    "tanh_of_sigmoid_times_x": (lambda x: gc.sum(gc.tanh(gc.sigmoid(x) * x) * W), [normal((3, 4), 3)]),
    "softplus_square": (lambda x: gc.sum(gc.square(gc.softplus(x)) * W), [normal((3, 4), 4)]),
    "log_sqrt_rsqrt": (lambda x: gc.sum((gc.log(x) * gc.sqrt(x) + gc.rsqrt(x)) * W), [positive((3, 4), 5)]),
    "rational": (lambda x: gc.sum(x ** 3 / (1.0 + x ** 2) * W + gc.reciprocal(x + 3.0)), [normal((3, 4), 6)]),
    "gelu_erf_expm1_log1p": (lambda x: gc.sum((gc.gelu(x) + gc.erf(x) * gc.expm1(x) + gc.log1p(x * x)) * W), [normal((3, 4), 7)]),
    "gelu_tanh_cos": (lambda x: gc.sum(gc.gelu(x, approximate="tanh") * gc.cos(x) * W), [normal((3, 4), 8)]),
    "elu_leaky_relu_abs": (lambda x: gc.sum((gc.elu(x) * gc.leaky_relu(x, alpha=0.2) + gc.abs(x) * x) * W), [away((3, 4), 9)]),
    "pow_two_tensors": (lambda a, b: gc.sum(a ** b * W), [positive((3, 4), 10), normal((3, 4), 11)]),
    "div_broadcast": (lambda a, b: gc.sum(gc.sin(a) / b * W), [normal((3, 4), 12), positive((4,), 13)]),
    "maximum_minimum": (lambda a, b: gc.sum(gc.maximum(a, b) ** 2 * W + gc.minimum(a * a, b)), [distinct((3, 4), 14), distinct((3, 4), 15) + 0.05]),
    "where": (lambda a, b: gc.sum(gc.where(a > 0.0, a ** 3, gc.exp(b)) * W), [away((3, 4), 16), normal((3, 4), 17)]),
    # reductions
    "mean_squared": (lambda x: gc.sum(gc.mean(x ** 3, 1) ** 2), [normal((3, 4), 18)]),
    "var_std_ddof1": (lambda x: gc.sum(gc.var(x, 1, ddof=1) ** 2) + gc.sum(gc.std(x, 0, ddof=1)), [normal((3, 4), 19)]),
    "prod": (lambda x: gc.sum(gc.prod(x, 1) * gc.sum(x, 1)), [positive((3, 4), 20)]),
    "max_min": (lambda x: gc.sum(gc.max(x, 1) ** 3) + gc.sum(gc.min(x, 0) ** 2), [distinct((3, 4), 21)]),
    # matmul
    "matmul_tanh": (lambda a, b: gc.sum(gc.tanh(a @ b) * fixed((3, 2), 22)), [normal((3, 4), 23), normal((4, 2), 24)]),
    "matmul_batched_sigmoid": (lambda a, b: gc.sum(gc.sigmoid(a @ b) ** 2), [normal((2, 3, 4), 25), normal((4, 2), 26)]),
    # softmax family
    "softmax": (lambda x: gc.sum(gc.softmax(x) * W), [normal((3, 4), 27)]),
    "log_softmax_axis0": (lambda x: gc.sum(gc.log_softmax(x, axis=0) * W), [normal((3, 4), 28)]),
    "logsumexp": (lambda x: gc.sum(gc.logsumexp(x, 1) ** 2), [normal((3, 4), 29)]),
    # convolution and pooling
    "conv2d_tanh": (lambda x, w: gc.sum(gc.tanh(gc.conv2d(x, w, stride=2, padding=1, groups=2))),
                    [normal((2, 4, 5, 5), 30), normal((4, 2, 3, 3), 31)]),
    "conv1d_dilated_square": (lambda x, w: gc.sum(gc.conv1d(x, w, dilation=2, padding="same") ** 2 * 0.1),
                              [normal((1, 2, 7), 32), normal((3, 2, 3), 33)]),
    "max_pool_of_square": (lambda x: gc.sum(gc.max_pool2d(x * x * x, 2) ** 2), [distinct((1, 2, 4, 4), 34)]),
    "avg_pool_of_sin": (lambda x: gc.sum(gc.sin(gc.avg_pool2d(gc.sin(x), 3, stride=2, padding=1))), [normal((1, 2, 5, 5), 35)]),
    # movement
    "take_concat_pad": (lambda x: gc.sum(gc.pad(gc.concat([gc.take(x, np.array([0, 2, 2]), 1), x], 1), 1) ** 3),
                        [normal((2, 3), 36)]),
    "slice_flip_stack": (lambda x: gc.sum(gc.sin(gc.stack([x[:, ::-1], gc.flip(x, 0)]) * x)), [normal((3, 3), 37)]),
}


def _mlp_loss(x, w1, w2):
    labels = np.array([0, 2, 1, 2])
    h = gc.tanh(x @ w1)
    return -gc.mean(gc.sum(gc.log_softmax(h @ w2) * gc.one_hot(labels, 3, dtype="float64"), 1))


CASES["mlp_cross_entropy"] = (_mlp_loss, [normal((4, 3), 38), normal((3, 5), 39), normal((5, 3), 40)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_of_gradient_matches_finite_differences(name):
    f, arrays = CASES[name]
    for argnum in range(len(arrays)):
        # d/d(all inputs) of sum(grad_argnum f * v): the Hessian-vector product and the mixed partials
        report = gc.check_grad(second_order(f, argnum), arrays, eps=EPS, tol=TOL)
        assert all(e <= TOL for e in report.values()), report


def _eval(outputs, xs, arrays):
    graph = gc.Graph([o.node for o in outputs])
    present = set(graph.inputs)
    env = run(graph, {x.node: a for x, a in zip(xs, arrays) if x.node in present}, {}, float64=True)
    return [env[o.node] for o in outputs]


@pytest.mark.parametrize("name", ["sin_exp", "tanh_of_sigmoid_times_x", "matmul_tanh", "softmax", "conv2d_tanh",
                                  "var_std_ddof1", "mlp_cross_entropy"])
def test_hessian_vector_product_matches_differences_of_the_gradient(name):
    f, arrays = CASES[name]
    xs = [gc.input(f"x{i}", a.shape, "float64") for i, a in enumerate(arrays)]
    y = f(*xs)
    grads = gc.grad(y, xs)
    vs = [fixed(a.shape, seed=50 + i) for i, a in enumerate(arrays)]
    inner = gc.sum(grads[0] * vs[0])
    for g, v in zip(grads[1:], vs[1:]):
        inner = inner + gc.sum(g * v)
    hvps = gc.grad(inner, xs)  # H @ v over all inputs jointly
    h = 1e-5
    plus = _eval(grads, xs, [a + h * v for a, v in zip(arrays, vs)])
    minus = _eval(grads, xs, [a - h * v for a, v in zip(arrays, vs)])
    got = _eval(hvps, xs, arrays)
    for p, m, hv in zip(plus, minus, got):
        fd = (p - m) / (2 * h)
        np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(fd).max()))
        assert np.abs(hv).max() > 1e-3  # not a vacuous comparison of zeros


def test_spec_form_grad_of_squared_gradient_norm():
    # f = sum(sin x) -> grad = cos x; sum(cos^2 x) -> gradient -2 sin x cos x = -sin 2x
    x = gc.input("x", (7,), "float64")
    g2 = gc.grad(gc.sum(gc.grad(gc.sum(gc.sin(x)), x) ** 2), x)
    xv = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(gc.evaluate(g2, x=xv), -np.sin(2 * xv), rtol=1e-12, atol=1e-14)
    # f = sum(x^3 * w) -> grad = 3 w x^2; sum(9 w^2 x^4) -> 36 w^2 x^3
    w = fixed((7,), seed=3)
    g2 = gc.grad(gc.sum(gc.grad(gc.sum(x ** 3 * w), x) ** 2), x)
    np.testing.assert_allclose(gc.evaluate(g2, x=xv), 36 * w ** 2 * xv ** 3, rtol=1e-12)


def test_spec_form_on_an_mlp_matches_finite_differences():
    # the gradient-penalty shape of loss: |d L / d x|^2 differentiated w.r.t. the weights and the input
    def penalty(x, w1, w2):
        return gc.sum(gc.grad(_mlp_loss(x, w1, w2), x) ** 2)

    gc.check_grad(penalty, CASES["mlp_cross_entropy"][1], eps=EPS, tol=TOL)


def test_third_derivatives_closed_forms():
    x = gc.input("x", (9,), "float64")
    xv = np.linspace(-4, 4, 9)
    d1 = gc.grad(gc.sum(gc.sin(x)), x)
    d2 = gc.grad(gc.sum(d1), x)
    d3 = gc.grad(gc.sum(d2), x)
    np.testing.assert_allclose(gc.evaluate([d1, d2, d3], x=xv), [np.cos(xv), -np.sin(xv), -np.cos(xv)], atol=1e-14)
    # sigmoid: s' = s(1-s), s'' = s(1-s)(1-2s), s''' = s(1-s)(1-6s+6s^2), all through stated y-forms
    s = 1 / (1 + np.exp(-xv))
    e1 = gc.grad(gc.sum(gc.sigmoid(x)), x)
    e2 = gc.grad(gc.sum(e1), x)
    e3 = gc.grad(gc.sum(e2), x)
    np.testing.assert_allclose(gc.evaluate([e1, e2, e3], x=xv),
                               [s * (1 - s), s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s * s)], atol=1e-14)
    # tanh: t' = 1 - t^2, t'' = -2t(1 - t^2), t''' = (1 - t^2)(6t^2 - 2)
    t = np.tanh(xv)
    f1 = gc.grad(gc.sum(gc.tanh(x)), x)
    f2 = gc.grad(gc.sum(f1), x)
    f3 = gc.grad(gc.sum(f2), x)
    np.testing.assert_allclose(gc.evaluate([f1, f2, f3], x=xv),
                               [1 - t * t, -2 * t * (1 - t * t), (1 - t * t) * (6 * t * t - 2)], atol=1e-13)


def test_hessian_of_a_quadratic_form_is_exact_and_symmetric():
    a = fixed((4, 4), seed=11)
    b = fixed((4,), seed=12)
    x = gc.input("x", (4,), "float64")
    f = gc.sum(x * gc.matmul(a, x)) + gc.sum(b * x)        # H = A + A^T, grad = (A + A^T) x + b
    g = gc.grad(f, x)
    xv = fixed((4,), seed=13)
    np.testing.assert_allclose(gc.evaluate(g, x=xv), (a + a.T) @ xv + b, rtol=1e-12)
    rows = [gc.grad(g[i], x) for i in range(4)]             # Hessian row by row (grad of a gradient component)
    hess = np.stack([np.asarray(gc.evaluate(r, x=xv) if gc.graph(r).inputs else gc.evaluate(r)) for r in rows])
    np.testing.assert_allclose(hess, a + a.T, rtol=1e-12)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12)


def test_hessian_of_log_sum_exp_is_diag_p_minus_p_p_transpose():
    x = gc.input("x", (5,), "float64")
    g = gc.grad(gc.logsumexp(x), x)
    xv = fixed((5,), seed=14) * 3
    p = np.exp(xv - xv.max())
    p /= p.sum()
    hess = np.stack([gc.evaluate(gc.grad(g[i], x), x=xv) for i in range(5)])
    np.testing.assert_allclose(hess, np.diag(p) - np.outer(p, p), atol=1e-14)


def test_second_order_through_mean_uses_the_incoming_cotangent():
    # mean's VJP is an expr node in the cotangent symbol g; its own VJP must not confuse its input with
    # the new cotangent (a regression: the random v below made the two differ)
    x = gc.input("x", (3, 4), "float64")
    v = fixed((3, 4), seed=15)
    inner = gc.sum(gc.grad(gc.mean(x ** 3), x) * v)        # = sum(3 x^2 v) / 12
    hv = gc.grad(inner, x)
    xv = fixed((3, 4), seed=16)
    np.testing.assert_allclose(gc.evaluate(hv, x=xv), 6 * xv * v / 12, rtol=1e-12)
