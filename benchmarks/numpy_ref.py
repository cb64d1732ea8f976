"""Hand-written NumPy implementations of every workload (forward and backward by hand): the baseline and the oracle."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .workloads import LR, Workload


def _xent_grad(z, y):
    """Mean cross-entropy of logits z (n, c) against int labels y, and its gradient with respect to z."""
    n = z.shape[0]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.float32(np.log(s[:, 0]).mean() - z[rows, y].mean())
    g = e / s
    g[rows, y] -= 1.0
    g *= np.float32(1.0 / n)
    return loss, g


def _dense_backward(p, hs, g, layers, grads, need_input_grad):
    """Back through `layers` dense layers (ReLU between them); hs[i] is layer i's input. Returns d(hs[0])."""
    for i in reversed(range(layers)):
        grads[f"fc{i}w"] = hs[i].T @ g
        grads[f"fc{i}b"] = g.sum(axis=0)
        if i or need_input_grad:
            g = g @ p[f"fc{i}w"].T
            if i:
                g *= hs[i] > 0
    return g


def _dense_forward(p, h, layers):
    hs = []
    for i in range(layers):
        hs.append(h)
        h = h @ p[f"fc{i}w"] + p[f"fc{i}b"]
        if i < layers - 1:
            np.maximum(h, 0, out=h)
    return hs, h


def _im2col(x, k, pad):
    """NHWC input -> (N*Ho*Wo, C*k*k) patches, columns ordered (C, kh, kw) like an OIHW weight."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = sliding_window_view(x, (k, k), axis=(1, 2))  # (N, Ho, Wo, C, k, k)
    n, ho, wo = win.shape[:3]
    return win.reshape(n * ho * wo, -1), (n, ho, wo)


def _col2im(dcols, shape, c, k, pad):
    """Adjoint of _im2col: scatter-add the patch gradients back into an NHWC gradient."""
    n, ho, wo = shape
    d = dcols.reshape(n, ho, wo, c, k, k)
    dx = np.zeros((n, ho + k - 1, wo + k - 1, c), np.float32)
    for i in range(k):
        for j in range(k):
            dx[:, i:i + ho, j:j + wo, :] += d[..., i, j]
    return dx[:, pad:dx.shape[1] - pad, pad:dx.shape[2] - pad, :] if pad else dx


def _pool2(a):
    """2x2 max-pool of NHWC `a`; returns the pooled value and a routing mask for the backward pass."""
    n, h, w, c = a.shape
    r = a.reshape(n, h // 2, 2, w // 2, 2, c)
    m = r.max(axis=(2, 4))
    return m, r == m[:, :, None, :, None, :]


class _Runner:
    mem_method = "tracemalloc"

    def __init__(self, wl: Workload, params: dict, data: dict):
        self.wl, self.p, self.d = wl, params, data

    def output(self, out):
        return np.asarray(out)

    def params(self):
        return self.p

    def _sgd(self, grads):
        for k, g in grads.items():
            self.p[k] -= np.float32(LR) * g


class MLP(_Runner):
    def step(self):
        p, x, layers = self.p, self.d["x"], len(self.wl.sizes) - 1
        hs, z = _dense_forward(p, x, layers)
        if not self.wl.train:
            return z
        loss, g = _xent_grad(z, self.d["y"])
        grads = {}
        _dense_backward(p, hs, g, layers, grads, False)
        self._sgd(grads)
        return loss


class LeNet(_Runner):
    def step(self):
        p, x = self.p, self.d["x"]
        n = x.shape[0]
        w1, w2 = p["c1w"].reshape(6, -1), p["c2w"].reshape(16, -1)
        cols1, s1 = _im2col(x.transpose(0, 2, 3, 1), 5, 2)
        z1 = (cols1 @ w1.T + p["c1b"]).reshape(*s1, 6)
        a1 = np.maximum(z1, 0)
        m1, mask1 = _pool2(a1)
        cols2, s2 = _im2col(m1, 5, 0)
        z2 = (cols2 @ w2.T + p["c2b"]).reshape(*s2, 16)
        a2 = np.maximum(z2, 0)
        m2, mask2 = _pool2(a2)
        flat = m2.transpose(0, 3, 1, 2).reshape(n, 400)  # NCHW flattening, as the other frameworks
        hs, z = _dense_forward(p, flat, 3)
        loss, g = _xent_grad(z, self.d["y"])
        grads = {}
        g = _dense_backward(p, hs, g, 3, grads, True)
        g = g.reshape(n, 16, 5, 5).transpose(0, 2, 3, 1)
        g = (mask2 * g[:, :, None, :, None, :]).reshape(a2.shape) * (z2 > 0)
        g = g.reshape(-1, 16)
        grads["c2w"], grads["c2b"] = (g.T @ cols2).reshape(16, 6, 5, 5), g.sum(axis=0)
        g = _col2im(g @ w2, s2, 6, 5, 0)
        g = (mask1 * g[:, :, None, :, None, :]).reshape(a1.shape) * (z1 > 0)
        g = g.reshape(-1, 6)
        grads["c1w"], grads["c1b"] = (g.T @ cols1).reshape(6, 1, 5, 5), g.sum(axis=0)
        self._sgd(grads)
        return loss


class RNN(_Runner):
    def step(self):
        p, tok, wl = self.p, self.d["tokens"], self.wl
        n, t_len, hid = tok.shape[0], wl.seq, wl.hidden
        e = p["wx"][tok]  # (N, T, H)
        hs = np.empty((n, t_len, hid), np.float32)
        h = None
        for t in range(t_len):
            pre = e[:, t] + p["bh"] if h is None else e[:, t] + h @ p["wh"] + p["bh"]
            h = hs[:, t] = np.tanh(pre)
        flat = hs.reshape(-1, hid)
        loss, g = _xent_grad(flat @ p["wy"] + p["by"], self.d["targets"].reshape(-1))
        grads = {"wy": flat.T @ g, "by": g.sum(axis=0)}
        dhs = (g @ p["wy"].T).reshape(n, t_len, hid)
        dpre = np.empty_like(dhs)
        dwh = np.zeros_like(p["wh"])
        dh = dhs[:, -1]
        for t in reversed(range(t_len)):
            dp = dpre[:, t] = dh * (1 - hs[:, t] ** 2)
            if t:
                dwh += hs[:, t - 1].T @ dp
                dh = dhs[:, t - 1] + dp @ p["wh"].T
        dwx = np.zeros_like(p["wx"])
        np.add.at(dwx, tok.reshape(-1), dpre.reshape(-1, hid))
        grads.update(wx=dwx, wh=dwh, bh=dpre.sum(axis=(0, 1)))
        self._sgd(grads)
        return loss


def build(wl: Workload, params: dict, data: dict):
    return {"mlp": MLP, "lenet": LeNet, "rnn": RNN}[wl.model](wl, params, data)
