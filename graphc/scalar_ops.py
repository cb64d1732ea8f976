"""Typed scalar operations: the DAG every kernel body is lowered to, built once from a sympy formula.

A `Body` is a flat, topologically ordered tuple of `SOp`s (op name, argument positions, dtype,
immediate value), hash-consed while it is built, so a fused formula is a DAG that is CSE'd
once and never prints exponentially. `from_sympy` is the one sympy walker of graphc: it types
every value (explicit casts, bool conditions for `where`), decides the stable forms (sigmoid,
Heaviside at 0, small integer powers) and leaves nothing of sympy behind. Printers and the
reference evaluation (`evaluate`) only know the operations listed in `OPS`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.special
import sympy

from . import dtypes, scalar
from .errors import GraphError

BOOL = np.dtype(bool)
INDEX = np.dtype(np.int64)   # the type of axis indices and of computed memory indices
U64 = np.dtype(np.uint64)    # the counter-based random generator's arithmetic (wrapping)

# op -> arity; 'arg' (a named load), 'axis' (a loop index) and 'const' are the leaves
OPS = {
    "arg": 0, "axis": 0, "const": 0,
    "add": 2, "sub": 2, "mul": 2, "div": 2, "neg": 1, "pow": 2, "max": 2, "min": 2,
    "floordiv": 2, "mod": 2, "xor": 2, "shr": 2, "shl": 2, "bitand": 2, "bitor": 2,
    "exp": 1, "log": 1, "log1p": 1, "expm1": 1, "sqrt": 1, "tanh": 1, "erf": 1, "sin": 1, "cos": 1, "tan": 1, "atan": 1,
    "abs": 1, "sign": 1, "floor": 1, "ceil": 1,
    "lt": 2, "le": 2, "eq": 2, "ne": 2, "and": 2, "or": 2, "not": 1,
    "where": 3, "cast": 1,
}


@dataclass(frozen=True)
class SOp:
    """One typed scalar operation: `op(args...)` where args are positions of earlier SOps in the Body."""

    op: str
    args: tuple
    dtype: np.dtype
    value: object = None  # const: the number; arg: the load's name; axis: the axis position


@dataclass(frozen=True)
class Body:
    """A typed scalar DAG; `ops[out]` is the result."""

    ops: tuple
    out: int

    @property
    def dtype(self) -> np.dtype:
        return self.ops[self.out].dtype

    def args(self) -> list[str]:
        return [o.value for o in self.ops if o.op == "arg"]

    def axes(self) -> list[int]:
        return [o.value for o in self.ops if o.op == "axis"]

    def is_arg(self) -> str | None:
        """The load's name when the body is exactly one load (a copy), else None."""
        o = self.ops[self.out]
        return o.value if o.op == "arg" else None

    def __str__(self):
        def fmt(i):
            o = self.ops[i]
            if o.op == "const":
                return repr(o.value)
            if o.op == "arg":
                return str(o.value)
            if o.op == "axis":
                return f"i{o.value}"
            return f"%{i}"
        lines = [f"%{i} = {o.op}({', '.join(fmt(a) for a in o.args)}) : {dtypes.short(o.dtype)}"
                 for i, o in enumerate(self.ops) if o.op not in ("const", "arg", "axis")]
        return "; ".join(lines + [f"-> {fmt(self.out)}"])


