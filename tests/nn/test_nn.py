"""graphc.nn: layer shapes and parameter counts (LeNet-5's published ones), naming, modes and state
updates, gradients of every layer type against finite differences, and forward values against
independent NumPy implementations (convolution, BatchNorm, recurrent cells, attention, transformer)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc import nn

from tests.support import BACKENDS


def run(outputs, backend="reference", updates=None, **feeds):
    return gc.compile(outputs, updates=updates, backend=backend)(**feeds)


def projected(out, seed=0):
    """A scalar that depends on every element of `out` with a random weight (for gradient checks)."""
    r = np.random.default_rng(seed).standard_normal(tuple(int(d) for d in out.shape))
    return gc.sum(out * r.astype(np.float32))


def params_dict(module):
    return {p: p.value for p in module.parameters()}


def sig(z):
    return 1 / (1 + np.exp(-z))


def np_softmax(s, axis=-1):
    e = np.exp(s - s.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, name="c1"), nn.Tanh(), nn.AvgPool2d(2, name="s2"),
        nn.Conv2d(6, 16, 5, name="c3"), nn.Tanh(), nn.AvgPool2d(2, name="s4"),
        nn.Flatten(), nn.Linear(400, 120, name="c5"), nn.Tanh(),
        nn.Linear(120, 84, name="f6"), nn.Tanh(), nn.Linear(84, 10, name="output"), name="lenet")


# -- structure: counts, shapes, names ---------------------------------------------------------------
def test_lenet5_summary_has_the_course_parameter_counts_and_shapes():
    model = lenet()
    table = model.summary((1, 32, 32))
    rows = {m.group(1): (m.group(2), int(m.group(3)))
            for m in re.finditer(r"^(\S+)\s+\S+\s+(\(.*?\))\s+(\d+)\s*$", table, re.M)}
    published = {"c1": 156, "c3": 2416, "c5": 48120, "f6": 10164, "output": 850}  # course example 4
    for layer, count in published.items():
        assert rows[layer][1] == count, (layer, table)
    assert re.search(r"total parameters: 61706\b", table)
    assert model.num_parameters() == 61706
    shapes = {"c1": "(None, 6, 28, 28)", "s2": "(None, 6, 14, 14)", "c3": "(None, 16, 10, 10)",
              "s4": "(None, 16, 5, 5)", "c5": "(None, 120)", "f6": "(None, 84)", "output": "(None, 10)"}
    for layer, shape in shapes.items():
        assert rows[layer][0] == shape
    assert sum(r[1] for r in rows.values()) == 61706


def test_parameter_names_are_hierarchical_and_unique():
    model = lenet()
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["lenet/c1/weight", "lenet/c1/bias"]
    assert len(set(names)) == len(names) == 10
    inner = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), name="block")
    outer = nn.Sequential(inner, nn.Linear(3, 1), name="outer")
    assert [n for n, _ in outer.named_parameters()] == [
        "outer/block/linear/weight", "outer/block/linear/bias", "outer/block/linear_1/weight",
        "outer/block/linear_1/bias", "outer/linear/weight", "outer/linear/bias"]
    x = gc.input("x", (None, 2))
    y = outer(x)
    assert y.node.scope.startswith("outer/linear")


def test_layer_output_shapes_follow_the_size_formula():
    x = gc.input("x", (None, 3, 11, 13))
    conv = nn.Conv2d(3, 4, (3, 5), stride=2, padding=(1, 2), dilation=(2, 1), groups=1)
    y = conv(x)
    out = lambda w, k, s, p, d: (w + 2 * p - d * (k - 1) - 1) // s + 1
    assert y.shape[1:] == (4, out(11, 3, 2, 1, 2), out(13, 5, 2, 2, 1))
    assert nn.Conv2d(4, 6, 3, groups=2).num_parameters() == 6 * 2 * 9 + 6
    assert nn.MaxPool2d(3, stride=2, padding=1)(x).shape[2:] == (6, 7)
    x1 = gc.input("s", (None, 4, 20))
    assert nn.Conv1d(4, 8, 5, stride=3)(x1).shape[1:] == (8, 6)
    assert nn.AvgPool1d(4)(x1).shape[1:] == (4, 5)
    assert nn.Flatten()(x).shape[1] == 3 * 11 * 13


# -- forward values against NumPy ------------------------------------------------------------------
def np_conv(x, w, b, stride, padding, dilation, groups):
    """Direct loops over output positions (an implementation independent of im2col)."""
    n, c, hh, ww = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (hh + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (ww + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for oc in range(o):
        g = oc // (o // groups)
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                          j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
                y[:, oc, i, j] = np.sum(patch * w[oc], axis=(1, 2, 3)) + b[oc]
    return y


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_module_matches_numpy(backend):
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, seed=3)
    x = gc.input("x", (None, 4, 7, 6))
    X = np.random.default_rng(1).standard_normal((2, 4, 7, 6)).astype(np.float32)
    got = run(conv(x), backend, x=X)
    want = np_conv(X.astype(np.float64), conv.weight.value, conv.bias.value, 2, 1, 2, 2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_embedding_residual_and_pools_match_numpy(backend):
    run = lambda out, **feeds: gc.compile(out, backend=backend)(**feeds)
    rng = np.random.default_rng(2)
    lin = nn.Dense(3, 2, activation="tanh", seed=1)
    x = gc.input("x", (None, 3))
    X = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(run(lin(x), x=X), np.tanh(X @ lin.weight.value + lin.bias.value), rtol=1e-6)

    emb = nn.Embedding(5, 3, seed=0)
    idx = gc.input("idx", (None, 2), gc.int64)
    I = np.array([[0, 4], [4, 2], [1, 1]])
    np.testing.assert_array_equal(run(emb(idx), idx=I), emb.weight.value[I])

    res = nn.Residual(nn.Sequential(nn.Linear(3, 3, seed=4), nn.ReLU()))
    lin3 = res.body[0]
    np.testing.assert_allclose(run(res(x), x=X), np.maximum(X @ lin3.weight.value + lin3.bias.value, 0) + X, rtol=1e-6)

    img = gc.input("img", (None, 2, 4, 6))
    M = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(run(nn.MaxPool2d(2)(img), img=M), M.reshape(1, 2, 2, 2, 3, 2).max(axis=(3, 5)))
    np.testing.assert_allclose(run(nn.AvgPool2d(2)(img), img=M), M.reshape(1, 2, 2, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-6)


# -- gradients of every layer type against central differences ---------------------------------------
def _check(module, x_shape, build=None, seed=0, tol=1e-6, x_dtype=np.float32):
    x = gc.input("x", x_shape, x_dtype)
    out = module(x) if build is None else build(module, x)
    out = out[0] if isinstance(out, tuple) else out
    X = np.random.default_rng(seed).standard_normal(x_shape)
    gc.check_grad(projected(out, seed + 1), {**params_dict(module), x: X}, tol=tol)


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(3, 2, seed=0), (2, 3)),
    (lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2, seed=0), (2, 2, 7)),
    (lambda: nn.Conv2d(2, 3, 2, stride=2, padding=1, dilation=2, seed=0), (1, 2, 5, 5)),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 2, seed=1), nn.MaxPool2d(2), nn.AvgPool2d(1, stride=1)), (2, 1, 5, 5)),
    (lambda: nn.Sequential(nn.Conv1d(1, 2, 2, seed=1), nn.MaxPool1d(2, stride=1), nn.AvgPool1d(2)), (2, 1, 6)),
    (lambda: nn.Sequential(nn.Linear(3, 4, seed=0), nn.Dropout(0.5, seed=1)), (2, 3)),
    (lambda: nn.BatchNorm1d(3), (5, 3)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    (lambda: nn.LayerNorm((2, 3)), (2, 2, 3)),
    (lambda: nn.Residual(nn.Sequential(nn.Linear(3, 3, seed=2), nn.Tanh())), (2, 3)),
    (lambda: nn.RNN(2, 3, seed=0), (2, 3, 2)),
    (lambda: nn.LSTM(2, 3, seed=0), (2, 3, 2)),
    (lambda: nn.GRU(2, 2, bidirectional=True, seed=0), (2, 3, 2)),
    (lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=5, dropout=0.0, causal=True, seed=0), (2, 3, 4)),
], ids=["linear", "conv1d", "conv2d", "pool2d", "pool1d", "dropout", "batchnorm1d", "batchnorm2d", "layernorm", "residual",
        "rnn", "lstm", "gru-bi", "transformer"])
def test_layer_gradients_match_finite_differences(make, shape):
    module = make()
    for p in module.parameters():  # constant-initialised ones (biases, norm scales) get generic values
        if np.all(p.value == p.value.flat[0]):
            p.value = np.random.default_rng(5).uniform(0.5, 1.5, p.value.shape)
    _check(module, shape)


def test_embedding_and_attention_gradients_match_finite_differences():
    emb = nn.Embedding(4, 3, seed=0)
    out = emb(np.array([[0, 2], [2, 3]]))  # a repeated index: its row's gradient adds up
    gc.check_grad(projected(out), params_dict(emb))
    mha = nn.MultiHeadAttention(4, 2, seed=0)
    pad = np.array([[False, False, True], [False, False, False]])
    x = gc.input("x", (2, 3, 4))
    loss = projected(mha(x, key_padding_mask=pad, causal=True))
    X = np.random.default_rng(0).standard_normal((2, 3, 4))
    # the key bias adds q·b_k to every score of a row, which softmax ignores: its gradient is exactly 0
    # (so a relative finite-difference error means nothing there); the other parameters are checked
    kb = mha.k_proj.bias
    np.testing.assert_allclose(gc.compile(gc.grad(loss, kb))(x=X.astype(np.float32)), 0, atol=1e-6)
    gc.check_grad(loss, {**{p: p.value for p in mha.parameters() if p is not kb}, x: X})
    lstm = nn.LSTM(2, 2, seed=1)  # through an explicit initial state too
    x, h0 = gc.input("x", (2, 2, 2)), gc.input("h0", (2, 2))
    out, (h, c) = lstm(x, (h0, h0 * 0.5))
    rng = np.random.default_rng(0)
    gc.check_grad(projected(out) + gc.sum(c), {**params_dict(lstm), h0: rng.standard_normal((2, 2)),
                                               x: rng.standard_normal((2, 2, 2))})


# -- recurrent layers against NumPy -------------------------------------------------------------------
def np_recurrent(kind, X, weights, h=None, c=None, reverse=False):
    W_ih, W_hh, b_ih, b_hh = (w.value.astype(np.float64) for w in weights)
    n, T, _ = X.shape
    H = W_hh.shape[0]
    h = np.zeros((n, H)) if h is None else h
    c = np.zeros((n, H)) if c is None else c
    hs = [None] * T
    for t in (reversed(range(T)) if reverse else range(T)):
        gi, gh = X[:, t] @ W_ih + b_ih, h @ W_hh + b_hh
        if kind == "rnn":
            h = np.tanh(gi + gh)
        elif kind == "lstm":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
        else:
            r = sig(gi[:, :H] + gh[:, :H])
            z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            nn_ = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * nn_ + z * h
        hs[t] = h
    return np.stack(hs, 1), h, c


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, cls", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_recurrent_layers_match_numpy(kind, cls, backend):
    layer = cls(3, 4, bidirectional=True, seed=7)
    x = gc.input("x", (None, 5, 3))
    X = np.random.default_rng(3).standard_normal((2, 5, 3))
    outputs, last = layer(x)
    got_out, *got_last = run([outputs] + (list(last) if kind == "lstm" else [last]), backend, x=X.astype(np.float32))
    fwd, h_f, c_f = np_recurrent(kind, X, layer.weights[0])
    bwd, h_b, c_b = np_recurrent(kind, X, layer.weights[1], reverse=True)
    np.testing.assert_allclose(got_out, np.concatenate([fwd, bwd], -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_last[0], np.concatenate([h_f, h_b], -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_out[:, -1, :4], got_last[0][:, :4])  # forward's last = its final state
    np.testing.assert_allclose(got_out[:, 0, 4:], got_last[0][:, 4:])   # backward's last = its state at t=0
    if kind == "lstm":
        np.testing.assert_allclose(got_last[1], np.concatenate([c_f, c_b], -1), rtol=1e-5, atol=1e-6)
    assert layer.num_parameters() == 2 * ({"rnn": 1, "lstm": 4, "gru": 3}[kind] * 4 * (3 + 4 + 2))


def test_gru_with_initial_state_matches_numpy():
    gru = nn.GRU(2, 3, seed=1)
    x, h0 = gc.input("x", (None, 4, 2)), gc.input("h0", (None, 3))
    X, H0 = np.random.default_rng(0).standard_normal((3, 4, 2)), np.random.default_rng(1).standard_normal((3, 3))
    out, last = gru(x, h0)
    got = run([out, last], x=X.astype(np.float32), h0=H0.astype(np.float32))
    want, h, _ = np_recurrent("gru", X, gru.weights[0], h=H0)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], h, rtol=1e-5, atol=1e-6)


# -- attention and transformer against NumPy -----------------------------------------------------------
def np_linear(lin, x):
    return x @ lin.weight.value.astype(np.float64) + lin.bias.value


def np_mha(m, q, k, v, causal=False, pad=None):
    n, t, e = q.shape
    s, h, d = k.shape[1], m.num_heads, m.head_dim
    split = lambda a: a.reshape(n, a.shape[1], h, d).transpose(0, 2, 1, 3)
    Q, K, V = split(np_linear(m.q_proj, q)), split(np_linear(m.k_proj, k)), split(np_linear(m.v_proj, v))
    scores = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(d)
    if causal:
        scores = np.where(np.arange(s)[None, :] > np.arange(t)[:, None], -np.inf, scores)
    if pad is not None:
        scores = np.where(pad[:, None, None, :], -np.inf, scores)
    w = np_softmax(scores)
    out = (w @ V).transpose(0, 2, 1, 3).reshape(n, t, e)
    return np_linear(m.out_proj, out), w


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_head_attention_matches_numpy_with_masks(backend):
    m = nn.MultiHeadAttention(6, 3, seed=2)
    rng = np.random.default_rng(4)
    Xq, Xk = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
    pad = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], bool)
    q, kv = gc.input("q", (None, 4, 6)), gc.input("kv", (None, 5, 6))
    mask = gc.input("mask", (None, 5), gc.bool_)
    out, w = m(q, kv, key_padding_mask=mask, need_weights=True)
    got, got_w = run([out, w], backend, q=Xq.astype(np.float32), kv=Xk.astype(np.float32), mask=pad)
    want, want_w = np_mha(m, Xq, Xk, Xk, pad=pad)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-4, atol=1e-6)
    assert np.all(got_w[0, :, :, 3:] == 0)
    # causal self-attention: no weight on future positions
    out_c, w_c = m(q, causal=True, need_weights=True)
    got_c, got_wc = run([out_c, w_c], backend, q=Xq.astype(np.float32))
    want_c, _ = np_mha(m, Xq, Xq, Xq, causal=True)
    np.testing.assert_allclose(got_c, want_c, rtol=1e-4, atol=1e-5)
    assert np.all(got_wc[:, :, np.triu_indices(4, 1)[0], np.triu_indices(4, 1)[1]] == 0)


def np_layer_norm(ln, x):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * ln.weight.value + ln.bias.value


def test_transformer_encoder_layer_matches_numpy():
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.1, seed=3).eval()
    X = np.random.default_rng(5).standard_normal((2, 3, 4))
    pad = np.array([[0, 0, 1], [0, 0, 0]], bool)
    x = gc.input("x", (2, 3, 4))  # static batch: the constant mask has 2 rows
    got = run(layer(x, key_padding_mask=pad), "numpy", x=X.astype(np.float32))
    sa, _ = np_mha(layer.self_attn, X, X, X, pad=pad)
    h = np_layer_norm(layer.norm1, X + sa)
    ff = np_linear(layer.linear2, np.maximum(np_linear(layer.linear1, h), 0))
    np.testing.assert_allclose(got, np_layer_norm(layer.norm2, h + ff), rtol=1e-4, atol=1e-5)


# -- modes, BatchNorm, Dropout, state updates ------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_batch_statistics_in_training_running_statistics_in_eval(backend):
    bn = nn.BatchNorm2d(3, momentum=0.1)
    rng = np.random.default_rng(0)
    bn.weight.value, bn.bias.value = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    gamma, beta = bn.weight.value.reshape(1, 3, 1, 1), bn.bias.value.reshape(1, 3, 1, 1)
    x = gc.input("x", (None, 3, 4, 5))
    step = gc.compile(bn(x), updates=bn.state_updates(), backend=backend)
    assert set(bn.state_updates()) == {bn.running_mean, bn.running_var}
    rm, rv = np.zeros(3), np.ones(3)
    for i in range(2):
        X = rng.normal(2.0, 3.0, (6, 3, 4, 5))
        got = step(x=X.astype(np.float32))
        mu, var = X.mean((0, 2, 3)), X.var((0, 2, 3))  # biased variance normalises
        want = (X - mu.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5) * gamma + beta
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        rm, rv = 0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * X.var((0, 2, 3), ddof=1)  # unbiased running variance
        np.testing.assert_allclose(bn.running_mean.value, rm, rtol=1e-5)
        np.testing.assert_allclose(bn.running_var.value, rv, rtol=1e-5)
    bn.eval()
    ev = gc.compile(bn(x), backend=backend)
    X = rng.standard_normal((2, 3, 4, 5))
    want = (X - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5) * gamma + beta
    np.testing.assert_allclose(ev(x=X.astype(np.float32)), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.value, rm, rtol=1e-5)  # evaluation leaves the statistics alone
    assert set(bn.state_updates()) == {bn.running_mean, bn.running_var}  # still the last training call's


def test_batchnorm1d_on_sequences_and_rank_errors():
    bn = nn.BatchNorm1d(2)
    X = np.random.default_rng(1).standard_normal((4, 2, 3))
    got = run(bn(gc.input("x", (None, 2, 3))), x=X.astype(np.float32))
    want = (X - X.mean((0, 2), keepdims=True)) / np.sqrt(X.var((0, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        bn(gc.input("y", (None, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_statistics_masks_and_eval_identity(backend):
    p = 0.3
    drop = nn.Dropout(p, seed=11)
    x = gc.input("x", (1, 100, 100))
    ones = np.ones((1, 100, 100), np.float32)
    step = gc.compile(drop(x), updates=drop.state_updates(), backend=backend)
    a, b = step(x=ones), step(x=ones)
    assert drop.state()[0].value == 2  # the step counter advanced once per call
    for out in (a, b):
        assert set(np.unique(out)) <= {0.0, np.float32(1 / (1 - p))}
        assert abs((out == 0).mean() - p) < 0.02   # 4 standard deviations of the zero fraction
        assert abs(out.mean() - 1.0) < 0.03        # inverse scaling preserves the mean
    assert (a != b).mean() > 0.2                   # a new mask each step
    again = nn.Dropout(p, seed=11)                 # the same seed reproduces the sequence of masks
    step2 = gc.compile(again(x), updates=again.state_updates(), backend=backend)
    np.testing.assert_array_equal(step2(x=ones), a)
    np.testing.assert_array_equal(step2(x=ones), b)
    other = nn.Dropout(p, seed=12)
    assert (run(other(x), backend, x=ones) != a).any()
    drop.eval()
    assert drop(x) is x


def test_train_and_eval_graphs_both_compile_and_state_updates_follow_training_calls():
    model = nn.Sequential(nn.Linear(4, 8, seed=0), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5, seed=3),
                          nn.Linear(8, 2, seed=1), name="m")
    x = gc.input("x", (None, 4))
    X = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    y_train = model.train()(x)
    ups = model.state_updates()
    counter = next(p for n, p in model.named_state() if n == "m/step")
    assert set(ups) == {counter, model[1].running_mean, model[1].running_var}
    train_fn = gc.compile(y_train, updates=ups, backend="numpy")
    a, b = train_fn(x=X), train_fn(x=X)
    assert not np.allclose(a, b)  # dropout masks and batch statistics move on
    assert counter.value == 2
    model.summary((4,))           # summary builds in eval mode and leaves the recorded updates alone
    assert model.training and model.state_updates() == ups
    y_eval = model.eval()(x)
    assert model.state_updates() == ups
    e1 = gc.compile(y_eval, backend="numpy")(x=X)
    e2 = gc.compile(y_eval, backend="reference")(x=X)
    np.testing.assert_allclose(e1, e2, rtol=1e-5, atol=1e-6)
    l1, bn, l2 = model[0], model[1], model[4]
    h = X @ l1.weight.value + l1.bias.value
    h = np.maximum((h - bn.running_mean.value) / np.sqrt(bn.running_var.value + 1e-5) * bn.weight.value + bn.bias.value, 0)
    np.testing.assert_allclose(e1, h @ l2.weight.value + l2.bias.value, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gc.compile(y_eval, backend="numpy")(x=X), e1)  # deterministic
    assert counter.value == 2


class Branchy(nn.Module):
    """A user-defined module: submodules assigned as attributes are adopted under their attribute names."""

    def __init__(self):
        super().__init__("branchy")
        self.a, self.b = nn.BatchNorm1d(2), nn.BatchNorm1d(2)

    def forward(self, x, use_a=True):
        return self.a(x) if use_a else self.b(x)


def test_state_updates_come_from_the_most_recent_training_call_only():
    m = Branchy()
    assert [n for n, _ in m.named_state()] == ["branchy/a/running_mean", "branchy/a/running_var",
                                               "branchy/b/running_mean", "branchy/b/running_var"]
    m(gc.input("x1", (None, 2)), use_a=True)
    assert set(m.state_updates()) == {m.a.running_mean, m.a.running_var}
    x2 = gc.input("x2", (None, 2))
    y = m(x2, use_a=False)  # a new training graph: the first one's updates are dropped
    assert set(m.state_updates()) == {m.b.running_mean, m.b.running_var}
    X = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    gc.compile(y, updates=m.state_updates())(x2=X)
    np.testing.assert_allclose(m.b.running_mean.value, 0.1 * X.mean(0), rtol=1e-5)
    np.testing.assert_array_equal(m.a.running_mean.value, 0)


def test_freeze_removes_parameters_from_training():
    model = nn.Sequential(nn.Linear(2, 3, name="base"), nn.Linear(3, 1, name="head"), name="ft")
    model[0].freeze()
    assert [n for n, _ in model.named_parameters()] == ["ft/head/weight", "ft/head/bias"]
    assert model.num_parameters() == 4 and model.num_parameters(trainable_only=False) == 13
    model[0].unfreeze()
    assert model.num_parameters() == 13


# -- initialisers ------------------------------------------------------------------------------------------
def test_initialisers_are_seeded_and_have_the_published_scales():
    init = nn.init
    assert init.fans((30, 20)) == (30, 20) and init.fans((8, 4, 3, 3)) == (36, 72)
    a = init.xavier_uniform((400, 300), rng=0)
    np.testing.assert_array_equal(a, init.xavier_uniform((400, 300), rng=0))
    assert not np.array_equal(a, init.xavier_uniform((400, 300), rng=1))
    bound = np.sqrt(6 / 700)
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    assert abs(a.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert abs(init.xavier_normal((400, 300), rng=0).std() - np.sqrt(2 / 700)) < 0.02 * np.sqrt(2 / 700)
    k = init.kaiming_normal((64, 32, 3, 3), rng=0)
    assert abs(k.std() - np.sqrt(2 / 288)) < 0.02 * np.sqrt(2 / 288)
    ku = init.kaiming_uniform((64, 32, 3, 3), rng=0)
    assert np.abs(ku).max() <= np.sqrt(6 / 288) and abs(ku.std() - np.sqrt(2 / 288)) < 0.02 * np.sqrt(2 / 288)
    n = init.normal((1000, 100), rng=3, std=0.05)
    assert abs(n.mean()) < 0.001 and abs(n.std() - 0.05) < 0.001
    u = init.uniform((1000,), rng=3, low=-0.2, high=0.4)
    assert u.min() >= -0.2 and u.max() < 0.4
    assert np.all(init.zeros((2, 2)) == 0) and np.all(init.constant((3,), 0.7) == np.float32(0.7))
    assert init.normal((2,), rng=np.random.default_rng(9)).dtype == np.float32
    # modules take a seed or a generator
    l1, l2 = nn.Linear(5, 4, seed=42), nn.Linear(5, 4, seed=42)
    np.testing.assert_array_equal(l1.weight.value, l2.weight.value)
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(nn.Conv2d(2, 3, 3, rng=g1).weight.value, nn.Conv2d(2, 3, 3, rng=g2).weight.value)
    assert not np.array_equal(nn.Linear(5, 4, seed=1).weight.value, l1.weight.value)
    lin = nn.Linear(5, 4, init="he_normal", seed=0)
    assert lin.weight.value.std() > 0 and np.all(lin.bias.value == 0)


# -- a small model's training step: both backends agree -----------------------------------------------------
def test_numpy_and_reference_backends_agree_on_a_training_step():
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False, seed=0), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.25, seed=5), nn.Flatten(), nn.Linear(3 * 3 * 3, 4, seed=1), name="small")
    x, y = gc.input("x", (None, 1, 6, 6)), gc.input("y", (None,), gc.int64)
    logits = model(x)
    loss = gc.losses.cross_entropy(logits, y) + gc.losses.l2_penalty(model.parameters(), 1e-3)
    opt = gc.optim.Adam(model.parameters(), lr=0.01, clip_norm=5.0)
    updates = opt.updates(loss) | model.state_updates()
    tensors = list(updates)
    start = [t.value.copy() for t in tensors]
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 1, 6, 6)).astype(np.float32), rng.integers(0, 4, 8)) for _ in range(3)]
    results = {}
    for backend in BACKENDS:
        for t, v in zip(tensors, start):
            t.value = v
        step = gc.compile(loss, updates=updates, backend=backend)
        losses = [float(step(x=X, y=Y)) for X, Y in batches]
        results[backend] = (losses, [t.value.copy() for t in tensors])
    (l_ref, v_ref), (l_np, v_np) = results["reference"], results["numpy"]
    np.testing.assert_allclose(l_np, l_ref, rtol=1e-4)
    assert l_ref[2] != l_ref[0]
    for t, a, b, s in zip(tensors, v_np, v_ref, start):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=t.variable.name)
        assert not np.array_equal(b, s), t.variable.name  # everything moved (weights, moments, stats, counters)
