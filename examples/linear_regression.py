"""Linear regression by gradient descent on MSE with an L2 penalty converges to the closed-form ridge solution.

J(w, b) = 1/(2n)·Σ(y − Xw − b)² + λ/2·‖w‖² (the bias is not penalised), minimised by batch gradient
descent on scikit-learn's diabetes data; the closed form is w* = (XcᵀXc/n + λI)⁻¹·Xcᵀyc/n on centred
data and b* = ȳ − x̄ᵀw*.
"""
import os
import sys

import numpy as np

import graphc as gc
import graphc.script

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import load  # noqa: E402

DEFAULTS = dict(epochs=3000, lr=0.3)  # stable: lr < 2 / the largest eigenvalue of XᵀX/n + λ
LAMBDA = 0.1


def ridge_closed_form(X, y, lam):
    xm, ym = X.mean(axis=0), y.mean()
    Xc, yc = X - xm, y - ym
    n = len(X)
    w = np.linalg.solve(Xc.T @ Xc / n + lam * np.eye(X.shape[1]), Xc.T @ yc / n)
    return w, ym - xm @ w


def run(cfg):
    d = load("diabetes", seed=cfg.seed, val=0.0, test=0.2, classify=False)
    X, Y = d["train"]
    Y = (Y - Y.mean()) / Y.std()  # a unit-scale target, so one learning rate suits every feature
    x, y = gc.input("x", (None, X.shape[1])), gc.input("y", (None, 1))
    w = gc.param("w", np.zeros((X.shape[1], 1), np.float32))
    b = gc.param("b", np.zeros(1, np.float32))
    loss = gc.losses.mse(x @ w + b, y, half=True) + gc.losses.l2_penalty([w, b], LAMBDA, half=True)
    opt = gc.optim.SGD([w, b], lr=cfg.lr)
    step = gc.compile(loss, updates=opt.updates(loss), backend=cfg.backend)
    iterations = 200 if cfg.fast else cfg.epochs
    for _ in range(iterations):  # batch gradient descent: the whole training set every step
        final = float(step(x=X, y=Y))
    w_star, b_star = ridge_closed_form(X.astype(np.float64), Y[:, 0].astype(np.float64), LAMBDA)
    print("gradient descent w:", np.round(w.value[:, 0], 4), "b:", np.round(b.value, 4))
    print("closed-form ridge w:", np.round(w_star, 4), "b:", np.round(b_star, 4))
    gap = float(max(np.abs(w.value[:, 0] - w_star).max(), abs(b.value[0] - b_star)))
    return {"iterations": iterations, "loss": round(final, 5), "max_abs_diff_to_closed_form": f"{gap:.2e}"}


if __name__ == "__main__":
    graphc.script.main(__file__)
