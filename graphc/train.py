"""The training loop: compile a model's training and evaluation steps once, then fit with mini-batches,
validation, metrics, early stopping (restoring the best parameters), checkpoints and resumption."""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import checkpoint, data
from .compiler import compile as compile_fn
from .runtime import default_backend
from .errors import InputError, NonFiniteError
from .dsl import argmax, cast, eq, gt, mean, reshape, sum as reduce_sum
from .dsl import input as make_input


@dataclass
class History:
    """One record per epoch: loss, accuracy, val_loss, val_accuracy, seconds (whichever apply)."""

    records: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list:
        return [r.get(key) for r in self.records]

    def __len__(self):
        return len(self.records)

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    def to_dict(self) -> dict:
        return {"records": self.records, "best_epoch": self.best_epoch, "stopped_early": self.stopped_early}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(list(d.get("records", [])), d.get("best_epoch"), d.get("stopped_early", False))

    def plot(self, path: str) -> str:
        """Loss and accuracy curves (train and validation) to an image file; needs matplotlib."""
        try:  # lazy: matplotlib is heavy and optional
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # after use("Agg"): no display needed
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install 'graphc-compiler[plot]'") from e
        epochs = self["epoch"]
        metrics = [m for m in ("loss", "accuracy") if any(v is not None for v in self[m])]
        fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
        for ax, m in zip(axes[0], metrics):
            ax.plot(epochs, self[m], label="train")
            if any(v is not None for v in self["val_" + m]):
                ax.plot(epochs, self["val_" + m], label="validation")
            if self.best_epoch is not None:
                ax.axvline(self.best_epoch, color="grey", linestyle=":", label="best")
            ax.set_xlabel("epoch"), ax.set_ylabel(m), ax.legend()
        fig.tight_layout()
        checkpoint.atomic_write(path, lambda f: fig.savefig(f, format=path.rsplit(".", 1)[-1]))
        plt.close(fig)
        return path


