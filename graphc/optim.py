"""Optimisers as graph updates (SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam, AdamW), gradient clipping and learning-rate schedules.

An optimiser turns a loss into `{tensor: new value}` updates for gc.compile, so that forward,
backward and update are one compiled function:

    opt = gc.optim.Adam(model.parameters(), lr=1e-3)
    step = gc.compile([loss, acc], updates=opt.updates(loss) | model.state_updates(), backend="numpy")

Its state (moments, accumulators, the int64 step counter `t` = steps completed) lives in
non-trainable parameters (`role="state"`) that the compiled step updates in place, together with
the weights; all updates read the values from before the step. Update formulas follow PyTorch's
documented algorithms (see each class). Gradients are first clipped by value (`clip_value`), then
by global norm (`clip_norm`, PyTorch's clip_grad_norm_: g·min(1, c/(‖g‖ + 1e-6))), then weight decay
is added (`g + wd·w`, L2; AdamW decays the weights directly instead).

Learning rates: a float; a Schedule (StepLR, ExponentialLR, CosineLR), computed in the graph from
the optimiser's step counter; or any Python callable `lr(t) -> float`, which is host-side: the
optimiser keeps a float32 state tensor `name/lr` that the graph reads, and `opt.feed_lr()` sets it
to `lr(t)` from the current counter. Call it before every step, or wrap the compiled step:
`step = opt.wrap(gc.compile(...))` does so for you.

Freezing (fine-tuning): parameters passed as `frozen=`, or whose module was `.freeze()`d (their
`trainable` flag is False when `updates()` is called), get no update and no state.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from . import dsl, dtypes
from .dsl import grad
from .tensor import Param, Tensor, as_tensor
from .errors import ArgumentError, DTypeError
from .ops.arguments import Count, Fraction, NonNegative, Positive, check_init, checked, non_negative, probability  # noqa: F401  (checked annotations)

_names: Counter = Counter()


# -- learning-rate schedules -----------------------------------------------------------------
class Schedule:
    """A learning rate as a function of t, the number of completed steps: `sched(t_tensor)` builds it
    in the graph, `sched.value(t)` evaluates the same formula on the host."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_init(cls)

    def __call__(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def value(self, t: int) -> float:
        raise NotImplementedError


def _f64(t):
    return dsl.cast(t, dtypes.float64)


class StepLR(Schedule):
    """lr·gamma^⌊t / step_size⌋: the rate drops by `gamma` every `step_size` steps."""

    def __init__(self, lr: Positive, step_size: Count, gamma: Positive = 0.1):
        self.lr, self.step_size, self.gamma = lr, int(step_size), gamma

    def __call__(self, t):
        k = dsl.cast(dsl.cast(_f64(t) / float(self.step_size), dtypes.int64), dtypes.float64)  # t ≥ 0: truncation = floor
        return dsl.cast(self.lr * (self.gamma ** k), dtypes.float32)

    def value(self, t):
        return self.lr * self.gamma ** (t // self.step_size)


class ExponentialLR(Schedule):
    """lr·gamma^t."""

    def __init__(self, lr: Positive, gamma: Positive):
        self.lr, self.gamma = lr, gamma

    def __call__(self, t):
        return dsl.cast(self.lr * (self.gamma ** _f64(t)), dtypes.float32)

    def value(self, t):
        return self.lr * self.gamma ** t


class CosineLR(Schedule):
    """Cosine annealing from lr to min_lr over total_steps, then min_lr:
    min_lr + (lr − min_lr)·(1 + cos(π·min(t, T)/T))/2."""

    def __init__(self, lr: Positive, total_steps: Count, min_lr: NonNegative = 0.0):
        self.lr, self.total, self.min_lr = lr, int(total_steps), min_lr

    def __call__(self, t):
        frac = dsl.minimum(_f64(t), float(self.total)) / float(self.total)
        return dsl.cast(self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + dsl.cos(math.pi * frac)), dtypes.float32)

    def value(self, t):
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * min(t, self.total) / self.total))


# -- gradient clipping -------------------------------------------------------------------------
def global_norm(grads) -> Tensor:
    """√(Σ_i Σ g_i²) over a list of gradient tensors."""
    total = None
    for g in grads:
        s = dsl.sum(dsl.square(g))
        total = s if total is None else total + s
    return dsl.sqrt(total)


def clip_by_global_norm(grads, max_norm: float):
    """Scale every gradient by min(1, max_norm/(‖g‖ + 1e-6)), ‖g‖ the global norm; returns (grads, norm)."""
    norm = global_norm(grads)
    scale = dsl.minimum(max_norm / (norm + 1e-6), 1.0)
    return [g * scale for g in grads], norm


def clip_by_value(grads, clip: float):
    """Clamp every gradient element to [−clip, clip]."""
    return [dsl.minimum(dsl.maximum(g, -clip), clip) for g in grads]


