"""An MLP on scikit-learn's 8×8 handwritten digits (64 → 256 → 128 → 10, ReLU, dropout, Adam) reaching ≥ 97 % test accuracy."""
import os
import sys

import graphc as gc
import graphc.script
from graphc import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import load  # noqa: E402

DEFAULTS = dict(epochs=60, batch_size=32, lr=1e-3, optimizer="adam", patience=10)


def data(fast=False, seed=0):
    return load("digits", seed=seed, fast=fast)


def model(seed=0):
    return nn.Sequential(
        nn.Linear(64, 256, init="kaiming_uniform", seed=seed), nn.ReLU(), nn.Dropout(0.2, seed=seed + 1),
        nn.Linear(256, 128, init="kaiming_uniform", seed=seed + 2), nn.ReLU(), nn.Dropout(0.2, seed=seed + 3),
        nn.Linear(128, 10, seed=seed + 4), name="digits_mlp")


def loss(logits, labels):
    return gc.losses.cross_entropy(logits, labels)  # softmax cross-entropy from logits (log-sum-exp)


if __name__ == "__main__":
    graphc.script.main(__file__)
