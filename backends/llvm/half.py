"""float16 in LLVM IR: values live as their 16 bits (i16) and are converted with integer arithmetic, exactly.

graphc never does arithmetic on float16 (graphc.dtypes: it is computed in float32), so the LLVM
backend needs only conversions. They are written here as bit manipulation rather than LLVM's
`half` type, whose conversions become calls into compiler-rt (`__truncsfhf2`, `__truncdfhf2`)
on CPUs without F16C and for every double, which a JIT process does not link. Both directions
round as IEEE 754 (and NumPy) do: to nearest, ties to even, overflow to infinity, subnormals kept.
"""
from __future__ import annotations

import llvmlite.ir as ir

F32, F64 = ir.FloatType(), ir.DoubleType()
I16, I32 = ir.IntType(16), ir.IntType(32)


def _c(value: int) -> ir.Constant:
    return ir.Constant(I32, value - (1 << 32) if value >= 1 << 31 else value)


def half_to_float(b: ir.IRBuilder, h) -> ir.Value:
    """The float32 holding exactly the float16 whose bits are `h` (i16)."""
    h32 = b.zext(h, I32)
    sign = b.shl(b.and_(h32, _c(0x8000)), _c(16))
    magnitude = b.and_(h32, _c(0x7FFF))
    shifted = b.shl(magnitude, _c(13))
    # normal and subnormal alike: the bits placed in a float32 and scaled by 2^112 (the exponent bias gap)
    scaled = b.bitcast(b.fmul(b.bitcast(shifted, F32), ir.Constant(F32, 2.0 ** 112)), I32)
    special = b.or_(shifted, _c(0x7F800000))  # infinities and NaNs keep their payload
    bits = b.select(b.icmp_unsigned(">=", magnitude, _c(0x7C00)), special, scaled)
    return b.bitcast(b.or_(bits, sign), F32)


def float_to_half(b: ir.IRBuilder, f) -> ir.Value:
    """The bits (i16) of the float16 nearest the float32 `f` (ties to even)."""
    u = b.bitcast(f, I32)
    sign = b.and_(u, _c(0x80000000))
    a = b.xor(u, sign)
    big = b.select(b.icmp_unsigned(">", a, _c(0x7F800000)), _c(0x7E00), _c(0x7C00))  # NaN, or inf and overflow
    # subnormal results: adding 0.5 aligns the ten mantissa bits at the bottom, rounded by the FPU
    sub = b.sub(b.bitcast(b.fadd(b.bitcast(a, F32), ir.Constant(F32, 0.5)), I32), _c(0x3F000000))
    # normal results: rebias the exponent, round half to even with the carry into the exponent
    odd = b.and_(b.lshr(a, _c(13)), _c(1))
    normal = b.lshr(b.add(b.add(a, _c((((15 - 127) << 23) + 0xFFF) & 0xFFFFFFFF)), odd), _c(13))
    bits = b.select(b.icmp_unsigned(">=", a, _c(0x47800000)), big,
                    b.select(b.icmp_unsigned("<", a, _c(0x38800000)), sub, normal))
    return b.trunc(b.or_(bits, b.lshr(sign, _c(16))), I16)


def double_to_half(b: ir.IRBuilder, d) -> ir.Value:
    """The bits of the float16 nearest the float64 `d`: rounded to float32 *to odd* first (an inexact
    result keeps a sticky low bit), so the second rounding is the correct one (no double rounding)."""
    f = b.fptrunc(d, F32)
    back = b.fpext(f, F64)
    inexact = b.fcmp_ordered("!=", back, d)
    fabs = b.module.declare_intrinsic("llvm.fabs", [F64])
    away = b.fcmp_ordered(">", b.call(fabs, [back]), b.call(fabs, [d]))
    bits = b.bitcast(f, I32)
    bits = b.select(b.and_(inexact, away), b.sub(bits, _c(1)), bits)
    bits = b.select(inexact, b.or_(bits, _c(1)), bits)
    return float_to_half(b, b.bitcast(bits, F32))


def is_nan_or_inf(b: ir.IRBuilder, h) -> tuple:
    """(is NaN, is infinite) of the float16 bits `h`."""
    magnitude = b.and_(h, ir.Constant(I16, 0x7FFF))
    return (b.icmp_unsigned(">", magnitude, ir.Constant(I16, 0x7C00)),
            b.icmp_unsigned("==", magnitude, ir.Constant(I16, 0x7C00)))
