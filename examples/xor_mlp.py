"""A 2-2-1 sigmoid MLP learns XOR by backprop, which no single perceptron can (course example 5)."""
import numpy as np

import graphc as gc
import graphc.script
from graphc import nn

DEFAULTS = dict(epochs=2000, batch_size=4, lr=2.0, optimizer="sgd")
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)


def data(fast=False, seed=0):
    return {"train": (X, Y), "test": (X, Y)}  # the four points are the whole task


def model(seed=0):
    # Xavier-initialised; some initialisations (seed 0 here) fall into XOR's well-known local minimum
    return nn.Sequential(nn.Linear(2, 2, seed=seed + 1), nn.Sigmoid(), nn.Linear(2, 1, seed=seed + 11), nn.Sigmoid(), name="xor")


def loss(output, target):
    return gc.losses.binary_cross_entropy(output, target)


if __name__ == "__main__":
    graphc.script.main(__file__)