class Builder:
    """Builds a Body; equal operations are created once (CSE by hash-consing)."""

    def __init__(self):
        self.ops: list[SOp] = []
        self._index: dict[SOp, int] = {}

    def emit(self, op: str, args=(), dtype=None, value=None) -> int:
        if args and op in NUMPY_FUNCS and all(self.ops[a].op == "const" for a in args):
            # constants only: computed once, here, in the op's own type (a kernel never recomputes -1/32);
            # a cast of a constant is folded by cast() itself
            operands = [self.ops[a].dtype.type(self.ops[a].value) for a in args]
            with np.errstate(all="ignore"):
                folded = np.asarray(NUMPY_FUNCS[op](*operands)).astype(dtype)
            return self.const(folded.item(), dtype)
        sop = SOp(op, tuple(args), np.dtype(dtype), value)
        key = (op, sop.args, sop.dtype, repr(value))  # repr: -0.0 and 0.0 (and each NaN) stay distinct constants
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.ops)
            self.ops.append(sop)
        return i

    def dtype(self, i: int) -> np.dtype:
        return self.ops[i].dtype

    # -- typed helpers ---------------------------------------------------------
    def const(self, value, dtype) -> int:
        dtype = np.dtype(dtype)
        if dtype.kind in "iu":  # wrapped into the type's range, as a C cast does (uint64(-1) is 2**64 - 1)
            bits, low = 8 * dtype.itemsize, (np.iinfo(dtype).min if dtype.kind == "i" else 0)
            value = (int(value) - low) % 2 ** bits + low
        else:
            value = bool(value) if dtype == BOOL else float(value)
        return self.emit("const", (), dtype, value)

    def arg(self, name: str, dtype) -> int:
        return self.emit("arg", (), dtype, name)

    def axis(self, k: int) -> int:
        return self.emit("axis", (), INDEX, k)

    def cast(self, i: int, dtype) -> int:
        dtype = np.dtype(dtype)
        o = self.ops[i]
        if o.dtype == dtype:
            return i
        if o.op == "const":
            return self.const(o.value, dtype)
        return self.emit("cast", (i,), dtype)

    def binary(self, op: str, a: int, b: int) -> int:
        """An arithmetic op in the promoted type of its operands."""
        t = dtypes.promote(self.dtype(a), self.dtype(b)) if self.dtype(a) != self.dtype(b) else self.dtype(a)
        return self.emit(op, (self.cast(a, t), self.cast(b, t)), t)

    def compare(self, op: str, a: int, b: int) -> int:
        t = dtypes.promote(self.dtype(a), self.dtype(b)) if self.dtype(a) != self.dtype(b) else self.dtype(a)
        return self.emit(op, (self.cast(a, t), self.cast(b, t)), BOOL)

    def unary(self, op: str, a: int) -> int:
        return self.emit(op, (a,), self.dtype(a))

    def where(self, c: int, a: int, b: int) -> int:
        t = dtypes.promote(self.dtype(a), self.dtype(b)) if self.dtype(a) != self.dtype(b) else self.dtype(a)
        return self.emit("where", (self.cast(c, BOOL), self.cast(a, t), self.cast(b, t)), t)

    def build(self, out: int) -> Body:
        """The Body of everything `out` needs (dropping what was emitted but not used), renumbered."""
        needed, stack = set(), [out]
        while stack:
            i = stack.pop()
            if i not in needed:
                needed.add(i)
                stack.extend(self.ops[i].args)
        order = sorted(needed)
        remap = {old: new for new, old in enumerate(order)}
        ops = tuple(SOp(o.op, tuple(remap[a] for a in o.args), o.dtype, o.value) for o in (self.ops[i] for i in order))
        return Body(ops, remap[out])


# -- sympy -> Body ---------------------------------------------------------------------
_UNARY = {
    sympy.exp: "exp", sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.tanh: "tanh",
    sympy.atan: "atan",
    sympy.Abs: "abs", sympy.sign: "sign", sympy.erf: "erf", sympy.floor: "floor", sympy.ceiling: "ceil",
    scalar.log1p: "log1p", scalar.expm1: "expm1",
}
_RELATIONS = {sympy.StrictLessThan: ("lt", False), sympy.LessThan: ("le", False), sympy.StrictGreaterThan: ("lt", True),
              sympy.GreaterThan: ("le", True), sympy.Equality: ("eq", False), sympy.Unequality: ("ne", False)}
_BITWISE = {scalar.bitand: "bitand", scalar.bitor: "bitor", scalar.bitxor: "xor", scalar.shl: "shl", scalar.shr: "shr"}
_FLOAT_ONLY = {"exp", "log", "log1p", "expm1", "sqrt", "tanh", "erf", "sin", "cos", "tan", "atan", "div", "pow"}


