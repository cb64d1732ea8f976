"""Regenerate every figure of docs/backprop.md and docs/optimizer.md (SVG, under docs/figures/) with gc.render.

Run: python docs/make_figures.py   (needs Graphviz's `dot`; prints the numbers the tutorial quotes)
"""
from __future__ import annotations

import os

import numpy as np

import graphc as gc

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = os.path.join(HERE, "figures")


def network_111(x0=1.5, y0=0.8):
    """Course example 6: z1 = w1·x + b1, a1 = σ(z1), ŷ = w2·a1 + b2, L = (y − ŷ)²."""
    x = gc.input("x", ())
    y = gc.input("y", ())
    w1, b1 = gc.param("w1", np.float32(0.5)), gc.param("b1", np.float32(0.1))
    w2, b2 = gc.param("w2", np.float32(-0.3)), gc.param("b2", np.float32(0.2))
    z1 = gc.add(w1 * x, b1, name="z1")
    a1 = gc.sigmoid(z1, name="a1")
    yhat = gc.add(w2 * a1, b2, name="yhat")
    L = gc.square(y - yhat, name="L")
    return dict(L=L, params=[w1, b1, w2, b2], values={"x": x0, "y": y0})


def mean_error_vs_mse():
    """Course example 7: J = mean(y − ŷ) and J = mean((y − ŷ)²)/2 for ŷ = x·w + b on a batch."""
    x = gc.input("x", (None,))
    y = gc.input("y", (None,))
    w, b = gc.param("w", np.float32(0.5)), gc.param("b", np.float32(0.0))
    yhat = gc.add(w * x, b, name="yhat")
    err = gc.mean(y - yhat, name="J")
    mse = gc.mean(0.5 * gc.square(y - yhat), name="J")
    return err, mse, [w, b]


def logistic_neuron():
    """One sigmoid neuron p = σ(x·w + b) with binary cross-entropy, as in examples/quickstart.py."""
    x = gc.input("x", (None, 2))
    y = gc.input("y", (None, 1))
    with gc.scope("neuron"):
        w = gc.param("w", np.array([[0.1], [-0.2]], np.float32))
        b = gc.param("b", np.array([0.2], np.float32))
        p = gc.sigmoid(gc.add(x @ w, b, name="z"), name="p")
    loss = gc.mean(-(y * gc.log(p) + (1 - y) * gc.log(1 - p)), name="loss")
    X = np.array([[1.0, 2.0], [0.5, -1.0], [-1.5, 0.5], [2.0, 1.0]], np.float32)
    Y = np.array([[1.0], [0.0], [0.0], [1.0]], np.float32)
    return loss, [w, b], {"x": X, "y": Y}


def main(folder: str = FIGURES) -> dict:
    os.makedirs(folder, exist_ok=True)
    out = lambda name: os.path.join(folder, name)  # noqa: E731
    numbers = {}

    net = network_111()
    L, params, values = net["L"], net["params"], net["values"]
    grads = gc.grad(L, params)
    gc.render(L, view="forward", path=out("net111_forward.svg"))
    gc.render(L, view="backward", path=out("net111_backward.svg"))
    gc.render([L] + grads, view="both", path=out("net111_both.svg"))
    gc.render(L, view="values", values=values, path=out("net111_values.svg"))
    w1, b1, w2, b2 = (float(p.value) for p in params)
    x0, y0 = values["x"], values["y"]
    z1 = w1 * x0 + b1
    s = 1 / (1 + np.exp(-z1))
    yhat = w2 * s + b2
    numbers["111 closed form dL/dw1"] = -2 * (y0 - yhat) * w2 * s * (1 - s) * x0
    numbers["111 graphc dL/dw1"] = float(gc.evaluate(grads[0], x=x0, y=y0))

    err, mse, wb = mean_error_vs_mse()
    # render the loss (not only its gradients): the two losses share VJP nodes (hash-consing), and
    # naming the loss lets every label say which loss's derivative it is
    gc.render(err, view="backward", wrt=wb, path=out("mean_error_backward.svg"))
    gc.render(mse, view="backward", wrt=wb, path=out("mse_backward.svg"))
    X = np.array([1.0, 2.0, 3.0], np.float32)
    for name, J in (("mean error", err), ("MSE", mse)):
        gw = gc.grad(J, wb[0])
        needs = [n.attrs["name"] for n in gc.graph(gw).inputs]  # the mean error's gradient does not even read y
        numbers[f"{name} gradient reads"] = needs
        for target in (0.0, 10.0):
            given = {"x": X, "y": np.full(3, target, np.float32)}
            numbers[f"{name} dJ/dw, y = {target:g}"] = float(gc.evaluate(gw, {k: given[k] for k in needs}))

    loss, (w, b), data = logistic_neuron()
    gw, gb = gc.grad(loss, [w, b])
    lr = 0.5
    step = gc.compile(loss, updates={w: w - lr * gw, b: b - lr * gb}, backend="numpy")
    gc.render(loss, view="values", values=data, path=out("neuron_before.svg"))
    numbers["neuron loss before"] = float(step(**data))
    gc.render(loss, view="values", values=data, path=out("neuron_after.svg"))
    numbers["neuron loss after"] = float(gc.evaluate(loss, **data))
    numbers["neuron w after"] = w.value.ravel().round(4).tolist()
    numbers["neuron b after"] = b.value.round(4).tolist()
    gc.render(step, view="compiled", path=out("neuron_compiled.svg"))

    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
    from render_time import lenet

    loss, grads = lenet()
    gc.render([loss] + grads, view="both", collapse=True, path=out("lenet_both_collapsed.svg"))

    # docs/optimizer.md: an MLP's Adam step, its memory plan at optimize=2 and without planning
    from graphc import nn

    for level in (0, 2):
        model = nn.Sequential(nn.Linear(64, 128, seed=1), nn.ReLU(), nn.Linear(128, 10, seed=2), name="mlp")
        x, y = gc.input("x", (None, 64)), gc.input("y", (None,), gc.int64)
        loss = gc.losses.cross_entropy(model(x), y)
        step = gc.compile(loss, updates=dict(gc.optim.Adam(model.parameters(), lr=1e-3).updates(loss)), optimize=level)
        step(x=np.ones((32, 64), np.float32), y=np.zeros(32, np.int64))
        gc.render(step, view="memory", path=out(f"mlp_memory_O{level}.svg"))
        numbers[f"mlp step optimize={level}"] = step.report()
    # docs/optimizer.md: a small MLP's SGD step after each stage of the pipeline (gc.compile's dump drawings)
    import glob
    import shutil
    import tempfile

    model = nn.Sequential(nn.Linear(4, 8, seed=1), nn.Tanh(), nn.Linear(8, 3, seed=2), name="mlp")
    x, y = gc.input("x", (None, 4)), gc.input("y", (None,), gc.int64)
    loss = gc.losses.cross_entropy(model(x), y)
    with tempfile.TemporaryDirectory() as dump:
        step = gc.compile(loss, updates=dict(gc.optim.SGD(model.parameters(), lr=0.1).updates(loss)), dump=dump)
        step(x=np.ones((8, 4), np.float32), y=np.zeros(8, np.int64))
        for drawing in sorted(glob.glob(os.path.join(dump, "N8", "*.svg"))):
            shutil.copyfile(drawing, out("mlp_stage_" + os.path.basename(drawing)))
    numbers["small mlp step stages"] = step.report()
    for k, v in numbers.items():
        print(f"{k}: {v}")
    return numbers


if __name__ == "__main__":
    main()
