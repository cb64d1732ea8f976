"""A Program printed as CUDA source (any machine) and its step; running it needs a GPU, the driver and the extra.

`gc.compile(..., backend="cuda")` succeeds everywhere: `fn.source` is the `.cu` text (one `__global__`
function per kernel, commented with the graph nodes it implements) and the compiled function's
`launches` the step's launches in order. Where cuda-python, an NVIDIA driver, a device and NVRTC are
present, a call compiles the module to PTX for the device and runs it (graphc.backends.cuda.device);
elsewhere it raises one DeviceError naming what is missing.
"""
from __future__ import annotations

import importlib

from graphc.errors import DeviceError

from . import device, nvrtc
from .printer import print_program

EXTRA = "pip install 'graphc-compiler[cuda]'"


def unavailable() -> str | None:
    """Why CUDA code cannot run in this process (None when it can)."""
    try:
        driver = importlib.import_module("cuda.bindings.driver")
    except ImportError:
        return f"cuda-python is not installed ({EXTRA})"
    try:
        err, = driver.cuInit(0)
        if int(err) != 0:
            return f"the NVIDIA driver did not initialise ({err})"
        err, count = driver.cuDeviceGetCount()
        if int(err) != 0 or count == 0:
            return "no CUDA device is present"
    except Exception as e:  # noqa: BLE001 - a driver library that fails to load raises OSError or RuntimeError
        return f"the NVIDIA driver cannot be used ({type(e).__name__}: {e})"
    if not nvrtc.available():
        return "NVRTC is not installed (pip install 'graphc-compiler[cuda]')"
    return None


class CudaFunction:
    """One Program's CUDA source and launches; calling it needs a device (see `unavailable`)."""

    keeps_variables = True  # parameters and optimiser state stay in device memory between calls (device.DeviceStep)

    def __init__(self, program, debug: bool = False):
        self.program, self.debug = program, debug
        self.printed = printed = print_program(program, debug=debug)
        self.source = printed.source
        self.launches = printed.launches
        self.checks = printed.checks

    def ptx(self, arch: str = "sm_80") -> bytes:
        """The module compiled by NVRTC to PTX for `arch` (cached on disk); needs the cuda extra, not a GPU."""
        return nvrtc.compile_ptx(self.source, arch)[0]

    def bind(self, arena, externals):
        """run(*inputs) on the GPU (graphc.backends.cuda.device); without one, a run that says what is missing."""
        why = unavailable()
        if why is not None:
            def run(*inputs):
                raise DeviceError(f"this function was compiled for CUDA and cannot run here: {why}; "
                                  "compile with backend='llvm' (the default) or 'numpy' to run on the CPU")
            return run
        gpu = device.gpu()
        self.device_step = device.DeviceStep(self.printed, self.ptx(gpu.arch), gpu)
        return self.device_step.bind(arena, externals)

    def __call__(self, arena, externals) -> None:
        self.bind(arena, externals)()


class CudaBackend:
    name = "cuda"

    @staticmethod
    def build(program, debug: bool = False):
        return CudaFunction(program, debug)

    @staticmethod
    def unavailable() -> str | None:
        return unavailable()

    @staticmethod
    def cache_info() -> dict:
        """The PTX cache (`graphc cache info`)."""
        return nvrtc.STORE.info()

    @staticmethod
    def cache_clear() -> int:
        return nvrtc.STORE.clear()

    @staticmethod
    def describe() -> str:
        """One line for `graphc info`: the device, its compute capability, the driver and NVRTC, or why none."""
        why = unavailable()
        if why:
            return f"prints CUDA C++ source (fn.source); cannot run here: {why}"
        gpu = device.gpu()
        version = int(gpu.driver.call("cuDriverGetVersion"))
        return (f"runs on {gpu.name} (compute capability {gpu.arch.removeprefix('sm_')[:-1]}.{gpu.arch[-1]}), "
                f"driver for CUDA {version // 1000}.{version % 1000 // 10}, NVRTC {nvrtc.version()}; "
                f"PTX cache {nvrtc.STORE.info()['directory']}")
