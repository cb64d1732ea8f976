"""`graphc info`: what this installation can use (backends, BLAS, CPU features, Graphviz, GPU)."""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys

import numpy as np

from . import __version__, runtime


def _blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001  (older NumPy: no dict mode)
        return "unknown"


def _cpu() -> str:
    try:
        import llvmlite.binding as llvm  # lazy: heavy, and only this report needs it

        features = [f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+")]
        wanted = [f for f in ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16", "neon", "sve")
                  if f in features]
        return f"{llvm.get_host_cpu_name()} ({', '.join(wanted) or 'baseline'})"
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


def _graphviz() -> str:
    dot = shutil.which("dot")
    if not dot:
        return "not found (install the system package 'graphviz' to render SVG/PNG/PDF; DOT output still works)"
    try:
        out = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
        return f"{(out.stderr or out.stdout).strip()} at {dot}"
    except (OSError, subprocess.SubprocessError):
        return f"found at {dot}"


def _gpu() -> str:
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().replace("\n", "; ")
        except (OSError, subprocess.SubprocessError):
            pass
    nvcc = shutil.which("nvcc")
    return "none found" + (f" (nvcc at {nvcc}: CUDA code can be compiled, not run)" if nvcc else "")


def report() -> dict:
    try:
        default = runtime.default_backend()
    except Exception as e:  # noqa: BLE001 - the report says why rather than failing
        default = f"none ({e})"
    names = runtime.available_backends()
    info = {
        "graphc": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "backends": f"{', '.join(names)} (default: {default})",
    }
    for name in names:  # a backend may describe itself (the LLVM backend: its LLVM, target and cache)
        describe = getattr(runtime.BACKENDS.get(name), "describe", None)
        if describe is not None:
            try:
                info[name] = describe()
            except Exception as e:  # noqa: BLE001
                info[name] = f"unavailable ({type(e).__name__}: {e})"
    return info | {
        "blas": _blas(),
        "cpu": _cpu(),
        "graphviz": _graphviz(),
        "gpu": _gpu(),
    }


def format_report(info: dict) -> str:
    width = max(len(k) for k in info)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in info.items())
