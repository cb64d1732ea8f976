"""The memory plan: buffers live at once never share bytes, the arena stays within 1.1x of the peak-live
lower bound, and a planned program computes exactly what the unplanned one does."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc import nn
from graphc.passes import lifetimes, plan_report
from graphc.program_verify import verify
from tests.backends.test_backends import random_graph_case, random_graphs


def _in_place(program, a, b, live):
    """Do a and b meet at one kernel only, which writes one over the other as that one dies?"""
    (fa, la), (fb, lb) = live[a.id], live[b.id]
    for dying, born, last, first in ((a, b, la, fb), (b, a, lb, fa)):
        k = program.kernels[first]
        if last == first and k.writes is born and k.overwrites(dying):
            return True
    return False


def _overlaps(program):
    """Pairs of temporaries that share bytes while both are live (must be none, in-place kernels aside)."""
    live = lifetimes(program)
    temps = [b for b in program.temporaries if b.id in live and b.nbytes]
    bad = []
    for i, a in enumerate(temps):
        for b in temps[i + 1:]:
            share = a.offset < b.offset + b.nbytes and b.offset < a.offset + a.nbytes
            (fa, la), (fb, lb) = live[a.id], live[b.id]
            if share and fa <= lb and fb <= la and not _in_place(program, a, b, live):
                bad.append((a.name, b.name))
    return bad


def _training_step(model, x_shape, n_classes=10, batch=16, optimizer=gc.optim.Adam):
    x = gc.input("x", (None,) + x_shape)
    y = gc.input("y", (None,), gc.int64)
    loss = gc.losses.cross_entropy(model(x), y)
    updates = dict(optimizer(model.parameters(), lr=1e-3).updates(loss))
    updates.update(model.state_updates())
    step = gc.compile(loss, updates=updates)
    rng = np.random.default_rng(0)
    step(x=rng.normal(size=(batch,) + x_shape).astype(np.float32), y=rng.integers(0, n_classes, batch))
    return step


class _LastStep(nn.Module):
    """An LSTM over a sequence, classified from its last step's output (unrolled: many small kernels)."""

    def __init__(self):
        super().__init__("lstm_classifier")
        self.lstm, self.head = nn.LSTM(4, 8, seed=1), nn.Linear(8, 10, seed=2)

    def forward(self, x):
        out = self.lstm(x)
        seq = out[0] if isinstance(out, tuple) else out
        return self.head(seq[:, -1])


MODELS = {
    "mlp": lambda: (nn.Sequential(nn.Linear(64, 128, seed=1), nn.ReLU(), nn.Dropout(0.2, seed=2), nn.Linear(128, 10, seed=3)), (64,)),
    "cnn": lambda: (nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, seed=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(8 * 4 * 4, 10, seed=2)), (1, 8, 8)),
    "lstm": lambda: (_LastStep(), (6, 4)),
}


@pytest.mark.parametrize("name", MODELS)
def test_a_training_step_plans_close_to_the_lower_bound(name):
    model, shape = MODELS[name]()
    step = _training_step(model, shape)
    program = step.program
    verify(program)
    assert not _overlaps(program)
    report = plan_report(program)
    # the bound is not always reachable: this toy LSTM's two 12 KiB one-hot buffers overlap at one
    # kernel and fragment the rest (1.11x); the examples' steps are held to 1.1x below
    assert report.planned <= (1.15 if name == "lstm" else 1.1) * report.lower_bound
    assert report.planned < report.unplanned  # reuse: less than one range per temporary
    memory = next(e for e in step.report() if e["stage"] == "plan_memory")
    assert memory["bytes_planned"] == report.planned


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("name", MODELS)
def test_planned_and_unplanned_steps_train_identically(name, backend):
    results = []
    for optimize in (0, 2):
        model, shape = MODELS[name]()
        x = gc.input("x", (None,) + shape)
        y = gc.input("y", (None,), gc.int64)
        loss = gc.losses.cross_entropy(model(x), y)
        opt = gc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        updates = dict(opt.updates(loss))
        updates.update(model.state_updates())
        step = gc.compile(loss, updates=updates, optimize=optimize, backend=backend)
        rng = np.random.default_rng(0)
        losses = [float(step(x=rng.normal(size=(8,) + shape).astype(np.float32), y=rng.integers(0, 10, 8))) for _ in range(3)]
        results.append((losses, [p.value.copy() for p in model.parameters()]))
    (l0, p0), (l2, p2) = results
    if name != "lstm" and backend == "numpy":
        assert l0 == l2  # bit-identical: the plan moves buffers and fusion keeps each operation, never reorders a sum
        for a, b in zip(p0, p2):
            np.testing.assert_array_equal(a, b)
    else:  # the LSTM's input weights: a sum over the batch of products becomes one product with a longer k; and
        # LLVM keeps vector partial sums (graphc.program.REASSOCIABLE), split differently when fusion reshapes a loop
        np.testing.assert_allclose(l0, l2, rtol=1e-5)
        for a, b in zip(p0, p2):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(random_graphs(), st.integers(0, 2 ** 16))
