"""CUDA source to PTX with NVRTC from the `nvidia-cuda-nvrtc` wheel (no CUDA toolkit), cached on disk.

PTX for a compute capability (`compute_80`) is what the driver loads and finishes for the device at hand.
Entries live in the shared store (graphc.backends.diskcache, `$GRAPHC_CACHE_DIR/cuda`), keyed by the
source, the architecture, the NVRTC version and graphc's own source hash; compiling needs no GPU.
"""
from __future__ import annotations

import importlib

from graphc.errors import DeviceError

from ..diskcache import Store, digest

FORMAT = "graphc-cuda-ptx-1"
STORE = Store("cuda", ".ptx", "CUDA")


def _nvrtc():
    try:
        return importlib.import_module("cuda.bindings.nvrtc")
    except ImportError:
        raise DeviceError("compiling CUDA needs NVRTC: pip install 'graphc-compiler[cuda]' "
                          "(cuda-python and the nvidia-cuda-nvrtc wheel)") from None


def available() -> bool:
    try:
        _nvrtc()
    except DeviceError:
        return False
    return True


def version() -> str:
    nvrtc = _nvrtc()
    err, major, minor = nvrtc.nvrtcVersion()
    return f"{major}.{minor}"


def _check(nvrtc, result, what: str) -> None:
    err = result[0] if isinstance(result, tuple) else result
    if int(err) != 0:
        raise DeviceError(f"NVRTC {what} failed: {nvrtc.nvrtcGetErrorString(err)[1].decode()}")


def compile_ptx(source: str, arch: str = "sm_80") -> tuple[bytes, bool]:
    """(PTX text as bytes, whether it came from the cache) for `source` on compute capability `arch` ('sm_80')."""
    capability = arch.removeprefix("sm_").removeprefix("compute_")
    if not capability.isdigit():
        raise DeviceError(f"unknown CUDA architecture {arch!r}; expected one like 'sm_80'")
    nvrtc = _nvrtc()
    key = digest(FORMAT, version(), capability, source)
    hit = STORE.load(key)
    if hit is not None:
        return hit[0], True
    result = nvrtc.nvrtcCreateProgram(source.encode(), b"graphc_step.cu", 0, [], [])
    _check(nvrtc, result, "program creation")
    program = result[1]
    try:
        options = [f"--gpu-architecture=compute_{capability}".encode(), b"--std=c++17", b"-default-device"]
        err, = nvrtc.nvrtcCompileProgram(program, len(options), options)
        if int(err) != 0:
            _, size = nvrtc.nvrtcGetProgramLogSize(program)
            log = b" " * size
            nvrtc.nvrtcGetProgramLog(program, log)
            raise DeviceError(f"NVRTC could not compile the generated CUDA (a printer bug, please report it):\n"
                              f"{log.decode(errors='replace')[:4000]}")
        _, size = nvrtc.nvrtcGetPTXSize(program)
        ptx = b" " * size
        _check(nvrtc, nvrtc.nvrtcGetPTX(program, ptx), "PTX retrieval")
    finally:
        nvrtc.nvrtcDestroyProgram(program)
    ptx = ptx.rstrip(b"\0")
    STORE.store(key, ptx, {"arch": capability})
    return ptx, False
