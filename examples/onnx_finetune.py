"""Fine-tune a model imported from ONNX: a PyTorch MLP pretrained on the digits 0-4 only, exported to ONNX,
imported into graphc (its forward and backward graphs drawable with `graphc render`), every layer but the
last frozen, and the last layer retrained on all ten digits; accuracy on the test set before and after.

The export step needs PyTorch; without it (or with --fast) the shipped examples/data/digits_pretrained.onnx,
made by this same step, is used."""
import os
import sys
import tempfile
import time

import numpy as np

import graphc as gc
import graphc.script

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _digits import load  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(HERE, "data", "digits_pretrained.onnx")
DEFAULTS = dict(epochs=40, batch_size=64, lr=0.01)
PRETRAINED_CLASSES = 5  # the pretraining sees the digits 0-4 only


def export_pretrained(path: str, seed: int = 0) -> str:
    """Train a 64 -> 64 -> 10 PyTorch MLP on the digits 0-4 and export it to `path` (dynamic batch)."""
    import torch

    torch.manual_seed(seed)
    d = load(seed=seed, images=False)
    X, y = d["train"]
    seen = y < PRETRAINED_CLASSES
    X, y = torch.tensor(X[seen]), torch.tensor(y[seen])
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    net.eval()
    torch.onnx.export(net, (X[:2],), path, dynamo=False, opset_version=17, do_constant_folding=False,
                      input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    return path


def pretrained_model(cfg) -> str:
    if cfg.fast:
        return SHIPPED
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"PyTorch is not installed: using the shipped {os.path.relpath(SHIPPED)} (pip install torch to export it)")
        return SHIPPED
    return export_pretrained(os.path.join(tempfile.mkdtemp(), "digits_pretrained.onnx"), cfg.seed)


def accuracy(predict, X, y) -> float:
    return float(np.mean(np.argmax(predict(x=X)[0], axis=1) == y))


def run(cfg):
    start = time.perf_counter()
    model = gc.onnx.load(pretrained_model(cfg))
    last = sorted(model.params)[-2:]  # the last Linear's weight and bias ("2.bias", "2.weight" in PyTorch's names)
    for name, p in model.params.items():
        p.variable.trainable = name in last
    d = load(seed=cfg.seed, fast=cfg.fast, images=False)
    x, logits = model.inputs["x"], model.outputs["logits"]
    labels = gc.input("labels", (x.shape[0],), gc.int64)  # the batch dim the model names
    loss = gc.losses.cross_entropy(logits, labels)
    optimizer = gc.optim.Adam(list(model.params.values()), lr=cfg.lr)
    step = gc.compile(loss, updates=optimizer.updates(loss), backend=cfg.backend)
    predict = model.compile(backend=cfg.backend)
    before = accuracy(predict, *d["test"])
    X, y = d["train"]
    for epoch in range(cfg.epochs):
        for xb, yb in gc.data.batches([X, y], cfg.batch_size, seed=cfg.seed + epoch):
            step(x=xb, labels=yb)
    after = accuracy(predict, *d["test"])
    frozen = sum(p.value.size for n, p in model.params.items() if n not in last)
    return dict(test_accuracy_before=round(before, 4), test_accuracy_after=round(after, 4),
                frozen_parameters=int(frozen), trained_parameters=int(sum(model.params[n].value.size for n in last)),
                seconds=round(time.perf_counter() - start, 1))


if __name__ == "__main__":
    graphc.script.main(__file__)
