"""The on-disk store of compiled code every backend shares: private, verified, written atomically.

An entry is code graphc will execute, so it is treated as such: the directory is private to the user
(0700), an entry is read only when the user owns it and nobody else may write it, and its content hash
is checked before use; anything else is ignored with one warning and rebuilt. Writes go to a temporary
file renamed into place, so a killed process never leaves a partial entry. An entry holds the code and a
JSON object of metadata. Location: $GRAPHC_CACHE_DIR/<backend>, else $XDG_CACHE_HOME/graphc/<backend>,
else ~/.cache/graphc/<backend>.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import tempfile
import warnings


def root() -> str:
    explicit = os.environ.get("GRAPHC_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc")


@functools.cache
def code_version() -> str:
    """A hash of every Python source file of the running graphc and its backends (printers, IR, scalar ops)."""
    import sys  # the packages are imported already (this module is one of theirs): read where they live

    roots = [os.path.dirname(os.path.abspath(sys.modules["graphc"].__file__)), *sys.modules["graphc.backends"].__path__]
    h = hashlib.sha256()
    for top in roots:
        for folder, subfolders, files in os.walk(top):
            subfolders.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, top).encode() + b"\0")
                    with open(path, "rb") as f:
                        h.update(f.read())
    return h.hexdigest()


def digest(*parts: str) -> str:
    """An entry name: the SHA-256 of the parts (each NUL-terminated), with graphc's own source hash first."""
    h = hashlib.sha256()
    for part in (code_version(), *parts):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


class Store:
    """One backend's entries: `<root>/<name>/<key><suffix>`."""

    def __init__(self, name: str, suffix: str, label: str):
        self.name, self.suffix, self.label = name, suffix, label
        self.warned: set[str] = set()

    def directory(self) -> str:
        return os.path.join(root(), self.name)

    def _warn_once(self, what: str) -> None:
        if what not in self.warned:
            self.warned.add(what)
            warnings.warn(f"graphc {self.label} cache: {what}; compiling without it", RuntimeWarning, stacklevel=3)

    def _private_directory(self) -> str | None:
        """The cache directory, created private; None (with one warning) when it cannot be trusted or made."""
        path = self.directory()
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            st = os.stat(path)
        except OSError as e:
            self._warn_once(f"cannot create {path} ({e.strerror})")
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            self._warn_once(f"{path} is not private to this user (owner or permissions)")
            return None
        return path

    def load(self, name: str) -> tuple[bytes, dict] | None:
        """(code, metadata) stored under `name`, or None (missing, untrusted or corrupt: then it is removed)."""
        folder = self._private_directory()
        if folder is None:
            return None
        path = os.path.join(folder, name + self.suffix)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            self._warn_once(f"{path} is not owned by this user or is writable by others")
            return None
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError:
            return None
        stored_hash, payload = blob[:32], blob[32:]
        try:
            if len(blob) < 36 or hashlib.sha256(payload).digest() != stored_hash:
                raise ValueError("hash mismatch")
            size = int.from_bytes(payload[:4], "little")
            meta = json.loads(payload[4:4 + size].decode())
            if not isinstance(meta, dict):
                raise ValueError("metadata is not an object")
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self._warn_once(f"{path} is corrupt")
            try:
                os.remove(path)
            except OSError:
                pass
            return None
        return payload[4 + size:], meta

    def store(self, name: str, data: bytes, meta: dict) -> None:
        """Write an entry atomically (temporary file, then rename); failures only cost the next compile."""
        folder = self._private_directory()
        if folder is None:
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
            with os.fdopen(fd, "wb") as f:
                header = json.dumps(meta).encode()
                payload = len(header).to_bytes(4, "little") + header + data
                f.write(hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, os.path.join(folder, name + self.suffix))
        except OSError as e:
            self._warn_once(f"cannot write to {folder} ({e.strerror})")

    def info(self) -> dict:
        """Where the cache is, how many entries, how many bytes."""
        path = self.directory()
        entries = [e for e in os.scandir(path) if e.name.endswith(self.suffix)] if os.path.isdir(path) else []
        return {"directory": path, "entries": len(entries), "bytes": sum(e.stat().st_size for e in entries)}

    def clear(self) -> int:
        """Remove every entry (and leftovers of interrupted writes); the number of files removed."""
        path = self.directory()
        removed = 0
        if os.path.isdir(path):
            for e in os.scandir(path):
                if e.name.endswith(self.suffix) or e.name.startswith(".partial-"):
                    os.remove(e.path)
                    removed += 1
        return removed
