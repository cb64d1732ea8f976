"""Datasets shared by the examples: scikit-learn's bundled sets (no download), split and standardised."""
import numpy as np

from graphc.data import train_val_test_split


def _sklearn(name):
    try:
        from sklearn import datasets
    except ImportError as e:
        raise ImportError("this example needs scikit-learn's bundled datasets: pip install 'graphc-compiler[examples]'") from e
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def standardise(train, *others):
    """Scale every feature to zero mean and unit variance using the training part's statistics only."""
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-8
    return [((a - mean) / std).astype(np.float32) for a in (train,) + others]


def load(name: str, seed: int = 0, val: float = 0.15, test: float = 0.2, classify: bool = True, fast: bool = False):
    """{"train", "val", "test"}: (X float32 standardised, y) for a scikit-learn dataset, stratified by class."""
    X, y = _sklearn(name)
    if fast:  # a small subset, still stratified, for smoke tests
        keep = train_val_test_split(X, y, val=0.0, test=0.8, seed=seed, stratify=y if classify else None)[0]
        X, y = keep
    (xtr, ytr), (xva, yva), (xte, yte) = train_val_test_split(X, y, val=val, test=test, seed=seed,
                                                                 stratify=y if classify else None)
    xtr, xva, xte = standardise(xtr, xva, xte)
    cast = (lambda a: a.astype(np.int64)) if classify else (lambda a: a.astype(np.float32).reshape(-1, 1))
    return {"train": (xtr, cast(ytr)), "val": (xva, cast(yva)), "test": (xte, cast(yte))}