class _Walker:
    """Turns one sympy expression into typed SOps of a Builder.

    Arithmetic happens in `compute` (the op's computation type); arguments are cast to it where
    they meet arithmetic; numbers are typed by the operation they meet; relations give bool."""

    def __init__(self, b: Builder, symbols: dict, compute: np.dtype):
        self.b, self.symbols, self.compute = b, symbols, np.dtype(compute)
        self.memo: dict = {}

    def num(self, v: float) -> int:
        t = self.compute if self.compute != BOOL else dtypes.DEFAULT_FLOAT
        if t.kind in "iu" and not float(v).is_integer():
            t = dtypes.DEFAULT_FLOAT
        return self.b.const(v, t)

    def arith(self, i: int) -> int:
        """A value ready for arithmetic: cast to `compute` (a bool formula computes in the default float)."""
        t = self.b.dtype(i)
        target = self.compute if self.compute != BOOL else (t if t != BOOL else dtypes.DEFAULT_FLOAT)
        return self.b.cast(i, target)

    def floaty(self, i: int) -> int:
        t = self.b.dtype(i)
        return i if dtypes.is_float(t) else self.b.cast(i, self.compute if dtypes.is_float(self.compute) else dtypes.DEFAULT_FLOAT)

    def __call__(self, e) -> int:
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = self.walk(e)
        return hit

    def walk(self, e) -> int:
        b, t = self.b, type(e)
        if e.is_Symbol:
            if e not in self.symbols:
                raise GraphError(f"formula uses {e}, which is not bound to an operand")
            kind, value, dtype = self.symbols[e]
            if kind == "const":  # a scalar constant operand, folded in as a number typed by what it meets
                return b.const(value, BOOL) if isinstance(value, (bool, np.bool_)) else self.num(value)
            return b.arg(value, dtype) if kind == "arg" else b.axis(value)
        if e is sympy.true or e is sympy.false:
            return b.const(bool(e), BOOL)
        if e is sympy.nan:
            return self.num(float("nan"))
        if e in (sympy.oo, -sympy.oo, sympy.zoo):  # zoo: a division by a zero dim (the mean of nothing) is inf
            return self.num(float("-inf") if e == -sympy.oo else float("inf"))
        if e.is_Number or e in (sympy.pi, sympy.E):
            return self.num(int(e) if e.is_Integer else float(e))
        if t is sympy.Add:
            pos = [a for a in e.args if not a.could_extract_minus_sign()]
            neg = [-a for a in e.args if a.could_extract_minus_sign()]
            out = self.arith(self(pos[0])) if pos else b.unary("neg", self.arith(self(neg.pop(0))))
            for a in pos[1:]:
                out = b.binary("add", out, self.arith(self(a)))
            for a in neg:
                out = b.binary("sub", out, self.arith(self(a)))
            return out
        if t is sympy.Mul:
            coeff, rest = e.as_coeff_Mul()
            if coeff == -1:
                return b.unary("neg", self.arith(self(rest)))
            num = [a for a in e.args if not (a.is_Pow and a.exp.is_Number and a.exp < 0)]
            den = [a.base ** -a.exp for a in e.args if a.is_Pow and a.exp.is_Number and a.exp < 0]
            out = self.arith(self(num[0])) if num else self.num(1)
            for a in num[1:]:
                out = b.binary("mul", out, self.arith(self(a)))
            if den:
                d = self.arith(self(sympy.Mul(*den)))
                out = b.binary("div", self.floaty(out), self.floaty(d))
            return out
        if t is sympy.Pow:
            return self.pow(e.base, e.exp)
        if t in _UNARY:
            op = _UNARY[t]
            x = self.arith(self(e.args[0]))
            return b.unary(op, self.floaty(x) if op in _FLOAT_ONLY else x)
        if t is scalar.sigmoid:  # the stable form: exp never overflows
            x = self.floaty(self.arith(self(e.args[0])))
            one = b.const(1, b.dtype(x))
            ez = b.unary("exp", b.unary("neg", b.unary("abs", x)))
            den = b.binary("add", one, ez)
            return b.where(b.compare("le", b.const(0, b.dtype(x)), x), b.binary("div", one, den), b.binary("div", ez, den))
        if t in (sympy.Max, sympy.Min):
            out = self.arith(self(e.args[0]))
            for a in e.args[1:]:
                out = b.binary("max" if t is sympy.Max else "min", out, self.arith(self(a)))
            return out
        if t is sympy.Heaviside:
            x = self.arith(self(e.args[0]))
            h0 = float(e.args[1]) if len(e.args) > 1 else 0.5
            zero, rt = b.const(0, b.dtype(x)), self.compute if self.compute != BOOL else dtypes.DEFAULT_FLOAT
            pos = b.compare("lt", zero, x)
            if h0 == 0.0:
                return b.cast(pos, rt)
            if h0 == 1.0:
                return b.cast(b.compare("le", zero, x), rt)
            return b.where(pos, b.const(1, rt), b.where(b.compare("lt", x, zero), b.const(0, rt), b.const(h0, rt)))
        if t is sympy.DiracDelta:  # zero almost everywhere (documented); NaN stays NaN
            x = self.arith(self(e.args[0]))
            return b.binary("mul", b.const(0, b.dtype(x)), x)
        if t is sympy.Piecewise:
            out = self.arith(self(e.args[-1][0]))
            for value, cond in reversed(e.args[:-1]):
                out = b.where(self(cond), self.arith(self(value)), out)
            return out
        if t in _RELATIONS:
            op, swap = _RELATIONS[t]
            l, r = self(e.args[0]), self(e.args[1])
            l, r = (r, l) if swap else (l, r)
            return b.compare(op, l, r)
        if t in (sympy.And, sympy.Or):
            out = b.cast(self(e.args[0]), BOOL)
            for a in e.args[1:]:
                out = b.emit("and" if t is sympy.And else "or", (out, b.cast(self(a), BOOL)), BOOL)
            return out
        if t is sympy.Not:
            return b.emit("not", (b.cast(self(e.args[0]), BOOL),), BOOL)
        if t is sympy.Mod:
            return b.binary("mod", self.arith(self(e.args[0])), self.arith(self(e.args[1])))
        if t is scalar.floordiv:
            return b.binary("floordiv", self.arith(self(e.args[0])), self.arith(self(e.args[1])))
        if t in _BITWISE:
            return b.binary(_BITWISE[t], self.arith(self(e.args[0])), self.arith(self(e.args[1])))
        raise GraphError(f"graphc cannot compile {t.__name__} in formula {e}")

    def pow(self, base, exp) -> int:
        b = self.b
        x = self.arith(self(base))
        if exp.is_Integer and -4 <= int(exp) <= 4 and int(exp) != 0:
            n = int(exp)
            if n < 0:
                x = self.floaty(x)
            out = x
            for _ in range(abs(n) - 1):
                out = b.binary("mul", out, x)
            return b.binary("div", b.const(1, b.dtype(out)), out) if n < 0 else out
        if exp == sympy.S.Half:
            return b.unary("sqrt", self.floaty(x))
        if exp == -sympy.S.Half:
            s = b.unary("sqrt", self.floaty(x))
            return b.binary("div", b.const(1, b.dtype(s)), s)
        e = self.arith(self(exp))
        if not dtypes.is_float(b.dtype(x)) and not dtypes.is_float(b.dtype(e)):
            return b.binary("pow", x, e)  # integer powers (the op's dtype rule refuses negative exponents)
        x = self.floaty(x)
        return b.binary("pow", x, self.floaty(e))


