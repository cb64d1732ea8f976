"""Vectorisable float32 transcendentals as plain LLVM IR (exp, log, tanh, expm1, log1p, erf, sqrt, pow) and `emit`.

Every float32 function here is built from `ir.IRBuilder` arithmetic, bitcasts, `select` and intrinsics that
LLVM lowers to single vector instructions (fmuladd, fabs, copysign, rint, floor, trunc, sqrt), never from a
call into libm, so the loop vectoriser turns a loop over them into packed SIMD code. Branches are `select`s:
a vector lane computes every path and keeps one. float64 goes to the LLVM intrinsics or libm (`emit`).
Sine, cosine and tangent live in `vmath_trig`.

Measured max error in float32 ulp against float64 NumPy/SciPy on the float32 input, rounded to float32
(every 97th float32 bit pattern plus dense sweeps of the delicate ranges; exp, log and tanh also over all 2^32
bit patterns, once, offline; AMD Zen 3, AVX2+FMA; the tests assert <= 4 for all but sqrt, which is exact):

    function  max ulp  method
    exp       1        Cephes expf polynomial; 2^n applied in two halves so denormal results round once
    log       1        Cephes logf polynomial; denormal inputs scaled by 2^23 first
    tanh      1        (e - 1) / (e + 1), e = exp(2|x|) in double lanes (odd series below 1/16), one rounding
    expm1     1        Cody-Waite reduction, Taylor degree 8, 2^n (1+p) - 1 arranged to stay exact
    log1p     1        logf kernel on u = 1+x plus the rounding correction (x - (u-1)) / u
    erf       2        x P(x^2) below 1; 1 - exp(-x^2) Q(1/x) up to 4 (least-squares fits)
    sqrt      0        llvm.sqrt (correctly rounded)
    pow       1        exp(y log|x|) in float64 lanes (own polynomials), one rounding to float32; the 1 ulp
                       is an exact float32 midpoint (e.g. 4.8798828125**2) rounded the other way
    atan      0        Cephes' double atan (rational, two range reductions) in float64 lanes, one rounding
    sin, cos  0        Payne-Hanek style reduction in float64 lanes (2/pi in 28-bit pieces), any |x|,
    tan       0        then float64 Taylor kernels and one rounding to float32 (correctly rounded in
                       every case tested, including |x| up to 3.4e38 and near the poles of tan)

Special values follow NumPy: NaN propagates, ±inf and ±0 as np.exp/np.log/... on float32, denormal inputs
and outputs are exact to the bound above (no flush to zero), pow follows C99 powf (np.power).
"""
from __future__ import annotations

import functools
import math

import llvmlite.ir as ir
import numpy as np

from . import vmath_trig
from .irmath import F32, F64, I32, I64, clamp, const, copysign, eq, fabs, fma, gt, intrinsic, is_nan, lt, poly, pow2i

# Cody-Waite split of ln 2 (Cephes): the high part has 9 significant bits, so n*LN2_HI is exact for |n| < 2^15
# whether or not fmuladd fuses.
LN2_HI, LN2_LO = 0.693359375, -2.12194440e-4
LOG2E = 1.44269504088896341


# ---- exp -------------------------------------------------------------------------------------------------------

_EXP_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]


def exp(b, x):
    """Cephes expf: n = rint(x/ln2), r = x - n ln2 (Cody-Waite), exp(r) = 1 + r + r^2 P(r), times 2^n."""
    xc = clamp(b, x, -104.0, 89.0)  # exp(-104) < 2^-150 rounds to 0, exp(89) overflows
    n = intrinsic(b, "llvm.rint", [b.fmul(xc, const(LOG2E))])
    r = fma(b, n, const(-LN2_HI), xc)
    r = fma(b, n, const(-LN2_LO), r)
    p = b.fadd(fma(b, poly(b, r, _EXP_P), b.fmul(r, r), r), const(1.0))
    # 2^n for n in [-150, 128] as two normal powers of two: p*2^n1 is exact, the second product rounds once
    # (into the denormals or to inf) exactly like the true result would.
    ni = b.fptosi(n, I32)
    n1 = b.ashr(ni, const(1, I32))
    res = b.fmul(b.fmul(p, pow2i(b, n1)), pow2i(b, b.sub(ni, n1)))
    return b.select(is_nan(b, x), x, res)


# ---- expm1 -----------------------------------------------------------------------------------------------------

