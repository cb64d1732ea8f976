"""The CUDA backend: the Program printed as CUDA C++ source, one `__global__` function per kernel.

`gc.compile(..., backend="cuda")`: `printer` owns the kernels and the step's launches, `spelling` the
scalar operations with NumPy's semantics, `function` the compiled function (its source on any
machine; running it needs an NVIDIA GPU and `pip install 'graphc-compiler[cuda]'`).
"""
from graphc.runtime import register_backend

from .function import CudaBackend, CudaFunction

register_backend("cuda", CudaBackend)

__all__ = ["CudaBackend", "CudaFunction"]
