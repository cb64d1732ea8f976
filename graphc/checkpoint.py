"""Checkpoints as .npz (parameters, state, optimiser state, meta): atomic writes, no pickle, bad files refused."""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

from .errors import ArgumentError, GraphcError
from .tensor import Param


class CheckpointError(GraphcError, ValueError):
    """A checkpoint does not match the model it is loaded into, or cannot be read or written;
    the message names the file."""


class CheckpointWriteError(CheckpointError, OSError):
    """A file could not be written (no permission, a directory in the way, disk full). Also an
    OSError, since the failure is the file system's: code catching OSError around a save still works."""


# What zipfile and NumPy's .npy parser raise on a damaged archive; caught only around reading one.
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, zlib.error,
            NotImplementedError, RuntimeError, struct.error, OverflowError, KeyError, IndexError, SyntaxError)
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; the end record of an empty archive
_CHUNK = 1 << 20


def _tensors(model=None, optimizer=None, params=None) -> dict[str, Param]:
    """Every tensor to save, keyed by a name relative to its model or optimiser, so that a checkpoint
    loads into a freshly built twin of the model (whose auto-generated root names may differ)."""
    found: dict[str, Param] = {}
    relative: dict[int, str] = {}
    entries = []
    if model is not None:
        root = getattr(model, "path", "")
        weights = model.all_parameters() if hasattr(model, "all_parameters") else model.parameters()
        for p in list(weights) + list(model.state()):
            name = p.variable.name
            rel = name[len(root) + 1:] if root and name.startswith(root + "/") else name
            relative[id(p)] = rel
            entries.append((f"{'state' if p.variable.role == 'state' else 'param'}:{rel}", p))
    if optimizer is not None:
        entries += [(f"optim:{key}", p) for key, p in _optimizer_state(optimizer, relative)]
    entries += [(f"param:{p.variable.name}", p) for p in (params or [])]
    for key, p in entries:
        if key in found and found[key] is not p:
            raise CheckpointError(f"two tensors are both saved as {key!r}; names must be unique to checkpoint them")
        found[key] = p
    return found


def _optimizer_state(optimizer, relative: dict) -> list:
    """(key, tensor) for the optimiser's step counter, fed learning rate and per-parameter slots."""
    out = [("step", optimizer.step)]
    if getattr(optimizer, "lr_param", None) is not None:
        out.append(("lr", optimizer.lr_param))
    by_id = {id(p): p for p in optimizer.params}
    for (pid, slot), tensor in optimizer._state.items():
        owner = relative.get(pid) or by_id[pid].variable.name
        out.append((f"{owner}/{slot}", tensor))
    return out


