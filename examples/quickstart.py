"""Quickstart: declare a logistic neuron, differentiate it symbolically, train it, and print its graphs and code.

Run: python examples/quickstart.py [--steps N]
"""
import argparse

import numpy as np

import graphc as gc


def main(steps: int = 200, lr: float = 0.5, seed: int = 0, backend: str = "numpy") -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(256, 2)).astype(np.float32)
    Y = (X @ np.array([[2.0], [-1.0]]) + 0.5 > 0).astype(np.float32)  # a linearly separable task

    x = gc.input("x", (None, 2))  # None: the batch size, bound when the function is called
    y = gc.input("y", (None, 1))
    with gc.scope("neuron"):
        w = gc.param("w", np.zeros((2, 1), np.float32))
        b = gc.param("b", np.zeros((1,), np.float32))
        p = gc.sigmoid(x @ w + b, name="p")
    loss = gc.mean(-(y * gc.log(p) + (1 - y) * gc.log(1 - p)), name="loss")  # binary cross-entropy

    gw, gb = gc.grad(loss, [w, b])  # the backward pass is a graph too
    step = gc.compile(loss, updates={w: w - lr * gw, b: b - lr * gb}, backend=backend)
    predict = gc.compile(p, backend=backend)

    print("forward + backward graph:\n" + str(gc.graph([loss, gw, gb])) + "\n")
    for i in range(steps):
        value = step(x=X, y=Y)
        if i % max(steps // 5, 1) == 0:
            print(f"step {i:4d}  loss {float(value):.4f}")
    accuracy = float(np.mean((predict(x=X) > 0.5) == Y))
    print(f"w = {w.value.ravel()}, b = {b.value}")
    print(f"\nthe generated training step ({backend} backend):\n" + step.source)
    result = {"train_accuracy": round(accuracy, 4), "loss": round(float(step(x=X, y=Y)), 4), "steps": steps}
    print("result: " + " ".join(f"{k}={v}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "reference"])
    args = parser.parse_args()
    main(args.steps, backend=args.backend)
