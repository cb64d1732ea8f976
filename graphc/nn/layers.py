"""Feed-forward layers: Linear/Dense, Conv1d/2d, pooling, Flatten, Dropout, Embedding and activation modules."""
from __future__ import annotations

import math

import numpy as np

from .. import dsl, shapes
from ..tensor import Tensor, as_tensor
from .module import Module
from ..errors import ArgumentError
from ..ops.arguments import Count, Probability  # noqa: F401  (annotations that are checked)


def _uniform_bound(fan_in):
    """PyTorch's default bias initialiser: U(-1/√fan_in, 1/√fan_in)."""
    b = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return lambda shape, rng: rng.uniform(-b, b, size=shape)


class Linear(Module):
    """y = x @ W + b with W of shape (in_features, out_features) (so fan_in is W.shape[0]); x may have
    any number of leading dims. Weight init: Xavier/Glorot uniform unless `init` says otherwise."""

    def __init__(self, in_features: Count, out_features: Count, bias: bool = True, init="xavier_uniform",
                 bias_init="zeros", name=None, seed=None, rng=None):
        super().__init__(name, seed=seed, rng=rng)
        self.in_features, self.out_features = in_features, out_features
        self.weight = self.param("weight", (in_features, out_features), init)
        self.bias = self.param("bias", (out_features,), bias_init) if bias else None

    def forward(self, x):
        y = dsl.matmul(x, self.weight)
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}"


class Dense(Linear):
    """Linear followed by an optional activation (a name such as 'relu', a function, or a module)."""

    def __init__(self, in_features: Count, out_features: Count, activation=None, **kw):
        super().__init__(in_features, out_features, **kw)
        self._activation = activation_fn(activation) if activation is not None else None

    def forward(self, x):
        y = super().forward(x)
        return self._activation(y) if self._activation is not None else y


