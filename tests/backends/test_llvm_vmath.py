"""Accuracy, special values and vectorisation of the LLVM backend's float32 transcendentals (`vmath`).

Each function is compiled once into `void f(float* in, float* out, i64 n)` (two inputs for pow), run over
float32 arrays and compared with float64 NumPy/SciPy rounded to float32, in float32 ulp.
"""
import ctypes
import functools
import re

import llvmlite.ir as ir
import numpy as np
import pytest
from scipy import special

from graphc.backends.llvm import target, vmath

PTR = ir.PointerType()
UNARY = ["exp", "log", "tanh", "expm1", "log1p", "erf", "sin", "cos", "tan", "atan", "sqrt"]
# the bound each function is held to (max ulp measured: see vmath's docstring)
BOUND = {"exp": 4, "log": 4, "tanh": 4, "expm1": 4, "log1p": 4, "erf": 4, "sin": 4, "cos": 4, "tan": 4, "atan": 1, "sqrt": 0,
         "pow": 4}
REFERENCE = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "expm1": np.expm1, "log1p": np.log1p,
             "erf": special.erf, "sin": np.sin, "cos": np.cos, "tan": np.tan, "atan": np.arctan, "sqrt": np.sqrt,
             "pow": np.power}


def _loop_module(op: str, dtype, arity: int) -> ir.Module:
    """`void f(T* in0, [T* in1,] T* out, i64 n)`: out[i] = op(in0[i], [in1[i]])."""
    t = vmath.F32 if dtype == np.float32 else vmath.F64
    module = target.new_module(f"vmath_{op}")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * (arity + 1) + [vmath.I64]), "f")
    for arg in fn.args[:-1]:
        arg.add_attribute("noalias")
    entry, body, done = fn.append_basic_block("entry"), fn.append_basic_block("body"), fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    n = fn.args[-1]
    b.cbranch(b.icmp_signed(">", n, ir.Constant(vmath.I64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(vmath.I64)
    i.add_incoming(ir.Constant(vmath.I64, 0), entry)
    args = [b.load(b.gep(p, [i], inbounds=True, source_etype=t), typ=t) for p in fn.args[:arity]]
    b.store(vmath.emit(b, op, args, dtype), b.gep(fn.args[arity], [i], inbounds=True, source_etype=t))
    nxt = b.add(i, ir.Constant(vmath.I64, 1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()
    return module


@functools.lru_cache(maxsize=None)
def compiled(op: str, dtype=np.float32):
    arity = 2 if op == "pow" else 1
    code = target.Compiled(lambda: (_loop_module(op, np.dtype(dtype).type, arity), {}))
    cfn = code.function("f", None, *([ctypes.c_void_p] * (arity + 1)), ctypes.c_int64)

    def run(*xs):
        xs = [np.ascontiguousarray(x, dtype=dtype) for x in np.broadcast_arrays(*xs)]
        out = np.empty_like(xs[0])
        cfn(*[x.ctypes.data for x in xs], out.ctypes.data, out.size)
        return out
    run.code = code
    return run


def ulp_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in float32 ulp (floats strictly between, +1), as uint32; NaN against NaN is 0, NaN against a
    number is 2^31. The bit patterns are mapped to integers in float order (-0 one below +0); the int32
    difference may wrap, but only for errors far beyond 2^24 ulp, which stay huge."""
    gi, wi = got.view(np.int32), want.view(np.int32)
    d = np.abs((gi ^ ((gi >> 31) & 0x7FFFFFFF)) - (wi ^ ((wi >> 31) & 0x7FFFFFFF))).view(np.uint32)
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    either = nan_g | nan_w
    if either.any():
        d[either] = np.where(nan_g & nan_w, 0, 1 << 31)[either]
    return d


def reference(op, *xs):
    with np.errstate(all="ignore"):
        return REFERENCE[op](*[np.asarray(x, np.float64) for x in xs]).astype(np.float32)


def max_ulp(op, *xs, chunk=1 << 20):
    """Worst ulp error of the compiled float32 `op` over the inputs, and an input reaching it (chunks that fit
    the cache are several times faster than whole-array NumPy passes)."""
    fn = compiled(op)
    got = fn(*xs)
    worst, where = -1, None
    for s in range(0, got.size, chunk):
        part = [x[s:s + chunk] for x in xs]
        err = ulp_errors(got[s:s + chunk], reference(op, *part))
        k = int(np.argmax(err))
        if err[k] > worst:
            worst, where = int(err[k]), [float(p[k]) for p in part]
    return worst, where


@functools.lru_cache(maxsize=None)
def sweep(stride: int) -> np.ndarray:
    """Every stride-th float32 bit pattern (an odd stride reaches every exponent and every low bit)."""
    return np.arange(0, 1 << 32, stride, dtype=np.uint32).view(np.float32)


DENSE = {  # the ranges where each function is most delicate, sampled densely
    "exp": [(-104.0, -80.0), (-1.0, 1.0), (80.0, 89.0)],
    "log": [(0.5, 2.0), (1e-45, 1e-37)],
    "tanh": [(-1.0, 1.0), (0.5, 0.7), (8.0, 10.0)],
    "expm1": [(-1e-3, 1e-3), (-1.5, 1.5), (-18.0, -16.0), (85.0, 89.0)],
    "log1p": [(-1e-3, 1e-3), (-1.0, 1.0), (1e6, 1e8)],
    "erf": [(-1e-3, 1e-3), (-4.0, 4.0), (0.9, 1.1)],
    "sin": [(-10.0, 10.0), (1e4, 1e5), (1e30, 1e31)],
    "cos": [(-10.0, 10.0), (1e4, 1e5), (1e30, 1e31)],
    "tan": [(-10.0, 10.0), (1.5707, 1.5709), (1e4, 1e5)],
    "atan": [(-3.0, 3.0), (0.65, 0.67), (2.40, 2.43), (-1e-3, 1e-3), (1e6, 1e8)],
    "sqrt": [(0.0, 4.0)],
}


def _dense(lo, hi, n=1 << 18):
    return np.linspace(lo, hi, n, dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("op", ["exp", "log", "tanh"])
def test_full_range_sweep(op):
    worst, where = max_ulp(op, sweep(97))
    assert worst <= BOUND[op], f"{op}: {worst} ulp at {where}"


@pytest.mark.parametrize("op", UNARY)
def test_strided_and_dense(op):
    xs = np.concatenate([sweep(1009)] + [_dense(lo, hi) for lo, hi in DENSE[op]])
    worst, where = max_ulp(op, xs)
    assert worst <= BOUND[op], f"{op}: {worst} ulp at {where}"


def test_pow_accuracy():
    rng = np.random.default_rng(0)
    n = 1 << 20
    x = rng.uniform(0, 4, n).astype(np.float32)
    y = rng.uniform(-40, 40, n).astype(np.float32)
    wide_x = sweep(4099)[: n]  # all magnitudes, both signs
    wide_y = rng.choice(np.float32([0.5, -0.5, 2, -2, 3, -3, 1.5, 0.1, -7, 1e-3]), wide_x.size)
    ints_x = rng.uniform(-10, 10, n).astype(np.float32)
    ints_y = rng.integers(-30, 30, n).astype(np.float32)
    worst, where = max_ulp("pow", np.concatenate([x, wide_x, ints_x]), np.concatenate([y, wide_y, ints_y]))
    assert worst <= BOUND["pow"], f"pow: {worst} ulp at {where}"


SPECIALS = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0, -3.0, 1e-45, -1e-45,
                       1.1754944e-38, 3.4028235e38, -3.4028235e38, 100.0, -100.0, 200.0, -200.0, 1e30, -1e30])


def same_bits(got, want):
    """Equal as float32 including the sign of zero; any NaN equals any NaN."""
    return np.where(np.isnan(want), np.isnan(got), got.view(np.uint32) == want.view(np.uint32))


EXACT = {  # the inputs whose float32 result is exact, so NumPy's float32 function must agree bit for bit
    "exp": [0.0, -0.0, np.inf, -np.inf, np.nan, 200.0, -200.0, 1e30, -1e30, 3.4028235e38, -3.4028235e38],
    "log": [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, -2.0, -1e-45, -3.4028235e38],
    "tanh": [0.0, -0.0, np.inf, -np.inf, np.nan, 100.0, -100.0, 1e30, -1e30, 1e-45, -1e-45],
    "expm1": [0.0, -0.0, np.inf, -np.inf, np.nan, -100.0, -200.0, 200.0, 1e-45, -1e-45, 3.4028235e38],
    "log1p": [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.0, -3.4028235e38, 1e-45, -1e-45],
    "erf": [0.0, -0.0, np.inf, -np.inf, np.nan, 100.0, -100.0, 1e30],
    "sin": [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45],
    "cos": [0.0, -0.0, np.inf, -np.inf, np.nan],
    "tan": [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45],
    "atan": [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38],
    "sqrt": [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 4.0, 1e-45],
}


@pytest.mark.parametrize("op", UNARY)
def test_special_values_match_numpy(op):
    x = np.float32(EXACT[op])
    with np.errstate(all="ignore"):
        want = REFERENCE[op](x).astype(np.float32)
    got = compiled(op)(x)
    assert same_bits(got, want).all(), list(zip(x, got, want))


def test_denormals():
    """Denormal results of exp and denormal arguments of log are as accurate as normal ones."""
    x = _dense(-103.97, -87.3)
    assert ulp_errors(compiled("exp")(x), reference("exp", x)).max() <= 1
    d = np.arange(1, 1 << 23, 31, dtype=np.uint32).view(np.float32)  # denormals
    assert ulp_errors(compiled("log")(d), reference("log", d)).max() <= 1


def test_pow_special_values_match_numpy():
    x, y = np.meshgrid(SPECIALS, np.float32(list(SPECIALS) + [0.5, -0.5, 1.5, 1e-45, 4.0, -4.0, 1e10]))
    x, y = x.ravel(), y.ravel()
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    got = compiled("pow")(x, y)
    exact = same_bits(got, want)
    # finite non-trivial results only need to be close: NumPy's powf and ours may differ by an ulp
    close = ulp_errors(got, want) <= 1
    trivial = ~np.isfinite(want) | (want == 0) | (np.abs(want) == 1) | ~np.isfinite(x) | ~np.isfinite(y) | (x == 0)
    assert (exact | (close & ~trivial)).all(), [(a, c, g, w) for a, c, g, w, ok in
                                                 zip(x, y, got, want, exact | (close & ~trivial)) if not ok]


@pytest.mark.parametrize("op", UNARY + ["pow"])
def test_vectorised_without_calls(op):
    code = compiled(op).code
    assert "vector.body" in code.optimized_ir, f"{op}: the loop vectoriser left the loop scalar"
    asm = code.asm
    packed = "sqrtps" if op == "sqrt" else r"v(?:fmadd\w*|mul|add)p[sd]"
    assert re.search(packed + r"\s+[^\n]*%[xyz]mm", asm), f"{op}: no packed arithmetic"
    assert not re.search(r"\bcall", asm), f"{op}: calls a function"


@pytest.mark.parametrize("op", UNARY + ["pow"])
def test_float64_goes_to_libm(op):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.01, 3, 1000)
    args = (x, rng.uniform(-3, 3, 1000)) if op == "pow" else (x,)
    got = compiled(op, np.float64)(*args)
    np.testing.assert_allclose(got, REFERENCE[op](*args), rtol=1e-10)


def test_emit_rejects_other_types():
    b = ir.IRBuilder(ir.Function(target.new_module("m"), ir.FunctionType(ir.VoidType(), []), "g").append_basic_block())
    with pytest.raises(TypeError):
        vmath.emit(b, "exp", [ir.Constant(ir.IntType(32), 1)], np.int32)
    with pytest.raises(KeyError):
        vmath.emit(b, "gamma", [ir.Constant(vmath.F32, 1.0)], np.float32)
