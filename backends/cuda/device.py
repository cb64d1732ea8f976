"""Running a printed step on an NVIDIA GPU through cuda-python's driver API: the context, device memory, launches.

`Gpu` opens the device once per process (its primary context) and says what it is. `DeviceStep` holds one
Specialization's device memory (the arena in one allocation, one allocation per external buffer, a status
word) and its module (PTX from NVRTC, loaded by the driver for the device at hand). A call uploads the
inputs and the parameters and optimiser state, launches every kernel in order on the default stream,
waits, reads the status word (a failed range check names its kernel), and downloads the outputs and the
updated parameters and state. Correct first: parameters go up and down at every call, so a host-side
change to `param.value` between calls is always seen; keeping them resident and capturing the step as a
CUDA graph are the next steps. Every driver call is checked: a failure is one DeviceError naming the call.
"""
from __future__ import annotations

import importlib
import threading

import numpy as np

from graphc.errors import DeviceError, IndexRangeError, NonFiniteError

_lock = threading.Lock()
_gpu = None


def _driver():
    try:
        return importlib.import_module("cuda.bindings.driver")
    except ImportError:
        raise DeviceError("running CUDA code needs cuda-python: pip install 'graphc-compiler[cuda]'") from None


class Driver:
    """The driver API with every result checked: `call(name, *args)` returns what follows the CUresult."""

    def __init__(self, module=None):
        self.api = module or _driver()

    def call(self, name: str, *args):
        result = getattr(self.api, name)(*args)
        err, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if int(err) != 0:
            try:
                text = self.api.cuGetErrorString(err)[1]
                text = text.decode() if isinstance(text, bytes) else str(text)
            except Exception:  # noqa: BLE001 - the error's name is enough
                text = str(err)
            raise DeviceError(f"CUDA driver call {name} failed: {text}")
        return rest[0] if len(rest) == 1 else rest


class Gpu:
    """Device 0 and its primary context, opened once per process."""

    def __init__(self, driver: Driver):
        self.driver = driver
        driver.call("cuInit", 0)
        self.device = driver.call("cuDeviceGet", 0)
        self.context = driver.call("cuDevicePrimaryCtxRetain", self.device)
        attribute = driver.api.CUdevice_attribute
        major = driver.call("cuDeviceGetAttribute", attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.device)
        minor = driver.call("cuDeviceGetAttribute", attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.device)
        self.arch = f"sm_{int(major)}{int(minor)}"
        name = driver.call("cuDeviceGetName", 256, self.device)
        self.name = (name.split(b"\0")[0].decode() if isinstance(name, bytes) else str(name)).strip()

    def make_current(self) -> None:
        self.driver.call("cuCtxSetCurrent", self.context)


def gpu(driver: Driver | None = None) -> Gpu:
    global _gpu
    with _lock:
        if _gpu is None:
            _gpu = Gpu(driver or Driver())
        return _gpu


class DeviceStep:
    """One Program's step on the GPU, bound to a Specialization's host arrays."""

    def __init__(self, printed, ptx: bytes, device: Gpu):
        self.printed, self.gpu, self.driver = printed, device, device.driver
        self.program = printed.program
        device.make_current()
        self.module = self.driver.call("cuModuleLoadData", ptx if ptx.endswith(b"\0") else ptx + b"\0")
        self.functions = {launch.name: self.driver.call("cuModuleGetFunction", self.module, launch.name.encode())
                          for launch in printed.launches}

    def bind(self, arena: np.ndarray, externals: list):
        driver, program = self.driver, self.program
        self.gpu.make_current()
        memory = {}  # id(buffer) -> device address
        arena_base = int(driver.call("cuMemAlloc", max(arena.nbytes, 1)))
        position = {id(b): i for i, b in enumerate(program.externals)}
        for b in program.buffers:
            if b.role == "temp":
                memory[id(b)] = arena_base + b.offset
            else:
                memory[id(b)] = int(driver.call("cuMemAlloc", max(externals[position[id(b)]].nbytes, 1)))
        status = int(driver.call("cuMemAlloc", 4))
        uploads = [(memory[id(b)], externals[position[id(b)]]) for b in program.externals
                   if b.role in ("input", "param", "state")]
        downloads = [(externals[position[id(b)]], memory[id(b)]) for b in program.externals
                     if b.role in ("output", "param", "state")]
        for b in program.externals:
            if b.role == "const":
                host = externals[position[id(b)]]
                if host.nbytes:
                    driver.call("cuMemcpyHtoD", memory[id(b)], host.ctypes.data, host.nbytes)
        # one kernelParams array per launch: pointers to the device addresses of its buffers and the status word
        launches = []
        for launch in self.printed.launches:
            values = np.array([memory[id(b)] for b in launch.buffers] + [status], dtype=np.uint64)
            params = np.array([values.ctypes.data + 8 * n for n in range(len(values))], dtype=np.uint64)
            launches.append((self.functions[launch.name], tuple(launch.grid) + (1,) * (3 - len(launch.grid)),
                             tuple(launch.block) + (1,) * (3 - len(launch.block)), values, params))
        checks = self.printed.checks
        allocations = [arena_base, status] + [memory[id(b)] for b in program.buffers if b.role != "temp"]
        self._allocations = allocations  # freed with the step (see close)
        keep = [arena, externals]

        def run(*inputs):
            self.gpu.make_current()
            for address, host in uploads:
                if host.nbytes:
                    driver.call("cuMemcpyHtoD", address, host.ctypes.data, host.nbytes)
            driver.call("cuMemsetD32", status, 0, 1)
            for function, grid, block, _values, params in launches:
                driver.call("cuLaunchKernel", function, *grid, *block, 0, 0, params.ctypes.data, 0)
            driver.call("cuCtxSynchronize")
            code = np.zeros(1, np.int32)
            driver.call("cuMemcpyDtoH", code.ctypes.data, status, 4)
            if code[0] > 0:
                kernel, what, lo, hi = checks[int(code[0]) - 1]
                raise IndexRangeError(f"{program.kernels[kernel].label}: {what} must be in [{lo}, {hi})")
            if code[0] < 0:  # debug mode: the first kernel that wrote a NaN or an Inf (the LLVM backend's codes)
                status_code = int(code[0])
                kernel = program.kernels[(-status_code - 1) // 2]
                bad = "NaN" if status_code % 2 else "Inf"
                raise NonFiniteError(f"{bad} first produced by {kernel.label} (shape ({kernel.writes.size},))")
            for host, address in downloads:
                if host.nbytes:
                    driver.call("cuMemcpyDtoH", host.ctypes.data, address, host.nbytes)
            return keep
        return run

    def close(self) -> None:
        for address in getattr(self, "_allocations", []):
            try:
                self.driver.call("cuMemFree", address)
            except Exception:  # noqa: BLE001 - at interpreter exit the driver may be gone already
                pass
        self._allocations = []

    def __del__(self):
        self.close()
