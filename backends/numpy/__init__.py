"""The NumPy backend: prints a Program as a readable NumPy module and runs it over the runtime's arena."""
from __future__ import annotations

import linecache

from graphc.runtime import register_backend
from graphc.shapes import check_fits

from .printer import ModulePrinter


class NumpyFunction:
    """One Program's generated module: fn.bind(arena, externals) makes its views once and returns run();
    fn(arena, externals) binds (once per pair of arrays) and runs."""

    def __init__(self, program, debug: bool = False):
        self.program = program
        key = "-".join(f"{k}{v}" for k, v in sorted(program.bindings.items())) or "static"
        printer = ModulePrinter(program, debug)
        self.source = printer.source()
        self.workspace_bytes = printer.scratch.nbytes  # the scratch bind() allocates for bodies' intermediate values
        check_fits(self.workspace_bytes, "the NumPy module's scratch arrays")
        filename = f"<graphc-numpy-{id(program):x}-{key}>"
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)  # readable tracebacks
        namespace: dict = {}
        exec(compile(self.source, filename, "exec"), namespace)
        self._bind = namespace["bind"]
        self._bound: tuple | None = None  # (arena, externals, run): views are created once per arena

    inputs_by_argument = True  # run(*inputs) reads the caller's arrays (C-contiguous, declared dtypes) in place

    def bind(self, arena, externals):
        """The module's run(*inputs), its views of everything but the inputs made once over these arrays."""
        bound = self._bound
        if bound is None or bound[0] is not arena or bound[1] is not externals:
            bound = self._bound = (arena, externals, self._bind(arena, externals))
        return bound[2]

    def __call__(self, arena, externals) -> None:
        """Run with the inputs in their external (staging) arrays."""
        position = {id(b): i for i, b in enumerate(self.program.externals)}
        self.bind(arena, externals)(*(externals[position[id(b)]] for b in self.program.inputs.values()))


class NumpyBackend:
    name = "numpy"

    @staticmethod
    def build(program, debug: bool = False) -> NumpyFunction:
        return NumpyFunction(program, debug)


register_backend("numpy", NumpyBackend)
