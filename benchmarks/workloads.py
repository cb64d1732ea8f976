"""The benchmark workloads: shapes, shared initial parameters and data, FLOP counts, one model definition, graphc builders."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

LR = 0.01  # plain SGD, every workload


@dataclass(frozen=True)
class Workload:
    """One benchmark: a model, a batch size, and whether a step trains (fwd+bwd+SGD) or only infers."""

    id: str
    title: str
    model: str  # "mlp" | "lenet" | "rnn"
    batch: int
    train: bool = True
    sizes: tuple = ()  # mlp layer widths
    seq: int = 0  # rnn sequence length
    hidden: int = 0  # rnn hidden width
    vocab: int = 0  # rnn one-hot input width = read-out classes
    seed_of: str = ""  # take parameters from another workload's seed (W4 uses W2's)
    notes: list = field(default_factory=list, compare=False)

    @property
    def classes(self) -> int:
        return {"mlp": self.sizes[-1] if self.sizes else 0, "lenet": 10, "rnn": self.vocab}[self.model]

    def rng(self, what: str) -> np.random.Generator:
        return np.random.default_rng(zlib.crc32(f"{self.seed_of or self.id}/{what}".encode()))

    def params(self) -> dict[str, np.ndarray]:
        """Fresh float32 copies of the initial parameters (same for every implementation); weights are (in, out)."""
        rng, p = self.rng("params"), {}

        def dense(name, fan_in, shape, bias):
            p[name + "w"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            p[name + "b"] = (0.01 * rng.standard_normal(bias)).astype(np.float32)

        if self.model == "mlp":
            for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
                dense(f"fc{i}", a, (a, b), b)
        elif self.model == "lenet":
            dense("c1", 25, (6, 1, 5, 5), 6)  # OIHW, as torch / graphc / tinygrad
            dense("c2", 150, (16, 6, 5, 5), 16)
            for i, (a, b) in enumerate([(400, 120), (120, 84), (84, 10)]):
                dense(f"fc{i}", a, (a, b), b)
        else:
            h, v = self.hidden, self.vocab
            p["wx"] = (rng.standard_normal((v, h)) * 0.3).astype(np.float32)
            p["wh"] = (rng.standard_normal((h, h)) / np.sqrt(h)).astype(np.float32)
            p["bh"] = np.zeros(h, np.float32)
            p["wy"] = (rng.standard_normal((h, v)) / np.sqrt(h)).astype(np.float32)
            p["by"] = np.zeros(v, np.float32)
        return p

    def data(self) -> dict[str, np.ndarray]:
        """The fixed batch: float32 inputs, int64 labels (same for every implementation)."""
        rng, n = self.rng(f"data{self.batch}"), self.batch
        if self.model == "rnn":
            return {"tokens": rng.integers(0, self.vocab, (n, self.seq)), "targets": rng.integers(0, self.vocab, (n, self.seq))}
        shape = (n, self.sizes[0]) if self.model == "mlp" else (n, 1, 28, 28)
        d = {"x": rng.standard_normal(shape).astype(np.float32)}
        if self.train:
            d["y"] = rng.integers(0, self.classes, n)
        return d

    def flops(self) -> int:
        """Multiply-add FLOPs (2 per MAC) of the dense products of one step; training counts 3x the forward's
        (forward, and the two backward products). Elementwise work, the one-hot lookup (a gather) and the update are
        not counted."""
        n = self.batch
        if self.model == "mlp":
            fwd = sum(2 * n * a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        elif self.model == "lenet":
            fwd = 2 * n * (6 * 28 * 28 * 1 * 25 + 16 * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10)
        else:
            fwd = 2 * n * self.seq * (self.hidden * self.hidden + self.hidden * self.vocab)
        if not self.train:
            return fwd
        if self.model == "lenet":  # the first conv's input gradient is not needed
            return 3 * fwd - 2 * n * 6 * 28 * 28 * 25
        if self.model == "rnn":  # h_0 = 0: no h @ U at the first step
            return 3 * fwd - 3 * 2 * n * self.hidden * self.hidden
        return 3 * fwd - 2 * n * self.sizes[0] * self.sizes[1]  # no gradient for the input


_MLP2 = (784, 512, 256, 10)
WORKLOADS = {w.id: w for w in [
    Workload("W1", "tiny MLP 64-128-64-10, train", "mlp", 32, sizes=(64, 128, 64, 10)),
    Workload("W2", "MNIST MLP 784-512-256-10, train", "mlp", 128, sizes=_MLP2),
    Workload("W3", "LeNet-5, train", "lenet", 64),
    Workload("W4-b1", "W2 forward, batch 1 (latency)", "mlp", 1, train=False, sizes=_MLP2, seed_of="W2"),
    Workload("W4-b1024", "W2 forward, batch 1024 (throughput)", "mlp", 1024, train=False, sizes=_MLP2, seed_of="W2"),
    Workload("W5", "tanh RNN 64-128, T=32, BPTT train", "rnn", 32, seq=32, hidden=128, vocab=64),
]}
# larger batches for a GPU (benchmarks/gpu_check.sh); run only when named, never in 'all'
GPU_WORKLOADS = {w.id: w for w in [
    Workload("W2b1024", "W2 at batch 1024 (GPU), train", "mlp", 1024, sizes=_MLP2, seed_of="W2"),
    Workload("W3b1024", "W3 at batch 1024 (GPU), train", "lenet", 1024, seed_of="W3"),
]}


def select(spec: str | None) -> list[Workload]:
    """'W1,W4' -> workloads whose id is or starts with one of the names (W4 selects W4-b1 and W4-b1024)."""
    if not spec or spec == "all":
        return list(WORKLOADS.values())
    out = []
    known = {**WORKLOADS, **GPU_WORKLOADS}
    for name in spec.split(","):
        hits = [w for k, w in known.items() if k.lower() == name.lower() or k.lower().startswith(name.lower() + "-")]
        if not hits:
            raise SystemExit(f"unknown workload {name!r}; known: {', '.join(known)}")
        out += [w for w in hits if w not in out]
    return out


# -- one model definition, written against a small op namespace `F` that every framework provides ----------
def logits(F, wl: Workload, p: dict, d: dict):
    """The network's output scores, written once for graphc, torch, JAX, PyTensor and tinygrad."""
    if wl.model == "mlp":
        return _mlp(F, p, d["x"], len(wl.sizes) - 1)
    if wl.model == "lenet":
        h = F.maxpool2(F.relu(F.conv2d(d["x"], p["c1w"], p["c1b"], 2)))
        h = F.maxpool2(F.relu(F.conv2d(h, p["c2w"], p["c2b"], 0)))
        return _mlp(F, p, F.reshape(h, (-1, 400)), 3)
    e = F.take_rows(p["wx"], d["tokens"])  # (N, T, H): the one-hot product x_t W as a row lookup
    h, hs = None, []
    for t in range(wl.seq):  # unrolled: T is static
        pre = e[:, t] + p["bh"] if h is None else e[:, t] + h @ p["wh"] + p["bh"]
        h = F.tanh(pre)
        hs.append(h)
    return F.reshape(F.stack(hs, 1), (-1, wl.hidden)) @ p["wy"] + p["by"]  # (N*T, V), row n*T + t