def from_sympy(expr, symbols: dict, compute, result=None, builder: Builder | None = None) -> Body | int:
    """The typed Body of `expr`.

    symbols: {sympy Symbol: ('arg', load name, dtype), ('axis', axis position, None) or ('const', number, None)};
    compute: the dtype arithmetic happens in; result: the dtype of the value (cast at the end).
    With `builder`, emit into it and return the result's position instead of a Body."""
    compute = np.dtype(compute)
    key = None
    if builder is None:
        key = (expr, tuple((s, symbols[s]) for s in sorted(symbols, key=str)), compute, result and np.dtype(result))
        hit = _BODIES.get(key)
        if hit is not None:
            return hit
    b = builder or Builder()
    out = _Walker(b, symbols, compute)(sympy.sympify(expr))
    if result is not None:
        out = b.cast(out, result)
    if builder is not None:
        return out
    body = _BODIES[key] = b.build(out)
    return body


_BODIES: dict = {}  # the same formula over the same operand types is walked once per process


# -- the reference evaluation (NumPy) ----------------------------------------------------
def _shr(a, b):
    return np.right_shift(a, np.asarray(b, dtype=a.dtype) if isinstance(a, np.ndarray) else type(a)(b))


NUMPY_FUNCS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "neg": np.negative,
    "pow": np.power, "max": np.maximum, "min": np.minimum, "floordiv": np.floor_divide, "mod": np.mod,
    "xor": np.bitwise_xor, "shr": _shr, "shl": np.left_shift, "bitand": np.bitwise_and, "bitor": np.bitwise_or,
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "tanh": np.tanh,
    "erf": scipy.special.erf, "sin": np.sin, "cos": np.cos, "tan": np.tan, "atan": np.arctan, "abs": np.abs, "sign": np.sign,
    "floor": np.floor, "ceil": np.ceil,
    "lt": np.less, "le": np.less_equal, "eq": np.equal, "ne": np.not_equal,
    "and": np.logical_and, "or": np.logical_or, "not": np.logical_not, "where": np.where,
}


