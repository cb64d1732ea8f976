"""Losses and regularisers as graph functions: MSE, MAE, Huber, binary/categorical cross-entropy, NLL, KL, L1/L2.

Every loss computes a per-example value and then reduces it: reduction='mean' (the default),
'sum', or 'none' (the per-example tensor). For the elementwise losses (MSE, MAE, Huber, binary
cross-entropy) an example is an element; for the class-axis losses (cross-entropy, NLL, KL) it is
a row, the class axis being summed first. Probabilities, logits and targets are tensors (or arrays).
Reachable as `gc.losses`.
"""
from __future__ import annotations

import numpy as np

from . import dsl, dtypes, shapes
from .errors import ArgumentError, ShapeError
from .ops.arguments import Fraction, NonNegative, Positive, check_functions  # noqa: F401  (checked annotations)
from .tensor import Tensor, as_tensor


def _t(x, like=None):
    if isinstance(x, Tensor):
        return x
    a = np.asarray(x)
    return as_tensor(a, like.dtype if like is not None and a.dtype.kind == "f" else None)


def reduce(values, reduction: str = "mean"):
    """Reduce per-example losses: 'mean', 'sum' or 'none'."""
    if reduction == "mean":
        return dsl.mean(values)
    if reduction == "sum":
        return dsl.sum(values)
    if reduction == "none":
        return values
    raise ArgumentError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse(pred, target, reduction: str = "mean", half: bool = False):
    """Mean squared error (y − ŷ)²; half=True gives the ½(y − ŷ)² convention, whose gradient is (ŷ − y)."""
    pred = _t(pred)
    d = dsl.square(pred - _t(target, pred))
    return reduce(0.5 * d if half else d, reduction)


mse_loss = mean_squared_error = mse


def mae(pred, target, reduction: str = "mean"):
    """Mean absolute error |y − ŷ|."""
    pred = _t(pred)
    return reduce(dsl.abs(pred - _t(target, pred)), reduction)


l1_loss = mean_absolute_error = mae


def huber(pred, target, delta: Positive = 1.0, reduction: str = "mean"):
    """Huber: ½d² where |d| ≤ delta, else delta·(|d| − ½delta), with d = ŷ − y."""
    pred = _t(pred)
    a = dsl.abs(pred - _t(target, pred))
    return reduce(dsl.where(a <= delta, 0.5 * dsl.square(a), delta * (a - 0.5 * delta)), reduction)


huber_loss = huber


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean"):
    """−y log σ(z) − (1 − y) log(1 − σ(z)) computed as softplus(z) − y·z = max(z, 0) − y·z + log1p(e^−|z|):
    finite, with gradient σ(z) − y, for logits of any magnitude."""
    z = _t(logits)
    return reduce(dsl.softplus(z) - _t(target, z) * z, reduction)


def binary_cross_entropy(prob, target, reduction: str = "mean", eps: NonNegative = 1e-7):
    """−y log q − (1 − y) log(1 − q) on probabilities q. When q is a sigmoid output, the logits form is
    used (exact and stable); otherwise q is clipped to [eps, 1 − eps] (gradient 0 outside), as Keras does."""
    q = _t(prob)
    if q.node.op.name == "sigmoid":
        return binary_cross_entropy_with_logits(Tensor.of(q.node.inputs[0]), target, reduction)
    y = _t(target, q)
    qc = dsl.minimum(dsl.maximum(q, eps), 1.0 - eps)
    return reduce(-(y * dsl.log(qc) + (1.0 - y) * dsl.log(1.0 - qc)), reduction)


bce = binary_cross_entropy


def _is_labels(target):
    return not dtypes.is_float(target.dtype)


def cross_entropy(logits, target, axis: int = -1, reduction: str = "mean", label_smoothing: Fraction = 0.0):
    """Categorical cross-entropy from logits: −Σ_c t_c · log_softmax(z)_c along `axis` (log-sum-exp
    with the max subtracted, stable for any magnitude). `target` holds integer class labels (the
    logits' shape without the class axis) or float one-hot / soft targets (the logits' shape).
    label_smoothing ε mixes the targets with the uniform distribution: (1 − ε)·t + ε/C."""
    z = _t(logits)
    target = target if isinstance(target, Tensor) else as_tensor(np.asarray(target))
    logp = dsl.log_softmax(z, axis)
    return _soft_nll(logp, target, axis, reduction, label_smoothing)


categorical_cross_entropy = softmax_cross_entropy = cross_entropy


