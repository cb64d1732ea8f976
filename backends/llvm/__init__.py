"""The LLVM backend (in progress): the Program printed as LLVM IR with llvmlite, compiled for the host CPU.

Not registered yet: `gc.compile(backend="llvm")` becomes available once the printer covers every
kernel the NumPy backend runs. `target` owns the host target machine, the optimisation pipeline and
the JIT; `codegen` the loops, `scalars` the scalar spellings, `blas` the Gemm calls, `vmath` the
vectorisable float32 transcendentals; `function` the compiled step and its calling convention.
"""
from .function import LlvmBackend, LlvmFunction

__all__ = ["LlvmBackend", "LlvmFunction"]
