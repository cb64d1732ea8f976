"""A tiny transformer encoder learns to sort sequences of 8 digits: ≥ 99 % per-token and ≥ 95 % whole-sequence test accuracy.

Each input is 8 digits drawn uniformly from 0–9, the target is the same digits in ascending order,
predicted position by position (a 10-way softmax at each of the 8 positions). Sorting needs every
output position to compare its candidate with all the input tokens (how many are smaller?), which
is exactly what self-attention provides; an MLP on one position could not do it.

Model: token embedding (10 × 64) plus a learned positional embedding (8 × 64), two pre-norm
TransformerEncoderLayers (4 heads, feed-forward 128), a final LayerNorm and a Linear(64, 10) read-out
per position. Adam with a cosine learning-rate decay (computed in the graph from the optimiser's step
counter) and gradient clipping (clip_norm=1.0). The inputs are tokens (looked up by the embedding, so
there is nothing to standardise); the sequences are random, so the train/val/test split is a plain
seeded one (there are no classes to stratify).

Reported: test per-token accuracy, whole-sequence accuracy (all 8 positions right), and, for
reference, the per-token accuracy of a baseline that ignores the input: at each position, the digit
most often found there in the sorted training targets (about 0.3).

Run: python examples/tiny_transformer.py [--fast] [--epochs N] [--lr LR] [--seed S]
  or graphc train examples/tiny_transformer.py ...
"""
import math
import time

import numpy as np

import graphc as gc
import graphc.script
from graphc import nn
from graphc.data import train_val_test_split

DEFAULTS = dict(epochs=12, batch_size=64, lr=2e-3, optimizer="adam", patience=4, seed=0)
FAST_EPOCHS = 2
LENGTH, VOCAB, D_MODEL, HEADS, FF, LAYERS = 8, 10, 64, 4, 128, 2
N_TRAIN, N_EVAL = 8000, 1000
TOKEN_TARGET, SEQUENCE_TARGET = 0.99, 0.95
ACCURACY = False    # the Trainer's accuracy counts rows, not tokens: the script measures its own


def sorting_task(n, rng, length=LENGTH):
    """(tokens (n, length) int64, sorted tokens (n, length) int64)."""
    X = rng.integers(0, VOCAB, (n, length)).astype(np.int64)
    return X, np.sort(X, axis=1)


def data(fast=False, seed=0):
    n = 1200 if fast else N_TRAIN + 2 * N_EVAL
    X, Y = sorting_task(n, np.random.default_rng(seed))
    train, val, test = train_val_test_split(X, Y, val=N_EVAL / (N_TRAIN + 2 * N_EVAL), test=N_EVAL / (N_TRAIN + 2 * N_EVAL),
                                            seed=seed)
    return {"train": train, "val": val, "test": test}


class TinyTransformer(nn.Module):
    """Token + positional embeddings, pre-norm encoder layers, LayerNorm, per-position Linear read-out."""

    def __init__(self, length=LENGTH, vocab=VOCAB, d_model=D_MODEL, heads=HEADS, ff=FF, layers=LAYERS, seed=0,
                 name="tiny_transformer"):
        super().__init__(name, seed=seed)
        self.embed = nn.Embedding(vocab, d_model, seed=seed)
        self.position = self.param("position", (length, d_model), lambda shape, rng: rng.normal(0, 1, shape))
        self.encoder = nn.Sequential(*[nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, norm_first=True,
                                                                  seed=seed + 1 + i) for i in range(layers)])
        self.norm = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, vocab, seed=seed + 1 + layers)

    def forward(self, tokens):                                  # (N, L) int64 -> logits (N, L, vocab)
        h = self.embed(tokens) + self.position                  # (N, L, d): the position added by broadcasting
        return self.readout(self.norm(self.encoder(h)))


def model(seed=0):
    return TinyTransformer(seed=seed)


def loss(logits, targets):
    return gc.losses.cross_entropy(logits, targets)   # softmax over the last axis, mean over all N·L positions


def optimizer(params, lr, total_steps=None):
    total_steps = total_steps or DEFAULTS["epochs"] * math.ceil(N_TRAIN / DEFAULTS["batch_size"])
    return gc.optim.Adam(params, lr=gc.optim.CosineLR(lr, total_steps, min_lr=lr / 20), clip_norm=1.0)


def accuracies(predicted, targets):
    hit = predicted == targets
    return float(hit.mean()), float(hit.all(axis=1).mean())


def run(cfg):
    start = time.perf_counter()
    d = data(cfg.fast, cfg.seed)
    epochs = min(cfg.epochs, FAST_EPOCHS) if cfg.fast else cfg.epochs
    net = model(cfg.seed)
    steps = epochs * math.ceil(len(d["train"][0]) / cfg.batch_size)
    trainer = gc.Trainer(net, loss, optimizer(net.parameters(), cfg.lr, steps), backend=cfg.backend, accuracy=False)
    history = trainer.fit(*d["train"], epochs=epochs, batch_size=cfg.batch_size, validation=d["val"], seed=cfg.seed,
                          early_stopping=cfg.patience, progress=cfg.progress)
    if cfg.save:
        trainer.save(cfg.save)
    X, Y = d["test"]
    predicted = trainer.predict(X).argmax(axis=-1)
    token_acc, seq_acc = accuracies(predicted, Y)
    Ytr = d["train"][1]
    by_position = np.array([np.bincount(Ytr[:, i], minlength=VOCAB).argmax() for i in range(Ytr.shape[1])])
    baseline_token = float((Y == by_position).mean())       # the most common digit at each sorted position
    if not cfg.fast:
        for i in range(3):
            print(f"input {X[i]}  sorted {Y[i]}  predicted {predicted[i]}")
        met = token_acc >= TOKEN_TARGET and seq_acc >= SEQUENCE_TARGET
        print(f"per-token accuracy {token_acc:.4f} (target ≥ {TOKEN_TARGET}), whole-sequence {seq_acc:.4f} "
              f"(target ≥ {SEQUENCE_TARGET}): {'met' if met else 'MISSED'}")
    result = dict(test_token_accuracy=round(token_acc, 4), test_sequence_accuracy=round(seq_acc, 4),
                  baseline_token_accuracy=round(baseline_token, 4), test_loss=round(trainer.evaluate(X, Y)["loss"], 4),
                  epochs=len(history))
    if history.best_epoch is not None:
        result["best_epoch"] = history.best_epoch
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


if __name__ == "__main__":
    graphc.script.main(__file__)
