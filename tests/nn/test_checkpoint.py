"""Checkpoint files: every kind of malformed, truncated or mismatched file is one CheckpointError naming it."""
from __future__ import annotations

import io
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc import checkpoint
from graphc.checkpoint import CheckpointError
from graphc.errors import ArgumentError
from graphc.nn import Linear, ReLU, Sequential
from graphc.train import Trainer

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


def _trainer() -> Trainer:
    model = Sequential(Linear(8, 16, seed=1), ReLU(), Linear(16, 3, seed=2))
    return Trainer(model, gc.losses.cross_entropy, gc.optim.Adam(model.parameters(), lr=0.01))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    """The bytes of a real Trainer checkpoint (parameters, Adam slots, meta)."""
    t = _trainer()
    t.fit(X, Y, epochs=1, progress=False)
    path = str(tmp_path_factory.mktemp("good") / "run.npz")
    t.save(path)
    return open(path, "rb").read()


@pytest.fixture(scope="module")
def deflated(good) -> bytes:
    """The same checkpoint with its members compressed (as np.savez_compressed writes them)."""
    src, out = zipfile.ZipFile(io.BytesIO(good)), io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info))
    return out.getvalue()


@pytest.fixture(scope="module")
def fitted() -> Trainer:
    t = _trainer()
    t.fit(X, Y, epochs=1, progress=False)
    return t


# -- malformed files: each maker writes (or not) `path` from a good checkpoint's bytes ------------
def _data_offset(blob: bytes, index: int) -> tuple[int, zipfile.ZipInfo]:
    """Where member `index`'s data starts in an archive's bytes (after its local header)."""
    info = zipfile.ZipFile(io.BytesIO(blob)).infolist()[index]
    name_len, extra_len = struct.unpack("<HH", blob[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0xFF]) + blob[at + 1:]


def _zip(path, members) -> None:
    """An archive of `members`: {name: bytes or str} or [(name, content)] (which may repeat a name)."""
    with zipfile.ZipFile(path, "w") as z:
        for name, content in (members.items() if isinstance(members, dict) else members):
            z.writestr(name, content)


def _npy(array=None, header: dict | None = None, tail: bytes = b"") -> bytes:
    f = io.BytesIO()
    if header is not None:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(tail)
    else:
        np.lib.format.write_array(f, array, allow_pickle=True)
    return f.getvalue()


def _bad_crc(path, blob):
    start, info = _data_offset(blob, 0)
    path.write_bytes(_flip(blob, start + info.file_size - 1))  # the member's last data byte


def _bad_npy_header_byte(path, blob):
    start, _ = _data_offset(blob, 0)
    path.write_bytes(_flip(blob, start + 20))  # inside the .npy header text; the CRC no longer matches


def _unknown_compression(path, blob):
    start, info = _data_offset(blob, 0)
    data = bytearray(blob)
    data[info.header_offset + 8:info.header_offset + 10] = struct.pack("<H", 99)
    central = blob.index(b"PK\x01\x02")  # the first central-directory record is member 0's
    data[central + 10:central + 12] = struct.pack("<H", 99)
    path.write_bytes(bytes(data))


def _duplicate_member(path, blob):
    with pytest.warns(UserWarning, match="Duplicate"):
        _zip(path, [("__meta__.npy", _npy(np.array("{}"))), ("param:x.npy", _npy(np.zeros(2))),
                    ("param:x.npy", _npy(np.ones(2)))])


