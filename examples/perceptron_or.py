"""Rosenblatt's perceptron learns OR with the rule Δw = η·x·(y − ŷ) (course example 5), and fails on XOR.

The rule is not gradient descent: it is written as a custom `updates` dict, and the step's
output ŷ = step(wᵀx) uses the Heaviside step op (ŷ = 1 if wᵀx > 0 else 0), one example at a time.
"""
import numpy as np

import graphc as gc
import graphc.script

DEFAULTS = dict(epochs=20, lr=1.0)
# inputs with the bias input x0 = 1, as in the course: (x0, x1, x2)
X = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]], np.float32)
TARGETS = {"or": np.array([0, 1, 1, 1], np.float32), "xor": np.array([0, 1, 1, 0], np.float32)}


def learn(targets, epochs, lr, backend):
    """Online perceptron learning from w = 0; returns (epochs until an error-free epoch or None, w)."""
    x = gc.input("x", (3,))
    y = gc.input("y", ())
    w = gc.param("w", np.zeros(3, np.float32))
    y_hat = gc.step(gc.sum(w * x), name="y_hat")
    step = gc.compile(y_hat, updates={w: w + lr * x * (y - y_hat)}, backend=backend)
    for epoch in range(1, epochs + 1):
        errors = sum(int(step(x=xi, y=yi) != yi) for xi, yi in zip(X, targets))
        if errors == 0:
            return epoch, w.value.copy()
    return None, w.value.copy()


def run(cfg):
    result = {}
    for task, targets in TARGETS.items():
        epochs, w = learn(targets, 6 if cfg.fast else cfg.epochs, cfg.lr, cfg.backend)
        predictions = (X @ w > 0).astype(np.float32)
        print(f"{task.upper()}: {'converged after ' + str(epochs) + ' epoch(s)' if epochs else 'did not converge'}; "
              f"w = {w}, predictions {predictions} for targets {targets}")
        result[f"{task}_converged"] = epochs is not None
        result[f"{task}_epochs"] = epochs if epochs else -1
        result[f"{task}_accuracy"] = float(np.mean(predictions == targets))
    return result


if __name__ == "__main__":
    graphc.script.main(__file__)
