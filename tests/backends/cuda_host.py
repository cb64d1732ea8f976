"""The CUDA printer's output run on the CPU: the generated source compiled as C++ with g++ over a small shim
(blockIdx/threadIdx per emulated thread, `__shared__` as block-wide statics, `__syncthreads` as a barrier
of real threads), so the printed kernels' numbers can be checked against the reference where no GPU exists.

Loop kernels are grid-stride loops, correct on any grid: they run as one thread. A Gemm's block runs as
TILE × TILE threads meeting at each barrier, its blocks one after another. This is a test of what the
printer writes, not a backend: nothing here is fast, and the device's own concurrency (atomics from many
blocks at once) is not exercised.
"""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np

from graphc.backends.cuda.printer import print_program
from graphc.backends.cuda.spelling import PRELUDE

SHIM = r"""
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>
using std::fmod; using std::copysign; using std::floor; using std::isnan; using std::isinf;
struct gc_dim3 { unsigned x = 1, y = 1, z = 1; };
static thread_local gc_dim3 threadIdx, blockIdx;
static gc_dim3 blockDim, gridDim;
static std::barrier<>* gc_block_barrier = nullptr;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline void __syncthreads() { if (gc_block_barrier) gc_block_barrier->arrive_and_wait(); }
// a warp shuffle: every thread of the block calls it (the printer's block reductions do), so a block-wide
// barrier around an exchange through a shared table emulates it
template <typename T> static inline T __shfl_down_sync(unsigned, T v, unsigned delta) {
  static T slots[1024];
  unsigned me = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned size = blockDim.x * blockDim.y * blockDim.z;
  slots[me] = v;
  __syncthreads();
  T r = ((me & 31) + delta < 32 && me + delta < size) ? slots[me + delta] : v;
  __syncthreads();
  return r;
}
template <typename T> static inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
static inline int atomicCAS(int* p, int expected, int value) { int old = *p; if (old == expected) *p = value; return old; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int i; std::memcpy(&i, &f, 4); return i; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
// one launch: a grid-stride kernel as one thread; a kernel that meets at barriers as its real blocks of threads
typedef void (*gc_kernel)(void** buffers, int* status);
static void gc_launch(gc_dim3 grid, gc_dim3 block, bool barriers, gc_kernel kernel, void** buffers, int* status) {
  if (!barriers) {
    gridDim = gc_dim3{}; blockDim = gc_dim3{}; blockIdx = gc_dim3{0, 0, 0}; threadIdx = gc_dim3{0, 0, 0};
    kernel(buffers, status);
    return;
  }
  gridDim = grid; blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz) for (unsigned by = 0; by < grid.y; ++by) for (unsigned bx = 0; bx < grid.x; ++bx) {
    std::barrier<> sync(block.x * block.y * block.z);
    gc_block_barrier = &sync;
    std::vector<std::thread> threads;
    for (unsigned tz = 0; tz < block.z; ++tz) for (unsigned ty = 0; ty < block.y; ++ty) for (unsigned tx = 0; tx < block.x; ++tx)
      threads.emplace_back([=] { blockIdx = gc_dim3{bx, by, bz}; threadIdx = gc_dim3{tx, ty, tz}; kernel(buffers, status); });
    for (auto& t : threads) t.join();
    gc_block_barrier = nullptr;
  }
}
"""


def launcher(printed, prefix: str) -> str:
    """`extern "C" int <prefix>step(void** buffers)`: every launch of the step in order, over the Program's buffers."""
    from graphc.backends.cuda.spelling import memory_type

    position = {id(b): i for i, b in enumerate(printed.program.buffers)}
    lines, calls = [], []
    for n, launch in enumerate(printed.launches):
        args = [f"({memory_type(b.dtype)}*)b[{position[id(b)]}]" for b in launch.buffers] + ["s"]
        lines.append(f"static void {prefix}L{n}(void** b, int* s) {{ {launch.name}({', '.join(args)}); }}")
        grid = list(launch.grid) + [1] * (3 - len(launch.grid))
        block = list(launch.block) + [1] * (3 - len(launch.block))
        barriers = "true" if launch.barriers else "false"  # a Gemm's tile blocks, a block reduction
        calls.append(f"  gc_launch(gc_dim3{{{grid[0]}u, {grid[1]}u, {grid[2]}u}}, gc_dim3{{{block[0]}u, {block[1]}u, "
                     f"{block[2]}u}}, {barriers}, {prefix}L{n}, buffers, &status);\n  if (status) return status;")
    lines += [f'extern "C" int {prefix}step(void** buffers) {{', "  int status = 0;", *calls, "  return 0;", "}"]
    return "\n".join(lines)


