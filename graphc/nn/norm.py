"""Normalisation layers: BatchNorm1d/2d (batch statistics in training, running statistics in evaluation) and LayerNorm."""
from __future__ import annotations

import numpy as np
import sympy

from .. import dsl, shapes
from .module import Module
from ..errors import ShapeError
from ..ops.arguments import Count, Fraction, NonNegative  # noqa: F401  (annotations that are checked)


class _BatchNorm(Module):
    """x̂ = (x − μ)/√(ν + ε), then γ·x̂ + β, per channel (axis 1).

    Training mode normalises with the batch mean μ and the *biased* batch variance ν (over every
    axis but the channel axis) and records the running-statistics updates
        running_mean ← (1 − momentum)·running_mean + momentum·μ
        running_var  ← (1 − momentum)·running_var  + momentum·ν·n/(n − 1)   (unbiased, n values per channel)
    (PyTorch's convention), applied by the compiled step through `model.state_updates()`.
    A batch with one value per channel (the last batch of 33 rows at batch size 32) normalises every
    value to β and moves running_mean as usual, but leaves running_var unchanged: its unbiased
    variance is undefined (PyTorch refuses such a batch; here the epoch's last batch just works).
    Evaluation mode normalises with running_mean and running_var (initially 0 and 1).
    """

    ranks: tuple = ()

    def __init__(self, num_features: Count, eps: NonNegative = 1e-5, momentum: Fraction = 0.1, affine: bool = True, name=None):
        super().__init__(name)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = self.param("weight", (num_features,), "ones") if affine else None
        self.bias = self.param("bias", (num_features,), "zeros") if affine else None
        self.running_mean = self.param("running_mean", (num_features,), "zeros", trainable=False, role="state")
        self.running_var = self.param("running_var", (num_features,), "ones", trainable=False, role="state")

    def forward(self, x):
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) '{self.path}': input {shapes.fmt_shape(x.shape)} "
                             f"must have rank {' or '.join(map(str, self.ranks))} with {self.num_features} channels on axis 1")
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training:
            mu = dsl.mean(x, axes)
            nu = dsl.var(x, axes)
            n = shapes.prod(x.shape[a] for a in axes)
            m = self.momentum
            self.record_update(self.running_mean, (1 - m) * self.running_mean + m * dsl.stop_gradient(mu))
            # n is symbolic (the batch size); Min/Max make the one-value case well defined
            # once a call binds it: weight 0 for the undefined unbiased variance
            weight = m * sympy.Min(sympy.Max(n - 1, 0), 1)
            v, r = sympy.symbols("v r", real=True)
            self.record_update(self.running_var, dsl.expr((1 - weight) * r + weight * v * n / sympy.Max(n - 1, 1),
                                                          {r: self.running_var, v: dsl.stop_gradient(nu)}))
        else:
            mu, nu = self.running_mean, self.running_var
        xhat = (x - dsl.reshape(mu, bshape)) * dsl.rsqrt(dsl.reshape(nu, bshape) + self.eps)
        if self.weight is not None:
            xhat = xhat * dsl.reshape(self.weight, bshape) + dsl.reshape(self.bias, bshape)
        return xhat

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over N (and L)."""
    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W."""
    ranks = (4,)


class LayerNorm(Module):
    """Normalise over the last len(normalized_shape) axes with the biased variance, then γ·x̂ + β
    (γ, β of normalized_shape); the same in training and evaluation."""

    def __init__(self, normalized_shape, eps: NonNegative = 1e-5, elementwise_affine: bool = True, name=None):
        super().__init__(name)
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = self.param("weight", self.normalized_shape, "ones") if elementwise_affine else None
        self.bias = self.param("bias", self.normalized_shape, "zeros") if elementwise_affine else None

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ShapeError(f"LayerNorm{self.normalized_shape} '{self.path}': input {shapes.fmt_shape(x.shape)} does not end in it")
        axes = tuple(range(x.ndim - k, x.ndim))
        mu = dsl.mean(x, axes, keepdims=True)
        xhat = (x - mu) * dsl.rsqrt(dsl.var(x, axes, keepdims=True) + self.eps)
        if self.weight is not None:
            xhat = xhat * self.weight + self.bias
        return xhat

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"