def test_random_graphs_plan_without_overlap_and_agree_with_optimize_0(graph, seed):
    outs, feeds = random_graph_case(graph, seed)
    planned, plain = gc.compile(outs, optimize=2, backend="numpy"), gc.compile(outs, optimize=0, backend="numpy")
    for a, b in zip(planned(**feeds), plain(**feeds)):
        np.testing.assert_array_equal(a, b)  # the passes keep every operation and its order
    native = gc.compile(outs, optimize=2, backend="llvm")
    # LLVM's own transcendentals (within 2 ulp of NumPy's) and reassociated sums: float rounding, which a chain of
    # exponentials amplifies; the tolerance of the backend sweep (tests/backends/test_backends.py)
    want = plain(**feeds)
    finite = [np.abs(w[np.isfinite(w)]) for w in want if w.dtype.kind == "f" and np.isfinite(w).any()]
    scale = max([float(f.max()) for f in finite] + [1.0])
    for a, b in zip(native(**feeds), want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)
    assert not _overlaps(planned.program)
    report = plan_report(planned.program)
    assert report.planned <= max(1.1 * report.lower_bound, report.lower_bound + 64)


def test_optimize_levels_are_checked_and_dump_writes_each_stage(tmp_path):
    x = gc.input("x", (None, 3))
    loss = gc.sum(gc.relu(x) * 2.0)
    for bad in (3, -1, True, "2", None):
        with pytest.raises(gc.ArgumentError, match="optimize must be one of"):
            gc.compile(loss, optimize=bad)
    f = gc.compile(loss, dump=str(tmp_path))
    f(x=np.ones((2, 3), np.float32))
    stages = [e["stage"] for e in f.report() if not e["stage"].startswith("llvm:")]  # the backend's stages follow
    assert stages[0] == "input graph" and "lower" in stages and stages[-1] == "plan_memory"
    written = sorted(p.name for p in (tmp_path / "N2").iterdir())
    assert "00_input_graph.txt" in written and any(n.endswith("lower.txt") for n in written)
    assert any(n.endswith("plan_memory.diff") for n in written)
    drawings = [n for n in written if n.endswith(".svg")]  # one per stage: the graph, then the kernels
    assert len(drawings) == len(stages) and (tmp_path / "N2" / "02_lower.svg").read_text().lstrip().startswith("<?xml")
    plain = gc.compile(loss, optimize=0)
    plain(x=np.ones((2, 3), np.float32))
    assert [e["stage"] for e in plain.report() if not e["stage"].startswith("llvm:")] == [
        "input graph", "lower", "layout_sequential"]  # no pass at 0


@pytest.mark.parametrize("example", ["digits_mlp", "digits_cnn", "sequence_lstm", "tiny_transformer", "autoencoder"])
def test_every_example_training_step_plans_within_a_tenth_of_the_lower_bound(example):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))  # the examples import their helpers
    module = importlib.import_module(example)
    X, Y = module.data(fast=True, seed=0)["train"]
    model = module.model(seed=0)
    trainer = gc.Trainer(model, module.loss, gc.optim.Adam(model.parameters(), lr=1e-3))
    trainer.fit(X[:64], Y[:64], epochs=1, batch_size=64, progress=False)
    step = getattr(trainer._step, "compiled", trainer._step)
    report = plan_report(step.program)
    assert not _overlaps(step.program)
    assert report.planned <= 1.1 * report.lower_bound, report


def test_an_elementwise_kernel_writes_over_an_input_that_dies_there():
    x = gc.input("x", (64, 64))
    y = gc.exp(gc.tanh(gc.sin(x) * 2.0) + 1.0)  # a chain: each value dies where the next is made
    f = gc.compile(y * 3.0, debug=True)  # debug mode keeps one kernel per node (no fusion), and the plan
    data = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    np.testing.assert_array_equal(f(x=data), gc.compile(y * 3.0, optimize=0)(x=data))
    temps = [b for b in f.program.temporaries if b.nbytes]
    assert len({b.offset for b in temps}) == 1 and f.program.arena_bytes == 64 * 64 * 4  # one slot for the chain
    verify(f.program)


def test_report_of_the_reference_backend_says_it_interprets():
    x = gc.input("x", (3,))
    f = gc.compile(gc.sum(x * 2.0), backend="reference")
    assert f.report() == [{"stage": "reference interpreter", "nodes": len(f.graph)}]
