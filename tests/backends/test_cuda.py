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
from tests.backends.cuda_host import sweep_cases
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
    for prefix, outs, feeds, inputs in sweep_cases():
        yield prefix, program_of(outs, feeds, inputs)


def compile_cuda(source: str, folder, archs=("sm_80", "sm_90"), spills: bool = True) -> dict:
    """nvcc on `source` for each arch at once (with `spills`, a cubin with ptxas's register and spill report for the
    first; PTX otherwise); {arch: nvcc's report}. A syntax or type error in any printed kernel fails here."""
    path = folder / "module.cu"
    path.write_text(source)
    procs = {}
    for n, arch in enumerate(archs):
        kind = ["-cubin", "-Xptxas", "-v"] if n == 0 and spills else ["-ptx"]
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
def test_every_sweep_graph_compiles_for_sm80_and_sm90(tmp_path):
    # to PTX (the spill report, which needs ptxas's full compile, is checked on the examples' steps below)
    sources = [PRELUDE] + [print_program(program, prefix, prelude=False).source for prefix, program in _sweep_programs()]
    assert len(sources) > 300
    compile_cuda("\n".join(sources), tmp_path, spills=False)


def test_the_cuda_backend_prints_source_without_a_device_and_a_call_says_what_is_missing():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 4), np.float32))
    fn = gc.compile(gc.sum(gc.tanh(x @ w), axis=1), backend="cuda")
    if "cuda" in PRINT_ONLY_BACKENDS:
        with pytest.raises(gc.DeviceError, match="cannot run here"):
            fn(x=np.ones((2, 3), np.float32))
    source = fn.source
    assert re.search(r'extern "C" __global__ void k0\(const float\* in_x, const float\* p_w, float\* t\d+, int\* gc_status\)',
                     source)
    assert "// k0: matmul" in source and "tanhf(" in source and "__shared__ float As[16][65]" in source
    assert len(fn.backend.last.fn.launches) == 3  # the product, the sum's init and the sum


SNAPSHOTS = __import__("pathlib").Path(__file__).parent / "snapshots"


def _normalised(source: str) -> str:
    """The source with graph-node and buffer numbers renumbered in order of appearance (they count every node
    the process built before), so a snapshot changes only when the printed code does."""
    seen: dict[str, str] = {}

    def renumber(m):
        key = m.group(0)
        if key not in seen:
            seen[key] = f"{m.group(1)}{len([k for k in seen if k.startswith(m.group(1))])}"
        return seen[key]
    return re.sub(r"\b(t|in_|p_)(\d+)\b|(?<=_)(\d+)(?=')", lambda m: renumber(m) if m.group(1) else "N", source)


def _mlp_step():
    rng = np.random.default_rng(0)
    x, y = gc.input("x", (None, 4)), gc.input("y", (None,), gc.int64)
    w1 = gc.param("w1", rng.normal(size=(4, 8)).astype(np.float32))
    w2 = gc.param("w2", rng.normal(size=(8, 3)).astype(np.float32))
    loss = gc.losses.cross_entropy(gc.tanh(x @ w1) @ w2, y)
    g1, g2 = gc.grad(loss, [w1, w2])
    return [loss], {w1: w1 - 0.1 * g1, w2: w2 - 0.1 * g2}, dict(x=np.ones((8, 4), np.float32), y=np.zeros(8, np.int64))


def _conv_layer():
    rng = np.random.default_rng(0)
    x = gc.input("x", (None, 1, 8, 8))
    w = gc.param("w", rng.normal(size=(4, 1, 3, 3)).astype(np.float32))
    b = gc.param("b", np.zeros(4, np.float32))
    return [gc.max_pool2d(gc.relu(gc.conv2d(x, w, b, padding=1)), 2)], None, dict(x=np.ones((2, 1, 8, 8), np.float32))