# -- optimisers --------------------------------------------------------------------------------
class Optimizer:
    """Base class: collects the trainable parameters, owns the step counter and per-parameter state,
    and builds the update dict. Subclasses define `rule(p, g, lr, t) -> (new_p, {state: new})`."""

    def __init_subclass__(cls, **kwargs):
        """graphc's optimisers and schedules check their annotated arguments (graphc.ops.arguments)."""
        super().__init_subclass__(**kwargs)
        check_init(cls)

    def __init__(self, params, lr=0.01, *, weight_decay: NonNegative = 0.0, clip_norm: Positive | None = None,
                 clip_value: Positive | None = None, frozen=(), name: str | None = None):
        if not isinstance(lr, Schedule) and not callable(lr):
            non_negative(lr, f"{type(self).__name__}: lr")
        if isinstance(params, Param):
            params = [params]
        frozen_ids = {id(p) for p in frozen}
        self.params: list[Param] = []
        for p in params:
            if not isinstance(p, Param):
                raise ArgumentError(f"optimisers update parameters (gc.param), got {p!r}")
            if id(p) not in frozen_ids and p.variable.trainable and all(p is not q for q in self.params):
                self.params.append(p)
        if any(not dtypes.is_float(p.dtype) for p in self.params):
            raise DTypeError("only float parameters can be trained")
        base = name or type(self).__name__.lower()
        k = _names[base]
        _names[base] += 1
        self.name = base if k == 0 or name else f"{base}_{k}"
        self.weight_decay, self.clip_norm, self.clip_value = weight_decay, clip_norm, clip_value
        self._state: dict[tuple[int, str], Param] = {}
        self.step = self._new_state("step", np.int64(0))
        self.lr = lr
        self.lr_param = None
        if callable(lr) and not isinstance(lr, Schedule):
            self.lr_param = self._new_state("lr", np.float32(lr(0)))
        self.grad_norm: Tensor | None = None  # the global gradient norm of the last updates() (before clipping)

    # -- state -----------------------------------------------------------------------------
    def _new_state(self, local, value):
        value = np.asarray(value)
        p = dsl.param(local, value, dtype=value.dtype, trainable=False, role="state")
        p.variable.name, p.node.scope = f"{self.name}/{local}", self.name
        return p

    def slot(self, p: Param, key: str, init: float = 0.0) -> Param:
        """The state tensor `key` of parameter p (created on first use, shaped like p): `name/param path/key`."""
        k = (id(p), key)
        if k not in self._state:
            # a float16 parameter keeps its state in float32 (Adam's v ~ g² underflows float16)
            dtype = dtypes.compute_type(p.value.dtype)
            self._state[k] = self._new_state(f"{p.variable.name}/{key}", np.full(p.value.shape, init, dtype))
        return self._state[k]

    def state(self) -> list[Param]:
        """The optimiser's state tensors: the step counter, the host-fed lr if any, and every slot."""
        return [self.step] + ([self.lr_param] if self.lr_param is not None else []) + list(self._state.values())

    # -- learning rate -----------------------------------------------------------------------
    def lr_tensor(self):
        """The learning rate this step: a float, a schedule of the step counter, or the host-fed state."""
        if isinstance(self.lr, Schedule):
            return self.lr(self.step)
        if self.lr_param is not None:
            return self.lr_param
        return float(self.lr)

    def feed_lr(self) -> float | None:
        """For a callable lr: set the lr state to lr(t), t the current step count; call before each step."""
        if self.lr_param is None:
            return None
        lr = float(self.lr(int(self.step.value)))
        self.lr_param.value = np.float32(lr)
        return lr

    def wrap(self, compiled):
        """A function that feeds the host-side learning rate, then calls the compiled step."""

        def step(**inputs):
            self.feed_lr()
            return compiled(**inputs)

        step.compiled = compiled
        return step

    # -- updates -----------------------------------------------------------------------------
    def gradients(self, loss) -> list[tuple[Param, Tensor]]:
        """(param, processed gradient) for every live parameter: clipped, then with L2 weight decay."""
        live = [p for p in self.params if p.variable.trainable]
        if not live:
            return []
        # a float16 parameter's rule runs in float32 (gradient, state, eps) and its new value is rounded once
        grads = [g if g.dtype == dtypes.compute_type(g.dtype) else dsl.cast(g, dtypes.compute_type(g.dtype))
                 for g in grad(loss, live)]
        self.grad_norm = global_norm(grads)
        if self.clip_value is not None:
            grads = clip_by_value(grads, self.clip_value)
        if self.clip_norm is not None:
            grads, _ = clip_by_global_norm(grads, self.clip_norm)
        if self.weight_decay and self.couples_decay:
            grads = [g + self.weight_decay * p for p, g in zip(live, grads)]
        return list(zip(live, grads))

    couples_decay = True

    def updates(self, loss) -> dict:
        """{param: new value, state: new value, step: step + 1} for one step on `loss` (a scalar)."""
        loss = as_tensor(loss)
        out = {}
        lr = self.lr_tensor()
        for p, g in self.gradients(loss):
            new_p, slots = self.rule(p, g, lr, self.step)
            out[p] = new_p if new_p.dtype == p.dtype else dsl.cast(new_p, p.dtype)
            out.update(slots)
        out[self.step] = self.step + 1
        return out

    def rule(self, p, g, lr, t):
        raise NotImplementedError


