"""How CUDA C++ spells each typed scalar operation of a Body, with NumPy's semantics where C leaves a case open.

Signed integer arithmetic wraps (it is computed on the unsigned type: overflow is undefined in C++);
integer floor division and modulo follow Python (a zero divisor gives 0, INT_MIN // -1 gives INT_MIN);
float max/min propagate NaN and keep the second operand on a tie; a float converted to an integer out
of range (or NaN) gives the integer minimum (signed) or 0 (unsigned), as the CPU backends do. The
helpers live in PRELUDE, printed once at the top of every module; NVRTC needs no header.
"""
from __future__ import annotations

import math

import numpy as np

C_TYPES = {"b": {1: "bool"}, "i": {1: "signed char", 2: "short", 4: "int", 8: "long long"},
           "u": {1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long"},
           "f": {4: "float", 8: "double"}}


F16 = np.dtype(np.float16)


def c_type(dtype) -> str:
    """The register type of a dtype (float16: its bits, only ever converted, with gc_h2f and gc_f2h)."""
    dtype = np.dtype(dtype)
    if dtype == F16:
        return "unsigned short"
    try:
        return C_TYPES[dtype.kind][dtype.itemsize]
    except KeyError:
        raise NotImplementedError(f"the CUDA printer has no type for {dtype}") from None


def memory_type(dtype) -> str:
    """The element type in memory (bool is a byte)."""
    return "unsigned char" if np.dtype(dtype).kind == "b" else c_type(dtype)


def unsigned_type(dtype) -> str:
    return C_TYPES["u"][np.dtype(dtype).itemsize]


def literal(value, dtype) -> str:
    """A constant as a C literal of exactly `dtype` (NaN, infinities and -0 included)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "true" if bool(value) else "false"
    if dtype == F16:
        return f"((unsigned short){int(np.array(value, dtype=np.float16).view(np.uint16))})"
    if dtype.kind in "iu":
        v = int(value)
        if dtype.itemsize == 8:
            if dtype.kind == "u":
                return f"{v % 2 ** 64}ULL"
            return f"(-{-v - 1}LL - 1)" if v < 0 else f"{v}LL"
        return f"(({c_type(dtype)}){v})"
    v = float(value)
    single = dtype.itemsize == 4
    if math.isnan(v):
        return "__int_as_float(0x7fc00000)" if single else "__longlong_as_double(0x7ff8000000000000LL)"
    if math.isinf(v):
        bits = ("__int_as_float(0x7f800000)" if single else "__longlong_as_double(0x7ff0000000000000LL)")
        return bits if v > 0 else f"(-{bits})"
    text = repr(float(np.float32(v)) if single else v)  # the exact value of the (rounded) constant
    if "e" not in text and "." not in text:
        text += ".0"
    return f"{text}f" if single else text


FLOAT_FUNCS = {"exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt", "tanh": "tanh",
               "erf": "erf", "sin": "sin", "cos": "cos", "tan": "tan", "atan": "atan", "abs": "fabs", "floor": "floor", "ceil": "ceil",
               "pow": "pow"}
COMPARE = {"lt": "<", "le": "<=", "eq": "==", "ne": "!="}


def expression(op: str, args: list[str], dts: list, out) -> str:
    """The C expression of `op` over argument expressions `args` of dtypes `dts`, giving dtype `out`."""
    out = np.dtype(out)
    kind = np.dtype(dts[0]).kind if dts else out.kind
    t = c_type(out)
    if op == "cast":
        return cast(args[0], dts[0], out)
    if op == "where":
        return f"({args[0]} ? {args[1]} : {args[2]})"
    if out == F16 or F16 in [np.dtype(d) for d in dts]:
        raise NotImplementedError(f"float16 {op!r} reached the CUDA printer: float16 is computed in float32 "
                                  "(graphc.dtypes.COMPUTE_TYPE), so only casts and selections should meet it")
    if op in COMPARE:
        return f"({args[0]} {COMPARE[op]} {args[1]})"
    if op == "and":
        return f"({args[0]} && {args[1]})"
    if op == "or":
        return f"({args[0]} || {args[1]})"
    if op == "not":
        return f"(!{args[0]})"
    if kind == "f":
        suffix = "f" if out.itemsize == 4 else ""
        if op in ("add", "sub", "mul", "div"):
            return f"({args[0]} {dict(add='+', sub='-', mul='*', div='/')[op]} {args[1]})"
        if op == "neg":
            return f"(-{args[0]})"
        if op in ("max", "min"):
            return f"gc_f{op}<{t}>({args[0]}, {args[1]})"
        if op == "sign":
            return f"gc_fsign<{t}>({args[0]})"
        if op in ("floordiv", "mod"):
            return f"gc_f{op}<{t}>({args[0]}, {args[1]})"
        if op in FLOAT_FUNCS:
            return f"{FLOAT_FUNCS[op]}{suffix}({', '.join(args)})"
        raise NotImplementedError(f"the CUDA printer has no float spelling of {op!r}")
    u = unsigned_type(out) if kind in "iu" else None
    if op in ("add", "sub", "mul"):  # on the unsigned type: signed overflow wraps, as in NumPy
        sym = dict(add="+", sub="-", mul="*")[op]
        return f"(({t})(({u}){args[0]} {sym} ({u}){args[1]}))"
    if op == "neg":
        return f"(({t})(0 - ({u}){args[0]}))"
    if op in ("xor", "bitand", "bitor"):
        return f"(({t})({args[0]} {dict(xor='^', bitand='&', bitor='|')[op]} {args[1]}))"
    if op in ("shl", "shr"):  # C leaves a shift by the width or more undefined; NumPy defines it
        bits = 8 * out.itemsize
        inside = f"(({u}){args[1]} < {bits}u)"
        if op == "shl":
            return f"({inside} ? (({t})(({u}){args[0]} << {args[1]})) : (({t})0))"
        if kind == "u":
            return f"({inside} ? (({t})({args[0]} >> {args[1]})) : (({t})0))"
        return f"(({t})({args[0]} >> ({inside} ? {args[1]} : {bits - 1})))"  # arithmetic: the sign fills
    if op in ("max", "min"):
        return f"({args[0]} {'>=' if op == 'max' else '<='} {args[1]} ? {args[0]} : {args[1]})"
    if op == "abs":
        return args[0] if kind == "u" else f"({args[0]} < 0 ? (({t})(0 - ({u}){args[0]})) : {args[0]})"
    if op == "sign":
        return f"(({t})({args[0]} > 0) - ({t})({args[0]} < 0))" if kind == "i" else f"(({t})({args[0]} != 0))"
    if op in ("floordiv", "mod"):
        return f"gc_i{op}<{t}, {u}>({args[0]}, {args[1]})"
    if op in ("floor", "ceil"):
        return args[0]
    if op == "pow":
        return f"gc_ipow<{t}, {u}>({args[0]}, {args[1]})"
    raise NotImplementedError(f"the CUDA printer has no integer spelling of {op!r}")


def cast(x: str, src, dst) -> str:
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return x
    t = c_type(dst)
    if src == F16:
        if dst.kind == "b":
            return f"(({x} & 0x7fff) != 0)"  # NaN is True, as NumPy
        return cast(f"gc_h2f({x})", np.float32, dst)
    if dst == F16:
        if src == np.float64:
            return f"gc_d2h({x})"
        return f"gc_f2h({x if src == np.float32 else cast(x, src, np.float32)})"
    if dst.kind == "b":
        return f"({x} != 0)"  # NaN != 0: True, as NumPy
    if src.kind == "f" and dst.kind in "iu":  # out of range and NaN: the integer minimum (signed) or 0
        bits = 8 * dst.itemsize
        lo, hi = (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1)) if dst.kind == "i" else (0.0, 2.0 ** bits)
        bad = literal(-(1 << (bits - 1)), dst) if dst.kind == "i" else literal(0, dst)
        return f"(({x}) >= {lo!r} && ({x}) < {hi!r} ? ({t})({x}) : {bad})"
    return f"(({t})({x}))"


PRELUDE = r"""// graphc: typed scalar helpers with NumPy's semantics
template <typename T> __device__ __forceinline__ T gc_fmax(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T gc_fmin(T a, T b) { return (a < b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T gc_fsign(T a) {
  return a != a ? a : (a > T(0) ? T(1) : (a < T(0) ? T(-1) : T(0)));
}
template <typename T> __device__ __forceinline__ T gc_fmod(T a, T b) {
  T r = fmod(a, b);
  if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
  return r == T(0) ? copysign(T(0), b) : r;
}
template <typename T> __device__ __forceinline__ T gc_ffloordiv(T a, T b) {
  if (b == T(0)) return a / b;
  T mod = fmod(a, b);
  T div = (a - mod) / b;
  if (mod != T(0) && ((b < T(0)) != (mod < T(0)))) div -= T(1);
  if (div == T(0)) return copysign(T(0), a / b);
  T f = floor(div);
  return div - f > T(0.5) ? f + T(1) : f;
}
template <typename T, typename U> __device__ __forceinline__ T gc_ifloordiv(T a, T b) {
  if (b == 0) return 0;
  if (T(-1) < T(0) && b == T(-1)) return T(U(0) - U(a));  // wraps: INT_MIN // -1 is INT_MIN
  T q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? T(q - 1) : q;
}
template <typename T, typename U> __device__ __forceinline__ T gc_imod(T a, T b) {
  if (b == 0) return 0;
  if (T(-1) < T(0) && b == T(-1)) return 0;
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? T(r + b) : r;
}
template <typename T, typename U> __device__ __forceinline__ T gc_ipow(T base, T exponent) {
  U result = 1, b = U(base), e = U(exponent);
  for (int bit = 0; bit < int(8 * sizeof(T)) - 1; ++bit) {
    if ((e >> bit) & 1) result *= b;
    b *= b;
  }
  return T(result);
}
// float16 as its bits: exact conversions, rounding to nearest even (graphc computes float16 in float32)
__device__ __forceinline__ float gc_h2f(unsigned short h) {
  unsigned int magnitude = h & 0x7fffu, shifted = magnitude << 13;
  unsigned int bits = magnitude >= 0x7c00u ? (shifted | 0x7f800000u)
                                           : __float_as_uint(__uint_as_float(shifted) * 5.192296858534828e33f);  // 2^112
  return __uint_as_float(bits | ((unsigned int)(h & 0x8000u) << 16));
}
__device__ __forceinline__ unsigned short gc_f2h(float f) {
  unsigned int u = __float_as_uint(f), sign = u & 0x80000000u, a = u ^ sign, r;
  if (a >= 0x47800000u) r = a > 0x7f800000u ? 0x7e00u : 0x7c00u;
  else if (a < 0x38800000u) r = __float_as_uint(__uint_as_float(a) + 0.5f) - 0x3f000000u;
  else r = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;
  return (unsigned short)(r | (sign >> 16));
}
__device__ __forceinline__ unsigned short gc_d2h(double d) {  // to float rounding to odd: no double rounding
  float f = (float)d;
  double back = (double)f;
  if (back != d && d == d) {
    unsigned int u = __float_as_uint(f);
    if (fabs(back) > fabs(d)) u -= 1u;
    f = __uint_as_float(u | 1u);
  }
  return gc_f2h(f);
}
// index arithmetic: floor division and modulo as Python has them (gathered indices may be negative)
__device__ __forceinline__ long long gc_div(long long a, long long b) {
  long long q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}
__device__ __forceinline__ long long gc_mod(long long a, long long b) {
  long long r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
"""
