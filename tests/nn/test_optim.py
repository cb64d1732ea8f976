"""graphc.optim: each optimiser's first steps against its published update formula computed by hand in
NumPy, clipping, weight decay, schedules (in-graph and host-fed), freezing, state tensors, and the
perceptron rule as custom updates (course example 5: learns OR, never converges on XOR)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc import optim

from tests.support import BACKENDS
RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 3))
Y = RNG.standard_normal(6) * 2
W0, B0 = np.array([0.5, -0.3, 0.8]), np.array([0.1])


def grads(w, b):
    """d/dw, d/db of mean((Xw + b − y)²)."""
    r = X @ w + b - Y
    return [2 * X.T @ r / len(Y), np.array([2 * r.mean()])]


def graphc_steps(make_opt, backend, n=3, feed=False):
    w = gc.param("w", W0, dtype=gc.float64)
    b = gc.param("b", B0, dtype=gc.float64)
    x, y = gc.input("x", (None, 3), gc.float64), gc.input("y", (None,), gc.float64)
    loss = gc.mean(gc.square(x @ w + b - y))
    opt = make_opt([w, b])
    step = gc.compile(loss, updates=opt.updates(loss), backend=backend)
    if feed:
        step = opt.wrap(step)
    out = []
    for _ in range(n):
        step(x=X, y=Y)
        out.append([w.value.copy(), b.value.copy()])
    return out, opt


def numpy_steps(rule, n=3):
    """rule(params, grads, state, t) -> new params, with t = 1, 2, ... the step number."""
    ps, state, out = [W0.copy(), B0.copy()], {}, []
    for t in range(1, n + 1):
        ps = rule(ps, grads(*ps), state, t)
        out.append([p.copy() for p in ps])
    return out


def assert_trajectories(got, want, rtol=1e-7):
    for step, (g, w) in enumerate(zip(got, want)):
        for gp, wp in zip(g, w):
            np.testing.assert_allclose(gp, wp, rtol=rtol, atol=1e-12, err_msg=f"step {step + 1}")
    assert not np.allclose(got[0][0], W0)  # the parameters did move


def slots(state, key, ps):
    return state.setdefault(key, [np.zeros_like(p) for p in ps])


def sgd_rule(lr, wd=0.0):
    return lambda ps, gs, st, t: [p - lr * (g + wd * p) for p, g in zip(ps, gs)]


def momentum_rule(lr, mu, nesterov):
    def rule(ps, gs, st, t):
        v = slots(st, "v", ps)
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            v[i] = mu * v[i] + g
            out.append(p - lr * (g + mu * v[i] if nesterov else v[i]))
        return out
    return rule


def adagrad_rule(lr, eps=1e-10):
    def rule(ps, gs, st, t):
        G = slots(st, "G", ps)
        for i, g in enumerate(gs):
            G[i] = G[i] + g * g
        return [p - lr * g / (np.sqrt(G_) + eps) for p, g, G_ in zip(ps, gs, G)]
    return rule


def rmsprop_rule(lr, alpha, eps=1e-8, mu=0.0):
    def rule(ps, gs, st, t):
        s, buf = slots(st, "s", ps), slots(st, "buf", ps)
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            s[i] = alpha * s[i] + (1 - alpha) * g * g
            buf[i] = mu * buf[i] + g / (np.sqrt(s[i]) + eps)
            out.append(p - lr * buf[i])
        return out
    return rule


def adam_rule(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    def rule(ps, gs, st, t):
        m, v = slots(st, "m", ps), slots(st, "v", ps)
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            if wd and not decoupled:
                g = g + wd * p
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat, vhat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)  # bias correction
            step = mhat / (np.sqrt(vhat) + eps)
            out.append(p - lr * (step + wd * p) if decoupled else p - lr * step)
        return out
    return rule


OPTIMISERS = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.05), sgd_rule(0.05)),
    "sgd-weight-decay": (lambda ps: optim.SGD(ps, lr=0.05, weight_decay=0.1), sgd_rule(0.05, 0.1)),
    "momentum": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), momentum_rule(0.05, 0.9, False)),
    "nesterov": (lambda ps: optim.Nesterov(ps, lr=0.05, momentum=0.8), momentum_rule(0.05, 0.8, True)),
    "adagrad": (lambda ps: optim.AdaGrad(ps, lr=0.3), adagrad_rule(0.3)),
    "rmsprop": (lambda ps: optim.RMSProp(ps, lr=0.01, alpha=0.9), rmsprop_rule(0.01, 0.9)),
    "rmsprop-momentum": (lambda ps: optim.RMSProp(ps, lr=0.01, alpha=0.9, momentum=0.5), rmsprop_rule(0.01, 0.9, mu=0.5)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.1), adam_rule(0.1)),
    "adam-l2": (lambda ps: optim.Adam(ps, lr=0.1, betas=(0.8, 0.99), weight_decay=0.5), adam_rule(0.1, 0.8, 0.99, wd=0.5)),
    "adamw": (lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5), adam_rule(0.1, wd=0.5, decoupled=True)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_first_steps_match_the_published_update_rule(name, backend):
    make, rule = OPTIMISERS[name]
    got, opt = graphc_steps(make, backend)
    assert_trajectories(got, numpy_steps(rule))
    assert opt.step.value == 3


def test_adam_and_adamw_differ_and_adam_moments_are_state_tensors():
    adam_l2, _ = graphc_steps(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.5), "numpy")
    adamw, opt = graphc_steps(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5), "numpy")
    assert not np.allclose(adam_l2[-1][0], adamw[-1][0])
    state = opt.state()
    assert all(not s.trainable and s.variable.role == "state" for s in state)
    assert state[0] is opt.step and state[0].dtype == np.int64
    names = [s.variable.name for s in state]
    assert names[0] == f"{opt.name}/step" and f"{opt.name}/w/m" in names and f"{opt.name}/b/v" in names
    # the first moment after 3 steps, by hand: m3 = Σ_k 0.1·0.9^(3−k)·g_k (AdamW: no decay in g)
    traj = numpy_steps(adam_rule(0.1, wd=0.5, decoupled=True))
    ps = [[W0, B0]] + traj[:-1]
    m = sum(0.1 * 0.9 ** (2 - k) * grads(*ps[k])[0] for k in range(3))
    np.testing.assert_allclose(state[names.index(f"{opt.name}/w/m")].value, m, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_clipping_by_global_norm_and_by_value(backend):
    def clip_norm_rule(ps, gs, st, t):
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
        assert norm > 0.5  # the clip is active
        scale = min(1.0, 0.5 / (norm + 1e-6))
        return [p - 0.1 * g * scale for p, g in zip(ps, gs)]

    got, opt = graphc_steps(lambda ps: optim.SGD(ps, lr=0.1, clip_norm=0.5), backend)
    assert_trajectories(got, numpy_steps(clip_norm_rule))

    def clip_value_rule(ps, gs, st, t):
        assert max(np.abs(g).max() for g in gs) > 0.3
        return [p - 0.1 * np.clip(g, -0.3, 0.3) for p, g in zip(ps, gs)]

    got, _ = graphc_steps(lambda ps: optim.SGD(ps, lr=0.1, clip_value=0.3), backend)
    assert_trajectories(got, numpy_steps(clip_value_rule))
    # the global norm (before clipping) is a tensor the step can return
    w = gc.param("w", W0, dtype=gc.float64)
    x, y = gc.input("x", (None, 3), gc.float64), gc.input("y", (None,), gc.float64)
    loss = gc.mean(gc.square(x @ w + B0 - y))
    opt = optim.SGD([w], lr=0.1, clip_norm=0.5)
    opt.updates(loss)
    np.testing.assert_allclose(gc.compile(opt.grad_norm, backend=backend)(x=X, y=Y), np.linalg.norm(grads(W0, B0)[0]), rtol=1e-12)
    # below the threshold, clipping by norm changes nothing
    got, _ = graphc_steps(lambda ps: optim.SGD(ps, lr=0.1, clip_norm=1e3), backend)
    assert_trajectories(got, numpy_steps(sgd_rule(0.1)))


SCHEDULES = {
    "step": (lambda: optim.StepLR(0.1, step_size=2, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 2)),
    "exponential": (lambda: optim.ExponentialLR(0.1, gamma=0.7), lambda t: 0.1 * 0.7 ** t),
    "cosine": (lambda: optim.CosineLR(0.1, total_steps=3, min_lr=0.01),
               lambda t: 0.01 + 0.09 * (1 + math.cos(math.pi * min(t, 3) / 3)) / 2),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_learning_rate_schedules_from_the_step_counter(name, backend):
    make, formula = SCHEDULES[name]
    got, _ = graphc_steps(lambda ps: optim.SGD(ps, lr=make()), backend, n=5)
    # t counts completed steps: the first step uses lr(0)
    want = numpy_steps(lambda ps, gs, st, t: [p - formula(t - 1) * g for p, g in zip(ps, gs)], n=5)
    assert_trajectories(got, want, rtol=1e-6)  # the rate itself is float32
    sched = make()
    t = gc.param("t", np.int64(0), trainable=False)
    fn = gc.compile(sched(t), updates={t: t + 1}, backend=backend)
    values = [float(fn()) for _ in range(6)]
    np.testing.assert_allclose(values, [formula(k) for k in range(6)], rtol=1e-6)
    np.testing.assert_allclose([sched.value(k) for k in range(6)], [formula(k) for k in range(6)], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_step_callable_learning_rate_is_fed_from_the_host(backend):
    lr = lambda t: 0.2 / (1 + t) ** 2
    got, opt = graphc_steps(lambda ps: optim.Momentum(ps, lr=lr, momentum=0.5), backend, n=4, feed=True)

    def rule(ps, gs, st, t):
        v = slots(st, "v", ps)
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            v[i] = 0.5 * v[i] + g
            out.append(p - lr(t - 1) * v[i])
        return out

    assert_trajectories(got, numpy_steps(rule, n=4), rtol=1e-6)
    assert opt.lr_param.value == np.float32(lr(3)) and opt.step.value == 4


def test_frozen_parameters_get_no_update():
    w = gc.param("w", W0, dtype=gc.float64)
    b = gc.param("b", B0, dtype=gc.float64)
    x, y = gc.input("x", (None, 3), gc.float64), gc.input("y", (None,), gc.float64)
    loss = gc.mean(gc.square(x @ w + b - y))
    opt = optim.Adam([w, b], lr=0.1, frozen=[b])
    ups = opt.updates(loss)
    assert b not in ups and w in ups
    step = gc.compile(loss, updates=ups, backend="numpy")
    step(x=X, y=Y), step(x=X, y=Y)
    np.testing.assert_array_equal(b.value, B0)
    assert not np.allclose(w.value, W0)
    # a frozen module: fine-tuning the head only
    base, head = gc.nn.Linear(3, 4, seed=0), gc.nn.Linear(4, 1, seed=1)
    model = gc.nn.Sequential(base, head)
    base.freeze()
    before = base.weight.value.copy(), head.weight.value.copy()
    loss = gc.mean(gc.square(model(x)[:, 0] - y))
    gc.compile(loss, updates=optim.SGD(model.parameters(), lr=0.1).updates(loss))(x=X, y=Y)
    np.testing.assert_array_equal(base.weight.value, before[0])
    assert not np.allclose(head.weight.value, before[1])


# -- the perceptron rule as custom updates (course example 5) ----------------------------------------------
def perceptron(examples, epochs, backend="numpy"):
    w = gc.param("w", np.zeros(3, np.float32))
    x, y = gc.input("x", (3,)), gc.input("y", ())
    y_hat = gc.cast(gc.dot(x, w) > 0, gc.float32)       # ŷ = 1 if wᵀx > 0 else 0
    step = gc.compile(y_hat, updates={w: w + 1.0 * x * (y - y_hat)}, backend=backend)  # Δw = η x (y − ŷ)
    errors = []
    for _ in range(epochs):
        errors.append(sum(int(step(x=xi, y=np.float32(yi)) != yi) for xi, yi in examples))
        if errors[-1] == 0:
            break
    return w.value, errors


def np_perceptron(examples, epochs):
    w = np.zeros(3)
    for _ in range(epochs):
        errors = 0
        for xi, yi in examples:
            y_hat = float(w @ xi > 0)
            errors += y_hat != yi
            w = w + xi * (yi - y_hat)
        if errors == 0:
            break
    return w


INPUTS = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]], np.float32)  # x0 = 1 is the bias input


@pytest.mark.parametrize("backend", BACKENDS)
def test_perceptron_rule_learns_or(backend):
    examples = list(zip(INPUTS, [0, 1, 1, 1]))
    w, errors = perceptron(examples, 20, backend)
    assert errors[-1] == 0 and len(errors) <= 6                # converges within a few epochs
    np.testing.assert_array_equal((INPUTS @ w > 0).astype(int), [0, 1, 1, 1])
    np.testing.assert_array_equal(w, np_perceptron(examples, 20))


def test_perceptron_rule_never_converges_on_xor():
    w, errors = perceptron(list(zip(INPUTS, [0, 1, 1, 0])), 60)
    assert len(errors) == 60 and min(errors) > 0              # no epoch without a mistake
    assert not np.array_equal((INPUTS @ w > 0).astype(int), [0, 1, 1, 0])


def test_a_2_2_1_sigmoid_mlp_learns_xor_by_backprop():
    nn = gc.nn
    # (2-2-1 networks have local minima on XOR, where one pattern stays wrong; this seed avoids them)
    model = nn.Sequential(nn.Linear(2, 2, seed=1), nn.Sigmoid(), nn.Linear(2, 1, seed=101), nn.Sigmoid())
    x, y = gc.input("x", (None, 2)), gc.input("y", (None, 1))
    q = model(x)
    loss = gc.losses.binary_cross_entropy(q, y)
    step = gc.compile(loss, updates=optim.Adam(model.parameters(), lr=0.1).updates(loss), backend="numpy")
    XS, YS = INPUTS[:, 1:], np.array([[0], [1], [1], [0]], np.float32)
    for _ in range(500):
        final = step(x=XS, y=YS)
    assert final < 0.05
    np.testing.assert_array_equal(gc.compile(q, backend="numpy")(x=XS) > 0.5, YS > 0.5)