MALFORMED = {
    "missing": lambda path, blob: None,
    "directory": lambda path, blob: path.mkdir(),
    "empty": lambda path, blob: path.write_bytes(b""),
    "random bytes": lambda path, blob: path.write_bytes(b"\x00garbage" + np.random.default_rng(1).bytes(500)),
    "random bytes after a zip signature": lambda path, blob: path.write_bytes(b"PK\x03\x04" + np.random.default_rng(2).bytes(500)),
    "text": lambda path, blob: path.write_text("epoch,loss\n1,0.5\n"),
    "pickle": lambda path, blob: path.write_bytes(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00."),
    **{f"truncated to {n}": (lambda n: lambda path, blob: path.write_bytes(blob[:n]))(n) for n in (1, 4, 10, 100, 1000)},
    "truncated to half": lambda path, blob: path.write_bytes(blob[:len(blob) // 2]),
    "truncated by 1 byte": lambda path, blob: path.write_bytes(blob[:-1]),
    "truncated by 30 bytes": lambda path, blob: path.write_bytes(blob[:-30]),
    "bad CRC": _bad_crc,
    "byte flipped in a .npy header": _bad_npy_header_byte,
    "unknown compression method": _unknown_compression,
    "a .npy file": lambda path, blob: np.save(open(path, "wb"), np.zeros(3)),
    "a zip that is not an npz": lambda path, blob: _zip(path, {"hello.txt": "hello"}),
    "a zip with a folder": lambda path, blob: _zip(path, {"weights/": "", "__meta__.npy": _npy(np.array("{}"))}),
    "an empty zip": lambda path, blob: _zip(path, {}),
    "a pickled object member": lambda path, blob: _zip(path, {
        "__meta__.npy": _npy(np.array("{}")), "param:0/weight.npy": _npy(np.array([object()], dtype=object))}),
    "a member that is not .npy": lambda path, blob: _zip(path, {"param:0/weight.npy": b"not an array at all"}),
    "a huge declared size": lambda path, blob: _zip(path, {"param:0/weight.npy": _npy(
        header={"descr": "<f4", "fortran_order": False, "shape": (10**12,)}, tail=b"\0" * 16)}),
    "a member shorter than declared": lambda path, blob: _zip(path, {"param:0/weight.npy": _npy(
        header={"descr": "<f4", "fortran_order": False, "shape": (8, 16)}, tail=b"\0" * 100)}),
    "meta not JSON": lambda path, blob: np.savez(path, __meta__=np.array("{epoch: 1")),
    "meta a JSON list": lambda path, blob: np.savez(path, __meta__=np.array("[1, 2]")),
    "meta a number array": lambda path, blob: np.savez(path, __meta__=np.arange(3)),
    "meta deeply nested": lambda path, blob: np.savez(path, __meta__=np.array("[" * 100000 + "]" * 100000)),
    "duplicate member": _duplicate_member,
}


def _make(kind, tmp_path, blob) -> str:
    path = tmp_path / "bad.npz"
    MALFORMED[kind](path, blob)
    return str(path)


def _check(excinfo, path):
    assert excinfo.type is CheckpointError, excinfo.type
    assert isinstance(excinfo.value, ValueError)
    assert path in str(excinfo.value)
    assert "\n" not in str(excinfo.value)  # one line


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_file_is_one_checkpoint_error_naming_it(kind, tmp_path, good, fitted):
    path = _make(kind, tmp_path, good)
    with pytest.raises(Exception) as e:
        checkpoint.load(path, fitted.model, fitted.optimizer)
    _check(e, path)
    with pytest.raises(Exception) as e:
        checkpoint.load(path, fitted.model, strict=False)
    _check(e, path)
    with pytest.raises(Exception) as e:
        checkpoint.read_meta(path)
    _check(e, path)
    with pytest.raises(Exception) as e:
        _trainer().load(path)  # before any fit: the file is checked when it is named
    _check(e, path)
    with pytest.raises(Exception) as e:
        fitted.load(path)  # after fit: applied at once
    _check(e, path)


def test_a_failed_load_assigns_nothing(tmp_path, good, fitted):
    before = [p.value.copy() for p in fitted.model.parameters()]
    path = _make("bad CRC", tmp_path, good)
    with pytest.raises(CheckpointError):
        fitted.load(path)
    for p, b in zip(fitted.model.parameters(), before):
        np.testing.assert_array_equal(p.value, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_is_refused_or_harmless(tmp_path, good, deflated, fitted, data):
    """Truncating at, flipping or overwriting random positions of a real checkpoint (stored or
    compressed): load either works or raises one CheckpointError naming the file; nothing else escapes."""
    good = data.draw(st.sampled_from([good, deflated]))
    how = data.draw(st.sampled_from(["truncate", "flip", "overwrite"]))
    at = data.draw(st.integers(0, len(good) - 1))
    if how == "truncate":
        blob = good[:at]
    elif how == "flip":
        blob = _flip(good, at)
    else:
        junk = data.draw(st.binary(min_size=1, max_size=64))
        blob = good[:at] + junk + good[at + len(junk):]
    path = str(tmp_path / "damaged.npz")
    with open(path, "wb") as f:
        f.write(blob)
    for call in (lambda: checkpoint.read_meta(path), lambda: checkpoint.load(path, fitted.model, fitted.optimizer),
                 lambda: checkpoint.load(path, fitted.model)):
        try:
            call()
        except CheckpointError as e:
            assert path in str(e)


def test_a_compressed_checkpoint_loads(tmp_path, deflated, fitted):
    path = tmp_path / "compressed.npz"
    path.write_bytes(deflated)
    assert checkpoint.read_meta(str(path))["epoch"] == 1
    assert checkpoint.load(str(path), fitted.model, fitted.optimizer)["epoch"] == 1
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="compressed.npz"):
        checkpoint.load(str(path), fitted.model, fitted.optimizer)


# -- mismatches: a readable file that does not fit the model --------------------------------------
def test_a_member_of_another_shape_or_dtype_is_refused_naming_file_and_key(tmp_path, good, fitted):
    src = zipfile.ZipFile(io.BytesIO(good))
    for change in (lambda a: np.zeros((a.shape[0] + 1,) + a.shape[1:], a.dtype), lambda a: a.astype(np.float64),
                   lambda a: a.astype(np.int32)):
        arrays = {info.filename[:-4]: np.lib.format.read_array(src.open(info)) for info in src.infolist()}
        key = next(k for k in arrays if k.startswith("param:"))
        arrays[key] = change(arrays[key])
        path = str(tmp_path / "other.npz")
        np.savez(path, **arrays)
        with pytest.raises(CheckpointError) as e:
            fitted.load(path)
        _check(e, path)
        assert key in str(e.value)


def test_a_trainer_checkpoint_loads_into_a_bare_model(tmp_path, good):
    path = tmp_path / "run.npz"
    path.write_bytes(good)
    model = _trainer().model
    meta = checkpoint.load(str(path), model)  # strict: the model's tensors all match; 'optim:' keys are ignored
    assert meta["epoch"] == 1
    stored = np.load(path)
    for key in stored.files:
        if key.startswith("param:"):
            p = checkpoint._tensors(model)[key]
            np.testing.assert_array_equal(p.value, stored[key])


def test_params_only_into_model_and_optimizer_names_the_missing_optimiser_state(tmp_path):
    t = _trainer()
    path = checkpoint.save(str(tmp_path / "params.npz"), t.model)
    with pytest.raises(CheckpointError, match=r"missing \['optim:step'") as e:
        checkpoint.load(path, t.model, t.optimizer)
    assert path in str(e.value)
    assert checkpoint.load(path, t.model, t.optimizer, strict=False) == {}
    with pytest.raises(CheckpointError, match="unexpected"):
        checkpoint.load(path, Sequential(Linear(8, 16)))  # the file has a tensor the model lacks


# -- writing ----------------------------------------------------------------------------------------
def test_saving_where_no_file_can_be_written_names_the_path(tmp_path):
    model = Sequential(Linear(2, 2, seed=0))
    (tmp_path / "a_dir.npz").mkdir()
    (tmp_path / "a_file").write_text("x")
    for path in (tmp_path / "a_dir.npz", tmp_path / "a_file" / "sub" / "m.npz", tmp_path / "a_file" / "m.npz"):
        with pytest.raises(CheckpointError) as e:
            checkpoint.save(str(path), model)
        assert str(path) in str(e.value) and isinstance(e.value, OSError)
        with pytest.raises(CheckpointError, match=str(path)):
            _trainer().save(str(path))
    assert sorted(os.listdir(tmp_path)) == ["a_dir.npz", "a_file"]  # no stray temporary
    with pytest.raises(CheckpointError, match="empty"):
        checkpoint.save("", model)
    with pytest.raises(ArgumentError, match="path"):
        checkpoint.load(42, model)


def test_save_refuses_meta_that_is_not_json(tmp_path):
    path = str(tmp_path / "m.npz")
    with pytest.raises(CheckpointError, match="JSON") as e:
        checkpoint.save(path, Sequential(Linear(2, 2)), meta={"when": object()})
    assert path in str(e.value) and not os.path.exists(path)


def test_paths_may_be_pathlib_paths(tmp_path):
    model = Sequential(Linear(2, 2, seed=0))
    path = checkpoint.save(tmp_path / "m.npz", model, meta={"a": 1})
    assert checkpoint.read_meta(tmp_path / "m.npz") == {"a": 1} == checkpoint.load(path, model)
