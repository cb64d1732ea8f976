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
A failure is one line on stderr (after the script's own traceback when the script raised it);
--debug re-raises it instead, with the full traceback.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import math
import os
import runpy
import sys
import time
import traceback
from types import SimpleNamespace

import numpy as np

from . import checkpoint, optim
from .dsl import input as make_input
from .errors import GraphcError
from .nn import Module
from .runtime import available_backends, default_backend
from .tensor import Tensor
from .train import Trainer

FIELDS = ("epochs", "batch_size", "lr", "optimizer", "patience", "seed", "backend", "optimize")
BASE_DEFAULTS = dict(epochs=10, batch_size=32, lr=1e-3, optimizer="adam", patience=None, seed=0, backend=None,
                     optimize=2)  # backend None: graphc's default (runtime.default_backend)
OPTIMIZERS = {"sgd": optim.SGD, "momentum": optim.Momentum, "nesterov": optim.Nesterov, "adagrad": optim.AdaGrad,
              "rmsprop": optim.RMSProp, "adam": optim.Adam, "adamw": optim.AdamW}
SPLITS = ("train", "val", "test")


class ScriptError(GraphcError, ValueError):
    """A user script failed or broke the protocol above; for a failure inside the script the message
    is its own traceback, without graphc's frames, and `original` is the exception it raised."""

    def __init__(self, message: str, original: BaseException | None = None):
        super().__init__(message)
        self.original = original


# -- running the script's code -------------------------------------------------------------------
_LOADING: set = set()  # the scripts being executed by load(): main() called from one of them would recurse


def load(path: str) -> SimpleNamespace:
    """Execute a script file and return its top-level names (reporting its own traceback on failure)."""
    if not os.path.isfile(path):
        raise ScriptError(f"no such script: {path}")
    real = os.path.realpath(path)
    _LOADING.add(real)
    try:
        return SimpleNamespace(**_guard(path, lambda: runpy.run_path(path, run_name="graphc_script"), always=True))
    finally:
        _LOADING.discard(real)


def _guard(path: str, fn, always: bool = False):
    """Run fn(); if it raises from inside the script at `path` (or `always`: while running the file
    itself, where a syntax error has no frame), re-raise as ScriptError holding only the script's
    frames. A failure with no frame in the script is graphc's own and passes through unchanged."""
    try:
        return fn()
    except (KeyboardInterrupt, ScriptError):
        raise
    except BaseException as e:  # noqa: BLE001  (any failure in user code is reported, not a crash)
        real = os.path.realpath(path)
        frames = [f for f in traceback.extract_tb(e.__traceback__) if os.path.realpath(f.filename) == real]
        if not frames and not always:
            raise
        text = "".join(traceback.format_exception_only(type(e), e))
        if frames:
            text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text
        raise ScriptError(f"error in {path}:\n{text}".rstrip(), e) from None


def _call(script, name: str, *args, **kwargs):
    """script.<name>(*args, **kwargs), refusing a signature that cannot take them (a protocol error,
    reported as such rather than as a TypeError inside graphc) and reporting failures as the script's."""
    fn, path = getattr(script, name), _path(script)
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as e:
        wanted = ", ".join(["..."] * len(args) + [f"{k}=..." for k in kwargs])
        raise ScriptError(f"{path}: {name}() must accept the call {name}({wanted}): {e}") from None
    except ValueError:  # no signature to check (a builtin or C function): calling it will tell
        pass
    return _guard(path, lambda: fn(*args, **kwargs))


def _path(script) -> str:
    return getattr(script, "__file__", None) or "the script"


def _kind(value) -> str:
    """How a wrong value is described in a message: its type, and its shape for a tensor."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:120] if isinstance(value, (int, float, str)) else type(value).__name__


# -- the configuration -----------------------------------------------------------------------------
def _integer(low: int):
    return lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low


def _positive_number(v) -> bool:
    return (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            and math.isfinite(v) and v > 0)


_RULES = {  # field: (accepts a value, what is expected)
    "epochs": (_integer(1), "a positive integer"),
    "batch_size": (_integer(1), "a positive integer"),
    "patience": (_integer(1), "a positive integer (epochs without improvement before stopping)"),
    "seed": (_integer(0), "a non-negative integer"),
    "lr": (_positive_number, "a positive finite number"),
    "optimizer": (lambda v: isinstance(v, str) and v in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
    "backend": (lambda v: isinstance(v, str) and v in available_backends(), "an available backend"),
    "optimize": (lambda v: not isinstance(v, bool) and v in (0, 1, 2), "0, 1 or 2"),
}


def check_field(name: str, value):
    """`value` if it is valid for the configuration field `name`; else ValueError saying what was expected."""
    ok, expected = _RULES[name]
    if ok(value):
        return value
    if name == "backend":  # listed only when needed: finding the backends imports them
        raise ValueError(f"{value!r} is not an available backend; available: {', '.join(available_backends())}")
    raise ValueError(f"must be {expected}, got {value!r}")


def field_type(name: str, parse):
    """An argparse `type` for field `name`: parse the text, then check it (argparse's one-line error)."""
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            value = text  # reported as typed
        try:
            return check_field(name, value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = name
    return convert


def output_path_type(text: str) -> str:
    """An argparse `type` for a file to write: checked before a long run rather than after it."""
    if not text:
        raise argparse.ArgumentTypeError("must be the path of the .npz file to write, got ''")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; expected the path of the .npz file to write")
    return text


def path_type(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("must be the path of a file, got ''")
    return text


def config_for(script: SimpleNamespace, **overrides) -> SimpleNamespace:
    """The script's DEFAULTS over graphc's, then the caller's non-None overrides; every field checked."""
    defaults = getattr(script, "DEFAULTS", {})
    if not isinstance(defaults, dict):
        raise ScriptError(f"{_path(script)}: DEFAULTS must be a dict such as dict(epochs=20, lr=1e-3), "
                          f"got {_kind(defaults)}")
    cfg = dict(BASE_DEFAULTS, **defaults)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if cfg["backend"] is None:
        cfg["backend"] = default_backend()
    for name in FIELDS:
        if cfg[name] is None and name == "patience":
            continue
        try:
            check_field(name, cfg[name])
        except ValueError as e:
            where = f"the option --{name.replace('_', '-')}" if overrides.get(name) is not None else f"DEFAULTS[{name!r}]"
            raise ScriptError(f"{_path(script)}: {where} {e}") from None
    return SimpleNamespace(**cfg)


# -- checking what the script's functions return ------------------------------------------------------
def _data(script, cfg) -> dict:
    """data(fast, seed), checked: a dict of (X, Y) pairs with a 'train' entry."""
    datasets = _call(script, "data", fast=cfg.fast, seed=cfg.seed)
    where = f"{_path(script)}: data() must return a dict {{'train': (X, Y)}} with optional 'val' and 'test' pairs"
    if not isinstance(datasets, dict):
        raise ScriptError(f"{where}; got {_kind(datasets)}")
    unknown = sorted(map(str, set(datasets) - set(SPLITS)))
    if "train" not in datasets or unknown:
        raise ScriptError(f"{where}; got the keys {sorted(map(str, datasets))}")
    for split, pair in datasets.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ScriptError(f"{where}; {split!r} is {_kind(pair)}, not a pair (X, Y)")
        try:
            shapes = [np.shape(a) for a in pair]
        except (ValueError, TypeError):  # a ragged list, say
            raise ScriptError(f"{where}; {split!r} holds values that are not arrays") from None
        if not all(shapes) or shapes[0][0] != shapes[1][0]:
            raise ScriptError(f"{where}; {split!r} holds arrays of shapes {shapes[0]} and {shapes[1]}: X and Y "
                              "must be arrays with the same number of rows (their first axis)")
    return datasets


def _model(script, cfg) -> Module:
    model = _call(script, "model", seed=cfg.seed)
    if not isinstance(model, Module):
        raise ScriptError(f"{_path(script)}: model(seed) must return a graphc.nn.Module, got {_kind(model)}")
    return model


def _loss_fn(script):
    """The script's loss, checked to give a scalar tensor each time the Trainer builds a graph with it."""
    def loss(output, target):
        value = _call(script, "loss", output, target)
        if not isinstance(value, Tensor) or value.ndim != 0:
            raise ScriptError(f"{_path(script)}: loss(output, target) must return a scalar graphc tensor "
                              f"(a mean over the batch, say), got {_kind(value)}")
        return value
    return loss


def make_optimizer(script, model, cfg):
    if hasattr(script, "optimizer"):
        opt = _call(script, "optimizer", model.parameters(), cfg.lr)
        if not isinstance(opt, optim.Optimizer):
            raise ScriptError(f"{_path(script)}: optimizer(params, lr) must return a graphc.optim optimiser, "
                              f"got {_kind(opt)}")
        return opt
    return OPTIMIZERS[cfg.optimizer](model.parameters(), lr=cfg.lr)


def build(script, cfg):
    """(trainer, data dict) for a standard script."""
    for name in ("data", "model", "loss"):
        if not callable(getattr(script, name, None)):
            raise ScriptError(f"{_path(script)}: the script defines no `{name}` function (see graphc.script's "
                              "docstring), and no `run`")
    datasets = _data(script, cfg)
    model = _model(script, cfg)
    trainer = Trainer(model, _loss_fn(script), make_optimizer(script, model, cfg), backend=cfg.backend, optimize=cfg.optimize,
                      threshold=getattr(script, "THRESHOLD", 0.5), accuracy=getattr(script, "ACCURACY", True))
    return trainer, datasets


# -- the commands ---------------------------------------------------------------------------------------
def train(script, cfg) -> dict:
    """Train a script's model with its defaults (or run its own `run`), evaluate on its test set, save."""
    if callable(getattr(script, "run", None)):
        result = _call(script, "run", cfg)
        if not isinstance(result, dict):
            raise ScriptError(f"{_path(script)}: run(config) must return a dict of results, got {_kind(result)}")
        return result
    trainer, datasets = build(script, cfg)
    X, Y = datasets["train"]
    try:
        history = _guard(_path(script), lambda: trainer.fit(
            X, Y, epochs=cfg.epochs, batch_size=cfg.batch_size, validation=datasets.get("val"), seed=cfg.seed,
            early_stopping=cfg.patience, progress=cfg.progress))
    except FloatingPointError as e:  # the loss became NaN/Inf: the run diverged, which is no fault of graphc
        raise ScriptError(f"{_path(script)}: training diverged: {e} (a smaller --lr may help)", e) from None
    result = {"epochs": len(history), "train_loss": round(history.last["loss"], 4)}
    if history.best_epoch is not None:
        result["best_epoch"] = history.best_epoch
    if "test" in datasets:
        result.update({f"test_{k}": round(v, 4) for k, v in trainer.evaluate(*datasets["test"]).items()})
    if cfg.save:
        trainer.save(cfg.save)
        result["saved"] = cfg.save
    return result


def bench(script, cfg, steps: int) -> dict:
    """Time the script's training step on `cfg.backend`: the first call (compiling, or loading compiled code
    from the cache) and the median of `steps` more calls, on the first `cfg.batch_size` training rows."""
    if callable(getattr(script, "run", None)):
        raise ScriptError(f"{_path(script)}: the script trains with its own run(config); graphc bench times the "
                          "standard protocol (data, model, loss)")
    trainer, datasets = build(script, cfg)
    X, Y = datasets["train"]
    X, Y = X[:cfg.batch_size], Y[:cfg.batch_size]
    start = time.perf_counter()
    _guard(_path(script), lambda: trainer.train_step(X, Y))
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step(X, Y)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"backend": cfg.backend, "batch": len(X), "first_call_s": first, "step_s": times[len(times) // 2]}


def evaluate(script, cfg, checkpoint_path: str) -> dict:
    trainer, datasets = build(script, cfg)
    split = "test" if "test" in datasets else "val" if "val" in datasets else "train"
    X, Y = datasets[split]
    trainer.load(checkpoint_path)
    return {f"{split}_{k}": round(v, 4) for k, v in trainer.evaluate(X, Y).items()}


def format_result(result: dict) -> str:
    return "result: " + " ".join(f"{k}={v}" for k, v in result.items())


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_train_arguments(p: argparse.ArgumentParser):
    p.add_argument("--epochs", type=field_type("epochs", int), help="epochs to train (default: the script's)")
    p.add_argument("--batch-size", type=field_type("batch_size", int), dest="batch_size")
    p.add_argument("--lr", type=field_type("lr", float), help="learning rate (a positive number)")
    p.add_argument("--optimizer", type=field_type("optimizer", str), help=", ".join(OPTIMIZERS))
    p.add_argument("--patience", type=field_type("patience", int), help="early-stopping patience in epochs")
    p.add_argument("--seed", type=field_type("seed", int))
    p.add_argument("--backend", type=field_type("backend", str), help="llvm (the default where llvmlite loads), numpy, "
                   "reference, or another available backend (see `graphc info`)")
    p.add_argument("--optimize", type=field_type("optimize", int), help="compiler passes: 2 (default: all), 1 (graph "
                   "rewrites only) or 0 (none; the unoptimised program)")
    p.add_argument("--fast", action="store_true", help="a small, quick run (smoke tests)")
    p.add_argument("--save", type=output_path_type, help="write the trained parameters and optimiser state to this .npz")
    p.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bar")


def report(command, debug: bool = False, prog: str = "graphc") -> int:
    """Run command() and return its exit status; a failure is one line on stderr and status 1 (130 when
    interrupted), never a traceback, unless `debug`, which re-raises it with the full traceback."""
    try:
        return command()
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except ScriptError as e:
        if debug and e.original is not None:
            raise e.original from None
        if debug:
            raise
        head, _, rest = str(e).partition("\n")  # the script's own traceback lines follow the one line
        print(f"{prog}: {head}" + (f"\n{rest}" if rest else ""), file=sys.stderr)
    except GraphcError as e:
        if debug:
            raise
        print(f"{prog}: {type(e).__name__}: {_one_line(str(e))}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001  (a bug in graphc: still one line, the traceback behind --debug)
        if debug:
            raise
        print(f"{prog}: internal error: {type(e).__name__}: {_one_line(str(e))} (run with --debug for the "
              "traceback)", file=sys.stderr)
    return 1


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def main(path: str, argv=None) -> dict:
    """`python SCRIPT [--epochs N ...]`: train the script's model and print its result line; a failure
    exits with one line on stderr (see report)."""
    if os.path.realpath(path) in _LOADING:
        raise ScriptError(f"{path}: graphc.script.main(__file__) runs while graphc loads the script; call it under "
                          "`if __name__ == \"__main__\":`")
    parser = ArgumentParser(prog=os.path.basename(path), description=(load_doc(path) or "a graphc training script"))
    add_train_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="on failure, show the full traceback")
    args = parser.parse_args(argv)
    result = {}

    def command() -> int:
        script = load(path)
        cfg = config_for(script, **{k: getattr(args, k) for k in FIELDS})
        cfg.fast, cfg.save, cfg.progress = args.fast, args.save, args.progress
        np.set_printoptions(precision=4, suppress=True)
        result.update(train(script, cfg))
        print(format_result(result))
        return 0

    status = report(command, args.debug, prog=os.path.basename(path))
    if status:
        raise SystemExit(status)
    return result


def load_doc(path: str) -> str:
    """The first line of a script's docstring ("" when it has none or cannot be parsed: running it will say why)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read()))
    except (OSError, SyntaxError, ValueError):
        return ""
    return doc.splitlines()[0] if doc else ""


# -- rendering ------------------------------------------------------------------------------------------
def export(script, cfg, out_path: str, checkpoint_path: str | None = None) -> dict:
    """Write a training script's model as ONNX: its inference graph (dropout off, batch norm with its running
    statistics) on an input with a dynamic batch, with the parameters of `checkpoint_path` if given."""
    from . import onnx as gc_onnx  # the optional ONNX package is imported only by this command

    trainer, datasets = build(script, cfg)
    model = trainer.model
    if checkpoint_path:  # into the model itself (a Trainer applies a checkpoint once its steps are built)
        checkpoint.load(checkpoint_path, model)
    X = np.asarray(datasets["train"][0])
    model.eval()
    x = make_input("x", (None,) + X.shape[1:], X.dtype)
    output = _guard(_path(script), lambda: model(x))
    gc_onnx.save({"output": output}, out_path, inputs=[x], name=os.path.splitext(os.path.basename(_path(script)))[0])
    return {"saved": out_path}