def _mlp(F, p, h, layers):
    for i in range(layers):
        h = h @ p[f"fc{i}w"] + p[f"fc{i}b"]
        if i < layers - 1:
            h = F.relu(h)
    return h


def loss(F, wl: Workload, p: dict, d: dict):
    """Mean softmax cross-entropy over every prediction (every step of every sequence for the RNN)."""
    labels = d["targets"] if wl.model == "rnn" else d["y"]
    return F.xent(logits(F, wl, p, d), F.reshape(labels, (-1,)), wl.classes)


class GraphcOps:
    """The op namespace of the shared model definition, for graphc."""

    def __init__(self):
        import graphc as gc

        self.gc = gc
        self.relu, self.tanh, self.reshape = gc.relu, gc.tanh, gc.reshape

    def conv2d(self, x, w, b, padding):
        return self.gc.conv2d(x, w, b, stride=1, padding=padding)

    def maxpool2(self, x):
        return self.gc.max_pool2d(x, 2)

    def take_rows(self, w, idx):
        return self.gc.take(w, idx, axis=0)

    def stack(self, xs, axis):
        return self.gc.stack(xs, axis)

    def xent(self, z, y, classes):
        gc = self.gc
        return -gc.mean(gc.sum(gc.one_hot(y, classes) * gc.log_softmax(z, axis=-1), axis=1))


def graphc_inputs(wl: Workload):
    import graphc as gc

    if wl.model == "rnn":
        return {k: gc.input(k, (None, wl.seq), gc.int64) for k in ("tokens", "targets")}
    d = {"x": gc.input("x", (None, wl.sizes[0]) if wl.model == "mlp" else (None, 1, 28, 28))}
    if wl.train:
        d["y"] = gc.input("y", (None,), gc.int64)
    return d


class GraphcRunner:
    """A graphc compiled step on one backend: builds the graph, differentiates it, compiles it."""

    mem_method = "tracemalloc"

    def __init__(self, wl: Workload, params: dict, data: dict, backend: str, optimize: int = 2):
        import graphc as gc

        F = GraphcOps()
        self.p = {k: gc.param(k, v) for k, v in params.items()}
        x = graphc_inputs(wl)
        if wl.train:
            loss_t = loss(F, wl, self.p, x)
            grads = gc.grad(loss_t, list(self.p.values()))
            updates = {p: p - LR * g for p, g in zip(self.p.values(), grads)}
            self.fn = gc.compile(loss_t, updates=updates, backend=backend, optimize=optimize)
        else:
            self.fn = gc.compile(logits(F, wl, self.p, x), backend=backend, optimize=optimize)
        self.data = data

    def step(self):
        return self.fn(**self.data)

    def output(self, out) -> np.ndarray:
        return np.asarray(out)

    def params(self) -> dict[str, np.ndarray]:
        return {k: p.value for k, p in self.p.items()}

    def held_bytes(self) -> int:
        """Workspace kept between steps: the compiled program's buffers (parameters excluded: they alias
        param.value) and the backend's own scratch."""
        spec = getattr(self.fn.backend, "last", None)
        if spec is None or not hasattr(spec, "arena"):
            return 0
        held = [a for a, b in zip(spec.externals, spec.program.externals) if b.role not in ("param", "state")]
        return spec.arena.nbytes + sum(a.nbytes for a in held) + getattr(spec.fn, "workspace_bytes", 0)