@dataclass
class EarlyStopping:
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs; restore the best parameters."""

    patience: int = 5
    monitor: str = "val_loss"
    min_delta: float = 0.0
    restore_best: bool = True

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best + self.min_delta if "accuracy" in self.monitor else value < best - self.min_delta


class Trainer:
    """Compiles `loss_fn(model(x), y)` into one training step (forward, backward, optimiser and state
    updates) and an evaluation step, and runs them over NumPy data.

    loss_fn(output, target) -> scalar tensor. Accuracy is computed in the graph: arg-max for outputs
    with several columns (integer or one-hot targets), a threshold for one column (`threshold`: 0.5
    for probabilities, 0.0 for logits).

    Data arrive as users have them: floating-point X and Y (float64 from pandas or scikit-learn) and
    uint8 X (images) are cast to the model's floating dtype, values unchanged (scale images
    yourself); other integer arrays (class labels, token ids) keep their values, as int64 when
    their type is not int32/int64. A direct
    `gc.compile` call keeps its strict cast='safe' rule."""

    def __init__(self, model, loss_fn, optimizer, *, backend: str | None = None, accuracy: bool = True,
                 threshold: float = 0.5, debug: bool = False, optimize: int = 2):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.backend, self.accuracy, self.threshold, self.debug = backend or default_backend(), accuracy, threshold, debug
        self.optimize = optimize  # gc.compile's optimisation level for every step it compiles
        self.history = History()
        self.epoch = 0  # epochs completed, across fit() calls and resumptions
        self._step = self._eval = self._predict = None
        self._signature = None
        self._pending_load: str | None = None  # a checkpoint to apply once the steps (and optimiser slots) exist

    # -- graph building ------------------------------------------------------------------------
    def _build(self, X: np.ndarray, Y: np.ndarray | None):
        signature = (X.shape[1:], X.dtype, None if Y is None else (Y.shape[1:], Y.dtype))
        if self._signature == signature:
            return
        if self._signature is not None and self._signature[:2] != signature[:2]:
            raise InputError(f"inputs of shape {(None,) + X.shape[1:]} {X.dtype} differ from the compiled "
                             f"{(None,) + self._signature[0]} {self._signature[1]}")
        x = make_input("x", (None,) + X.shape[1:], X.dtype)
        y = make_input("y", (None,) + Y.shape[1:], Y.dtype) if Y is not None else None
        self.model.train()
        out = self.model(x)
        loss = self.loss_fn(out, y)
        outputs = [loss] + ([self._correct(out, y)] if self.accuracy else [])
        updates = dict(self.optimizer.updates(loss))
        updates.update(self.model.state_updates())
        step = compile_fn(outputs, updates=updates, backend=self.backend, debug=self.debug, cast="same_kind",
                          optimize=self.optimize)
        self._step = self.optimizer.wrap(step) if hasattr(self.optimizer, "wrap") else step
        self.model.eval()
        out_e = self.model(x)
        self._eval = compile_fn([self.loss_fn(out_e, y)] + ([self._correct(out_e, y)] if self.accuracy else []),
                                backend=self.backend, debug=self.debug, cast="same_kind",
                                optimize=self.optimize)
        self._predict = compile_fn(out_e, backend=self.backend, cast="same_kind", optimize=self.optimize)
        self.model.train()
        self._signature = signature
        if self._pending_load is not None:
            path, self._pending_load = self._pending_load, None
            self.load(path)

    def _correct(self, out, y):
        """The batch's accuracy times its number of rows, as a graph value: summed over batches and divided
        by the number of rows it is the accuracy, also when every row holds several predictions (tokens)."""
        if out.ndim >= 2 and out.shape[-1] != 1:
            pred = argmax(out, axis=-1)
            target = argmax(y, axis=-1) if y.ndim == out.ndim else y
            hit = eq(pred, cast(target, pred.dtype))
        else:
            hit = eq(gt(reshape(out, (-1,)), self.threshold), gt(reshape(cast(y, "float32"), (-1,)), 0.5))
        rows = out.shape[0]
        per_row = hit if hit.ndim <= 1 else mean(cast(hit, "float32"), axis=tuple(range(1, hit.ndim)))
        return reduce_sum(cast(per_row, "float32")) if hit.ndim >= 1 else cast(hit, "float32") * rows

    # -- data ----------------------------------------------------------------------------------
    def _model_dtype(self) -> np.dtype:
        floats = [p.value.dtype for p in self.model.parameters() if p.value.dtype.kind == "f"]
        return floats[0] if floats else np.dtype("float32")

    def _array(self, a, name: str, what: str, images: bool) -> np.ndarray:
        """`a` as an array of rows in the dtype the compiled steps take (see the class docstring)."""
        try:
            a = np.asarray(a)
        except (ValueError, TypeError) as e:
            raise InputError(f"{what}: {name} cannot be read as an array ({e})") from None
        if a.ndim == 0:
            raise InputError(f"{what}: {name} is a scalar; expected an array whose first axis holds the examples")
        if a.dtype.kind == "f" or (images and a.dtype == np.uint8):
            return a.astype(self._model_dtype(), copy=False)
        if a.dtype.kind not in "iub":
            raise InputError(f"{what}: {name} holds {a.dtype} values; expected numbers")
        if a.dtype.kind in "iu" and a.dtype not in (np.int32, np.int64):  # labels as uint8, int16, ...
            if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
                raise InputError(f"{what}: {name} holds uint64 values above the int64 range")
            return a.astype(np.int64)
        return a

    def _data(self, X, Y, what: str, batch_size) -> tuple:
        X = self._array(X, "X", what, images=True)
        Y = None if Y is None else self._array(Y, "Y", what, images=False)
        if Y is not None and len(X) != len(Y):
            raise InputError(f"{what}: X has {len(X)} rows but Y has {len(Y)}; they must match")
        if len(X) == 0:
            raise InputError(f"{what}: X has no rows")
        return X, Y, data.integer_at_least(batch_size, "batch_size")

    # -- running -------------------------------------------------------------------------------
    def train_step(self, X, Y) -> dict:
        """One optimisation step on the batch (X, Y), compiled on first use: its loss (and accuracy) before the
        update. For loops of one's own, and for timing a step (`graphc bench`)."""
        X, Y, _ = self._data(X, Y, "train_step", 1)
        self._build(X, Y)
        res = self._step(x=X, y=Y)
        out = {"loss": float(res[0])}
        if self.accuracy:
            out["accuracy"] = float(res[1]) / len(X)
        return out

    def evaluate(self, X, Y, batch_size: int = 256) -> dict:
        """Mean loss (and accuracy) over (X, Y) in evaluation mode."""
        X, Y, batch_size = self._data(X, Y, "evaluate", batch_size)
        self._build(X, Y)
        total_loss, total_correct = 0.0, 0.0
        for xb, yb in data.batches((X, Y), batch_size, shuffle=False):
            res = self._eval(x=xb, y=yb)
            total_loss += float(res[0]) * len(xb)
            total_correct += float(res[1]) if self.accuracy else 0.0
        out = {"loss": total_loss / len(X)}
        if self.accuracy:
            out["accuracy"] = total_correct / len(X)
        return out

    def predict(self, X, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for X in evaluation mode, batch by batch."""
        if self._predict is None:
            raise InputError("predict needs the model compiled: call fit or evaluate first")
        X = self._array(X, "X", "predict", images=True)
        batch_size = data.integer_at_least(batch_size, "batch_size")
        if len(X) == 0:  # the compiled forward pass takes an empty batch and gives the right empty shape
            return self._predict(x=X)
        return np.concatenate([self._predict(x=xb) for (xb,) in data.batches((X,), batch_size, shuffle=False)])

    def fit(self, X, Y, *, epochs: int = 10, batch_size: int = 32, validation=None, shuffle: bool = True,
            seed: int = 0, early_stopping: EarlyStopping | int | None = None, progress: bool = True,
            checkpoint_path: str | None = None, callbacks=(), drop_last: bool = False) -> History:
        """Train for `epochs` more epochs. validation: (X_val, Y_val) evaluated after each epoch.
        early_stopping: an EarlyStopping or a patience. checkpoint_path: saved after every epoch, so
        `Trainer.resume(path)` continues exactly where training stopped. callbacks: f(trainer, record).
        drop_last: skip each epoch's last, incomplete batch (off by default, as in PyTorch's DataLoader:
        every row is trained on; batch norm handles a last batch of one row, see BatchNorm1d)."""
        X, Y, batch_size = self._data(X, Y, "fit", batch_size)
        epochs = data.integer_at_least(epochs, "fit: epochs", minimum=0)
        if drop_last and len(X) < batch_size:
            raise InputError(f"fit: drop_last=True with {len(X)} rows and batch_size {batch_size} leaves no batch to train on")
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                raise InputError("fit: validation must be a pair (X_val, Y_val)")
            validation = self._data(*validation, "fit(validation=...)", 256)[:2]
        self._build(X, Y)
        stopper = EarlyStopping(patience=early_stopping) if isinstance(early_stopping, int) else early_stopping
        if stopper is not None and validation is None and stopper.monitor.startswith("val_"):
            stopper.monitor = stopper.monitor[4:]
        best_value, best_snapshot, waited = None, None, 0
        bar = _progress(epochs, progress)
        for _ in range(epochs):
            epoch, start = self.epoch + 1, time.perf_counter()
            total_loss, total_correct, rows = 0.0, 0.0, 0
            for xb, yb in data.batches((X, Y), batch_size, shuffle=shuffle, seed=(seed, epoch), drop_last=drop_last):
                res = self._step(x=xb, y=yb)
                total_loss += float(res[0]) * len(xb)
                total_correct += float(res[1]) if self.accuracy else 0.0
                rows += len(xb)
            record = {"epoch": epoch, "loss": total_loss / rows}
            if self.accuracy:
                record["accuracy"] = total_correct / rows
            if validation is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(*validation).items()})
            record["seconds"] = time.perf_counter() - start
            if not math.isfinite(record["loss"]):
                raise NonFiniteError(f"epoch {epoch}: the training loss is {record['loss']}; "
                                         "compile with debug=True (Trainer(debug=True)) to find the first node producing it")
            self.history.records.append(record)
            self.epoch = epoch
            bar.update(record)
            for cb in callbacks:
                cb(self, record)
            if stopper is not None:
                value = record[stopper.monitor]
                if stopper.better(value, best_value):
                    best_value, waited, self.history.best_epoch = value, 0, epoch
                    best_snapshot = self._snapshot()
                else:
                    waited += 1
            if checkpoint_path:
                self.save(checkpoint_path)
            if stopper is not None and waited >= stopper.patience:
                self.history.stopped_early = True
                break
        bar.close()
        if stopper is not None and stopper.restore_best and best_snapshot is not None:
            self._restore(best_snapshot)
            if checkpoint_path:
                self.save(checkpoint_path)
        return self.history

    # -- state ---------------------------------------------------------------------------------
    def _tensors(self):
        return checkpoint._tensors(self.model, self.optimizer)

    def _snapshot(self) -> dict:
        return {k: p.value.copy() for k, p in self._tensors().items() if not k.startswith("optim:")}

    def _restore(self, snapshot: dict):
        tensors = self._tensors()
        for k, v in snapshot.items():
            tensors[k].value[...] = v

    def save(self, path: str) -> str:
        """Parameters, model state, optimiser state, the epoch count and the history (atomic .npz)."""
        return checkpoint.save(path, self.model, self.optimizer, meta={"epoch": self.epoch, "history": self.history.to_dict()})

    def load(self, path: str) -> "Trainer":
        """Restore a checkpoint written by save(); before the first fit/evaluate it is applied once the
        steps are built (the optimiser creates its slots then)."""
        if self._signature is None:
            meta = checkpoint.read_meta(path)
            self.epoch, self.history = _progress_of(meta, path)
            self._pending_load = path
            return self
        meta = checkpoint.load(path, self.model, self.optimizer)
        self.epoch, self.history = _progress_of(meta, path)
        return self


def _progress_of(meta: dict, path) -> tuple[int, "History"]:
    """The epoch count and history a Trainer checkpoint's metadata holds, checked."""
    epoch, history = meta.get("epoch", 0), meta.get("history", {})
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise checkpoint.CheckpointError(f"cannot read checkpoint {str(path)!r}: its epoch count {epoch!r} is not a "
                                         "non-negative integer")
    records = history.get("records", []) if isinstance(history, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise checkpoint.CheckpointError(f"cannot read checkpoint {str(path)!r}: its training history is malformed")
    return epoch, History.from_dict(history)


class _progress:
    """A tqdm bar over epochs when tqdm is installed (one line per epoch otherwise); silent when disabled."""

    def __init__(self, total: int, enabled: bool):
        self.enabled, self.bar = enabled, None
        if enabled:
            try:  # lazy: only a run that shows progress needs it
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit="epoch", file=sys.stderr)
            except ImportError:
                pass

    def update(self, record: dict):
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds"))
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(1)
        else:
            print(f"epoch {record['epoch']}: {text}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