class _ConvNd(Module):
    nd = 0

    def __init__(self, in_channels: Count, out_channels: Count, kernel_size, stride=1, padding=0, dilation=1,
                 groups: Count = 1, bias: bool = True, init="kaiming_uniform", bias_init=None, name=None, seed=None, rng=None):
        super().__init__(name, seed=seed, rng=rng)
        if in_channels % groups or out_channels % groups:
            raise ArgumentError(f"{type(self).__name__}: in_channels {in_channels} and out_channels {out_channels} must divide by groups={groups}")
        k = (kernel_size,) * self.nd if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        wshape = (out_channels, in_channels // groups) + k
        self.weight = self.param("weight", wshape, init)
        fan_in = (in_channels // groups) * int(np.prod(k))
        self.bias = self.param("bias", (out_channels,), bias_init or _uniform_bound(fan_in)) if bias else None

    def forward(self, x):
        return dsl.conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return f"{self.in_channels} -> {self.out_channels}, kernel={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, W); weight (out, in/groups, K); default init He uniform."""
    nd = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W); weight (out, in/groups, KH, KW); stride, padding (int,
    pair, 'same', 'valid'), dilation and groups as gc.conv2d; default init He uniform."""
    nd = 2


class _Pool(Module):
    fn = None

    def __init__(self, kernel_size, stride=None, padding=0, name=None):
        super().__init__(name)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return type(self).fn(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel={self.kernel_size}, stride={self.stride or self.kernel_size}"


class MaxPool1d(_Pool):
    fn = staticmethod(dsl.max_pool1d)


class MaxPool2d(_Pool):
    fn = staticmethod(dsl.max_pool2d)


class AvgPool1d(_Pool):
    fn = staticmethod(dsl.avg_pool1d)


class AvgPool2d(_Pool):
    fn = staticmethod(dsl.avg_pool2d)


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1·d2·...): every dim from `start_dim` on merged into one."""

    def __init__(self, start_dim: int = 1, name=None):
        super().__init__(name)
        self.start_dim = start_dim

    def forward(self, x):
        s = self.start_dim
        return dsl.reshape(x, tuple(x.shape[:s]) + (shapes.prod(x.shape[s:]),))


class Dropout(Module):
    """Inverted dropout: in training, zero each value with probability p and scale the others by
    1/(1-p) (the mean is preserved); the identity in evaluation mode. The mask is keyed by the
    layer's seed (fixed at construction: `seed=`, else drawn from `rng`) and by the model's int64
    step counter, so masks differ every step and the same seed reproduces a run."""

    def __init__(self, p: Probability = 0.5, seed=None, rng=None, name=None):
        super().__init__(name, rng=rng)
        if not 0 <= p < 1:
            raise ArgumentError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.seed = int(seed) if seed is not None else int(self.rng.integers(1, 2 ** 31))

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return dsl.dropout(x, self.p, seed=self.seed, counter=self.step_counter(), training=True)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table: int indices (...) -> rows of weight (num_embeddings, dim), shape (..., dim).
    Its gradient scatter-adds into the rows used. Default init N(0, 1) as PyTorch."""

    def __init__(self, num_embeddings: Count, embedding_dim: Count, init=None, name=None, seed=None, rng=None):
        super().__init__(name, seed=seed, rng=rng)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = self.param("weight", (num_embeddings, embedding_dim),
                                 init or (lambda shape, rng: rng.standard_normal(shape)))

    def forward(self, indices):
        indices = indices if isinstance(indices, Tensor) else as_tensor(np.asarray(indices, np.int64))
        flat = dsl.reshape(indices, (shapes.prod(indices.shape),)) if indices.ndim != 1 else indices
        rows = dsl.take(self.weight, flat, axis=0)
        return rows if indices.ndim == 1 else dsl.reshape(rows, tuple(indices.shape) + (self.embedding_dim,))


# -- activations as modules --------------------------------------------------------------------
class Activation(Module):
    """An elementwise function as a layer: `Activation(gc.tanh)` or one of the named subclasses."""

    fn = None

    def __init__(self, fn=None, name=None, **options):
        super().__init__(name)
        self._fn = fn or type(self).fn
        self.options = options

    def forward(self, x):
        return self._fn(x, **self.options)


class Identity(Activation):
    fn = staticmethod(lambda x: x)


class ReLU(Activation):
    fn = staticmethod(dsl.relu)


class Sigmoid(Activation):
    fn = staticmethod(dsl.sigmoid)


class Tanh(Activation):
    fn = staticmethod(dsl.tanh)


class GELU(Activation):
    fn = staticmethod(dsl.gelu)


class Softplus(Activation):
    fn = staticmethod(dsl.softplus)


class Step(Activation):
    """The Heaviside step (threshold unit): 1 for x > 0, else 0."""
    fn = staticmethod(dsl.step)


class LeakyReLU(Activation):
    def __init__(self, alpha: float = 0.01, name=None):
        super().__init__(dsl.leaky_relu, name, alpha=alpha)


class ELU(Activation):
    def __init__(self, alpha: float = 1.0, name=None):
        super().__init__(dsl.elu, name, alpha=alpha)


class Softmax(Activation):
    def __init__(self, axis: int = -1, name=None):
        super().__init__(dsl.softmax, name, axis=axis)


class LogSoftmax(Activation):
    def __init__(self, axis: int = -1, name=None):
        super().__init__(dsl.log_softmax, name, axis=axis)


ACTIVATIONS = {"relu": dsl.relu, "sigmoid": dsl.sigmoid, "tanh": dsl.tanh, "gelu": dsl.gelu, "softplus": dsl.softplus,
               "leaky_relu": dsl.leaky_relu, "elu": dsl.elu, "softmax": dsl.softmax, "log_softmax": dsl.log_softmax,
               "step": dsl.step, "identity": lambda x: x, "linear": lambda x: x}


def activation_fn(activation):
    """A tensor function from a name in ACTIVATIONS, a callable or a module."""
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        raise ArgumentError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}") from None