@pytest.mark.parametrize("name, build", [("mlp_step", _mlp_step), ("conv_layer", _conv_layer)])
def test_the_generated_source_matches_its_snapshot(name, build):
    """A change to the printed CUDA shows in review: regenerate with GRAPHC_UPDATE_SNAPSHOTS=1 and read the diff."""
    import os

    outs, updates, feeds = build()
    fn = gc.compile(outs, updates=updates, backend="cuda")
    try:
        fn(**feeds)
    except gc.DeviceError:
        pass
    assert fn.source.startswith(PRELUDE)
    got = _normalised(fn.source[len(PRELUDE):])  # the kernels: the prelude is spelling.py's, reviewed there
    path = SNAPSHOTS / f"{name}.cu"
    if os.environ.get("GRAPHC_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(got)
    assert got == path.read_text(), f"the generated CUDA for {name} changed; see {path}"


def _example_programs(monkeypatch):
    """The Programs each example's script compiles for CUDA before its first call stops (no device here):
    the training step, and whatever the script compiles before it."""
    from pathlib import Path

    from graphc import script as scripts
    from graphc.backends.cuda import function

    built = []
    real = function.CudaFunction

    def recording(program, debug=False):
        built.append(program)
        return real(program, debug)
    monkeypatch.setattr(function.CudaBackend, "build", staticmethod(recording))
    for path in sorted(Path("examples").glob("[!_]*.py")):
        module = scripts.load(str(path))
        if not hasattr(module, "model") and not hasattr(module, "run"):
            continue  # a plain program (quickstart), not a training script
        cfg = scripts.config_for(module, backend="cuda", epochs=1)
        cfg.fast, cfg.save, cfg.progress = True, None, False
        before = len(built)
        try:
            scripts.train(module, cfg)
        except gc.DeviceError:
            pass
        except scripts.ScriptError as e:  # a script's own run() reports the first call's DeviceError as its error
            assert "DeviceError" in str(e), str(e)
        assert len(built) > before, f"{path}: compiled nothing for CUDA"
        yield path.stem, built[before:]


@needs_nvcc
def test_every_examples_training_step_compiles_for_sm80_and_sm90(tmp_path, monkeypatch):
    sources = [PRELUDE]
    names = []
    for stem, programs in _example_programs(monkeypatch):
        for n, program in enumerate(programs):
            sources.append(print_program(program, f"{stem}{n}_", prelude=False).source)
        names.append(stem)
    assert {"digits_cnn", "digits_mlp", "sequence_lstm", "tiny_transformer"} <= set(names)
    reports = compile_cuda("\n".join(sources), tmp_path)
    assert "Compiling entry function" in reports["sm_80"]
    assert not spilling_kernels(reports["sm_80"]), spilling_kernels(reports["sm_80"])


def test_nvrtc_compiles_a_training_step_to_ptx_and_caches_it(tmp_path, monkeypatch):
    from graphc.backends.cuda import nvrtc

    if not nvrtc.available():
        pytest.skip("NVRTC is not installed (pip install 'graphc-compiler[cuda]'); nvcc covers the compile checks")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    outs, updates, feeds = _mlp_step()
    fn = gc.compile(outs, updates=updates, backend="cuda")
    with pytest.raises(gc.DeviceError):
        fn(**feeds)
    printed = fn.backend.last.fn
    ptx, cached = nvrtc.compile_ptx(printed.source, "sm_80")
    assert not cached and b".entry k0" in ptx and b".target sm_80" in ptx
    assert nvrtc.compile_ptx(printed.source, "sm_80") == (ptx, True)
    assert printed.ptx("sm_90") != ptx and len(list((tmp_path / "cuda").glob("*.ptx"))) == 2
    with pytest.raises(gc.DeviceError, match="NVRTC could not compile"):
        nvrtc.compile_ptx(printed.source + "\nthis is not C++;", "sm_80")


@needs_nvcc
def test_a_debug_mode_step_with_its_finite_checks_compiles(tmp_path):
    outs, updates, feeds = _mlp_step()
    fn = gc.compile(outs, updates=updates, backend="cuda", debug=True)
    with pytest.raises(gc.DeviceError):
        fn(**feeds)
    assert fn.source.count("_finite(") >= 5  # one check after every float kernel
    compile_cuda(fn.source, tmp_path, archs=("sm_80",), spills=False)


@needs_nvcc
def test_block_reductions_by_warp_shuffles_compile_for_every_dtype(tmp_path):
    """A long reduction of each supported dtype prints code nvcc accepts."""
    outs, feeds = [], {}
    for n, dtype in enumerate([np.float32, np.float64, np.int32, np.int64]):
        x = gc.input(f"x{n}", (2, 3000), dtype)
        outs += [gc.max(x, axis=1), gc.min(x), gc.sum(x, axis=1)]
        feeds[f"x{n}"] = np.ones((2, 3000), dtype)
    fn = gc.compile(outs, backend="cuda")
    with pytest.raises(gc.DeviceError):
        fn(**feeds)
    assert fn.source.count("__shfl_down_sync") >= 2 * len(outs)
    compile_cuda(fn.source, tmp_path, spills=False)
