"""The bad-argument sweep over layers, losses and optimisers: each argument replaced by what a careless user
passes must give a working model or one graphc error naming it, never an unrelated exception."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc import losses as L, nn, optim
from graphc.errors import GraphcError
from tests.core.test_bad_argument_sweep import BAD, BAD_VALUES  # noqa: F401
from tests.support import agree_or_fail_alike


def x2():
    return gc.input("x2", (None, 4))


def x3():
    return gc.input("x3", (None, 3, 8))


def x4():
    return gc.input("x4", (None, 3, 6, 6))


def ids():
    return gc.input("ids", (None, 5), gc.int64)


FEEDS = {"x2": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32),
         "x3": np.random.default_rng(1).normal(size=(2, 3, 8)).astype(np.float32),
         "x4": np.random.default_rng(2).normal(size=(2, 3, 6, 6)).astype(np.float32),
         "ids": np.array([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]), "y": np.array([0, 1, 3]),
         "t": np.random.default_rng(3).random((3, 4)).astype(np.float32)}

# layer -> (input builder, valid constructor arguments)
LAYERS = {
    "Linear": (x2, dict(in_features=4, out_features=3, bias=True, init="xavier_uniform", bias_init="zeros", seed=1)),
    "Conv1d": (x3, dict(in_channels=3, out_channels=4, kernel_size=3, stride=1, padding=1, dilation=1, groups=1, seed=1)),
    "Conv2d": (x4, dict(in_channels=3, out_channels=6, kernel_size=3, stride=2, padding=0, dilation=1, groups=3, seed=1)),
    "BatchNorm1d": (x2, dict(num_features=4, eps=1e-5, momentum=0.1, affine=True)),
    "BatchNorm2d": (x4, dict(num_features=3, eps=1e-5, momentum=0.1, affine=False)),
    "LayerNorm": (x2, dict(normalized_shape=4, eps=1e-5, elementwise_affine=True)),
    "Dropout": (x2, dict(p=0.5, seed=3)),
    "ELU": (x2, dict(alpha=1.0)),
    "LeakyReLU": (x2, dict(alpha=0.01)),
    "Flatten": (x4, dict(start_dim=1)),
    "Softmax": (x2, dict(axis=-1)),
    "LogSoftmax": (x2, dict(axis=-1)),
    "MaxPool1d": (x3, dict(kernel_size=2, stride=None, padding=0)),
    "MaxPool2d": (x4, dict(kernel_size=2, stride=2, padding=1)),
    "AvgPool1d": (x3, dict(kernel_size=2, stride=1, padding=0)),
    "AvgPool2d": (x4, dict(kernel_size=3, stride=None, padding=1)),
    "Embedding": (ids, dict(num_embeddings=5, embedding_dim=4, seed=1)),
    "RNN": (x3, dict(input_size=8, hidden_size=4, bidirectional=False, seed=1)),
    "GRU": (x3, dict(input_size=8, hidden_size=4, bidirectional=True, seed=1)),
    "LSTM": (x3, dict(input_size=8, hidden_size=4, bidirectional=False, seed=1)),
    "MultiHeadAttention": (x3, dict(embed_dim=8, num_heads=2, bias=True, dropout=0.0, seed=1)),
    "TransformerEncoderLayer": (x3, dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.1, activation="relu",
                                         norm_first=False, causal=True, layer_norm_eps=1e-5, seed=1)),
    "Dense": (x2, dict(in_features=4, out_features=3, activation="relu")),
}


def z():
    return gc.input("x2", (None, 4))


def labels():
    return gc.input("y", (None,), gc.int64)


def targets():
    return gc.input("t", (None, 4))


LOSSES = {
    "cross_entropy": ((z, labels), dict(axis=-1, reduction="mean", label_smoothing=0.1)),
    "nll": ((z, labels), dict(axis=-1, reduction="sum")),
    "accuracy": ((z, labels), dict(axis=-1)),
    "mse": ((z, targets), dict(reduction="mean", half=True)),
    "mae": ((z, targets), dict(reduction="none")),
    "huber": ((z, targets), dict(delta=1.0, reduction="mean")),
    "binary_cross_entropy": ((lambda: gc.sigmoid(z()), targets), dict(reduction="mean", eps=1e-7)),
    "binary_cross_entropy_with_logits": ((z, targets), dict(reduction="mean")),
    "binary_accuracy": ((z, targets), dict(threshold=0.5)),
    "kl_div": ((z, targets), dict(axis=-1, temperature=1.0, reduction="mean")),
    "kl_divergence": ((lambda: gc.softmax(z()), lambda: gc.softmax(targets())), dict(axis=-1, reduction="mean", eps=1e-12)),
    "distillation": ((z, targets), dict(temperature=2.0, axis=-1, reduction="mean")),
}

OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0, clip_norm=1.0, clip_value=None),
    "Adam": dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8),
    "AdamW": dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    "RMSProp": dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0),
    "AdaGrad": dict(lr=0.01, eps=1e-10, initial_accumulator_value=0.0),
    "Momentum": dict(lr=0.01, momentum=0.9),
}


def _run(outputs, updates=None):
    """Build, compile and run on both backends: the same answer or the same graphc error."""
    agree_or_fail_alike(outputs, FEEDS.__getitem__, updates, rtol=1e-4, atol=1e-5)


def _layer_case(layer, attr, value):
    make_input, kwargs = LAYERS[layer]
    module = getattr(nn, layer)(**{**kwargs, attr: value})
    out = module(make_input())
    outputs = out if isinstance(out, (list, tuple)) else [out]
    _run([o for o in outputs if isinstance(o, gc.Tensor)])


def _loss_case(loss, attr, value):
    builders, kwargs = LOSSES[loss]
    _run([getattr(L, loss)(*[b() for b in builders], **{**kwargs, attr: value})])


def _optimizer_case(name, attr, value):
    w = gc.param("w", np.ones((4, 2), np.float32))
    loss = gc.sum(gc.square(x2() @ w))
    opt = getattr(optim, name)([w], **{**OPTIMIZERS[name], attr: value})
    _run([loss], dict(opt.updates(loss)))


SWEEPS = ([pytest.param(_layer_case, k, a, id=f"{k}-{a}") for k, (_, kw) in LAYERS.items() for a in kw]
          + [pytest.param(_loss_case, k, a, id=f"{k}-{a}") for k, (_, kw) in LOSSES.items() for a in kw]
          + [pytest.param(_optimizer_case, k, a, id=f"{k}-{a}") for k, kw in OPTIMIZERS.items() for a in kw])


@pytest.mark.parametrize("case, what, attr", [p.values for p in SWEEPS], ids=[p.id for p in SWEEPS])
def test_every_valid_configuration_runs(case, what, attr):
    kwargs = (LAYERS.get(what) or LOSSES.get(what) or (None, OPTIMIZERS.get(what)))[1] if case is not _optimizer_case else OPTIMIZERS[what]
    case(what, attr, kwargs[attr])


@pytest.mark.parametrize("case, what, attr", [p.values for p in SWEEPS], ids=[p.id for p in SWEEPS])
@given(value=BAD_VALUES)
@settings(max_examples=25, deadline=None)
def test_a_bad_argument_is_refused_or_works_everywhere(case, what, attr, value):
    try:
        case(what, attr, value)
    except GraphcError as e:
        assert isinstance(e, (ValueError, TypeError))
