"""graphc.losses against NumPy formulas: regression losses, binary and categorical cross-entropy (stable at
logits of magnitude 1e3, values and gradients), NLL, KL and distillation, L1/L2 penalties, reductions."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import losses as L

from tests.support import BACKENDS
rng = np.random.default_rng(0)


def np_logsumexp(z, axis=-1):
    m = z.max(axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis, keepdims=True))).squeeze(axis)


def np_log_softmax(z, axis=-1):
    return z - np.expand_dims(np_logsumexp(z, axis), axis)


def evaluate(outputs, backend="reference", **feeds):
    return gc.compile(outputs, backend=backend)(**feeds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_losses_and_reductions(backend):
    P, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)) * 2
    p, y = gc.input("p", (None, 3), gc.float64), gc.input("y", (None, 3), gc.float64)
    d = P - Y
    huber = np.where(np.abs(d) <= 0.7, 0.5 * d ** 2, 0.7 * (np.abs(d) - 0.35))
    cases = [
        (L.mse(p, y), np.mean(d ** 2)),
        (L.mse(p, y, half=True), np.mean(d ** 2) / 2),          # the (1/2n)Σ(y − ŷ)² convention
        (L.mse(p, y, reduction="sum"), np.sum(d ** 2)),
        (L.mse(p, y, reduction="none"), d ** 2),
        (L.mae(p, y), np.mean(np.abs(d))),
        (L.mae(p, y, reduction="sum"), np.sum(np.abs(d))),
        (L.huber(p, y, delta=0.7), np.mean(huber)),
        (L.huber(p, y, delta=0.7, reduction="none"), huber),
    ]
    got = evaluate([c[0] for c in cases], backend, p=P, y=Y)
    for g, (_, want) in zip(got, cases):
        np.testing.assert_allclose(g, want, rtol=1e-12)
    assert np.abs(d).min() < 0.7 < np.abs(d).max()  # both Huber branches are exercised
    with pytest.raises(ValueError, match="reduction"):
        L.mse(p, y, reduction="avg")


def test_half_mse_gradient_is_the_residual():
    w = gc.param("w", np.array([0.5, -1.0]), dtype=gc.float64)
    x, y = gc.input("x", (None, 2), gc.float64), gc.input("y", (None,), gc.float64)
    X, Y = rng.standard_normal((5, 2)), rng.standard_normal(5)
    g = evaluate(gc.grad(L.mse(x @ w, y, half=True), w), x=X, y=Y)
    np.testing.assert_allclose(g, X.T @ (X @ w.value - Y) / 5, rtol=1e-12)  # course example 7: (1/n)Σ(ŷ − y)x


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_cross_entropy_on_probabilities_and_logits(backend):
    Z = rng.standard_normal(6) * 3
    Q = 1 / (1 + np.exp(-Z))
    T = np.array([0, 1, 1, 0, 1, 0.3])
    q, z, t = gc.input("q", (6,), gc.float64), gc.input("z", (6,), gc.float64), gc.input("t", (6,), gc.float64)
    want = -(T * np.log(Q) + (1 - T) * np.log(1 - Q))
    got = evaluate([L.binary_cross_entropy(q, t, reduction="none"), L.binary_cross_entropy_with_logits(z, t, reduction="none"),
                    L.binary_cross_entropy(gc.sigmoid(z), t), L.binary_cross_entropy_with_logits(z, t, reduction="sum")],
                   backend, q=Q, z=Z, t=T)
    np.testing.assert_allclose(got[0], want, rtol=1e-9)
    np.testing.assert_allclose(got[1], want, rtol=1e-9)
    np.testing.assert_allclose(got[2], want.mean(), rtol=1e-9)
    np.testing.assert_allclose(got[3], want.sum(), rtol=1e-9)
    # probabilities at exactly 0 and 1 are clipped: finite loss and gradient
    edge = L.binary_cross_entropy(q, t)
    v, g = evaluate([edge, gc.grad(edge, q)], backend, q=np.array([0, 1, 0.5, 1, 0, 0.2]), t=T)
    assert np.isfinite(v) and np.all(np.isfinite(g))


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_cross_entropy_from_logits_is_stable_at_magnitude_1e3(backend):
    Z = np.array([1e3, -1e3, 1e3, -1e3, 0.0], np.float32)
    T = np.array([0, 1, 1, 0, 1], np.float32)
    z, t = gc.input("z", (5,)), gc.input("t", (5,))
    loss = L.binary_cross_entropy_with_logits(z, t, reduction="none")
    via_sigmoid = L.binary_cross_entropy(gc.sigmoid(z), t, reduction="none")
    val, val2, g = evaluate([loss, via_sigmoid, gc.grad(gc.sum(loss), z)], backend, z=Z, t=T)
    z64 = Z.astype(np.float64)
    want = np.logaddexp(0, z64) - T * z64  # log(1 + e^z) − t·z
    np.testing.assert_allclose(val, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(val2, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g, 0.5 * (1 + np.tanh(z64 / 2)) - T, atol=1e-6)  # σ(z) − t


def _labels_and_logits(scale=1.0):
    Z = rng.standard_normal((5, 4)) * scale
    Y = np.array([0, 3, 1, 1, 2])
    return Z, Y


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_with_labels_one_hot_and_soft_targets(backend):
    Z, Y = _labels_and_logits(3.0)
    soft = rng.dirichlet(np.ones(4), 5)
    z = gc.input("z", (None, 4), gc.float64)
    y = gc.input("y", (None,), gc.int64)
    s = gc.input("s", (None, 4), gc.float64)
    lsm = np_log_softmax(Z)
    per_row = -lsm[np.arange(5), Y]
    outs = [L.cross_entropy(z, y), L.cross_entropy(z, y, reduction="none"), L.cross_entropy(z, gc.one_hot(y, 4, gc.float64)),
            L.cross_entropy(z, s, reduction="sum"), L.nll(gc.log_softmax(z), y), L.cross_entropy(z, y, label_smoothing=0.1),
            L.accuracy(z, y)]
    got = evaluate(outs, backend, z=Z, y=Y, s=soft)
    np.testing.assert_allclose(got[0], per_row.mean(), rtol=1e-12)
    np.testing.assert_allclose(got[1], per_row, rtol=1e-12)
    np.testing.assert_allclose(got[2], per_row.mean(), rtol=1e-12)
    np.testing.assert_allclose(got[3], -(soft * lsm).sum(), rtol=1e-12)
    np.testing.assert_allclose(got[4], per_row.mean(), rtol=1e-12)
    smooth = 0.9 * np.eye(4)[Y] + 0.1 / 4
    np.testing.assert_allclose(got[5], -(smooth * lsm).sum(1).mean(), rtol=1e-12)
    np.testing.assert_allclose(got[6], np.mean(Z.argmax(1) == Y))


def test_cross_entropy_along_a_class_axis_other_than_the_last():
    Z, Y = rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))
    got = evaluate(L.cross_entropy(gc.const(Z), gc.const(Y), axis=1, reduction="none"))
    np.testing.assert_allclose(got, -np.take_along_axis(np_log_softmax(Z, 1), Y[:, None], 1)[:, 0], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_is_stable_at_logits_of_magnitude_1e3(backend):
    Z = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 999.0], [1e3, 1e3, -1e3]], np.float32)
    Y = np.array([1, 2, 0])
    z, y = gc.input("z", (None, 3)), gc.input("y", (None,), gc.int64)
    loss = L.cross_entropy(z, y, reduction="sum")
    val, g = evaluate([loss, gc.grad(loss, z)], backend, z=Z, y=Y)
    z64 = Z.astype(np.float64)
    want = -np_log_softmax(z64)[np.arange(3), Y].sum()   # 2000 + (1 + log(1 + e^-1)) + log 2
    assert np.isfinite(val) and np.all(np.isfinite(g))
    np.testing.assert_allclose(val, want, rtol=1e-6)
    p = np.exp(np_log_softmax(z64))
    np.testing.assert_allclose(g, p - np.eye(3)[Y], atol=1e-6)  # softmax − one-hot


@pytest.mark.parametrize("backend", BACKENDS)
def test_kl_divergence_and_distillation(backend):
    S, T = rng.standard_normal((3, 5)) * 2, rng.standard_normal((3, 5)) * 2
    s, t = gc.input("s", (None, 5), gc.float64), gc.input("t", (None, 5), gc.float64)
    temp = 3.0
    lp, lq = np_log_softmax(T / temp), np_log_softmax(S / temp)
    kl_rows = (np.exp(lp) * (lp - lq)).sum(1)
    P1, Q1 = np.exp(np_log_softmax(T)), np.exp(np_log_softmax(S))
    loss = L.distillation(s, t, temperature=temp)
    outs = [L.kl_div(t, s, temperature=temp, reduction="none"), loss, L.kl_div(s, s),
            L.kl_divergence(gc.softmax(t), gc.softmax(s), reduction="sum"), gc.grad(loss, s), gc.grad(loss, t)]
    got = evaluate(outs, backend, s=S, t=T)
    np.testing.assert_allclose(got[0], kl_rows, rtol=1e-10)
    np.testing.assert_allclose(got[1], temp ** 2 * kl_rows.mean(), rtol=1e-10)
    np.testing.assert_allclose(got[2], 0, atol=1e-12)
    np.testing.assert_allclose(got[3], (P1 * np.log(P1 / Q1)).sum(), rtol=1e-10)
    # d/ds of T²·KL(p‖q(s/T)) = T·(q − p)/n; no gradient reaches the teacher
    np.testing.assert_allclose(got[4], temp * (np.exp(lq) - np.exp(lp)) / 3, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(got[5], 0)


def test_kl_divergence_ignores_zero_probability_terms():
    P = np.array([[0.5, 0.5, 0.0]])
    Q = np.array([[0.25, 0.25, 0.5]])
    got = evaluate(L.kl_divergence(gc.const(P), gc.const(Q)))
    np.testing.assert_allclose(got, np.log(2), rtol=1e-12)


def test_penalties_exclude_biases_by_default():
    W = gc.param("W", rng.standard_normal((3, 2)), dtype=gc.float64)
    K = gc.param("K", rng.standard_normal((2, 1, 2, 2)), dtype=gc.float64)
    b = gc.param("b", rng.standard_normal(2), dtype=gc.float64)
    ps = [W, K, b]
    w2 = (W.value ** 2).sum() + (K.value ** 2).sum()
    w1 = np.abs(W.value).sum() + np.abs(K.value).sum()
    got = evaluate([L.l2_penalty(ps), L.l2_penalty(ps, coef=0.1, half=True), L.l1_penalty(ps, 0.5),
                    L.l2_penalty(ps, include_bias=True), L.l1_penalty(ps, include_bias=True), L.l2_penalty([b])])
    np.testing.assert_allclose(got[:5], [w2, 0.05 * w2, 0.5 * w1, w2 + (b.value ** 2).sum(), w1 + np.abs(b.value).sum()],
                               rtol=1e-12)
    assert got[5] == 0
    g = evaluate(gc.grad(L.l2_penalty(ps, coef=0.1), [W, b]))
    np.testing.assert_allclose(g[0], 0.2 * W.value, rtol=1e-12)
    np.testing.assert_array_equal(g[1], 0)  # the bias is not penalised


def test_loss_gradients_match_finite_differences():
    z = gc.input("z", (3, 4), gc.float64)
    p = gc.input("p", (3, 4), gc.float64)
    Y = np.array([1, 0, 3])
    for loss in [L.cross_entropy(z, Y) + L.huber(z, p, 0.5) + L.mae(z, p),
                 L.binary_cross_entropy_with_logits(z, gc.sigmoid(p)) + L.distillation(z, rng.standard_normal((3, 4)), 2.0),
                 L.binary_cross_entropy(gc.softmax(z), gc.sigmoid(p))]:
        gc.check_grad(loss, {z: rng.standard_normal((3, 4)), p: rng.standard_normal((3, 4))})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["cross_entropy", "nll", "accuracy"])
def test_class_labels_are_checked_at_every_call_and_named(backend, loss):
    z = gc.input("z", (None, 3))
    y = gc.input("y", (None,), gc.int64)
    fn = getattr(gc.losses, loss)
    f = gc.compile(fn(gc.log_softmax(z) if loss == "nll" else z, y), backend=backend)  # accuracy takes labels too
    logits = np.array([[1, 2, 3], [1, 0, 0]], np.float32)
    ok = f(z=logits, y=np.array([2, 0]))
    for bad in ([3, 0], [-1, 0]):
        with pytest.raises(gc.errors.IndexRangeError, match=rf"{loss}: class labels must be in \[0, 3\)"):
            f(z=logits, y=np.array(bad))
    column = gc.input("yc", (None, 1), gc.int64)  # an (N, 1) integer column is a column of labels
    g = gc.compile(fn(gc.log_softmax(z) if loss == "nll" else z, column), backend=backend)
    np.testing.assert_allclose(g(z=logits, yc=np.array([[2], [0]])), ok, rtol=1e-6)


def test_float_labels_and_wrong_label_shapes_are_refused_naming_the_target():
    z = gc.input("z", (None, 3))
    with pytest.raises(gc.ShapeError, match=r"cross_entropy: float targets must have the logits' shape .* labels.astype"):
        gc.losses.cross_entropy(z, gc.input("yf", (None,)))
    with pytest.raises(gc.ShapeError, match=r"cross_entropy: integer labels must have shape \(None,\)"):
        gc.losses.cross_entropy(z, gc.input("y2", (None, 2), gc.int64))


def test_accuracy_takes_one_hot_targets_and_refuses_a_wrong_class_axis():
    z = gc.input("z", (None, 3))
    hot = gc.input("hot", (None, 3))
    f = gc.compile(gc.losses.accuracy(z, hot), backend="numpy")
    logits = np.array([[1, 2, 3], [1, 0, 0], [0, 5, 0]], np.float32)
    assert f(z=logits, hot=np.eye(3, dtype=np.float32)[[2, 1, 1]]) == pytest.approx(2 / 3)
    with pytest.raises(gc.ShapeError, match="accuracy: the class axis 2 is out of range"):
        gc.losses.accuracy(z, gc.input("y", (None,), gc.int64), axis=2)
    with pytest.raises(gc.ShapeError, match="axis 5 is out of range for rank 2"):  # never wrapped to axis 1
        gc.losses.cross_entropy(z, gc.input("y", (None,), gc.int64), axis=5)
