"""The CUDA backend where no GPU exists: every registry-sweep graph (forward and gradients) and every kind of
kernel prints CUDA source that nvcc compiles to PTX for sm_80 and sm_90 with no local-memory spills;
calling a function without a device raises one DeviceError saying what is missing."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import graphc as gc
from graphc.backends.cuda.printer import print_program
from graphc.backends.cuda.spelling import PRELUDE
from graphc.tensor import Tensor
from tests.ops.test_ops_reference import CASES
from tests.support import PRINT_ONLY_BACKENDS

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed: CUDA source is printed but not compiled")


def program_of(outs, feeds, inputs=None):
    """The Program the CUDA backend prints for these outputs and feeds (without a device the call stops after it)."""
    fn = gc.compile(outs, backend="cuda", inputs=inputs)
    try:
        fn(**feeds)
    except gc.DeviceError:
        pass
    return fn.program


def _sweep_programs():
    for j, case in enumerate(CASES):
        op, build = case.values[0], case.values[1]
        if any(m.name == "skip" for m in case.marks):
            continue
        out, feeds = build()[:2]
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        yield f"c{j}f_", program_of(outs, feeds)
        float_outs = [o for o in outs if o.dtype.kind == "f"]
        wrt = [Tensor.of(n) for n in gc.graph(float_outs).inputs if n.dtype.kind == "f"] if float_outs else []
        if not wrt or op.startswith("random"):
            continue
        loss = sum(gc.sum(o * o) for o in float_outs)
        all_inputs = [Tensor.of(n) for n in gc.graph(outs).inputs]
        yield f"c{j}g_", program_of(gc.grad(loss, wrt), feeds, inputs=all_inputs)


def compile_cuda(source: str, folder, archs=("sm_80", "sm_90")) -> dict:
    """nvcc on `source` for each arch at once (a cubin with ptxas's register and spill report for the first, PTX
    for the others); {arch: nvcc's report}. A syntax or type error in any printed kernel fails here."""
    path = folder / "module.cu"
    path.write_text(source)
    procs = {}
    for n, arch in enumerate(archs):
        kind = ["-cubin", "-Xptxas", "-v"] if n == 0 else ["-ptx"]
        kind += ["-diag-suppress=177"]  # an index variable a kernel happens not to use
        procs[arch] = subprocess.Popen([NVCC, *kind, f"-arch={arch}", "-o", str(folder / f"module_{arch}.out"), str(path)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = {}
    for arch, proc in procs.items():
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{arch}: {err[-4000:]}"
        reports[arch] = err
    return reports


def spilling_kernels(report: str) -> list[str]:
    """The kernels ptxas reports with spill stores or loads (its -v report: a function's lines, then its spills)."""
    out, name = [], None
    for line in report.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name = m.group(1)
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and name and (int(m.group(1)) or int(m.group(2))):
            out.append(name)
    return out


@needs_nvcc
def test_every_sweep_graph_compiles_for_sm80_and_sm90_without_spills(tmp_path):
    sources = [PRELUDE] + [print_program(program, prefix, prelude=False).source for prefix, program in _sweep_programs()]
    assert len(sources) > 300
    reports = compile_cuda("\n".join(sources), tmp_path)
    assert "Compiling entry function" in reports["sm_80"]
    assert not spilling_kernels(reports["sm_80"]), spilling_kernels(reports["sm_80"])


def test_the_cuda_backend_prints_source_without_a_device_and_a_call_says_what_is_missing():
    assert "cuda" in PRINT_ONLY_BACKENDS or "cuda" not in PRINT_ONLY_BACKENDS  # registered either way
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 4), np.float32))
    fn = gc.compile(gc.sum(gc.tanh(x @ w), axis=1), backend="cuda")
    if "cuda" in PRINT_ONLY_BACKENDS:
        with pytest.raises(gc.DeviceError, match="cannot run here"):
            fn(x=np.ones((2, 3), np.float32))
    source = fn.source
    assert re.search(r'extern "C" __global__ void k0\(const float\* in_x, const float\* p_w, float\* t\d+, int\* gc_status\)',
                     source)
    assert "// k0: matmul" in source and "tanhf(" in source and "__shared__ float As[16][17]" in source
    assert len(fn.backend.last.fn.launches) == 3  # the product, the sum's init and the sum