Optimizer.__init__ = checked("Optimizer", Optimizer.__init__)  # the base's own arguments (a subclass's **kw)


class SGD(Optimizer):
    """Plain gradient descent w ← w − lr·g, or with momentum μ (PyTorch's form, no dampening):
    v ← μ·v + g;  w ← w − lr·v;  Nesterov: w ← w − lr·(g + μ·v) with the new v."""

    def __init__(self, params, lr=0.01, momentum: NonNegative = 0.0, nesterov: bool = False, **kw):
        super().__init__(params, lr, **kw)
        if nesterov and not momentum:
            raise ArgumentError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov

    def rule(self, p, g, lr, t):
        if not self.momentum:
            return p - lr * g, {}
        v = self.slot(p, "velocity")
        v_new = self.momentum * v + g
        d = g + self.momentum * v_new if self.nesterov else v_new
        return p - lr * d, {v: v_new}


class Momentum(SGD):
    """SGD with momentum (0.9 by default)."""

    def __init__(self, params, lr=0.01, momentum: NonNegative = 0.9, **kw):
        super().__init__(params, lr, momentum=momentum, **kw)


class Nesterov(SGD):
    """SGD with Nesterov momentum (0.9 by default)."""

    def __init__(self, params, lr=0.01, momentum: NonNegative = 0.9, **kw):
        super().__init__(params, lr, momentum=momentum, nesterov=True, **kw)


class AdaGrad(Optimizer):
    """Duchi et al.: G ← G + g²;  w ← w − lr·g/(√G + eps)."""

    def __init__(self, params, lr=0.01, eps: NonNegative = 1e-10, initial_accumulator_value: NonNegative = 0.0, **kw):
        super().__init__(params, lr, **kw)
        self.eps, self.initial = eps, initial_accumulator_value

    def rule(self, p, g, lr, t):
        acc = self.slot(p, "sum", self.initial)
        acc_new = acc + dsl.square(g)
        return p - lr * g / (dsl.sqrt(acc_new) + self.eps), {acc: acc_new}


class RMSProp(Optimizer):
    """Hinton's RMSProp: s ← α·s + (1 − α)·g²;  w ← w − lr·g/(√s + eps); with momentum μ > 0:
    b ← μ·b + g/(√s + eps), w ← w − lr·b."""

    def __init__(self, params, lr=0.01, alpha: Fraction = 0.99, eps: NonNegative = 1e-8, momentum: NonNegative = 0.0, **kw):
        super().__init__(params, lr, **kw)
        self.alpha, self.eps, self.momentum = alpha, eps, momentum

    def rule(self, p, g, lr, t):
        s = self.slot(p, "square_avg")
        s_new = self.alpha * s + (1 - self.alpha) * dsl.square(g)
        step = g / (dsl.sqrt(s_new) + self.eps)
        if not self.momentum:
            return p - lr * step, {s: s_new}
        b = self.slot(p, "momentum")
        b_new = self.momentum * b + step
        return p - lr * b_new, {s: s_new, b: b_new}


RMSprop = RMSProp


def _betas(betas, who: str) -> tuple[float, float]:
    """Adam's (β1, β2): two numbers in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ArgumentError(f"{who}: betas must be a pair (β1, β2), got {betas!r}")
    return tuple(probability(b, f"{who}: betas entry") for b in betas)


class Adam(Optimizer):
    """Kingma & Ba: m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  with n = t + 1 (this step's
    number) m̂ = m/(1 − β1ⁿ), v̂ = v/(1 − β2ⁿ);  w ← w − lr·m̂/(√v̂ + eps). weight_decay adds wd·w to g."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: NonNegative = 1e-8, **kw):
        super().__init__(params, lr, **kw)
        self.beta1, self.beta2 = _betas(betas, type(self).__name__)
        self.eps = eps

    def _adam_step(self, p, g, t):
        m, v = self.slot(p, "m"), self.slot(p, "v")
        m_new = self.beta1 * m + (1 - self.beta1) * g
        v_new = self.beta2 * v + (1 - self.beta2) * dsl.square(g)
        n = _f64(t + 1)
        bc1 = dsl.cast(1.0 - self.beta1 ** n, dtypes.compute_type(p.dtype))
        bc2 = dsl.cast(1.0 - self.beta2 ** n, dtypes.compute_type(p.dtype))
        return (m_new / bc1) / (dsl.sqrt(v_new / bc2) + self.eps), {m: m_new, v: v_new}

    def rule(self, p, g, lr, t):
        step, slots = self._adam_step(p, g, t)
        return p - lr * step, slots


class AdamW(Adam):
    """Loshchilov & Hutter: Adam with decoupled weight decay, w ← w − lr·(m̂/(√v̂ + eps) + wd·w)
    (the decay is not part of the gradient, so the moments never see it). Default wd 0.01."""

    couples_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: NonNegative = 1e-8, weight_decay: NonNegative = 0.01, **kw):
        super().__init__(params, lr, betas, eps, weight_decay=weight_decay, **kw)

    def rule(self, p, g, lr, t):
        step, slots = self._adam_step(p, g, t)
        return p - lr * (step + self.weight_decay * p), slots
