"""The LLVM backend: the Program printed as LLVM IR with llvmlite, compiled for the host CPU, one native call.

`gc.compile(..., backend="llvm")`. `target` owns the host target machine, the optimisation pipeline and
the JIT; `codegen` the loops, `scalars` the scalar spellings, `blas` the Gemm calls, `vmath` the
vectorisable float32 transcendentals; `function` the compiled step and its calling convention.
"""
from graphc.runtime import register_backend

from .function import LlvmBackend, LlvmFunction

register_backend("llvm", LlvmBackend)

__all__ = ["LlvmBackend", "LlvmFunction"]
