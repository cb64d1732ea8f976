"""The training loop, data helpers and checkpoints: learning, early stopping, exact resumption, atomic saves."""
from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as gc
from graphc import checkpoint, data
from graphc.nn import Dropout, Linear, ReLU, Sequential
from graphc.train import EarlyStopping, Trainer


def _task(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    Y = ((X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 1)).astype(np.int64)
    return X, Y


def _trainer(backend="numpy", lr=0.01, dropout=True):
    layers = [Linear(8, 32, seed=1), ReLU()] + ([Dropout(0.2, seed=5)] if dropout else []) + [Linear(32, 3, seed=2)]
    model = Sequential(*layers)
    return Trainer(model, gc.losses.cross_entropy, gc.optim.Adam(model.parameters(), lr=lr), backend=backend)


def test_fit_learns_and_reports_metrics():
    X, Y = _task()
    t = _trainer()
    h = t.fit(X[:500], Y[:500], epochs=6, batch_size=32, validation=(X[500:], Y[500:]), progress=False)
    assert len(h) == 6 and h["epoch"] == list(range(1, 7))
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    assert h.last["val_accuracy"] > 0.8
    ev = t.evaluate(X[500:], Y[500:])
    assert ev["accuracy"] == pytest.approx(h.last["val_accuracy"])  # evaluation mode, same weights
    manual = np.mean(np.argmax(t.predict(X[500:]), axis=1) == Y[500:])
    assert manual == pytest.approx(ev["accuracy"])


def test_reference_and_numpy_backends_train_identically():
    X, Y = _task(200)
    results = []
    for backend in ("reference", "numpy"):
        t = _trainer(backend)
        t.fit(X, Y, epochs=2, batch_size=50, progress=False)
        results.append([p.value.copy() for p in t.model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_early_stopping_restores_the_best_epoch():
    X, Y = _task()
    t = _trainer(lr=0.05)
    h = t.fit(X[:500], Y[:500], epochs=60, batch_size=16, validation=(X[500:], Y[500:]), early_stopping=3, progress=False)
    assert h.stopped_early and len(h) < 60
    best = h.best_epoch
    assert h["val_loss"][best - 1] == min(h["val_loss"])
    assert len(h) - best == 3  # stopped after `patience` epochs without improvement
    assert t.evaluate(X[500:], Y[500:])["loss"] == pytest.approx(h["val_loss"][best - 1], rel=1e-6)


def test_resume_continues_exactly_where_training_stopped(tmp_path):
    X, Y = _task()
    path = str(tmp_path / "run.npz")
    straight = _trainer()
    straight.fit(X, Y, epochs=5, batch_size=32, progress=False)
    first = _trainer()
    first.fit(X, Y, epochs=3, batch_size=32, progress=False, checkpoint_path=path)
    resumed = _trainer().load(path)
    assert resumed.epoch == 3 and len(resumed.history) == 3
    resumed.fit(X, Y, epochs=2, batch_size=32, progress=False)
    assert resumed.epoch == 5
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(a.value, b.value)  # bit-identical: data order, dropout masks, Adam moments


def test_checkpoint_round_trip_and_mismatch_errors(tmp_path):
    model = Sequential(Linear(4, 3, seed=0))
    path = checkpoint.save(str(tmp_path / "m.npz"), model, meta={"note": "hi"})
    saved = [p.value.copy() for p in model.parameters()]
    for p in model.parameters():
        p.value = np.zeros_like(p.value)
    assert checkpoint.load(path, model) == {"note": "hi"}
    for p, s in zip(model.parameters(), saved):
        np.testing.assert_array_equal(p.value, s)
    other = Sequential(Linear(4, 5, seed=0))
    before = [p.value.copy() for p in other.parameters()]
    with pytest.raises(checkpoint.CheckpointError, match="float32"):
        checkpoint.load(path, other)
    for p, b in zip(other.parameters(), before):  # nothing assigned on a mismatch
        np.testing.assert_array_equal(p.value, b)
    with pytest.raises(checkpoint.CheckpointError, match="missing"):
        checkpoint.load(path, Sequential(Linear(4, 3), Linear(3, 3)))


def test_checkpoints_refuse_pickles_and_writes_are_atomic(tmp_path, monkeypatch):
    evil = tmp_path / "evil.npz"
    np.savez(evil, **{"param:linear/weight": np.array([object()], dtype=object)})
    with pytest.raises(checkpoint.CheckpointError, match="cannot read"):
        checkpoint.load(str(evil), Sequential(Linear(1, 1)))
    model = Sequential(Linear(2, 2, seed=0))
    path = str(tmp_path / "m.npz")
    checkpoint.save(path, model)
    good = open(path, "rb").read()

    def crash(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, model)
    assert open(path, "rb").read() == good  # the old checkpoint is intact
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")] == []  # no stray temporary


def test_batches_cover_every_example_once_and_reproducibly():
    X, Y = np.arange(10), np.arange(10) * 2
    got = list(data.batches((X, Y), 4, seed=(0, 1)))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    assert sorted(np.concatenate([b[0] for b in got])) == list(range(10))
    assert all(np.array_equal(b[1], b[0] * 2) for b in got)
    again = list(data.batches((X, Y), 4, seed=(0, 1)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, again))
    assert [len(b[0]) for b in data.batches((X,), 4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="lengths"):
        list(data.batches((X, Y[:5]), 2))


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    x = np.arange(100)
    (xtr, ytr), (xva, yva), (xte, yte) = data.train_val_test_split(x, y, val=0.1, test=0.2, stratify=y, seed=1)
    assert len(xtr) + len(xva) + len(xte) == 100
    assert sorted(np.concatenate([xtr, xva, xte])) == list(range(100))
    assert np.mean(yte) == pytest.approx(0.2) and np.mean(yva) == pytest.approx(0.2)


def test_history_plot(tmp_path):
    pytest.importorskip("matplotlib")
    X, Y = _task(100)
    t = _trainer(dropout=False)
    h = t.fit(X, Y, epochs=2, batch_size=50, validation=(X, Y), progress=False)
    path = h.plot(str(tmp_path / "curves.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_early_stopping_on_accuracy_prefers_higher():
    s = EarlyStopping(monitor="val_accuracy")
    assert s.better(0.9, 0.8) and not s.better(0.8, 0.9)
    assert EarlyStopping().better(0.1, 0.2)


def test_every_package_directory_is_installed():
    """pyproject.toml lists packages explicitly (backends/ is mapped to graphc.backends): none may be forgotten."""
    import pathlib

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = pathlib.Path(__file__).resolve().parents[2]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("graphc",) + p.parent.relative_to(root / "graphc").parts) for p in (root / "graphc").rglob("__init__.py")}
    found |= {".".join(("graphc", "backends") + p.parent.relative_to(root / "backends").parts) for p in (root / "backends").rglob("__init__.py")}
    assert found == listed


def test_accuracy_counts_every_token_of_sequence_outputs():
    class Tokens(gc.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = Linear(3, 4, seed=0)

        def forward(self, x):
            return self.lin(x)

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 5, 3)).astype(np.float32), rng.integers(0, 4, (10, 5))
    model = Tokens()
    t = Trainer(model, gc.losses.cross_entropy, gc.optim.SGD(model.parameters(), lr=0.0))
    got = t.evaluate(X, Y, batch_size=4)["accuracy"]
    assert got == pytest.approx(np.mean(np.argmax(t.predict(X), -1) == Y))  # per token, in [0, 1]


def _bn_model():
    from graphc.nn import BatchNorm1d

    return Sequential(Linear(8, 16, seed=1), BatchNorm1d(16), ReLU(), Linear(16, 3, seed=2))


@pytest.mark.parametrize("backend", ["reference", "numpy"])
def test_batch_norm_trains_through_a_last_batch_of_one_row(backend):
    X, Y = _task(33)
    model = _bn_model()
    t = Trainer(model, gc.losses.cross_entropy, gc.optim.SGD(model.parameters(), lr=0.1), backend=backend)
    h = t.fit(X, Y, epochs=3, batch_size=32, progress=False)  # 32 + 1 rows per epoch
    assert np.isfinite(h["loss"]).all()
    bn = model[1]
    assert np.isfinite(bn.running_var.value).all() and np.isfinite(bn.running_mean.value).all()
    # a batch of one row leaves running_var unchanged (its unbiased variance is undefined)
    running = bn.running_var.value.copy()
    single = Trainer(model, gc.losses.cross_entropy, gc.optim.SGD(model.parameters(), lr=0.0), backend=backend)
    single.fit(X[:1], Y[:1], epochs=1, batch_size=1, shuffle=False, progress=False)
    np.testing.assert_array_equal(bn.running_var.value, running)


def test_drop_last_skips_the_incomplete_batch():
    X, Y = _task(70)
    t = _trainer(dropout=False)
    t.fit(X, Y, epochs=1, batch_size=32, drop_last=True, progress=False)  # builds the step
    step = t._step
    calls = []
    t._step = lambda **kw: calls.append(len(kw["x"])) or step(**kw)
    t.fit(X, Y, epochs=1, batch_size=32, drop_last=True, progress=False)
    assert calls == [32, 32]
    calls.clear()
    t.fit(X, Y, epochs=1, batch_size=32, progress=False)
    assert sorted(calls) == [6, 32, 32]
    with pytest.raises(gc.InputError, match="drop_last=True with 20 rows and batch_size 32"):
        t.fit(X[:20], Y[:20], epochs=1, batch_size=32, drop_last=True, progress=False)


@pytest.mark.parametrize("bad, match", [
    (dict(X=np.zeros((0, 8), np.float32), Y=np.zeros(0, np.int64)), "fit: X has no rows"),
    (dict(epochs=-1), "epochs must be an integer of at least 0"), (dict(epochs=2.5), "epochs must be an integer of at least 0"),
    (dict(batch_size=0), "batch_size must be a positive integer"), (dict(batch_size=8.0), "batch_size must be a positive integer"),
    (dict(Y=np.zeros(5, np.int64)), "X has 40 rows but Y has 5"), (dict(X=np.array(["a"] * 40)), "X holds <U1 values"),
    (dict(validation=(np.zeros((3, 8)),)), "validation must be a pair"),
])
def test_fit_refuses_what_it_cannot_train_on_naming_it(bad, match):
    X, Y = _task(40)
    args = dict(X=X, Y=Y, epochs=1, batch_size=16)
    args.update(bad)
    with pytest.raises(gc.InputError, match=match):
        _trainer().fit(args.pop("X"), args.pop("Y"), progress=False, **args)


def test_zero_epochs_trains_nothing_and_an_empty_predict_has_the_right_shape():
    X, Y = _task(40)
    t = _trainer()
    assert len(t.fit(X, Y, epochs=0, progress=False)) == 0
    assert t.predict(X[:0]).shape == (0, 3)


def test_the_trainer_casts_float64_and_uint8_data_to_the_model_dtype():
    X, Y = _task(64)
    t = _trainer(dropout=False)
    h64 = t.fit(X.astype(np.float64), Y, epochs=1, shuffle=False, progress=False)
    t32 = _trainer(dropout=False)
    h32 = t32.fit(X, Y, epochs=1, shuffle=False, progress=False)
    assert h64.last["loss"] == pytest.approx(h32.last["loss"], rel=1e-6)
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 8)).astype(np.uint8)
    t.fit(pixels / 255.0, Y.astype(np.uint8), epochs=1, progress=False)  # float64 images, uint8 labels
    t.fit(pixels, Y, epochs=1, progress=False)                           # uint8 images are cast, not refused
    assert t.predict(pixels).dtype == np.float32
    x = gc.input("x", (None, 8))
    with pytest.raises(gc.InputError):  # a direct call keeps the strict cast='safe' rule
        gc.compile(x * 2)(x=X.astype(np.float64))
