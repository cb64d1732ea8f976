"""Training scripts: how a script declares its model, data and defaults, and running one (CLI and __main__).

A script is a Python file that defines, at top level:

    DEFAULTS = dict(epochs=20, batch_size=32, lr=1e-3, optimizer="adam", patience=None)   # optional
    def data(fast=False, seed=0): return {"train": (X, Y), "val": (X, Y), "test": (X, Y)}  # val/test optional
    def model(seed=0): return a graphc.nn.Module
    def loss(output, target): return a scalar tensor
    def optimizer(params, lr): ...            # optional: a custom graphc.optim optimiser
    def run(config): ...                      # optional: a whole custom procedure returning a result dict

`graphc train SCRIPT`, `graphc eval SCRIPT --load PATH`, and `python SCRIPT` (ending with
`graphc.script.main(__file__)`) all use it. Results end with one line `result: key=value ...`.
"""
from __future__ import annotations

import argparse
import ast
import os
import runpy
import traceback
from types import SimpleNamespace

import numpy as np

from . import optim
from .compiler import compile as compile_fn
from .dsl import grad
from .dsl import input as make_input
from .errors import GraphcError
from .ir import Graph
from .tensor import Tensor, as_tensor
from .train import Trainer

FIELDS = ("epochs", "batch_size", "lr", "optimizer", "patience", "seed", "backend")
BASE_DEFAULTS = dict(epochs=10, batch_size=32, lr=1e-3, optimizer="adam", patience=None, seed=0, backend="numpy")


class ScriptError(GraphcError):
    """A user script failed; the message is the script's own traceback, without graphc's frames."""


def load(path: str) -> SimpleNamespace:
    """Execute a script file and return its top-level names (reporting its own traceback on failure)."""
    if not os.path.isfile(path):
        raise ScriptError(f"no such script: {path}")
    return SimpleNamespace(**_guard(path, lambda: runpy.run_path(path, run_name="graphc_script")))


def _guard(path: str, fn):
    """Run fn(); if it raises, re-raise as ScriptError holding only the frames from the user's script."""
    try:
        return fn()
    except (KeyboardInterrupt, ScriptError):
        raise
    except BaseException as e:  # noqa: BLE001  (any failure in user code is reported, not a crash)
        real = os.path.realpath(path)
        frames = [f for f in traceback.extract_tb(e.__traceback__) if os.path.realpath(f.filename) == real]
        text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(e), e))
        raise ScriptError(f"error in {path}:\nTraceback (most recent call last):\n{text}".rstrip()) from None


def config_for(script: SimpleNamespace, **overrides) -> SimpleNamespace:
    """The script's DEFAULTS over graphc's, then the caller's non-None overrides."""
    cfg = dict(BASE_DEFAULTS, **getattr(script, "DEFAULTS", {}))
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return SimpleNamespace(**cfg)


def make_optimizer(script, model, cfg):
    if hasattr(script, "optimizer"):
        return script.optimizer(model.parameters(), cfg.lr)
    classes = {"sgd": optim.SGD, "momentum": optim.Momentum, "nesterov": optim.Nesterov, "adagrad": optim.AdaGrad,
               "rmsprop": optim.RMSProp, "adam": optim.Adam, "adamw": optim.AdamW}
    if cfg.optimizer not in classes:
        raise ScriptError(f"unknown optimizer {cfg.optimizer!r}; choose one of {sorted(classes)}")
    return classes[cfg.optimizer](model.parameters(), lr=cfg.lr)


def build(script, cfg):
    """(trainer, data dict) for a standard script."""
    for name in ("data", "model", "loss"):
        if not callable(getattr(script, name, None)):
            raise ScriptError(f"the script defines no `{name}` function (see graphc.script's docstring), and no `run`")
    datasets = _guard(script.__file__, lambda: script.data(fast=cfg.fast, seed=cfg.seed))
    model = _guard(script.__file__, lambda: script.model(seed=cfg.seed))
    trainer = Trainer(model, script.loss, make_optimizer(script, model, cfg), backend=cfg.backend,
                      threshold=getattr(script, "THRESHOLD", 0.5), accuracy=getattr(script, "ACCURACY", True))
    return trainer, datasets


