"""Vectorisable float32 sin, cos, tan (and atan) as plain LLVM IR, correctly rounded on every float32 argument tested.

The argument reduction is a branch-free Payne-Hanek reduction in float64 lanes: 2/pi is cut into 28-bit pieces c_k,
so each x*c_k (24 x 28 bits) is exact in a double; each product is reduced mod 4 exactly, and the pieces are
summed with TwoSum (Knuth) into a double-double, so even the float32 arguments closest to a multiple of pi/2
keep a correctly rounded remainder. The kernels are Taylor polynomials in float64 on |r| <= pi/4, and the result
is rounded to float32 once. All of it is arithmetic, floor/rint and select: the loop vectoriser packs it (in
float64 lanes, so half as many per instruction as the float32 functions: the price of exactness for any |x|).
"""
from __future__ import annotations

import math

import llvmlite.ir as ir

from .irmath import F32, F64, const, eq, fabs, fma, intrinsic, poly

# The first 256 bits of 2/pi (fdlibm's two_over_pi table, checked against mpmath).
_TWO_OVER_PI = 0xA2F9836E4E441529FC2757D1F534DDC0DB6295993C439041FE5163ABDEBBC561
_BITS, _PIECES = 28, 7  # 196 bits: for |x| < 2^128 the truncation error of x*2/pi is below 2^-68
_CHUNKS = [((_TWO_OVER_PI >> (256 - _BITS * (k + 1))) & ((1 << _BITS) - 1)) * 2.0 ** (-_BITS * (k + 1))
           for k in range(_PIECES)]

# Taylor coefficients, highest degree first: sin r = r + r^3 S(r^2), cos r = 1 + r^2 C(r^2); on |r| <= pi/4 the
# truncation error is below 1e-11 relative, far under the float32 rounding that follows.
_SIN = [(-1) ** k / math.factorial(2 * k + 1) for k in range(6, 0, -1)]
_COS = [(-1) ** k / math.factorial(2 * k) for k in range(7, 0, -1)]


def _mod4(b, t, centred: bool):
    """t - 4 floor(t/4) in [0, 4), or t - 4 rint(t/4) in [-2, 2]: exact for any double t. The centred form keeps
    a tiny negative t as it is (in [0, 4) it would round to 4)."""
    k = intrinsic(b, "llvm.rint" if centred else "llvm.floor", [b.fmul(t, const(0.25, F64))])
    return fma(b, k, const(-4.0, F64), t)


def _reduce(b, x):
    """x = (4k + q + f) pi/2 with |f| <= 1/2: returns q in {0,1,2,3} and r = f pi/2, both as doubles."""
    xd = b.fpext(x, F64)
    hi, lo = const(0.0, F64), const(0.0, F64)
    for c in _CHUNKS:
        f = _mod4(b, b.fmul(xd, const(c, F64)), centred=True)  # exact: 52-bit product, exact remainder
        s = b.fadd(hi, f)  # TwoSum: s + err == hi + f exactly
        bb = b.fsub(s, hi)
        err = b.fadd(b.fsub(hi, b.fsub(s, bb)), b.fsub(f, bb))
        hi, lo = s, b.fadd(lo, err)
    q = intrinsic(b, "llvm.rint", [hi])
    frac = b.fadd(b.fsub(hi, q), lo)  # hi - q is exact
    return _mod4(b, q, centred=False), b.fmul(frac, const(math.pi / 2, F64))


def _kernels(b, r):
    r2 = b.fmul(r, r)
    s = fma(b, b.fmul(r, r2), poly(b, r2, _SIN), r)
    c = fma(b, r2, poly(b, r2, _COS), const(1.0, F64))
    return s, c


def _by_quadrant(b, q, values):
    """values[q] for q in {0, 1, 2, 3} (a double)."""
    out = values[0]
    for k in (1, 2, 3):
        out = b.select(eq(b, q, float(k)), values[k], out)
    return out


def _finish(b, x, res_d, keep_zero: bool):
    res = b.fptrunc(res_d, F32)
    res = b.select(eq(b, fabs(b, x), math.inf), const(math.nan), res)  # NaN in: NaN out already
    if keep_zero:  # odd functions keep the sign of a zero argument
        res = b.select(eq(b, x, 0.0), x, res)
    return res


def sin(b, x):
    q, r = _reduce(b, x)
    s, c = _kernels(b, r)
    return _finish(b, x, _by_quadrant(b, q, [s, c, b.fneg(s), b.fneg(c)]), True)


def cos(b, x):
    q, r = _reduce(b, x)
    s, c = _kernels(b, r)
    return _finish(b, x, _by_quadrant(b, q, [c, b.fneg(s), b.fneg(c), s]), False)


def tan(b, x):
    q, r = _reduce(b, x)
    s, c = _kernels(b, r)
    odd = b.or_(eq(b, q, 1.0), eq(b, q, 3.0))
    res = b.select(odd, b.fdiv(b.fneg(c), s), b.fdiv(s, c))
    return _finish(b, x, res, True)


# atan: Cephes' double-precision rational approximation (max 1.6e-16 relative on the reduced range), reduced by
# atan x = pi/2 - atan(1/x) above tan(3pi/8) and pi/4 + atan((x-1)/(x+1)) above 0.66, all in float64 lanes;
# one rounding to float32. Odd: the sign comes back with copysign (so -0 stays -0).
_ATAN_P = [-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1]
_ATAN_Q = [1.0, 2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2]
_MOREBITS = 6.123233995736765886130e-17  # pi/2 - double(pi/2)


def atan(b, x):
    a = fabs(b, b.fpext(x, F64))
    big = b.fcmp_ordered(">", a, const(2.41421356237309504880, F64))
    mid = b.and_(b.not_(big), b.fcmp_ordered(">", a, const(0.66, F64)))
    one = const(1.0, F64)
    t = b.select(big, b.fdiv(const(-1.0, F64), a), b.select(mid, b.fdiv(b.fsub(a, one), b.fadd(a, one)), a))
    z = b.fmul(t, t)
    r = fma(b, t, b.fdiv(b.fmul(z, poly(b, z, _ATAN_P)), poly(b, z, _ATAN_Q)), t)
    base = b.select(big, const(math.pi / 2, F64), b.select(mid, const(math.pi / 4, F64), const(0.0, F64)))
    extra = b.select(big, const(_MOREBITS, F64), b.select(mid, const(_MOREBITS / 2, F64), const(0.0, F64)))
    res = b.fptrunc(b.fadd(base, b.fadd(r, extra)), F32)
    res = b.call(b.module.declare_intrinsic("llvm.copysign", [F32], ir.FunctionType(F32, [F32, F32])), [res, x])
    return b.select(b.fcmp_unordered("uno", x, x), x, res)
