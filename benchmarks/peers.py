"""Adapters for the peers users would otherwise pick (PyTorch eager and torch.compile, JAX jit, PyTensor, tinygrad), each import-guarded."""
from __future__ import annotations

import importlib
import json
import os
import tempfile
from functools import partial

import numpy as np

from .workloads import LR, Workload, logits, loss

THREADS = int(os.environ.get("GRAPHC_BENCH_THREADS", "0")) or os.cpu_count() or 1

# name -> (module that must import, runner factory name, how it steps)
PEERS = {
    "torch": ("torch", "TorchRunner", "eager autograd + torch.optim.SGD(foreach)"),
    "torch.compile": ("torch", "TorchCompileRunner", "torch.compile(loss) (inductor), eager SGD"),
    "torch.cuda": ("torch", "TorchCudaRunner", "eager autograd + SGD on the GPU, synchronised after each step"),
    "jax": ("jax", "JaxRunner", "jax.jit(value_and_grad + SGD), donated params"),
    "pytensor": ("pytensor", "PyTensorRunner", "pytensor.function(updates=SGD), default mode"),
    "tinygrad": ("tinygrad", "TinygradRunner", "TinyJit(step) + nn.optim.SGD, default device"),
}


def unavailable(name: str) -> str | None:
    """Why a peer cannot run here, or None when its package imports."""
    try:
        importlib.import_module(PEERS[name][0])
    except Exception as e:  # noqa: BLE001 - any import failure means 'skipped'
        return f"{PEERS[name][0]} not importable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); pip install '.[bench]'"
    if name == "torch.cuda":
        import torch

        if not torch.cuda.is_available():
            return "torch sees no CUDA device"
    if name == "tinygrad":
        import shutil

        if os.environ.get("DEV", os.environ.get("CPU", "")) in ("", "CPU", "1") and not shutil.which("clang"):
            return "tinygrad's CPU device compiles with clang, which is not installed (apt-get install clang)"
    return None


def build(name: str, wl: Workload, params: dict, data: dict):
    return globals()[PEERS[name][1]](wl, params, data)


# -- PyTorch -------------------------------------------------------------------------------------------------
class TorchOps:
    def __init__(self):
        import torch
        import torch.nn.functional as F

        self.t, self.F = torch, F
        self.relu, self.tanh, self.reshape = torch.relu, torch.tanh, torch.reshape

    def conv2d(self, x, w, b, padding):
        return self.F.conv2d(x, w, b, padding=padding)

    def maxpool2(self, x):
        return self.F.max_pool2d(x, 2)

    def take_rows(self, w, idx):
        return self.F.embedding(idx, w)

    def stack(self, xs, axis):
        return self.t.stack(xs, axis)

    def xent(self, z, y, classes):
        return self.F.cross_entropy(z, y)


class TorchRunner:
    mem_method = "torch-profiler"
    compiled = False

    def __init__(self, wl: Workload, params: dict, data: dict):
        import torch

        torch.set_num_threads(THREADS)
        self.torch, self.train = torch, wl.train
        self.p = {k: torch.from_numpy(v).requires_grad_(wl.train) for k, v in params.items()}
        self.d = {k: torch.from_numpy(v) for k, v in data.items()}
        fn = partial(loss if wl.train else logits, TorchOps(), wl)
        self.fn = torch.compile(fn) if self.compiled else fn
        if wl.train:
            self.opt = torch.optim.SGD(list(self.p.values()), lr=LR, foreach=True)

    def step(self):
        if not self.train:
            with self.torch.inference_mode():
                return self.fn(self.p, self.d)
        self.opt.zero_grad(set_to_none=True)
        out = self.fn(self.p, self.d)
        out.backward()
        self.opt.step()
        return out

    def output(self, out):
        return out.detach().numpy()

    def measure_memory(self) -> dict:
        """Peak of the running sum of the CPU allocator's allocations and frees during one step (torch.profiler)."""
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            self.step()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.json")
            prof.export_chrome_trace(path)
            with open(path) as f:
                events = [e for e in json.load(f)["traceEvents"] if e.get("name") == "[memory]"]
        total = peak = 0
        for e in sorted(events, key=lambda e: (e["ts"], e["args"].get("Ev Idx", 0))):
            total += e["args"]["Bytes"]
            peak = max(peak, total)
        return {"peak_bytes": peak, "method": "torch-profiler"}

    def params(self):
        return {k: v.detach().numpy() for k, v in self.p.items()}


