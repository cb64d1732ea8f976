"""Running a printed step on an NVIDIA GPU through cuda-python's driver API: the context, device memory, launches.

`Gpu` opens the device once per process (its primary context) and says what it is. `DeviceStep` holds one
Specialization's device memory (one allocation: the arena, every external buffer, the status word) and its
module (PTX from NVRTC, loaded by the driver for the device at hand). Parameters and optimiser state stay
on the device between steps: a step takes a Variable's host array only when the device does not hold the
newest copy already (`var.holder`), and reading `param.value` (or `fn.to_host()`) brings it back. A call
uploads the batch, replays the step's launches (captured once as a CUDA graph; `GRAPHC_CUDA_GRAPH=0`
launches them one by one instead, to measure what the graph saves), downloads the outputs and the status
word on the same stream, and waits once; a failed range check names its kernel. Every driver call is
checked: a failure is one DeviceError naming the call.
"""
from __future__ import annotations

import importlib
import os
import threading

import numpy as np

from graphc.errors import DeviceError, IndexRangeError, NonFiniteError
from graphc.ops.leaves import RESIDENCY_LOCK, RESIDENT

_lock = threading.Lock()
_gpu = None
# every step's run and every release of a Variable (one device, and a step may release another step's copies),
# shared with host calls on the same Variables (graphc.ops.leaves)
_steps_lock = RESIDENCY_LOCK
ALIGN = 256  # bytes: each buffer in a step's allocation starts at a multiple (the driver's own allocation alignment)


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
    """One Program's step on the GPU, bound to a Specialization's host arrays; the holder of its Variables."""

    def __init__(self, printed, ptx: bytes, device: Gpu, use_graph: bool | None = None):
        self.printed, self.gpu, self.driver = printed, device, device.driver
        self.program = printed.program
        self.use_graph = os.environ.get("GRAPHC_CUDA_GRAPH", "1") != "0" if use_graph is None else use_graph
        self.base = self.stream = self.graph = self.graph_exec = None
        self.variables = []  # (var, device address, host array, nbytes) of the parameters and optimiser state
        device.make_current()
        self.module = self.driver.call("cuModuleLoadData", ptx if ptx.endswith(b"\0") else ptx + b"\0")
        self.functions = {launch.name: self.driver.call("cuModuleGetFunction", self.module, launch.name.encode())
                          for launch in printed.launches}

    def layout(self, arena: np.ndarray, externals: list) -> tuple[dict, int, int]:
        """Where each buffer lives in the step's one allocation: {id(buffer): offset}, the status word's, the size."""
        program, offsets, end = self.program, {}, _aligned(arena.nbytes)
        for b in program.buffers:
            if b.role == "temp":
                offsets[id(b)] = b.offset
        for b, host in zip(program.externals, externals):
            offsets[id(b)] = end
            end = _aligned(end + host.nbytes)
        return offsets, end, end + 4

    def bind(self, arena: np.ndarray, externals: list):
        driver, program = self.driver, self.program
        self.gpu.make_current()
        offsets, status_offset, size = self.layout(arena, externals)
        self.base = base = int(driver.call("cuMemAlloc", size))
        with _steps_lock:
            RESIDENT[0] += 1
        self.stream = stream = driver.call("cuStreamCreate", driver.api.CUstream_flags.CU_STREAM_NON_BLOCKING)
        memory = {key: base + offset for key, offset in offsets.items()}
        status = base + status_offset
        host_of = {id(b): host for b, host in zip(program.externals, externals)}
        for b in program.externals:
            if b.role == "const" and host_of[id(b)].nbytes:
                driver.call("cuMemcpyHtoD", memory[id(b)], host_of[id(b)].ctypes.data, host_of[id(b)].nbytes)
        uploads = [(memory[id(b)], host_of[id(b)]) for b in program.externals if b.role == "input" and host_of[id(b)].nbytes]
        downloads = [(host_of[id(b)], memory[id(b)]) for b in program.externals if b.role == "output" and host_of[id(b)].nbytes]
        self.variables = [(b.var, memory[id(b)], host_of[id(b)], host_of[id(b)].nbytes)
                          for b in program.externals if b.role in ("param", "state")]
        # one kernelParams array per launch: pointers to the device addresses of its buffers and the status word
        launches = []
        for launch in self.printed.launches:
            values = np.array([memory[id(b)] for b in launch.buffers] + [status], dtype=np.uint64)
            params = np.array([values.ctypes.data + 8 * n for n in range(len(values))], dtype=np.uint64)
            launches.append((self.functions[launch.name], tuple(launch.grid) + (1,) * (3 - len(launch.grid)),
                             tuple(launch.block) + (1,) * (3 - len(launch.block)), values, params))

        def enqueue():  # the step's device work: the status word cleared, then every launch in order
            driver.call("cuMemsetD32Async", status, 0, 1, stream)
            for function, grid, block, _values, params in launches:
                driver.call("cuLaunchKernel", function, *grid, *block, 0, stream, params.ctypes.data, 0)
        if self.use_graph:
            driver.call("cuStreamBeginCapture", stream, driver.api.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            try:
                enqueue()
            finally:
                self.graph = driver.call("cuStreamEndCapture", stream)
            self.graph_exec = driver.call("cuGraphInstantiate", self.graph, 0)
        checks, code = self.printed.checks, np.zeros(1, np.int32)
        keep = [arena, externals, launches]

        def run(*inputs):
            with _steps_lock:
                self.gpu.make_current()
                for var, address, host, nbytes in self.variables:
                    holder = var.holder
                    if holder is not self:  # the host (or another step) has the newest copy: take it
                        if holder is not None:
                            holder.release(var)
                        if nbytes:
                            driver.call("cuMemcpyHtoDAsync", address, host.ctypes.data, nbytes, stream)
                        var.holder = self
                for address, host in uploads:
                    driver.call("cuMemcpyHtoDAsync", address, host.ctypes.data, host.nbytes, stream)
                if self.graph_exec is not None:
                    driver.call("cuGraphLaunch", self.graph_exec, stream)
                else:
                    enqueue()
                driver.call("cuMemcpyDtoHAsync", code.ctypes.data, status, 4, stream)
                for host, address in downloads:
                    driver.call("cuMemcpyDtoHAsync", host.ctypes.data, address, host.nbytes, stream)
                driver.call("cuStreamSynchronize", stream)
                _raise_status(int(code[0]), program, checks)
                return keep
        return run

    def release(self, var) -> None:
        """Copy this step's newest value of `var` back into its host array, which becomes the current one."""
        with _steps_lock:
            if var.holder is not self:
                return
            try:
                for held, address, host, nbytes in self.variables:
                    if held is var:
                        if nbytes:
                            self.gpu.make_current()
                            self.driver.call("cuMemcpyDtoHAsync", host.ctypes.data, address, nbytes, self.stream)
                            self.driver.call("cuStreamSynchronize", self.stream)
                        break
            finally:  # a failed copy still hands the Variable back: its host array is what remains
                var.holder = None

    def close(self) -> None:
        """Bring the Variables this step holds back to the host, then free its graph, stream and memory."""
        with _steps_lock:
            for var, *_ in self.variables:
                try:
                    self.release(var)
                except Exception:  # noqa: BLE001 - at interpreter exit the driver may be gone already
                    var.holder = None
            for name, handle in (("cuGraphExecDestroy", self.graph_exec), ("cuGraphDestroy", self.graph),
                                 ("cuStreamDestroy", self.stream), ("cuMemFree", self.base)):
                if handle is not None:
                    try:
                        self.driver.call(name, handle)
                    except Exception:  # noqa: BLE001 - as above
                        pass
            if self.base is not None:
                RESIDENT[0] -= 1
            self.base = self.stream = self.graph = self.graph_exec = None
            self.variables = []

    def __del__(self):
        self.close()


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _raise_status(code: int, program, checks) -> None:
    """The status word after a step: 0, a failed range check (its number), or in debug mode the first NaN/Inf."""
    if code > 0:
        kernel, what, lo, hi = checks[code - 1]
        raise IndexRangeError(f"{program.kernels[kernel].label}: {what} must be in [{lo}, {hi})")
    if code < 0:  # debug mode: the first kernel that wrote a NaN or an Inf (the LLVM backend's codes)
        kernel = program.kernels[(-code - 1) // 2]
        bad = "NaN" if code % 2 else "Inf"
        raise NonFiniteError(f"{bad} first produced by {kernel.label} (shape ({kernel.writes.size},))")
