"""How LLVM spells each typed scalar operation of a kernel body (graphc.scalar_ops), with NumPy's semantics.

Booleans are i1 in registers and one byte in memory; unsigned integers are LLVM's integers with
unsigned operations; float16 is its bits (i16), only ever converted (half.py), never computed on. Where LLVM leaves a case undefined (integer division by zero, a float to int
conversion out of range), the spelling chooses NumPy's result explicitly with a select.
"""
from __future__ import annotations

import numpy as np
import llvmlite.ir as ir

from . import half

F32, F64 = ir.FloatType(), ir.DoubleType()
I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F16 = np.dtype(np.float16)


def ir_type(dtype) -> ir.Type:
    """The register type of a NumPy dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return I1
    if dtype == F16:
        return I16
    if dtype.kind == "f":
        return F32 if dtype.itemsize == 4 else F64
    return ir.IntType(8 * dtype.itemsize)


def memory_type(dtype) -> ir.Type:
    """The in-memory element type (bool is a byte)."""
    return I8 if np.dtype(dtype).kind == "b" else ir_type(dtype)


def constant(value, dtype) -> ir.Constant:
    dtype = np.dtype(dtype)
    t = ir_type(dtype)
    if dtype.kind == "b":
        return ir.Constant(t, int(bool(value)))
    if dtype == F16:
        bits = int(np.array(value, dtype=np.float16).view(np.uint16))
        return ir.Constant(t, bits - (1 << 16) if bits >= 1 << 15 else bits)
    if dtype.kind == "f":
        return ir.Constant(t, float(value))
    v = int(value)
    if dtype.kind == "u" and v >= 2 ** 63:
        v -= 2 ** 64  # an i64 bit pattern
    return ir.Constant(t, v)


def from_memory(b: ir.IRBuilder, value, dtype):
    return b.icmp_unsigned("!=", value, ir.Constant(I8, 0)) if np.dtype(dtype).kind == "b" else value


def to_memory(b: ir.IRBuilder, value, dtype):
    return b.zext(value, I8) if np.dtype(dtype).kind == "b" else value


class Spelling:
    """Emits one operation: `emit(op, args, arg dtypes, result dtype)`; transcendentals go to `vmath`."""

    def __init__(self, builder: ir.IRBuilder, module: ir.Module, vmath):
        self.b, self.module, self.vmath = builder, module, vmath

    def intrinsic(self, name: str, t: ir.Type, args):
        # the function type given: llvmlite guesses one operand for an intrinsic it does not know (llvm.copysign)
        return self.b.call(self.module.declare_intrinsic(name, [t], ir.FunctionType(t, [a.type for a in args])), args)

    def emit(self, op: str, args: list, dts: list, out) -> ir.Value:
        b = self.b
        out = np.dtype(out)
        kind = dts[0].kind if dts else out.kind
        if op == "cast":
            return self.cast(args[0], dts[0], out)
        if op == "where":
            return b.select(args[0], args[1], args[2])
        if out == F16 or F16 in dts:
            raise NotImplementedError(f"float16 {op!r} reached the LLVM printer: float16 is computed in float32 "
                                      "(graphc.dtypes.COMPUTE_TYPE), so only casts and selections should meet it")
        if op in ("lt", "le", "eq", "ne"):
            return self.compare(op, args[0], args[1], dts[0])
        if op in ("and", "or"):
            return (b.and_ if op == "and" else b.or_)(args[0], args[1])
        if op == "not":
            return b.not_(args[0])
        if kind == "f":
            return self.float_op(op, args, out)
        return self.int_op(op, args, out)

    # -- floats -----------------------------------------------------------------
    def float_op(self, op: str, args: list, dtype) -> ir.Value:
        b = self.b
        t = ir_type(dtype)
        simple = {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv}
        if op in simple:
            return simple[op](args[0], args[1])
        if op == "neg":
            return b.fneg(args[0])
        if op in ("max", "min"):  # NumPy: a NaN in either operand wins; on a tie (±0 too) the second operand
            x, y = args
            keep_x = b.or_(b.fcmp_ordered(">" if op == "max" else "<", x, y), b.fcmp_unordered("uno", x, x))
            return b.select(keep_x, x, y)
        if op == "abs":
            return self.intrinsic("llvm.fabs", t, [args[0]])
        if op in ("floor", "ceil"):
            return self.intrinsic(f"llvm.{op}", t, [args[0]])
        if op == "sign":  # -1, 0 (for ±0) or 1; NaN stays NaN
            x = args[0]
            zero, one = ir.Constant(t, 0.0), ir.Constant(t, 1.0)
            s = b.select(b.fcmp_ordered(">", x, zero), one, b.select(b.fcmp_ordered("<", x, zero), ir.Constant(t, -1.0), zero))
            return b.select(b.fcmp_unordered("uno", x, x), x, s)
        if op == "floordiv":  # np.floor_divide on floats: floor(a / b), as NumPy's divmod
            return self.float_floordiv(args[0], args[1], t)
        if op == "mod":  # np.mod on floats: the sign of the divisor
            return self.float_mod(args[0], args[1], t)
        return self.vmath.emit(b, op, args, dtype)

    def float_mod(self, x, y, t):
        b = self.b
        zero = ir.Constant(t, 0.0)
        r = b.frem(x, y)
        fix = b.and_(b.fcmp_ordered("!=", r, zero), b.xor(b.fcmp_ordered("<", r, zero), b.fcmp_ordered("<", y, zero)))
        r = b.select(fix, b.fadd(r, y), r)
        # a zero remainder takes the divisor's sign (NumPy's npy_divmod)
        return b.select(b.fcmp_ordered("==", r, zero), self.intrinsic("llvm.copysign", t, [zero, y]), r)

    def float_floordiv(self, x, y, t):
        b = self.b
        zero = ir.Constant(t, 0.0)
        mod = b.frem(x, y)
        div = b.fdiv(b.fsub(x, mod), y)
        fix = b.and_(b.fcmp_ordered("!=", mod, zero), b.xor(b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)))
        div = b.select(fix, b.fsub(div, ir.Constant(t, 1.0)), div)
        floordiv = self.intrinsic("llvm.floor", t, [div])
        # NumPy rounds a quotient that floor moved by more than a half back to the nearest integer
        floordiv = b.select(b.fcmp_ordered(">", b.fsub(div, floordiv), ir.Constant(t, 0.5)),
                            b.fadd(floordiv, ir.Constant(t, 1.0)), floordiv)
        exact = b.select(b.fcmp_unordered("!=", div, zero), floordiv,  # NaN (inf // x, nan // x) stays NaN
                         self.intrinsic("llvm.copysign", t, [zero, b.fdiv(x, y)]))
        return b.select(b.fcmp_ordered("==", y, zero), b.fdiv(x, y), exact)

    # -- integers -----------------------------------------------------------------
    def int_op(self, op: str, args: list, dtype) -> ir.Value:
        b = self.b
        t = ir_type(dtype)
        unsigned = np.dtype(dtype).kind in "ub"
        simple = {"add": b.add, "sub": b.sub, "mul": b.mul, "xor": b.xor, "bitand": b.and_, "bitor": b.or_}
        if op in simple:
            return simple[op](args[0], args[1])
        if op in ("shl", "shr"):  # LLVM leaves a shift by the width or more undefined; NumPy defines it
            x, n = args
            inside = b.icmp_unsigned("<", n, ir.Constant(t, t.width))
            if op == "shr" and not unsigned:  # a shift past the width fills with the sign
                return b.ashr(x, b.select(inside, n, ir.Constant(t, t.width - 1)))
            shifted = b.shl(x, n) if op == "shl" else b.lshr(x, n)
            return b.select(inside, shifted, ir.Constant(t, 0))
        if op == "neg":
            return b.neg(args[0])
        if op in ("max", "min"):
            cmp = (b.icmp_unsigned if unsigned else b.icmp_signed)(">=" if op == "max" else "<=", args[0], args[1])
            return b.select(cmp, args[0], args[1])
        if op == "abs":
            x = args[0]
            return x if unsigned else b.select(b.icmp_signed("<", x, ir.Constant(t, 0)), b.neg(x), x)
        if op == "sign":
            x = args[0]
            zero = ir.Constant(t, 0)
            if unsigned:
                return b.zext(b.icmp_unsigned("!=", x, zero), t)
            return b.sub(b.zext(b.icmp_signed(">", x, zero), t), b.zext(b.icmp_signed("<", x, zero), t))
        if op in ("floordiv", "mod"):
            return self.int_divmod(op, args[0], args[1], t, unsigned)
        if op in ("floor", "ceil"):
            return args[0]
        if op == "pow":  # square and multiply over the exponent's bits (graphc refuses negative integer exponents)
            base, exponent = args
            result = ir.Constant(t, 1)
            for bit in range(t.width - 1):
                odd = b.trunc(b.lshr(exponent, ir.Constant(t, bit)), I1)
                result = b.select(odd, b.mul(result, base), result)
                base = b.mul(base, base)
            return result
        raise NotImplementedError(f"the LLVM printer has no integer spelling of {op!r}")

    def int_divmod(self, op, x, y, t, unsigned):
        """NumPy's floor division and modulo; a zero divisor gives 0 (LLVM leaves it undefined)."""
        b = self.b
        zero, one = ir.Constant(t, 0), ir.Constant(t, 1)
        is_zero = b.icmp_signed("==", y, zero)
        safe = b.select(is_zero, one, y)
        if unsigned:
            r = b.udiv(x, safe) if op == "floordiv" else b.urem(x, safe)
            return b.select(is_zero, zero, r)
        # INT_MIN // -1 overflows in LLVM; NumPy gives INT_MIN (and 0 for the modulo)
        overflow = b.and_(b.icmp_signed("==", safe, ir.Constant(t, -1)),
                          b.icmp_signed("==", x, ir.Constant(t, -(1 << (t.width - 1)))))
        safe = b.select(overflow, one, safe)
        q, r = b.sdiv(x, safe), b.srem(x, safe)
        adjust = b.and_(b.icmp_signed("!=", r, zero), b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", safe, zero)))
        if op == "floordiv":
            value = b.select(adjust, b.sub(q, one), q)
            value = b.select(overflow, x, value)
        else:
            value = b.select(adjust, b.add(r, safe), r)
            value = b.select(overflow, zero, value)
        return b.select(is_zero, zero, value)

    # -- comparisons and casts ---------------------------------------------------------
    def compare(self, op: str, x, y, dtype) -> ir.Value:
        b = self.b
        sym = {"lt": "<", "le": "<=", "eq": "==", "ne": "!="}[op]
        if dtype.kind == "f":  # NaN: only != holds
            return b.fcmp_unordered(sym, x, y) if op == "ne" else b.fcmp_ordered(sym, x, y)
        if dtype.kind == "b":
            return b.icmp_unsigned(sym, x, y)
        return (b.icmp_unsigned if dtype.kind == "u" else b.icmp_signed)(sym, x, y)

    def cast(self, x, src, dst) -> ir.Value:
        b = self.b
        src, dst = np.dtype(src), np.dtype(dst)
        ts, td = ir_type(src), ir_type(dst)
        if src == dst:
            return x
        if src == F16:
            if dst.kind == "b":  # any bits but the sign's: NaN is True, as NumPy
                return b.icmp_unsigned("!=", b.and_(x, ir.Constant(I16, 0x7FFF)), ir.Constant(I16, 0))
            return self.cast(half.half_to_float(b, x), np.dtype(np.float32), dst)
        if dst == F16:
            if src == np.float64:
                return half.double_to_half(b, x)
            # integers: every one below 2^24 is exact in float32, every one above overflows float16 anyway
            return half.float_to_half(b, x if src == np.float32 else self.cast(x, src, np.dtype(np.float32)))
        if dst.kind == "b":
            if src.kind == "f":
                return b.fcmp_unordered("!=", x, ir.Constant(ts, 0.0))  # NaN is True
            return b.icmp_unsigned("!=", x, ir.Constant(ts, 0))
        if src.kind == "b":
            if dst.kind == "f":  # the bits of 1.0 or of 0.0: a select of float constants becomes a branch on x86
                ti = ir.IntType(32 if td == F32 else 64)
                one = ir.Constant(ti, 0x3F800000 if td == F32 else 0x3FF0000000000000)
                return b.bitcast(b.and_(b.sext(x, ti), one), td)
            return b.zext(x, td)
        if src.kind == "f" and dst.kind == "f":
            return b.fpext(x, td) if td == F64 else b.fptrunc(x, td)
        if src.kind == "f":  # x86's truncating conversion gives the minimum integer for NaN and out of range
            lo, hi = (-(2.0 ** (td.width - 1)), 2.0 ** (td.width - 1)) if dst.kind == "i" else (0.0, 2.0 ** td.width)
            inside = b.and_(b.fcmp_ordered(">=", x, ir.Constant(ts, lo)), b.fcmp_ordered("<", x, ir.Constant(ts, hi)))
            safe = b.select(inside, x, ir.Constant(ts, 0.0))
            v = b.fptosi(safe, td) if dst.kind == "i" else b.fptoui(safe, td)
            return b.select(inside, v, ir.Constant(td, -(1 << (td.width - 1)) if dst.kind == "i" else 0))
        if dst.kind == "f":
            return b.uitofp(x, td) if src.kind == "u" else b.sitofp(x, td)
        if td.width > ts.width:
            return b.zext(x, td) if src.kind == "u" else b.sext(x, td)
        return b.trunc(x, td) if td.width < ts.width else x
