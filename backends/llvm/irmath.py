"""IR arithmetic helpers shared by the vector math modules (vmath, vmath_trig): constants, intrinsics, Horner's rule."""
from __future__ import annotations

import llvmlite.ir as ir

F32, F64 = ir.FloatType(), ir.DoubleType()
I32, I64 = ir.IntType(32), ir.IntType(64)


def const(v, t=F32):
    return ir.Constant(t, v)


def intrinsic(b: ir.IRBuilder, name: str, args: list):
    """Calls `llvm.<name>` overloaded on the first argument's type (all arguments share it)."""
    t = args[0].type
    fn = b.module.declare_intrinsic(name, [t], fnty=ir.FunctionType(t, [t] * len(args)))
    return b.call(fn, args)


def fma(b, x, y, z):
    """x*y + z. llvm.fmuladd fuses on FMA hardware and stays a vector mul+add elsewhere (llvm.fma would become a
    libm call there); every use here is accurate either way."""
    return intrinsic(b, "llvm.fmuladd", [x, y, z])


def poly(b, x, coeffs):
    """Horner's rule, highest-degree coefficient first."""
    t = x.type
    acc = const(coeffs[0], t)
    for c in coeffs[1:]:
        acc = fma(b, acc, x, const(c, t))
    return acc


def fabs(b, x):
    return intrinsic(b, "llvm.fabs", [x])


def copysign(b, mag, sign):
    return intrinsic(b, "llvm.copysign", [mag, sign])


def is_nan(b, x):
    return b.fcmp_unordered("uno", x, x)


def lt(b, x, v):
    return b.fcmp_ordered("<", x, const(v, x.type))


def gt(b, x, v):
    return b.fcmp_ordered(">", x, const(v, x.type))


def eq(b, x, v):
    return b.fcmp_ordered("==", x, const(v, x.type))


def clamp(b, x, lo, hi):
    """x limited to [lo, hi]; NaN becomes lo, so that no later fptosi sees a NaN (that would be poison)."""
    x = b.select(b.fcmp_unordered("<", x, const(lo, x.type)), const(lo, x.type), x)
    return b.select(gt(b, x, hi), const(hi, x.type), x)


def pow2i(b, n):
    """2**n for an i32 n in [-126, 127]: the exponent field written directly."""
    return b.bitcast(b.shl(b.add(n, const(127, I32)), const(23, I32)), F32)
