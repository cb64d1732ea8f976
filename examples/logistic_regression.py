"""Logistic regression: one sigmoid neuron trained with binary cross-entropy on scikit-learn's breast-cancer data."""
import os
import sys

import graphc as gc
import graphc.script
from graphc import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import load  # noqa: E402

DEFAULTS = dict(epochs=40, batch_size=32, lr=0.05, optimizer="sgd", patience=8)
THRESHOLD = 0.0  # the model outputs logits: class 1 when the logit is positive


def data(fast=False, seed=0):
    d = load("breast_cancer", seed=seed, fast=fast)
    return {k: (X, y.reshape(-1, 1).astype("float32")) for k, (X, y) in d.items()}


def model(seed=0):
    return nn.Linear(30, 1, seed=seed, name="neuron")


def loss(logits, target):
    return gc.losses.binary_cross_entropy_with_logits(logits, target)  # stable for any logit


if __name__ == "__main__":
    graphc.script.main(__file__)