# expm1(r) = r + r^2 (1/2 + r/3! + ... + r^6/8!), the Taylor series: on |r| <= ln2/2 its truncation error is below
# 1e-9 relative, so no minimax fit is needed.
_EXPM1_P = [1 / 40320, 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2]


def _expm1_core(b, x):
    """expm1 for finite x (NaN gives -1, sign of zero not kept): 2^n (1 + p) - 1 with p = expm1(r)."""
    xc = clamp(b, x, -30.0, 89.0)  # below -30 the result rounds to -1; above 89 to inf
    n = intrinsic(b, "llvm.rint", [b.fmul(xc, const(LOG2E))])
    r = fma(b, n, const(-LN2_HI), xc)
    r = fma(b, n, const(-LN2_LO), r)
    p = fma(b, b.fmul(r, r), poly(b, r, _EXPM1_P), r)
    ni = b.fptosi(n, I32)
    half = pow2i(b, b.sub(ni, const(1, I32)))  # 2^(n-1) stays finite for n = 128
    two = const(2.0)
    # n >= -1: 2^n p + (2^n - 1), where 2^n - 1 is exact for n <= 24 (fdlibm expm1's arrangement)
    big = b.fmul(fma(b, half, p, b.fsub(half, const(0.5))), two)
    # n < -1: 2^n (1 + p) is small, so rounding it before subtracting 1 costs < 1/4 ulp of the result
    small = b.fsub(b.fmul(fma(b, half, p, half), two), const(1.0))
    res = b.select(b.icmp_signed(">=", ni, const(-1, I32)), big, small)
    return b.select(b.icmp_signed("==", ni, const(0, I32)), p, res)  # exact for tiny and denormal x


def expm1(b, x):
    res = _expm1_core(b, x)
    return b.select(b.or_(is_nan(b, x), eq(b, x, 0.0)), x, res)  # NaN, and -0 keeps its sign


# ---- log, log1p ------------------------------------------------------------------------------------------------

_LOG_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
          -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]


def _log_reduce(b, x, denormals: bool):
    """x = 2^e (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)) (Cephes logf); returns float e and the exact f."""
    e_adj = None
    if denormals:  # bring a denormal into the normal range so the exponent field means what it says
        den = lt(b, x, 1.1754943508222875e-38)
        x = b.select(den, b.fmul(x, const(8388608.0)), x)
        e_adj = b.select(den, const(-23, I32), const(0, I32))
    bits = b.bitcast(x, I32)
    e = b.sub(b.and_(b.lshr(bits, const(23, I32)), const(0xFF, I32)), const(126, I32))
    if e_adj is not None:
        e = b.add(e, e_adj)
    m = b.bitcast(b.or_(b.and_(bits, const(0x007FFFFF, I32)), const(0x3F000000, I32)), F32)  # in [0.5, 1)
    low = lt(b, m, 0.70710678118654752)
    e = b.select(low, b.sub(e, const(1, I32)), e)
    f = b.fsub(b.select(low, b.fadd(m, m), m), const(1.0))  # exact (Sterbenz)
    return b.sitofp(e, F32), f


def _log_kernel(b, e, f, extra=None):
    """e ln2 + log(1 + f) for |f| < 0.42 (Cephes logf), plus a small `extra` term added before the big ones."""
    z = b.fmul(f, f)
    y = b.fmul(b.fmul(poly(b, f, _LOG_P), f), z)
    y = fma(b, e, const(LN2_LO), y)
    y = fma(b, z, const(-0.5), y)
    if extra is not None:
        y = b.fadd(y, extra)
    return fma(b, e, const(LN2_HI), b.fadd(f, y))


def log(b, x):
    e, f = _log_reduce(b, x, denormals=True)
    res = _log_kernel(b, e, f)
    res = b.select(eq(b, x, math.inf), x, res)
    res = b.select(eq(b, x, 0.0), const(-math.inf), res)
    res = b.select(lt(b, x, 0.0), const(math.nan), res)
    return b.select(is_nan(b, x), x, res)


def log1p(b, x):
    """log(u) for u = fl(1 + x), corrected by log(1 + c/u) ~ c/u where c = x - (u - 1) is u's rounding error."""
    u = b.fadd(x, const(1.0))
    c = b.fdiv(b.fsub(x, b.fsub(u, const(1.0))), u)
    e, f = _log_reduce(b, u, denormals=False)  # u >= 2^-24 whenever the result is finite
    res = _log_kernel(b, e, f, extra=c)
    res = b.select(eq(b, x, math.inf), x, res)
    res = b.select(eq(b, x, -1.0), const(-math.inf), res)
    res = b.select(lt(b, x, -1.0), const(math.nan), res)
    return b.select(b.or_(is_nan(b, x), eq(b, x, 0.0)), x, res)


