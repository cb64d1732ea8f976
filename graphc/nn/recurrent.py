"""Recurrent layers unrolled over a static sequence length: RNN (tanh), LSTM and GRU, optionally bidirectional.

Inputs are batch-first, x of shape (N, T, F) with T a static int; the graph holds T copies of
the cell sharing one set of parameters (backprop through time is ordinary reverse mode).
Each layer returns (outputs, last): outputs (N, T, D·H) are the hidden states of every step, and
last is h_T (N, D·H), or (h_T, c_T) for the LSTM. D = 2 when bidirectional: a second set of
parameters (suffix `_reverse`) reads the sequence backwards; its state at step t (having seen
x_T..x_t) is concatenated after the forward one, and its `last` is its state after x_1 (PyTorch's).

Gate conventions are PyTorch's, with weights stored transposed for `x @ W`:
weight_ih (F, G·H), weight_hh (H, G·H), bias_ih and bias_hh (G·H), gates stacked in this order
  RNN  (G=1): h' = tanh(x W_ih + b_ih + h W_hh + b_hh)
  LSTM (G=4: i, f, g, o): i, f, o = σ(·), g = tanh(·) of x W_ih + b_ih + h W_hh + b_hh;
              c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
  GRU  (G=3: r, z, n): r = σ(x W_ir + b_ir + h W_hr + b_hr), z = σ(x W_iz + b_iz + h W_hz + b_hz),
              n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h
The initial state is zero unless given (h0, or (h0, c0) for the LSTM, each (N, D·H)). Every weight
and bias is initialised U(−1/√H, 1/√H), as in PyTorch.
"""
from __future__ import annotations

import math

from .. import dsl, shapes
from .module import Module
from ..errors import ShapeError
from ..ops.arguments import Count  # noqa: F401  (annotations that are checked)


class _Recurrent(Module):
    gates = 1

    def __init__(self, input_size: Count, hidden_size: Count, bidirectional: bool = False, name=None, seed=None, rng=None):
        super().__init__(name, seed=seed, rng=rng)
        self.input_size, self.hidden_size, self.bidirectional = input_size, hidden_size, bidirectional
        b = 1.0 / math.sqrt(hidden_size)
        init = lambda shape, rng: rng.uniform(-b, b, size=shape)
        gh = self.gates * hidden_size
        self.weights = []
        for suffix in ("", "_reverse")[: 2 if bidirectional else 1]:
            self.weights.append(tuple(self.param(n + suffix, s, init) for n, s in (
                ("weight_ih", (input_size, gh)), ("weight_hh", (hidden_size, gh)), ("bias_ih", (gh,)), ("bias_hh", (gh,)))))

    def _run(self, x, state, d):
        """One direction over the whole sequence: the hidden states in time order and the final state."""
        w_ih, w_hh, b_ih, b_hh = self.weights[d]
        n_steps = x.shape[1]
        gi = dsl.matmul(x, w_ih) + b_ih                  # (N, T, G·H): every step's input part at once
        order = range(n_steps) if d == 0 else range(n_steps - 1, -1, -1)
        hs = [None] * n_steps
        for t in order:
            state = self.cell(gi[:, t, :], state, w_hh, b_hh)
            hs[t] = state[0] if isinstance(state, tuple) else state
        return hs, state

    def forward(self, x, state=None):
        if x.ndim != 3 or not isinstance(x.shape[1], int) or x.shape[2] != self.input_size:
            raise ShapeError(f"{type(self).__name__} '{self.path}': input {shapes.fmt_shape(x.shape)} must be (N, T, {self.input_size}) "
                             "with a static sequence length T")
        dirs = len(self.weights)
        states = self._split_state(state, dirs)
        runs = [self._run(x, states[d], d) for d in range(dirs)]
        outputs = dsl.stack([dsl.concat([r[0][t] for r in runs], axis=-1) for t in range(x.shape[1])], axis=1)
        finals = [r[1] for r in runs]
        if isinstance(finals[0], tuple):
            last = tuple(dsl.concat([f[i] for f in finals], axis=-1) for i in range(2))
        else:
            last = dsl.concat(finals, axis=-1)
        return outputs, last

    def _split_state(self, state, dirs):
        if state is None:
            return [None] * dirs
        if isinstance(state, tuple):
            parts = [dsl.split(s, dirs, axis=-1) for s in state]
            return [tuple(p[d] for p in parts) for d in range(dirs)]
        return dsl.split(state, dirs, axis=-1)

    def extra_repr(self):
        return f"{self.input_size} -> {self.hidden_size}" + (", bidirectional" if self.bidirectional else "")


class RNN(_Recurrent):
    """Elman RNN with tanh: h' = tanh(x W_ih + b_ih + h W_hh + b_hh)."""

    gates = 1

    def cell(self, gi, h, w_hh, b_hh):
        pre = gi + b_hh if h is None else gi + dsl.matmul(h, w_hh) + b_hh
        return dsl.tanh(pre)


class LSTM(_Recurrent):
    """LSTM with gates (i, f, g, o) in PyTorch's order; the state is (h, c)."""

    gates = 4

    def cell(self, gi, state, w_hh, b_hh):
        h, c = state if state is not None else (None, None)
        pre = gi + b_hh if h is None else gi + dsl.matmul(h, w_hh) + b_hh
        i, f, g, o = dsl.split(pre, 4, axis=-1)
        i, f, g, o = dsl.sigmoid(i), dsl.sigmoid(f), dsl.tanh(g), dsl.sigmoid(o)
        c = i * g if c is None else f * c + i * g
        return o * dsl.tanh(c), c


class GRU(_Recurrent):
    """GRU with gates (r, z, n) in PyTorch's order (the reset gate multiplies h W_hn + b_hn)."""

    gates = 3

    def cell(self, gi, h, w_hh, b_hh):
        gh = b_hh if h is None else dsl.matmul(h, w_hh) + b_hh
        i_r, i_z, i_n = dsl.split(gi, 3, axis=-1)
        h_r, h_z, h_n = dsl.split(gh, 3, axis=-1)
        r = dsl.sigmoid(i_r + h_r)
        z = dsl.sigmoid(i_z + h_z)
        n = dsl.tanh(i_n + r * h_n)
        return (1 - z) * n if h is None else (1 - z) * n + z * h
