"""A Program compiled to one native `step` function, and its calling convention.

`bind(arena, externals)` fills a table of buffer pointers once (temporaries point into the arena);
`run(*inputs)` writes the inputs' pointers into the table and makes one native call. A nonzero
return is the number of the range check that failed: the call raises the check's IndexRangeError.
"""
from __future__ import annotations

import ctypes
import time
import warnings


from graphc.errors import IndexRangeError, NonFiniteError
from graphc.program import fingerprint

from . import blas, cache, target, vmath as _vmath
from .codegen import build_module


class LlvmFunction:
    """One Program's native step; `source` (the IR as printed), `optimized_ir` and `asm` show the code."""

    inputs_by_argument = True

    def __init__(self, program, debug: bool = False, vmath=None):
        self.program = program

        def build():
            module = target.new_module("graphc_step")
            builder = build_module(program, module, vmath or _vmath, debug)
            return module, {"checks": builder.checks}
        blas.symbols()  # registered before any code loads: cached object code calls the BLAS by name too
        started = time.perf_counter()
        key = _cache_key(program, debug) if vmath is None else None
        keyed = time.perf_counter()
        self.compiled = target.Compiled(build, key)
        self.build_report = [{"stage": "llvm: cache key (the Program's fingerprint)", "seconds": keyed - started}] + [
            {"stage": stage, "seconds": seconds} for stage, seconds in self.compiled.timings]
        self.checks = [tuple(check) for check in self.compiled.meta["checks"]]
        self._step = self.compiled.function("step", ctypes.c_int32, ctypes.c_void_p)
        self.order = list(program.buffers)  # the calling convention of step's pointer table (codegen's buffer_order)
        self.input_slots = [self.order.index(b) for b in program.inputs.values()]
        self._bound = None

    def profile(self, run, inputs, repeats: int = 20) -> list[tuple[str, float]]:
        """[(kernel label, seconds)] per kernel: the median over `repeats` calls of run(*inputs), from the time-stamp
        counter the step reads after every kernel, scaled to seconds by the calls' wall time."""
        clock = (ctypes.c_int64 * (len(self.program.kernels) + 1)).from_address(
            self.compiled.engine.get_global_value_address("kernel_clock"))
        rows, walls = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            run(*inputs)
            walls.append(time.perf_counter() - start)
            stamps = list(clock)
            rows.append([b - a for a, b in zip(stamps, stamps[1:])])
        cycles = [sorted(col)[len(col) // 2] for col in zip(*rows)]
        per_cycle = sorted(walls)[len(walls) // 2] / max(sum(cycles), 1)
        return [(k.label, c * per_cycle) for k, c in zip(self.program.kernels, cycles)]

    @property
    def source(self) -> str:
        """The IR as printed (readable: one function per kernel); rebuilt on first use when the code came from the cache."""
        return self.compiled.llvm_ir

    @property
    def optimized_ir(self) -> str:
        """The IR after the O3 pipeline (vectorised loops)."""
        return self.compiled.optimized_ir

    @property
    def asm(self) -> str:
        return self.compiled.asm

    def bind(self, arena, externals):
        """run(*inputs) over these arrays: the pointer table is filled once, inputs at every call."""
        position = {id(b): i for i, b in enumerate(self.program.externals)}
        table = (ctypes.c_void_p * max(len(self.order), 1))()
        base = arena.ctypes.data
        keep = [arena, externals]
        for i, b in enumerate(self.order):
            if b.role == "temp":
                table[i] = base + b.offset
            elif b.role != "input":
                table[i] = externals[position[id(b)]].ctypes.data
        slots, step, checks = self.input_slots, self._step, self.checks
        address = ctypes.addressof(table)

        def run(*inputs):
            for slot, array in zip(slots, inputs):
                table[slot] = array.ctypes.data
            status = step(address)
            if status > 0:
                kernel, what, lo, hi = checks[status - 1]
                raise IndexRangeError(f"{self.program.kernels[kernel].label}: {what} must be in [{lo}, {hi})")
            if status < 0:  # debug mode: the first kernel that wrote a NaN or an Inf
                kernel = self.program.kernels[(-status - 1) // 2]
                bad = "NaN" if status % 2 else "Inf"
                raise NonFiniteError(f"{bad} first produced by {kernel.label} (shape ({kernel.writes.size},))")
            return keep
        return run

    def __call__(self, arena, externals) -> None:
        position = {id(b): i for i, b in enumerate(self.program.externals)}
        self.bind(arena, externals)(*(externals[position[id(b)]] for b in self.program.inputs.values()))


def _cache_key(program, debug: bool) -> str | None:
    """The machine-code cache's key for this Program (None when it holds a value the fingerprint cannot spell)."""
    try:
        text = fingerprint(program)
    except TypeError:
        return None
    # what the printer chose from outside the Program: the BLAS it found (or none) and the forced Gemm kind
    return cache.key(text, f"debug={bool(debug)}", f"blas={sorted(blas.symbols().items())}", f"gemm={blas.MODE}")


class LlvmBackend:
    name = "llvm"

    @staticmethod
    def build(program, debug: bool = False):
        """The native step; where LLVM cannot build one (an operation this printer lacks, an LLVM failure on
        this platform), the NumPy backend's module, with one warning saying why."""
        try:
            return LlvmFunction(program, debug)
        except (NotImplementedError, RuntimeError) as e:
            from graphc.backends.numpy import NumpyBackend  # the fallback only: the NumPy backend runs every Program

            warnings.warn(f"the LLVM backend could not compile this program ({e}); it runs on the NumPy backend",
                          RuntimeWarning, stacklevel=2)
            return NumpyBackend.build(program, debug)

    @staticmethod
    def describe() -> str:
        """One line for `graphc info`: the LLVM it compiles with, the target CPU and the cache."""
        import llvmlite  # here: only this report needs the version
        import llvmlite.binding as llvm

        target.host_machine()
        c = cache.info()
        return (f"llvmlite {llvmlite.__version__}, LLVM {'.'.join(map(str, llvm.llvm_version_info))}, target "
                f"{llvm.get_process_triple()} cpu {llvm.get_host_cpu_name()}; BLAS {blas.provider()}; cache "
                f"{c['directory']} ({c['entries']} entries, {c['bytes'] / 2**20:.1f} MiB)")

    @staticmethod
    def cache_info() -> dict:
        """The machine-code cache: its directory, entries and bytes (`graphc cache info`)."""
        return cache.info()

    @staticmethod
    def cache_clear() -> int:
        """Empty the machine-code cache (`graphc cache clear`); the number of files removed."""
        return cache.clear()