def _path(path) -> str:
    """`path` as a non-empty str (a str, bytes or os.PathLike), so that every message can name it."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise ArgumentError(f"a checkpoint path must be a str or os.PathLike, got {type(path).__name__}") from None
    if not path:
        raise CheckpointError("the checkpoint path is empty; expected the path of an .npz file")
    return path


def atomic_write(path: str, write) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`: a crash
    mid-write never leaves a truncated file where the old one was. File-system failures are
    CheckpointWriteError naming `path`; anything else write() raises passes through unchanged."""
    path = _path(path)
    if os.path.isdir(path):
        raise CheckpointWriteError(f"cannot write {path!r}: it is a directory; expected a file path")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise CheckpointWriteError(f"cannot write {path!r}: cannot create its directory {directory!r} "
                                   f"({e.strerror or e})") from None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    except OSError as e:
        raise CheckpointWriteError(f"cannot write {path!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, GraphcError):
            raise CheckpointWriteError(f"cannot write {path!r}: {e.strerror or e}") from None
        raise


def save(path: str, model=None, optimizer=None, *, params=None, meta: dict | None = None) -> str:
    """Write every parameter, state tensor and optimiser slot (by name) and a JSON `meta` dict."""
    path = _path(path)
    arrays = {key: p.value for key, p in _tensors(model, optimizer, params).items()}
    try:
        arrays["__meta__"] = np.array(json.dumps(meta or {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"cannot save checkpoint {path!r}: meta must be a JSON-serialisable dict ({e})") from None
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


# -- reading -------------------------------------------------------------------------------------
# The archive is read with zipfile and NumPy's .npy header parser rather than np.load: np.load
# guesses the format from the bytes (so random bytes read as "pickled data") and reads members
# lazily (so a damaged member raises later, outside any error handling). Here every member that is
# used is read in full, its CRC checked, and its header checked against its size, before use.

def _open(path: str) -> zipfile.ZipFile:
    """The checkpoint as an open archive, after checking that the file is there and is a zip."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise _unreadable(path, "it does not exist") from None
    except IsADirectoryError:
        raise _unreadable(path, "it is a directory; expected an .npz file") from None
    except OSError as e:
        raise _unreadable(path, e.strerror or _reason(e)) from None
    if not head:
        raise _unreadable(path, "it is empty (0 bytes); expected an .npz archive")
    if head.startswith(_NPY_MAGIC):
        raise _unreadable(path, "it is a single .npy array, not an .npz archive (graphc.checkpoint.save and "
                                 "Trainer.save write .npz archives)")
    if head[:4] not in _ZIP_MAGICS:
        raise _unreadable(path, "it is not an .npz archive (not a zip file)")
    try:
        return zipfile.ZipFile(path)
    except _DAMAGED as e:
        raise _unreadable(path, f"it is damaged or truncated ({_reason(e)})") from None


def _unreadable(path: str, what: str) -> CheckpointError:
    return CheckpointError(f"cannot read checkpoint {path!r}: {what}")


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _members(archive: zipfile.ZipFile, path: str) -> dict[str, zipfile.ZipInfo]:
    """{key: member} of an .npz archive; any member that is not an .npy array is refused."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise _unreadable(path, f"it is not an .npz checkpoint: it holds {info.filename!r}, which is not "
                                       "an .npy array")
        key = info.filename[:-len(".npy")]
        if key in members:
            raise _unreadable(path, f"it is damaged: it holds {info.filename!r} twice")
        members[key] = info
    if not members:
        raise _unreadable(path, "it is an empty archive: no arrays and no __meta__")
    return members


def _header(f, size: int, name: str, path: str) -> None:
    """Check a member's .npy header (read from `f`) against its `size` in bytes: a numeric array whose
    declared shape and dtype need exactly the data that follows. Leaves `f` at the data."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # 3.0 only differs by UTF-8 field names, which no checkpoint has
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    except _DAMAGED as e:
        raise _unreadable(path, f"member {name!r} is not a valid .npy array ({_reason(e)})") from None
    if dtype.hasobject:
        raise _unreadable(path, f"member {name!r} holds Python objects (pickled data), which a checkpoint "
                                 "never does; it is not loaded, as unpickling can run code")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = size - f.tell()
    if need != have:
        raise _unreadable(path, f"it is damaged or truncated: member {name!r} declares a {dtype}{list(shape)} "
                                 f"array of {need} bytes but holds {have}")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> np.ndarray:
    """One member as an array, read in full (its CRC checked) and its header checked first."""
    try:
        raw = archive.read(info)
    except _DAMAGED as e:
        raise _unreadable(path, f"it is damaged or truncated: member {info.filename!r}: {_reason(e)}") from None
    _header(io.BytesIO(raw), len(raw), info.filename, path)
    try:
        return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except _DAMAGED as e:  # not expected once the header matched the size; kept as a guard
        raise _unreadable(path, f"member {info.filename!r}: {_reason(e)}") from None


def _verify(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, data: bool = True) -> None:
    """Check one member's header and size and, with `data`, its CRC (streaming through it, without
    building the array)."""
    try:
        with archive.open(info) as f:
            _header(f, info.file_size, info.filename, path)
            while data and f.read(_CHUNK):  # reading to the end is what checks the CRC
                pass
    except CheckpointError:
        raise
    except _DAMAGED as e:
        raise _unreadable(path, f"it is damaged or truncated: member {info.filename!r}: {_reason(e)}") from None


def _meta(archive: zipfile.ZipFile, members: dict, path: str) -> dict:
    """The `__meta__` member as a dict ({} when the file has none)."""
    if "__meta__" not in members:
        return {}
    text = _read(archive, members["__meta__"], path)
    if text.dtype.kind != "U" or text.shape != ():
        raise _unreadable(path, f"its __meta__ is a {text.dtype}{list(text.shape)} array; expected one "
                                 "JSON text")
    try:
        meta = json.loads(str(text[()]))
    except (ValueError, RecursionError) as e:
        raise _unreadable(path, f"its __meta__ is not valid JSON ({_reason(e)})") from None
    if not isinstance(meta, dict):
        raise _unreadable(path, f"its __meta__ is a JSON {type(meta).__name__}; expected an object")
    return meta


def read_meta(path: str) -> dict:
    """The JSON metadata of a checkpoint, after checking that the whole file is intact (every member's
    header, size and CRC), so that a damaged file is refused here rather than when it is applied."""
    path = _path(path)
    with _open(path) as archive:
        members = _members(archive, path)
        for key, info in members.items():
            if key != "__meta__":
                _verify(archive, info, path)
        return _meta(archive, members, path)


def load(path: str, model=None, optimizer=None, *, params=None, strict: bool = True) -> dict:
    """Assign the checkpoint's arrays to the matching tensors in place; return its `meta` dict.

    strict: every tensor of the parts passed (model, optimizer, params) must be in the file and every
    tensor in the file must belong to them; without an optimizer the file's optimiser state ('optim:'
    keys, as Trainer.save writes) is ignored, so a full training checkpoint loads into a bare model."""
    path = _path(path)
    targets = _tensors(model, optimizer, params)
    with _open(path) as archive:
        members = _members(archive, path)
        for info in members.values():  # a pickled or malformed member is refused whether it is used or not
            _verify(archive, info, path, data=False)
        meta = _meta(archive, members, path)
        in_file = {k for k in members if k != "__meta__" and not (optimizer is None and k.startswith("optim:"))}
        missing, unexpected = sorted(set(targets) - in_file), sorted(in_file - set(targets))
        if strict and (missing or unexpected):
            raise CheckpointError(f"checkpoint {path!r} does not match: missing {missing or 'nothing'}, "
                                  f"unexpected {unexpected or 'nothing'}")
        stored = {key: _read(archive, members[key], path) for key in targets if key in in_file}
    for key, p in targets.items():  # check everything before assigning anything
        if key in stored and (stored[key].shape != p.value.shape or stored[key].dtype != p.value.dtype):
            raise CheckpointError(f"checkpoint {path!r} does not fit: {key} is {stored[key].dtype}"
                                  f"{list(stored[key].shape)} in the file, {p.value.dtype}{list(p.value.shape)} "
                                  "in the model")
    for key, array in stored.items():
        targets[key].value[...] = array
    return meta
