"""The 8×8 digits as images for the examples 6–10: a stratified split, standardised with one global mean and std.

Per-pixel standardisation (`_datasets.standardise`) divides by each pixel's training std, which is
almost zero for the border pixels that are blank in nearly every training image, so the rare
validation or test image with ink there gets values in the tens. One mean and std over all the
training pixels keeps the images' structure (what a convolution needs) and bounds every value.
"""
import numpy as np

from _datasets import _sklearn
from graphc.data import train_val_test_split


def load(seed: int = 0, fast: bool = False, images: bool = True, val: float = 0.15, test: float = 0.2):
    """{"train", "val", "test"}: (X float32, labels int64); X is (N, 1, 8, 8) with images=True, else (N, 64).
    fast: a stratified fifth of the data (about 360 images), for smoke tests."""
    X, y = _sklearn("digits")
    if fast:
        X, y = train_val_test_split(X, y, val=0.0, test=0.8, seed=seed, stratify=y)[0]
    parts = train_val_test_split(X, y, val=val, test=test, seed=seed, stratify=y)
    mean, std = parts[0][0].mean(), parts[0][0].std()
    shape = (-1, 1, 8, 8) if images else (-1, 64)
    return {name: (((a - mean) / std).astype(np.float32).reshape(shape), b.astype(np.int64))
            for name, (a, b) in zip(("train", "val", "test"), parts)}
