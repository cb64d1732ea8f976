"""The on-disk cache of compiled machine code, keyed by the Program, graphc's code, the CPU and the LLVM version.

The key hashes the Program's fingerprint (so a hit skips building the IR as well as compiling it), the
source of graphc itself (a changed printer never loads code its predecessor printed), the CPU's name
and features, and the llvmlite and LLVM versions. An entry holds the object code and the metadata the
step needs at run time (its range checks).

An entry is machine code graphc will execute, so it is treated as such: the directory is private to
the user (0700), an entry is read only when the user owns it and nobody else may write it, and its
content hash is checked before use; anything else is ignored with one warning and rebuilt. Writes go
to a temporary file renamed into place, so a killed process never leaves a partial entry.
Location: $GRAPHC_CACHE_DIR, else $XDG_CACHE_HOME/graphc/llvm, else ~/.cache/graphc/llvm.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import tempfile
import warnings

import llvmlite
import llvmlite.binding as llvm

FORMAT = "graphc-llvm-object-2"  # bump when what an entry holds changes
SUFFIX = ".o"
_warned: set[str] = set()


def directory() -> str:
    explicit = os.environ.get("GRAPHC_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc", "llvm")


@functools.cache
def code_version() -> str:
    """A hash of every Python source file of the running graphc and its backends (printers, IR, scalar ops)."""
    import sys  # the packages are imported already (this module is one of theirs): read where they live

    roots = [os.path.dirname(os.path.abspath(sys.modules["graphc"].__file__)), *sys.modules["graphc.backends"].__path__]
    h = hashlib.sha256()
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, root).encode() + b"\0")
                    with open(path, "rb") as f:
                        h.update(f.read())
    return h.hexdigest()


def key(*parts: str) -> str:
    """The entry name for `parts` (the Program's fingerprint and build options) with this graphc on this CPU with
    this LLVM: a cache from another CPU or version never matches."""
    h = hashlib.sha256()
    for part in (FORMAT, code_version(), llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)),
                 llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(), *parts):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _warn_once(what: str) -> None:
    if what not in _warned:
        _warned.add(what)
        warnings.warn(f"graphc LLVM cache: {what}; compiling without it", RuntimeWarning, stacklevel=3)


def _private_directory() -> str | None:
    """The cache directory, created private; None (with one warning) when it cannot be trusted or made."""
    path = directory()
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as e:
        _warn_once(f"cannot create {path} ({e.strerror})")
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        _warn_once(f"{path} is not private to this user (owner or permissions)")
        return None
    return path


def load(name: str) -> tuple[bytes, dict] | None:
    """(object code, metadata) stored under `name`, or None (missing, untrusted or corrupt: then it is removed)."""
    folder = _private_directory()
    if folder is None:
        return None
    path = os.path.join(folder, name + SUFFIX)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        _warn_once(f"{path} is not owned by this user or is writable by others")
        return None
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    digest, payload = blob[:32], blob[32:]
    try:
        if len(blob) < 36 or hashlib.sha256(payload).digest() != digest:
            raise ValueError("hash mismatch")
        size = int.from_bytes(payload[:4], "little")
        meta = json.loads(payload[4:4 + size].decode())
        if not isinstance(meta, dict):
            raise ValueError("metadata is not an object")
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        _warn_once(f"{path} is corrupt")
        try:
            os.remove(path)
        except OSError:
            pass
        return None
    return payload[4 + size:], meta


def store(name: str, data: bytes, meta: dict) -> None:
    """Write an entry atomically (temporary file, then rename); failures only cost the next compile."""
    folder = _private_directory()
    if folder is None:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
        with os.fdopen(fd, "wb") as f:
            header = json.dumps(meta).encode()
            payload = len(header).to_bytes(4, "little") + header + data
            f.write(hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, os.path.join(folder, name + SUFFIX))
    except OSError as e:
        _warn_once(f"cannot write to {folder} ({e.strerror})")


def info() -> dict:
    """Where the cache is, how many entries, how many bytes."""
    path = directory()
    entries = [e for e in os.scandir(path) if e.name.endswith(SUFFIX)] if os.path.isdir(path) else []
    return {"directory": path, "entries": len(entries), "bytes": sum(e.stat().st_size for e in entries)}


def clear() -> int:
    """Remove every entry (and leftovers of interrupted writes); the number of files removed."""
    path = directory()
    removed = 0
    if os.path.isdir(path):
        for e in os.scandir(path):
            if e.name.endswith(SUFFIX) or e.name.startswith(".partial-"):
                os.remove(e.path)
                removed += 1
    return removed