# ---- tanh, erf, sqrt -------------------------------------------------------------------------------------------

def tanh(b, x):
    """tanh in double lanes, rounded once to float32. A saturating tanh's derivative 1 - y^2 magnifies any error
    in y (two ulps of y at x = 4.5 are 2e-4 of the gradient), so y is correctly rounded, as NumPy's is in practice:
    |x| < 1/16 an odd Taylor series to x^9; above, (e - 1) / (e + 1) with e = exp(2|x|) in double."""
    a = fabs(b, x)
    a = b.select(gt(b, a, 10.0), const(10.0), a)  # tanh(10) rounds to 1; NaN passes through to the end
    d = b.fpext(a, F64)
    z = b.fmul(d, d)
    series = b.fmul(d, poly(b, z, [62 / 2835, -17 / 315, 2 / 15, -1 / 3, 1.0]))
    e = _exp_f64(b, b.fadd(d, d))
    ratio = b.fdiv(b.fsub(e, const(1.0, F64)), b.fadd(e, const(1.0, F64)))
    res = b.fptrunc(b.select(b.fcmp_ordered("<", d, const(0.0625, F64)), series, ratio), F32)
    res = copysign(b, res, x)
    return b.select(is_nan(b, x), x, res)


# erf(x)/x as a polynomial in x^2 on [0, 1], and erfc(x) exp(x^2) as a polynomial in 1/x on [1, 4]: least-squares
# fits at Chebyshev nodes against scipy.special.erf / erfcx, weighted for relative error, rounded to float32.
_ERF_SMALL = [7.847259257687256e-05, -0.0008008189033716917, 0.005188099108636379, -0.026853691786527634,
              0.1128358244895935, -0.3761262595653534, 1.1283791065216064]
_ERFC_LARGE = [-0.010075769387185574, 0.03165554255247116, 0.01721281185746193, -0.23427069187164307,
               0.491550475358963, -0.4692513644695282, 0.041355110704898834, 0.5591439008712769,
               0.0002635270939208567]


def erf(b, x):
    a = fabs(b, x)
    a = b.select(gt(b, a, 4.0), const(4.0), a)  # erfc(4) < 2^-25: erf rounds to 1 from here on
    z = b.fmul(a, a)
    small = b.fmul(a, poly(b, z, _ERF_SMALL))
    # 1 - erfc: erfc <= 0.16 here, so its few-ulp relative error is well under an ulp of erf
    erfc = b.fmul(exp(b, b.fneg(z)), poly(b, b.fdiv(const(1.0), a), _ERFC_LARGE))
    res = b.select(lt(b, a, 1.0), small, b.fsub(const(1.0), erfc))
    res = copysign(b, res, x)
    return b.select(is_nan(b, x), x, res)


def sqrt(b, x):
    return intrinsic(b, "llvm.sqrt", [x])


# ---- pow -------------------------------------------------------------------------------------------------------

def _log_f64(b, d):
    """Natural log of a positive normal double to ~1e-15: 2^e m, m in [sqrt(1/2), sqrt(2)),
    log m = 2 atanh(s) with s = (m-1)/(m+1), |s| < 0.172, series to s^15."""
    bits = b.bitcast(d, I64)
    e = b.sub(b.lshr(bits, const(52, I64)), const(1023, I64))
    m = b.bitcast(b.or_(b.and_(bits, const(0x000FFFFFFFFFFFFF, I64)), const(0x3FF0000000000000, I64)), F64)
    big = gt(b, m, 1.4142135623730951)
    m = b.select(big, b.fmul(m, const(0.5, F64)), m)
    e = b.select(big, b.add(e, const(1, I64)), e)
    s = b.fdiv(b.fsub(m, const(1.0, F64)), b.fadd(m, const(1.0, F64)))
    series = poly(b, b.fmul(s, s), [2 / 15, 2 / 13, 2 / 11, 2 / 9, 2 / 7, 2 / 5, 2 / 3, 2.0])
    return fma(b, b.sitofp(e, F64), const(math.log(2), F64), b.fmul(s, series))


