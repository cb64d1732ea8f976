"""A denoising autoencoder on the 8×8 digits: reconstruction error on clean and on noisy inputs, against returning the noisy input.

The encoder (64 → 128 → 32) and decoder (32 → 128 → 64) are trained to map a corrupted image back
to the clean one (MSE). The corruption is part of the training graph: a `GaussianNoise` layer adds
N(0, σ²) noise drawn by graphc's counter-based generator, keyed by the model's step counter, so every
step sees fresh noise, and it is the identity in evaluation mode (like dropout). Pixels are
standardised with one mean and std over the training pixels, so σ = 0.6 is about ±3.6 of the 16
grey levels.

Reported on the test set (MSE per pixel, standardised units):
  test_mse_clean      reconstruction of clean inputs
  test_mse_noisy      reconstruction of noisy inputs (fixed noise, seeded), compared with the clean images
  noisy_input_mse     the identity: the noisy input itself compared with the clean image (≈ σ²)
  mean_image_mse      predicting the mean training image whatever the input
The autoencoder should remove most of the noise: test_mse_noisy well below noisy_input_mse.

Run: python examples/autoencoder.py [--fast] [--epochs N] [--lr LR] [--seed S]
  or graphc train examples/autoencoder.py ...
"""
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

import graphc as gc
import graphc.script
from graphc import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _digits import load  # noqa: E402

DEFAULTS = dict(epochs=300, batch_size=64, lr=2e-3, optimizer="adam", patience=15, seed=0)
FAST_EPOCHS = 5
NOISE = 0.6     # σ of the Gaussian corruption, in standardised units
ACCURACY = False


class GaussianNoise(nn.Module):
    """x + N(0, std²) in training (fresh noise every step), the identity in evaluation."""

    def __init__(self, std: float, seed: int = 0, name=None):
        super().__init__(name)
        self.std, self.seed = std, seed

    def forward(self, x):
        if not self.training or self.std == 0:
            return x
        return x + gc.normal(x.shape, std=self.std, seed=self.seed, counter=self.step_counter())


def data(fast=False, seed=0):
    d = load(seed=seed, fast=fast, images=False)               # X (N, 64), standardised
    return {k: (x, x) for k, (x, _) in d.items()}               # the target is the clean input


def model(seed=0):
    encoder = nn.Sequential(nn.Linear(64, 128, init="kaiming_uniform", seed=seed), nn.ReLU(),
                            nn.Linear(128, 32, init="kaiming_uniform", seed=seed + 1), nn.ReLU(), name="encoder")
    decoder = nn.Sequential(nn.Linear(32, 128, init="kaiming_uniform", seed=seed + 2), nn.ReLU(),
                            nn.Linear(128, 64, seed=seed + 3), name="decoder")
    return nn.Sequential(GaussianNoise(NOISE, seed=seed + 4, name="corrupt"), encoder, decoder, name="autoencoder")


def loss(reconstruction, clean):
    return gc.losses.mse(reconstruction, clean)


SHADES = " .:-=+*#%@"


def ascii_digits(*images, labels=()):
    """8×8 images side by side as text (darker = more ink)."""
    rows = [" ".join(f"{lab:<8}" for lab in labels)] if labels else []
    for r in range(8):
        line = []
        for img in images:
            v = np.clip((img.reshape(8, 8)[r] - img.min()) / (np.ptp(img) + 1e-8), 0, 1)
            line.append("".join(SHADES[int(round(x * (len(SHADES) - 1)))] for x in v))
        rows.append(" ".join(line))
    return "\n".join(rows)


def run(cfg):
    start = time.perf_counter()
    d = data(cfg.fast, cfg.seed)
    net = model(cfg.seed)
    trainer = gc.Trainer(net, loss, graphc.script.make_optimizer(SimpleNamespace(), net, cfg), backend=cfg.backend,
                         accuracy=False)
    history = trainer.fit(*d["train"], epochs=min(cfg.epochs, FAST_EPOCHS) if cfg.fast else cfg.epochs,
                          batch_size=cfg.batch_size, validation=d["val"], seed=cfg.seed,
                          early_stopping=cfg.patience, progress=cfg.progress)
    clean = d["test"][0]
    noisy = (clean + np.random.default_rng(cfg.seed + 1000).normal(0, NOISE, clean.shape)).astype(np.float32)
    mean_image = d["train"][0].mean(axis=0)
    result = dict(
        test_mse_clean=trainer.evaluate(clean, clean)["loss"],
        test_mse_noisy=trainer.evaluate(noisy, clean)["loss"],
        noisy_input_mse=float(np.mean((noisy - clean) ** 2)),
        mean_image_mse=float(np.mean((mean_image - clean) ** 2)))
    if cfg.save:
        trainer.save(cfg.save)
    if not cfg.fast:
        denoised = trainer.predict(noisy[:3])
        print(ascii_digits(*[a for i in range(3) for a in (clean[i], noisy[i], denoised[i])],
                           labels=["clean", "noisy", "denoised"] * 3))
        print(f"noise removed: {1 - result['test_mse_noisy'] / result['noisy_input_mse']:.0%} of the input's squared error")
    result = {k: round(v, 4) for k, v in result.items()}
    result.update(noise_std=NOISE, epochs=len(history))
    if history.best_epoch is not None:
        result["best_epoch"] = history.best_epoch
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


if __name__ == "__main__":
    graphc.script.main(__file__)