class TorchCompileRunner(TorchRunner):
    compiled = True


class TorchCudaRunner(TorchRunner):
    """PyTorch eager on the GPU: parameters and the batch live on the device; a step waits for the device."""

    mem_method = "torch-cuda"

    def __init__(self, wl: Workload, params: dict, data: dict):
        super().__init__(wl, params, data)
        torch = self.torch
        self.p = {k: v.detach().cuda().requires_grad_(wl.train) for k, v in self.p.items()}
        self.d = {k: v.cuda() for k, v in self.d.items()}
        if wl.train:
            self.opt = torch.optim.SGD(list(self.p.values()), lr=LR, foreach=True)

    def step(self):
        out = super().step()
        self.torch.cuda.synchronize()
        return out

    def output(self, out):
        return out.detach().cpu().numpy()

    def measure_memory(self) -> dict:
        torch = self.torch
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        self.step()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - before, "method": "torch-cuda"}

    def params(self):
        return {k: v.detach().cpu().numpy() for k, v in self.p.items()}


# -- JAX -----------------------------------------------------------------------------------------------------
class JaxOps:
    def __init__(self):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.relu, self.tanh, self.reshape = jax.nn.relu, jnp.tanh, jnp.reshape

    def conv2d(self, x, w, b, padding):
        out = self.jax.lax.conv_general_dilated(x, w, (1, 1), [(padding, padding)] * 2,
                                                dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    def maxpool2(self, x):
        return self.jax.lax.reduce_window(x, -self.jnp.inf, self.jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def take_rows(self, w, idx):
        return self.jnp.take(w, idx, axis=0)

    def stack(self, xs, axis):
        return self.jnp.stack(xs, axis)

    def xent(self, z, y, classes):
        logp = self.jax.nn.log_softmax(z, axis=-1)
        return -self.jnp.mean(self.jnp.take_along_axis(logp, y[:, None], axis=1))


class JaxRunner:
    mem_method = "xla"

    def __init__(self, wl: Workload, params: dict, data: dict):
        import jax

        ops = JaxOps()
        self.jax, self.train = jax, wl.train
        self.p = {k: jax.device_put(v) for k, v in params.items()}
        self.d = {k: jax.device_put(v.astype(np.int32) if v.dtype.kind == "i" else v) for k, v in data.items()}
        if wl.train:
            def step(p, d):
                value, g = jax.value_and_grad(partial(loss, ops, wl))(p, d)
                return value, {k: p[k] - LR * g[k] for k in p}
            self.fn = jax.jit(step, donate_argnums=0)
        else:
            self.fn = jax.jit(partial(logits, ops, wl))

    def step(self):
        if not self.train:
            return self.fn(self.p, self.d).block_until_ready()
        value, self.p = self.fn(self.p, self.d)
        return value.block_until_ready()

    def output(self, out):
        return np.asarray(out)

    def params(self):
        return {k: np.asarray(v) for k, v in self.p.items()}

    def measure_memory(self) -> dict:
        """XLA's own account of the compiled step: temporaries plus outputs not aliased to (donated) inputs."""
        m = self.fn.lower(self.p, self.d).compile().memory_analysis()
        return {"peak_bytes": int(m.temp_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes), "method": "xla",
                "temp_bytes": int(m.temp_size_in_bytes)}


# -- PyTensor ------------------------------------------------------------------------------------------------
class PyTensorOps:
    """PyTensor 2.x/3.x has no CNN convolution op any more: conv is im2col (shifted slices) + a product, as a user writes it."""

    def __init__(self):
        import pytensor.tensor as pt
        from pytensor.tensor.special import log_softmax

        self.pt, self.log_softmax = pt, log_softmax
        self.tanh, self.reshape = pt.tanh, pt.reshape

    def relu(self, x):
        return self.pt.maximum(x, 0)

    def conv2d(self, x, w, b, padding):
        pt = self.pt
        n, c, h, wd = x.type.shape
        o, _, k, _ = w.get_value(borrow=True).shape
        if padding:
            x = pt.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            h, wd = h + 2 * padding, wd + 2 * padding
        ho, wo = h - k + 1, wd - k + 1
        cols = pt.stack([x[:, :, i:i + ho, j:j + wo] for i in range(k) for j in range(k)], axis=2)  # (N, C, k*k, Ho, Wo)
        cols = cols.transpose(0, 3, 4, 1, 2).reshape((n * ho * wo, c * k * k))
        out = (cols @ w.reshape((o, c * k * k)).T + b).reshape((n, ho, wo, o))
        return pt.specify_shape(out.transpose(0, 3, 1, 2), (n, o, ho, wo))

    def maxpool2(self, x):
        n, c, h, w = x.type.shape
        return self.pt.max(x.reshape((n, c, h // 2, 2, w // 2, 2)), axis=(3, 5))

    def take_rows(self, w, idx):
        return w[idx]

    def stack(self, xs, axis):
        return self.pt.stack(xs, axis=axis)

    def xent(self, z, y, classes):
        return -self.pt.mean(self.log_softmax(z, axis=-1)[self.pt.arange(y.shape[0]), y])


class PyTensorRunner:
    mem_method = "rss"

    def __init__(self, wl: Workload, params: dict, data: dict):
        import pytensor
        import pytensor.tensor as pt

        with pytensor.config.change_flags(floatX="float32"):
            self.p = {k: pytensor.shared(v, name=k, borrow=True) for k, v in params.items()}
            ins = {k: pt.tensor(name=k, dtype=v.dtype, shape=v.shape) for k, v in data.items()}
            if wl.train:
                value = loss(PyTensorOps(), wl, self.p, ins)
                grads = pytensor.grad(value, list(self.p.values()))
                updates = [(s, s - np.float32(LR) * g) for s, g in zip(self.p.values(), grads)]
                self.fn = pytensor.function(list(ins.values()), value, updates=updates)
            else:
                self.fn = pytensor.function(list(ins.values()), logits(PyTensorOps(), wl, self.p, ins))
        self.args = [data[k] for k in ins]

    def step(self):
        return self.fn(*self.args)

    def output(self, out):
        return np.asarray(out)

    def params(self):
        return {k: s.get_value(borrow=True) for k, s in self.p.items()}


# -- tinygrad ------------------------------------------------------------------------------------------------
class TinygradOps:
    def __init__(self):
        from tinygrad import Tensor

        self.T = Tensor

    relu = staticmethod(lambda x: x.relu())
    tanh = staticmethod(lambda x: x.tanh())
    reshape = staticmethod(lambda x, shape: x.reshape(shape))
    conv2d = staticmethod(lambda x, w, b, padding: x.conv2d(w, b, padding=padding))
    maxpool2 = staticmethod(lambda x: x.max_pool2d(2))
    take_rows = staticmethod(lambda w, idx: w[idx])
    xent = staticmethod(lambda z, y, classes: z.sparse_categorical_crossentropy(y))

    def stack(self, xs, axis):
        return self.T.stack(*xs, dim=axis)


class TinygradRunner:
    mem_method = "rss"

    def __init__(self, wl: Workload, params: dict, data: dict):
        from tinygrad import Context, Device, Tensor, TinyJit
        from tinygrad.nn.optim import SGD

        ops, self.train, self.dev = TinygradOps(), wl.train, Device[Device.DEFAULT]
        self.p = {k: Tensor(v).realize() for k, v in params.items()}  # tinygrad 0.14: every tensor is a param by default
        self.d = {k: Tensor(v).is_param_(False).realize() for k, v in data.items()}
        if wl.train:
            opt = SGD(list(self.p.values()), lr=LR)

            def step(**d):
                with Context(TRAINING=1):
                    opt.zero_grad()
                    value = loss(ops, wl, self.p, d)
                    value.backward()
                    return value.realize(*opt.schedule_step())  # as tinygrad's beautiful_mnist: loss read before the update
        else:
            def step(**d):
                return logits(ops, wl, self.p, d).realize()
        self.fn = TinyJit(step)

    def step(self):
        out = self.fn(**self.d)
        self.dev.synchronize()
        return out

    def output(self, out):
        return out.numpy()

    def params(self):
        return {k: v.numpy() for k, v in self.p.items()}
