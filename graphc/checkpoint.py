"""Saving and loading parameters, state and optimiser state as .npz: atomic writes, no pickle."""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .errors import GraphcError
from .tensor import Param


class CheckpointError(GraphcError, ValueError):
    """A checkpoint does not match the model it is loaded into, or cannot be read."""


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


def atomic_write(path: str, write) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`: a crash
    mid-write never leaves a truncated file where the old one was."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(path: str, model=None, optimizer=None, *, params=None, meta: dict | None = None) -> str:
    """Write every parameter, state tensor and optimiser slot (by name) and a JSON `meta` dict."""
    arrays = {key: p.value for key, p in _tensors(model, optimizer, params).items()}
    arrays["__meta__"] = np.array(json.dumps(meta or {}))
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def read_meta(path: str) -> dict:
    """The JSON metadata of a checkpoint, without touching any tensor."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {e}") from None


def load(path: str, model=None, optimizer=None, *, params=None, strict: bool = True) -> dict:
    """Assign the checkpoint's arrays to the matching tensors in place; return its `meta` dict.

    strict: every tensor of the model/optimiser must be in the file and vice versa."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {e}") from None
    meta = json.loads(str(stored.pop("__meta__", np.array("{}"))))
    targets = _tensors(model, optimizer, params)
    missing = sorted(set(targets) - set(stored))
    unexpected = sorted(set(stored) - set(targets))
    if strict and (missing or unexpected):
        raise CheckpointError(f"checkpoint {path!r} does not match: missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
    for key, p in targets.items():  # check everything before assigning anything
        if key in stored and (stored[key].shape != p.value.shape or stored[key].dtype != p.value.dtype):
            raise CheckpointError(f"{key}: checkpoint has {stored[key].dtype}{list(stored[key].shape)}, "
                                  f"the model {p.value.dtype}{list(p.value.shape)}")
    for key, p in targets.items():
        if key in stored:
            p.value[...] = stored[key]
    return meta