def nll(log_probs, target, axis: int = -1, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities (e.g. from gc.log_softmax): −log p[label], or
    −Σ t·log p for float targets."""
    lp = _t(log_probs)
    target = target if isinstance(target, Tensor) else as_tensor(np.asarray(target))
    return _soft_nll(lp, target, axis, reduction, 0.0, loss="nll")


nll_loss = nll


def _labels_or_targets(logp, target, axis, loss: str):
    """Integer class labels (checked to lie in [0, C) at every call) or float targets of the logits' shape;
    an (N, 1) integer column is taken as labels, anything else is refused naming the target."""
    c = logp.shape[axis]
    label_shape = logp.shape[:axis] + logp.shape[axis + 1:]
    same = lambda a, b: len(a) == len(b) and all(shapes.dims_equal(x, y) for x, y in zip(a, b))  # noqa: E731
    if _is_labels(target):
        if same(target.shape, logp.shape[:axis] + (1,) + logp.shape[axis + 1:]) and not same(target.shape, label_shape):
            target = dsl.reshape(target, label_shape)  # an (N, 1) column of labels
        if not same(target.shape, label_shape):
            raise ShapeError(f"{loss}: integer labels must have shape {shapes.fmt_shape(label_shape)} (the logits' "
                             f"{shapes.fmt_shape(logp.shape)} without the class axis), got {shapes.fmt_shape(target.shape)}")
        return dsl.check_range(target, 0, c, what=f"{loss}: class labels", name="labels")
    if not same(target.shape, logp.shape):
        hint = (" (class labels must be integers: labels.astype('int64'))" if same(target.shape, label_shape) else "")
        raise ShapeError(f"{loss}: float targets must have the logits' shape {shapes.fmt_shape(logp.shape)}, got "
                         f"{shapes.fmt_shape(target.shape)}{hint}")
    return target


def _soft_nll(logp, target, axis, reduction, smoothing, loss="cross_entropy"):
    axis = shapes.normalize_axis(axis, logp.ndim, f"{loss}: the class axis")
    c = logp.shape[axis]
    target = _labels_or_targets(logp, target, axis, loss)
    if _is_labels(target):
        hot = dsl.one_hot(target, c, dtype=logp.dtype)     # (..., C): move the class axis into place
        if axis != logp.ndim - 1:
            hot = dsl.transpose(hot, tuple(range(axis)) + (logp.ndim - 1,) + tuple(range(axis, logp.ndim - 1)))
        t = hot
    else:
        t = _t(target, logp)
    if smoothing:
        t = (1.0 - smoothing) * t + smoothing / c
    return reduce(-dsl.sum(t * logp, axis), reduction)


def kl_div(p_logits, q_logits, axis: int = -1, temperature: Positive = 1.0, reduction: str = "mean"):
    """KL(p ‖ q) = Σ p (log p − log q) of the softmax distributions of two sets of logits at a temperature,
    computed from log-softmaxes (stable). Per row, reduced over rows."""
    p_logits, q_logits = _t(p_logits), _t(q_logits)
    logp = dsl.log_softmax(p_logits * (1.0 / temperature), axis)
    logq = dsl.log_softmax(q_logits * (1.0 / temperature), axis)
    return reduce(dsl.sum(dsl.exp(logp) * (logp - logq), axis), reduction)


def kl_divergence(p, q, axis: int = -1, reduction: str = "mean", eps: NonNegative = 1e-12):
    """KL(p ‖ q) = Σ p log(p/q) of two probability tensors (terms with p = 0 contribute 0; q clipped at eps)."""
    p = _t(p)
    q = _t(q, p)
    terms = dsl.where(p > 0, p * (dsl.log(dsl.maximum(p, eps)) - dsl.log(dsl.maximum(q, eps))), 0.0)
    return reduce(dsl.sum(terms, axis), reduction)


def distillation(student_logits, teacher_logits, temperature: Positive = 2.0, axis: int = -1, reduction: str = "mean"):
    """Hinton et al.'s distillation loss: T²·KL(softmax(teacher/T) ‖ softmax(student/T)); the T² keeps
    the gradient's scale independent of T. No gradient flows into the teacher's logits."""
    teacher = dsl.stop_gradient(_t(teacher_logits))
    return (temperature ** 2) * kl_div(teacher, student_logits, axis, temperature, reduction)


distillation_loss = distillation


def _penalised(params, include_bias):
    return [p for p in params if include_bias or p.ndim > 1]


def l1_penalty(params, coef: NonNegative = 1.0, include_bias: bool = False):
    """coef·Σ|w| over `params`. Biases are excluded by default, and so is every 1-D parameter (the
    scales and shifts of normalisation layers), the usual practice."""
    ps = _penalised(params, include_bias)
    if not ps:
        return as_tensor(np.float32(0))
    return coef * _add(dsl.sum(dsl.abs(p)) for p in ps)


def l2_penalty(params, coef: NonNegative = 1.0, include_bias: bool = False, half: bool = False):
    """coef·Σw² (coef/2·Σw² with half=True) over `params`, biases and 1-D parameters excluded by default."""
    ps = _penalised(params, include_bias)
    if not ps:
        return as_tensor(np.float32(0))
    return (0.5 * coef if half else coef) * _add(dsl.sum(dsl.square(p)) for p in ps)


def _add(terms):
    terms = list(terms)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def accuracy(logits, target, axis: int = -1):
    """The fraction of rows whose arg-max along `axis` equals the label (a metric, not differentiable).
    `target` holds integer labels, checked as cross_entropy checks them, or one-hot / soft targets of
    the logits' shape, whose arg-max is the label."""
    z = _t(logits)
    target = target if isinstance(target, Tensor) else as_tensor(np.asarray(target))
    axis = shapes.normalize_axis(axis, z.ndim, "accuracy: the class axis")
    target = _labels_or_targets(z, target, axis, "accuracy")
    label = target if _is_labels(target) else dsl.argmax(target, axis)
    pred = dsl.argmax(z, axis)
    return dsl.mean(dsl.cast(dsl.eq(pred, dsl.cast(label, pred.dtype)), dtypes.float32))


def binary_accuracy(prob, target, threshold: float = 0.5):
    """The fraction of predictions q > threshold that match 0/1 targets."""
    q = _t(prob)
    return dsl.mean(dsl.cast(dsl.eq(dsl.cast(q > threshold, dtypes.float32), dsl.cast(_t(target, q), dtypes.float32)), dtypes.float32))


# every public loss checks its annotated arguments (graphc.ops.arguments); an alias shares its wrapper
check_functions(globals(), keep=lambda name, fn: fn.__module__ == __name__)
