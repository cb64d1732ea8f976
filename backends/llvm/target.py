"""The host target: LLVM initialised once, a target machine for this CPU, the O3 pipeline, the JIT and its cache.

Code is generated for the CPU the process runs on (`get_host_cpu_name` and its features), so the
same Program uses AVX-512 on one machine and AVX2 on the next. `Compiled` keeps the execution
engine alive as long as the function pointers taken from it are used.
"""
from __future__ import annotations

import ctypes
import threading
import time

import llvmlite.binding as llvm
import llvmlite.ir as ir

from . import cache

_lock = threading.Lock()
_emit_lock = threading.Lock()
_machine = None


def _new_machine():
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, reloc="default", codemodel="jitdefault")


def host_machine():
    """The target machine of this process's CPU at opt level 3 (data layout, pipeline, assembly), created once."""
    global _machine
    with _lock:
        if _machine is None:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _machine = _new_machine()
        return _machine


def new_module(name: str) -> ir.Module:
    """An empty IR module for the host (triple and data layout set)."""
    machine = host_machine()
    module = ir.Module(name=name)
    module.triple = llvm.get_process_triple()
    module.data_layout = str(machine.target_data)
    return module


def optimize(module) -> None:
    """The new pass manager's O3 pipeline, with loop and SLP vectorisation, over a parsed module (in place)."""
    tuning = llvm.create_pipeline_tuning_options(speed_level=3)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    # full unrolling of the small constant loops (window taps, short rows) costs three times the compile
    # time (LeNet's step: 2.9 s against 1.1 s) for little run time
    tuning.loop_unrolling = False
    # nor interleaving (several vector iterations per trip): LeNet's step compiles 20 % faster (O3 343 -> 279 ms,
    # emission 242 -> 181 ms) and runs as fast (its kernels, W1's and W5's: within the run-to-run noise)
    tuning.loop_interleaving = False
    builder = llvm.create_pass_builder(host_machine(), tuning)
    builder.getModulePassManager().run(module, builder)


class Compiled:
    """Machine code for one module, JIT-loaded for the host. `build()` returns (IR module, metadata); it is called
    only when the on-disk cache (graphc.backends.llvm.cache) has no entry under `key` (None: no cache). On a
    hit nothing is built or compiled: the stored object code is loaded as it is, and `llvm_ir` is built
    again only if someone reads it."""

    def __init__(self, build, key: str | None = None):
        host_machine()
        self._build, self._ir, self._module, self._optimized = build, None, None, False
        self.timings: list[tuple[str, float]] = []  # (stage, seconds): fn.report() shows them
        clock = time.perf_counter()

        def lap(stage):
            nonlocal clock
            now = time.perf_counter()
            self.timings.append((stage, now - clock))
            clock = now
        entry = cache.load(key) if key else None
        self.from_cache = entry is not None
        if entry is None:
            module, self.meta = build()
            self._ir = str(module)
            lap("llvm: build IR")
            parsed = llvm.parse_assembly(self._ir)
            parsed.verify()
            optimize(parsed)
            self._module, self._optimized = parsed, True
            lap("llvm: parse, verify, optimise (O3)")
            machine = host_machine()
            with _emit_lock:  # one emission at a time on the shared machine
                data = machine.emit_object(parsed)
            if key:
                cache.store(key, data, self.meta)
            lap("llvm: emit machine code")
        else:
            data, self.meta = entry
            lap("llvm: load from the cache")
        # the engine takes ownership of the machine it is given (and frees it with itself): a machine of its own
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _new_machine())
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        self.engine.finalize_object()
        lap("llvm: link and load")

    @property
    def llvm_ir(self) -> str:
        """The module as printed (before optimisation)."""
        if self._ir is None:
            self._ir = str(self._build()[0])
        return self._ir

    def _optimized_module(self):
        if not self._optimized:  # loaded from the cache: optimise a copy to show what the machine code came from
            copy = llvm.parse_assembly(self.llvm_ir)
            optimize(copy)
            self._module, self._optimized = copy, True
        return self._module

    @property
    def optimized_ir(self) -> str:
        """The IR after the O3 pipeline (the vectorised loops)."""
        return str(self._optimized_module())

    @property
    def asm(self) -> str:
        """The machine code, as assembly text (for reading: which loops vectorised)."""
        return host_machine().emit_assembly(self._optimized_module())

    def function(self, name: str, restype, *argtypes):
        """A ctypes callable for the compiled function `name` (valid while this object lives)."""
        address = self.engine.get_function_address(name)
        if not address:
            raise KeyError(f"no compiled function {name!r}")
        return ctypes.CFUNCTYPE(restype, *argtypes)(address)