def train(script, cfg) -> dict:
    """Train a script's model with its defaults (or run its own `run`), evaluate on its test set, save."""
    if callable(getattr(script, "run", None)):
        return _guard(script.__file__, lambda: script.run(cfg))
    trainer, datasets = build(script, cfg)
    X, Y = datasets["train"]
    history = _guard(script.__file__, lambda: trainer.fit(
        X, Y, epochs=cfg.epochs, batch_size=cfg.batch_size, validation=datasets.get("val"), seed=cfg.seed,
        early_stopping=cfg.patience, progress=cfg.progress))
    result = {"epochs": len(history), "train_loss": round(history.last["loss"], 4)}
    if history.best_epoch is not None:
        result["best_epoch"] = history.best_epoch
    if "test" in datasets:
        result.update({f"test_{k}": round(v, 4) for k, v in trainer.evaluate(*datasets["test"]).items()})
    if cfg.save:
        trainer.save(cfg.save)
        result["saved"] = cfg.save
    return result


def evaluate(script, cfg, checkpoint_path: str) -> dict:
    trainer, datasets = build(script, cfg)
    split = "test" if "test" in datasets else "val" if "val" in datasets else "train"
    X, Y = datasets[split]
    trainer.load(checkpoint_path)
    return {f"{split}_{k}": round(v, 4) for k, v in trainer.evaluate(X, Y).items()}


def format_result(result: dict) -> str:
    return "result: " + " ".join(f"{k}={v}" for k, v in result.items())


def add_train_arguments(p: argparse.ArgumentParser):
    p.add_argument("--epochs", type=int, help="epochs to train (default: the script's)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int)
    p.add_argument("--backend", help="numpy (default) or reference")
    p.add_argument("--fast", action="store_true", help="a small, quick run (smoke tests)")
    p.add_argument("--save", help="write the trained parameters and optimiser state to this .npz")
    p.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bar")


def main(path: str, argv=None) -> dict:
    """`python SCRIPT [--epochs N ...]`: train the script's model and print its result line."""
    parser = argparse.ArgumentParser(prog=os.path.basename(path), description=(load_doc(path) or "a graphc training script"))
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    script = load(path)
    cfg = config_for(script, **{k: getattr(args, k) for k in FIELDS})
    cfg.fast, cfg.save, cfg.progress = args.fast, args.save, args.progress
    np.set_printoptions(precision=4, suppress=True)
    result = train(script, cfg)
    print(format_result(result))
    return result


def load_doc(path: str) -> str:
    with open(path) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    return doc.splitlines()[0] if doc else ""


def render_target(script, view: str = "backward", seed: int = 0, rows: int = 4):
    """(tensor(s) to draw, input values) for a script: a training script's loss on `rows` training
    examples, or what a graph script's `build()` (or top-level `loss`) returns with its `values`."""
    if callable(getattr(script, "build", None)):
        return _guard(script.__file__, script.build), getattr(script, "values", None)
    if all(callable(getattr(script, n, None)) for n in ("data", "model", "loss")):
        X, Y = _guard(script.__file__, lambda: script.data(fast=True, seed=seed))["train"]
        x = make_input("x", (None,) + X.shape[1:], X.dtype)
        y = make_input("y", (None,) + Y.shape[1:], Y.dtype)
        model = _guard(script.__file__, lambda: script.model(seed=seed))
        model.train()
        loss = _guard(script.__file__, lambda: script.loss(model(x), y))
        return loss, {"x": X[:rows], "y": Y[:rows]}
    if hasattr(script, "loss") and not callable(script.loss):
        return script.loss, getattr(script, "values", None)
    raise ScriptError("nothing to draw: define data/model/loss (a training script), build(), or a top-level `loss` tensor")


def compiled_step(script, target, values):
    """A NumPy-compiled function of `target` and its parameter gradients, called once on `values`."""
    outs = list(target) if isinstance(target, (list, tuple)) else [target]
    loss = as_tensor(outs[0])
    params = [Tensor.of(p) for p in Graph([loss.node]).params if p.attrs["var"].trainable]
    if loss.ndim == 0 and params:
        outs = outs + grad(loss, params)
    fn = compile_fn(outs, backend="numpy", cast="same_kind")
    fn(**(values or {}))
    return fn