def launch_entries(printed) -> str:
    """`extern "C" void <kernel>_launch(void** params)` per launch: the kernel run as cuLaunchKernel would run it,
    from a kernelParams array (each entry points at a 64-bit device address) - what a fake driver calls."""
    from graphc.backends.cuda.spelling import memory_type

    lines = []
    for launch in printed.launches:
        args = [f"({memory_type(b.dtype)}*)(*(unsigned long long*)b[{n}])" for n, b in enumerate(launch.buffers)]
        args.append(f"(int*)(*(unsigned long long*)b[{len(launch.buffers)}])")
        grid = list(launch.grid) + [1] * (3 - len(launch.grid))
        block = list(launch.block) + [1] * (3 - len(launch.block))
        lines.append(f"static void {launch.name}_P(void** b, int*) {{ {launch.name}({', '.join(args)}); }}")
        lines.append(f'extern "C" void {launch.name}_launch(void** params) {{ gc_launch(gc_dim3{{{grid[0]}u, {grid[1]}u, '
                     f"{grid[2]}u}}, gc_dim3{{{block[0]}u, {block[1]}u, {block[2]}u}}, {'true' if launch.barriers else 'false'}, "
                     f"{launch.name}_P, params, nullptr); }}")
    return "\n".join(lines)


def build_library(programs: dict, folder, units: int = 2, debug: bool = False) -> ctypes.CDLL:
    """One shared library holding every program's kernels and step ({prefix: Program}), compiled as `units`
    translation units in parallel."""
    chunks = [[] for _ in range(units)]
    for n, (prefix, program) in enumerate(programs.items()):
        printed = print_program(program, prefix, prelude=False, debug=debug)
        chunks[n % units] += [printed.source, launcher(printed, prefix), launch_entries(printed)]
    procs, objects = [], []
    for n, chunk in enumerate(chunks):
        source, obj = folder / f"host{n}.cpp", folder / f"host{n}.o"
        source.write_text("\n".join([SHIM, PRELUDE, *chunk]))
        procs.append(subprocess.Popen(["g++", "-std=c++20", "-O0", "-fPIC", "-c", "-w", "-pthread", "-fpermissive",
                                       "-o", str(obj), str(source)], stderr=subprocess.PIPE, text=True))
        objects.append(str(obj))
    for proc in procs:
        _, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, err[-4000:]
    library = folder / "host.so"
    proc = subprocess.run(["g++", "-shared", "-pthread", "-o", str(library), *objects], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return ctypes.CDLL(str(library))


def sweep_cases():
    """(prefix, outputs, feeds, inputs) for every registry-sweep case: its outputs, then, where it has float outputs
    and is not random, the gradients of the sum of their squares with respect to its float inputs."""
    import graphc as gc
    from graphc.tensor import Tensor
    from tests.ops.test_ops_reference import CASES

    for j, case in enumerate(CASES):
        op, build = case.values[0], case.values[1]
        if any(m.name == "skip" for m in case.marks):
            continue
        out, feeds = build()[:2]
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        yield f"c{j}f_", outs, feeds, None
        float_outs = [o for o in outs if o.dtype.kind == "f"]
        wrt = [Tensor.of(n) for n in gc.graph(float_outs).inputs if n.dtype.kind == "f"] if float_outs else []
        if wrt and not op.startswith("random"):
            loss = sum(gc.sum(o * o) for o in float_outs)
            yield f"c{j}g_", gc.grad(loss, wrt), feeds, [Tensor.of(n) for n in gc.graph(outs).inputs]


class HostStep:
    """A Specialization's run() replaced by the host-compiled step of its Program."""

    def __init__(self, library, prefix: str, program):
        self.step = getattr(library, f"{prefix}step")
        self.step.restype = ctypes.c_int
        self.step.argtypes = [ctypes.c_void_p]
        self.program = program

    def bind(self, arena: np.ndarray, externals: list):
        position = {id(b): i for i, b in enumerate(self.program.externals)}
        table = (ctypes.c_void_p * max(len(self.program.buffers), 1))()
        for i, b in enumerate(self.program.buffers):
            table[i] = arena.ctypes.data + b.offset if b.role == "temp" else externals[position[id(b)]].ctypes.data
        keep = [arena, externals, table]

        def run(*inputs):
            status = self.step(ctypes.addressof(table))
            if status:
                raise IndexError(f"range check {status} failed")
            return keep
        return run


class FakeDriver:
    """cuda-python's driver API over host memory: allocations are host arrays, copies are memmoves, and a launch
    runs the host-compiled kernel - so the CUDA runtime (graphc.backends.cuda.device) runs end to end here."""

    class CUdevice_attribute:
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = "major"
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = "minor"

    class CUstream_flags:
        CU_STREAM_NON_BLOCKING = 1

    class CUstreamCaptureMode:
        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1

    def __init__(self, library):
        self.library, self.memory, self.calls, self.copies = library, {}, [], []
        self.capturing = None  # the work recorded while a stream is captured: a graph is its list, replayed in order
        self.handles = set()   # streams, graphs and executable graphs not destroyed yet

    def _ok(self, *values):
        return (0, *values)

    def cuInit(self, flags):
        return self._ok()

    def cuDeviceGet(self, ordinal):
        return self._ok(0)

    def cuDevicePrimaryCtxRetain(self, device):
        return self._ok("context")

    def cuCtxSetCurrent(self, context):
        return self._ok()

    def cuDeviceGetAttribute(self, attribute, device):
        return self._ok(8 if attribute == "major" else 0)

    def cuDriverGetVersion(self):
        return self._ok(13000)

    def cuDeviceGetName(self, size, device):
        return self._ok(b"host emulation\0")

    def cuMemAlloc(self, nbytes):
        block = np.zeros(nbytes, np.uint8)
        self.memory[block.ctypes.data] = block
        return self._ok(block.ctypes.data)

    def cuMemFree(self, address):
        self.memory.pop(int(address), None)
        return self._ok()

    def _device(self, address, nbytes):
        base = max((a for a in self.memory if a <= int(address)), default=None)
        assert base is not None and int(address) + nbytes <= base + self.memory[base].nbytes, "outside device memory"

    def cuMemcpyHtoD(self, dst, src, nbytes):
        self._device(dst, nbytes)
        self.copies.append(("up", nbytes))
        ctypes.memmove(int(dst), int(src), nbytes)
        return self._ok()

    def cuMemcpyDtoH(self, dst, src, nbytes):
        self._device(src, nbytes)
        self.copies.append(("down", nbytes))
        ctypes.memmove(int(dst), int(src), nbytes)
        return self._ok()

    def cuMemcpyHtoDAsync(self, dst, src, nbytes, stream):
        assert self.capturing is None, "a copy from pageable host memory is not captured"
        return self.cuMemcpyHtoD(dst, src, nbytes)

    def cuMemcpyDtoHAsync(self, dst, src, nbytes, stream):
        assert self.capturing is None
        return self.cuMemcpyDtoH(dst, src, nbytes)

    def cuMemsetD32Async(self, address, value, count, stream):
        self._device(address, 4 * count)
        work = lambda: ctypes.memset(int(address), 0, 4 * count) if value == 0 else None  # noqa: E731
        self.capturing.append(work) if self.capturing is not None else work()
        return self._ok()

    def cuStreamCreate(self, flags):
        self.handles.add("stream")
        return self._ok("stream")

    def cuStreamDestroy(self, stream):
        self.handles.discard(stream)
        return self._ok()

    def cuStreamBeginCapture(self, stream, mode):
        self.capturing = []
        return self._ok()

    def cuStreamEndCapture(self, stream):
        graph, self.capturing = tuple(self.capturing), None
        self.handles.add(graph)
        return self._ok(graph)

    def cuGraphInstantiate(self, graph, flags):
        executable = ("exec", graph)
        self.handles.add(executable)
        return self._ok(executable)

    def cuGraphLaunch(self, executable, stream):
        for work in executable[1]:
            work()
        return self._ok()

    def cuGraphExecDestroy(self, executable):
        self.handles.discard(executable)
        return self._ok()

    def cuGraphDestroy(self, graph):
        self.handles.discard(graph)
        return self._ok()

    def cuStreamSynchronize(self, stream):
        return self._ok()

    def cuModuleLoadData(self, image):
        assert image.endswith(b"\0")
        return self._ok("module")

    def cuModuleGetFunction(self, module, name):
        entry = getattr(self.library, name.decode() + "_launch")
        entry.argtypes, entry.restype = [ctypes.c_void_p], None
        return self._ok(entry)

    def cuLaunchKernel(self, function, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        def work():
            self.calls.append((gx, gy, gz, bx, by, bz))
            function(params)
        self.capturing.append(work) if self.capturing is not None else work()
        return self._ok()

    def cuCtxSynchronize(self):
        return self._ok()

    def cuGetErrorString(self, err):
        return self._ok(b"fake error")
