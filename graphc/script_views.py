"""What `graphc render` draws for a script: a training script's loss on a few rows, or a graph script's tensors
(its `build()` or top-level `loss`) with their `values`, and the compiled step behind them."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .compiler import compile as compile_fn
from .dsl import grad
from .dsl import input as make_input
from .ir import Graph
from .script import ScriptError, _call, _data, _guard, _kind, _loss_fn, _model, _path
from .tensor import Tensor, as_tensor


def render_target(script, view: str = "backward", seed: int = 0, rows: int = 4):
    """(tensor(s) to draw, input values) for a script: a training script's loss on `rows` training
    examples, or what a graph script's `build()` (or top-level `loss`) returns with its `values`."""
    if callable(getattr(script, "build", None)):
        target = _call(script, "build")
        source = "build()"
    elif all(callable(getattr(script, n, None)) for n in ("data", "model", "loss")):
        cfg = SimpleNamespace(fast=True, seed=seed)
        X, Y = _data(script, cfg)["train"]
        X, Y = np.asarray(X), np.asarray(Y)
        x = make_input("x", (None,) + X.shape[1:], X.dtype)
        y = make_input("y", (None,) + Y.shape[1:], Y.dtype)
        model = _model(script, cfg)
        model.train()
        loss = _loss_fn(script)(_guard(_path(script), lambda: model(x)), y)
        return loss, {"x": X[:rows], "y": Y[:rows]}
    elif hasattr(script, "loss") and not callable(script.loss):
        target, source = script.loss, "the top-level `loss`"
    else:
        raise ScriptError(f"{_path(script)}: nothing to draw: define data/model/loss (a training script), "
                          "build(), or a top-level `loss` tensor")
    outs = list(target) if isinstance(target, (list, tuple)) else [target]
    if not outs or not all(isinstance(t, Tensor) for t in outs):
        raise ScriptError(f"{_path(script)}: {source} must be a graphc tensor or a list of tensors, got "
                          f"{_kind(target) if not isinstance(target, (list, tuple)) else [_kind(t) for t in outs]}")
    values = getattr(script, "values", None)
    if values is not None and not isinstance(values, dict):
        raise ScriptError(f"{_path(script)}: `values` must be a dict {{input name: array}}, got {_kind(values)}")
    if view == "values":
        names = [n.attrs["name"] for n in Graph([as_tensor(t).node for t in outs]).inputs]
        missing = [n for n in names if n not in _names(values or {})]
        if missing:
            raise ScriptError(f"{_path(script)}: the values view computes every node's value, so the script must "
                              f"define a top-level `values = {{name: array}}` for its inputs {names} (missing: {missing})")
    return target, values


def _names(values: dict) -> set:
    """The input names a values dict covers (its keys are names or input tensors)."""
    return {k.node.attrs.get("name") if isinstance(k, Tensor) else k for k in values}


def sample_inputs(inputs, given: dict | None = None, rows: int = 4, seed: int = 0) -> dict:
    """`given`, plus a random array for every other input node: its declared shape with each symbolic
    (batch) dim bound to `rows`; standard normal floats, zeros for integers and booleans (zeros are
    always in range as indices or class labels)."""
    values = dict(given or {})
    covered = _names(values)
    rng = np.random.default_rng(seed)
    for node in inputs:
        name = node.attrs["name"]
        if name in covered:
            continue
        shape = tuple(d if isinstance(d, (int, np.integer)) else rows for d in node.attrs["shape"])
        dtype = np.dtype(node.dtype)
        values[name] = rng.standard_normal(shape).astype(dtype) if dtype.kind in "fc" else np.zeros(shape, dtype)
    return values


def compiled_step(script, target, values):
    """A NumPy-compiled function of `target` and its parameter gradients, called once on `values` (with
    random arrays for any input the script gives no value for: the drawing shows kernels, not numbers)."""
    outs = list(target) if isinstance(target, (list, tuple)) else [target]
    loss = as_tensor(outs[0])
    params = [Tensor.of(p) for p in Graph([loss.node]).params if p.attrs["var"].trainable]
    if loss.ndim == 0 and params:
        outs = outs + grad(loss, params)
    fn = compile_fn(outs, backend="numpy", cast="same_kind")
    fn(**sample_inputs(fn.graph.inputs, values))
    return fn