def _exp_f64(b, t):
    """exp(t) for t in [-110, 95] to ~1e-15: t = n ln2 + r, Taylor degree 10 on |r| <= ln2/2, times 2^n."""
    n = intrinsic(b, "llvm.rint", [b.fmul(t, const(LOG2E, F64))])
    r = fma(b, n, const(-0.6931471803691238, F64), t)  # fdlibm ln2_hi / ln2_lo
    r = fma(b, n, const(-1.9082149292705877e-10, F64), r)
    p = poly(b, r, [1 / math.factorial(k) for k in range(10, -1, -1)])
    scale = b.bitcast(b.shl(b.add(b.fptosi(n, I64), const(1023, I64)), const(52, I64)), F64)
    return b.fmul(p, scale)


def pow(b, x, y):
    """np.power on float32 (C99 powf): |x|^y = exp(y log|x|) in double lanes, rounded once to float32."""
    ax = fabs(b, x)
    ay = fabs(b, y)
    finite_x = b.and_(gt(b, ax, 0.0), lt(b, ax, math.inf))
    xs = b.select(finite_x, ax, const(1.0))  # the core only ever sees finite, positive, non-NaN input
    ys = b.select(lt(b, ay, math.inf), y, const(0.0))
    t = b.fmul(b.fpext(ys, F64), _log_f64(b, b.fpext(xs, F64)))
    t = clamp(b, t, -110.0, 95.0)  # beyond: 0 or inf after rounding to float32
    core = b.fptrunc(_exp_f64(b, t), F32)

    y_int = b.fcmp_ordered("==", y, intrinsic(b, "llvm.trunc", [y]))
    half = b.fmul(y, const(0.5))
    y_odd = b.and_(y_int, b.fcmp_ordered("!=", half, intrinsic(b, "llvm.trunc", [half])))
    x_neg = lt(b, x, 0.0)
    core = b.select(b.and_(x_neg, y_odd), b.fneg(core), core)
    res = b.select(b.and_(x_neg, b.not_(y_int)), const(math.nan), core)
    # x = ±0 or ±inf: 0 or inf, negative only for an odd integer y
    x_inf = eq(b, ax, math.inf)
    to_inf = b.xor(lt(b, y, 0.0), x_inf)
    mag = b.select(to_inf, const(math.inf), const(0.0))
    edge = b.select(y_odd, copysign(b, mag, x), mag)
    res = b.select(b.or_(eq(b, x, 0.0), x_inf), edge, res)
    # y = ±inf: 1 for |x| = 1, else 0 or inf by whether |x| > 1 and the sign of y
    y_big = b.select(b.xor(gt(b, ax, 1.0), lt(b, y, 0.0)), const(math.inf), const(0.0))
    y_big = b.select(eq(b, ax, 1.0), const(1.0), y_big)
    res = b.select(eq(b, ay, math.inf), y_big, res)
    res = b.select(b.or_(is_nan(b, x), is_nan(b, y)), b.fadd(x, y), res)
    return b.select(b.or_(eq(b, y, 0.0), eq(b, x, 1.0)), const(1.0), res)  # even for NaN (C99)


# ---- dispatch --------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _f32_ops():
    return {"exp": exp, "log": log, "log1p": log1p, "expm1": expm1, "sqrt": sqrt, "tanh": tanh, "erf": erf,
            "sin": vmath_trig.sin, "cos": vmath_trig.cos, "tan": vmath_trig.tan, "atan": vmath_trig.atan, "pow": pow}


OPS = ("exp", "log", "log1p", "expm1", "sqrt", "tanh", "erf", "sin", "cos", "tan", "atan", "pow")
_F64_INTRINSICS = {"exp", "log", "sqrt", "sin", "cos", "pow"}  # the rest have no LLVM intrinsic: libm by name


def emit(builder: ir.IRBuilder, op: str, args: list, dtype) -> ir.Value:
    """`op` applied to `args` (IR values of `dtype`): float32 inline and vectorisable, float64 via
    the LLVM intrinsic or the C library function of the same name (scalar calls, exact to libm)."""
    dtype = np.dtype(dtype)
    if op not in OPS:
        raise KeyError(f"vmath has no {op!r}")
    if dtype == np.float32:
        return _f32_ops()[op](builder, *args)
    if dtype != np.float64:
        raise TypeError(f"vmath.emit: {op} on {dtype} (float32 and float64 only)")
    module = builder.module
    if op in _F64_INTRINSICS:
        return intrinsic(builder, f"llvm.{op}", list(args))
    fn = module.globals.get(op) or ir.Function(module, ir.FunctionType(F64, [F64] * len(args)), op)
    return builder.call(fn, list(args))