def evaluate(body: Body, args: dict, axes: tuple = ()):
    """Run `body` over NumPy arrays: `args` maps load names to arrays; `axes` holds index arrays per axis."""
    values = []
    with np.errstate(all="ignore"):
        for o in body.ops:
            if o.op == "const":
                v = o.dtype.type(o.value)
            elif o.op == "arg":
                v = args[o.value]
            elif o.op == "axis":
                v = axes[o.value]
            elif o.op == "cast":
                v = cast_array(values[o.args[0]], o.dtype)
            else:
                v = NUMPY_FUNCS[o.op](*(values[a] for a in o.args))
                if o.op in ("erf", "pow", "div") and np.asarray(v).dtype != o.dtype:
                    v = np.asarray(v).astype(o.dtype)
            values.append(v)
    return values[body.out]


def cast_array(x, dtype) -> np.ndarray:
    """`x` converted to `dtype` as every backend converts it: a C cast, except that a float whose truncation
    lies outside an integer type's range (or NaN) gives the type's minimum (0 for unsigned types), on every
    platform and width (NumPy's own result there is the CPU's: x86 wraps narrow types, ARM saturates)."""
    x, dtype = np.asarray(x), np.dtype(dtype)
    if x.dtype.kind != "f" or dtype.kind not in "iu":
        return x.astype(dtype)
    bits = 8 * dtype.itemsize
    lo, hi = (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1)) if dtype.kind == "i" else (0.0, 2.0 ** bits)
    inside = (x >= lo) & (x < hi)  # NaN compares False
    with np.errstate(invalid="ignore"):
        return np.where(inside, np.where(inside, x, 0).astype(dtype), dtype.type(np.iinfo(dtype).min))


_FORMULA_CACHE: dict = {}


def evaluate_formula(expr, symbols, arrays, compute, result):
    """Evaluate a sympy formula over NumPy arrays (the reference semantics of formula-defined ops)."""
    arrays = [np.asarray(a) for a in arrays]
    key = (expr, tuple(symbols), tuple(a.dtype for a in arrays), np.dtype(compute), np.dtype(result))
    body = _FORMULA_CACHE.get(key)
    if body is None:
        binding = {s: ("arg", f"a{i}", a.dtype) for i, (s, a) in enumerate(zip(symbols, arrays))}
        body = _FORMULA_CACHE[key] = from_sympy(expr, binding, compute, result)
    out = evaluate(body, {f"a{i}": a for i, a in enumerate(arrays)})
    shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
    return np.broadcast_to(np.asarray(out, dtype=result), shape)


def combine_identity(combine: str, dtype):
    """What a reduction over no elements gives (ONNX's definition): 0 for add, 1 for mul, the lowest value for
    max (-inf for floats), the highest for min (+inf): the value every backend starts its accumulator from."""
    dtype = np.dtype(dtype)
    if combine in ("max", "min"):
        if dtype.kind == "f":
            return -np.inf if combine == "max" else np.inf
        if dtype.kind == "b":
            return combine == "min"
        info = np.iinfo(dtype)
        return int(info.min if combine == "max" else info.max)
    return 1 if combine == "mul" else 0
