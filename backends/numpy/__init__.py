"""The NumPy backend: lowers a graph per shape binding, prints it as a NumPy module, and runs it.

Buffers are allocated once per binding and reused by every call; parameters are views of
their Variables' arrays, so the program's updates land in `param.value` in place.
"""
from __future__ import annotations

import linecache

import numpy as np

from graphc.compiler import register_backend
from graphc.lower import lower

from .printer import ModulePrinter


class Specialization:
    """One binding's program, its generated source, and the live buffers it runs on."""

    def __init__(self, graph, bindings, n_outputs, updates, debug):
        self.program = lower(graph, bindings, n_outputs, updates)
        self.source = ModulePrinter(self.program, debug).source(graph.structural_hash())
        filename = f"<graphc-numpy-{graph.structural_hash()[:12]}-{'-'.join(f'{k}{v}' for k, v in sorted(bindings.items()))}>"
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)  # readable tracebacks
        namespace: dict = {}
        exec(compile(self.source, filename, "exec"), namespace)
        self.buffers = {b.name: _allocate(b) for b in self.program.buffers}
        self.input_buffers = self.program.inputs
        self.run = namespace["bind"](self.buffers)

    def __call__(self, arrays_by_name: dict):
        for name, buf in self.input_buffers.items():
            np.copyto(self.buffers[buf.name], arrays_by_name[name].reshape(-1), casting="same_kind")
        return [np.array(v) for v in self.run()]  # copies: callers never hold views of our buffers


def _allocate(buf) -> np.ndarray:
    if buf.role == "param":
        flat = buf.var.value.reshape(-1)
        if not np.shares_memory(flat, buf.var.value):
            raise RuntimeError(f"parameter {buf.var.name!r} storage is not contiguous")
        return flat
    if buf.role == "const":
        return np.array(buf.data, dtype=buf.dtype).reshape(-1)
    return np.empty(buf.size, buf.dtype)


class NumpyBackend:
    name = "numpy"

    def __init__(self, graph, n_outputs: int, updates: list, debug: bool = False):
        self.graph, self.n_outputs, self.updates, self.debug = graph, n_outputs, updates, debug
        self.cache: dict[tuple, Specialization] = {}
        self.lowerings = 0
        self.last: Specialization | None = None

    def specialize(self, bindings: dict) -> Specialization:
        key = tuple(sorted(bindings.items()))
        spec = self.cache.get(key)
        if spec is None:
            self.lowerings += 1
            spec = self.cache[key] = Specialization(self.graph, bindings, self.n_outputs, self.updates, self.debug)
        return spec

    def __call__(self, arrays: dict, bindings: dict):
        spec = self.last = self.specialize(bindings)
        return spec(({n.attrs["name"]: a for n, a in arrays.items()}))


register_backend("numpy", NumpyBackend)
