"""The scalar vocabulary of elementwise formulas (sympy), and their NumPy evaluation.

Every elementwise op is a sympy formula over real symbols. This module owns the few custom
sympy functions graphc adds (a stable sigmoid), the symbols formulas are written in, and
`evaluate`, which computes a formula over NumPy arrays with numerically safe spellings.
"""
from __future__ import annotations

import numpy as np
import scipy.special
import sympy

X = sympy.Symbol("x", real=True)          # the argument of unary formulas
ARGS = sympy.symbols("a b c", real=True)  # the arguments of n-ary formulas
Y = sympy.Symbol("y", real=True)          # the op's output, usable in stated derivatives
G = sympy.Symbol("g", real=True)          # the incoming cotangent in VJP bodies


def arg_symbols(n: int) -> tuple:
    if n == 1:
        return (X,)
    if n <= len(ARGS):
        return ARGS[:n]
    return sympy.symbols(f"a0:{n}", real=True)


class sigmoid(sympy.Function):
    """The logistic function 1/(1+exp(-x)); a named function so that it is evaluated stably."""

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return 1 / (1 + sympy.exp(-x))

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0]) * (1 - sigmoid(self.args[0]))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _sympystr(self, printer):
        return f"σ({printer._print(self.args[0])})"


class log1p(sympy.Function):
    """log(1 + x), a named function so that it is evaluated accurately near 0."""

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sympy.log(1 + x)


class expm1(sympy.Function):
    """exp(x) - 1, a named function so that it is evaluated accurately near 0."""

    def fdiff(self, argindex=1):
        return sympy.exp(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sympy.exp(x) - 1


def stable_sigmoid(x):
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def _num(v):
    if v.is_Integer:
        return int(v)
    return float(v)


def _pow(base, exp):
    if isinstance(exp, int):
        if exp == 1:
            return base
        if exp == 2:
            return base * base
        if exp == -1:
            return 1 / base if not isinstance(base, np.ndarray) or base.dtype.kind == "f" else 1.0 / base
        if exp >= 0:
            return base ** exp
        return 1 / (base ** -exp)
    if isinstance(exp, float) and exp == 0.5:
        return np.sqrt(base)
    if isinstance(exp, float) and exp == -0.5:
        return 1 / np.sqrt(base)
    return np.power(base, exp)  # an array exponent (pow's derivative b*a**(b-1)) broadcasts elementwise


def _piecewise(args, env, memo):
    conds = [evaluate(c, env, memo) for _, c in args]
    vals = [evaluate(v, env, memo) for v, _ in args]
    out = vals[-1]
    for c, v in zip(reversed(conds[:-1]), reversed(vals[:-1])):
        out = np.where(c, v, out)
    return out


_FUNCS = {
    sympy.exp: np.exp, sympy.log: np.log, sympy.sin: np.sin, sympy.cos: np.cos, sympy.tan: np.tan,
    sympy.tanh: np.tanh, sympy.Abs: np.abs, sympy.sign: np.sign, sympy.erf: scipy.special.erf,
    sympy.floor: np.floor, sympy.ceiling: np.ceil, sigmoid: stable_sigmoid, log1p: np.log1p, expm1: np.expm1,
}
_RELATIONS = {
    sympy.StrictGreaterThan: np.greater, sympy.GreaterThan: np.greater_equal,
    sympy.StrictLessThan: np.less, sympy.LessThan: np.less_equal,
    sympy.Equality: np.equal, sympy.Unequality: np.not_equal,
}


def evaluate(expr, env: dict, memo: dict | None = None):
    """Evaluate a sympy formula with symbols bound in `env` (arrays or numbers), NumPy broadcasting."""
    memo = {} if memo is None else memo
    if expr in memo:
        return memo[expr]
    t = type(expr)
    if expr.is_Symbol:
        out = env[expr]
    elif expr.is_Number or expr in (sympy.pi, sympy.E):
        out = _num(expr) if expr.is_Number else float(expr)
    elif expr is sympy.true or expr is sympy.false:
        out = bool(expr)
    elif t is sympy.Add:
        parts = [evaluate(a, env, memo) for a in expr.args]
        out = parts[0]
        for p in parts[1:]:
            out = out + p
    elif t is sympy.Mul:
        parts = [evaluate(a, env, memo) for a in expr.args]
        out = parts[0]
        for p in parts[1:]:
            out = out * p
    elif t is sympy.Pow:
        e = expr.exp
        out = _pow(evaluate(expr.base, env, memo), _num(e) if e.is_Number else evaluate(e, env, memo))
    elif t in _FUNCS:
        out = _FUNCS[t](evaluate(expr.args[0], env, memo))
    elif t in (sympy.Max, sympy.Min):
        f = np.maximum if t is sympy.Max else np.minimum
        parts = [evaluate(a, env, memo) for a in expr.args]
        out = parts[0]
        for p in parts[1:]:
            out = f(out, p)
    elif t is sympy.Heaviside:
        x = evaluate(expr.args[0], env, memo)
        h0 = _num(expr.args[1]) if len(expr.args) > 1 else 0.5
        out = np.heaviside(x, h0)
    elif t is sympy.DiracDelta:
        x = evaluate(expr.args[0], env, memo)
        out = np.zeros_like(x) if isinstance(x, np.ndarray) else 0.0  # zero almost everywhere (documented)
    elif t is sympy.Piecewise:
        out = _piecewise(expr.args, env, memo)
    elif t in _RELATIONS:
        out = _RELATIONS[t](evaluate(expr.args[0], env, memo), evaluate(expr.args[1], env, memo))
    elif t is sympy.And:
        out = np.logical_and.reduce([evaluate(a, env, memo) for a in expr.args])
    elif t is sympy.Or:
        out = np.logical_or.reduce([evaluate(a, env, memo) for a in expr.args])
    elif t is sympy.Not:
        out = np.logical_not(evaluate(expr.args[0], env, memo))
    else:
        raise NotImplementedError(f"graphc cannot evaluate {t.__name__} in formula {expr}")
    memo[expr] = out
    return out
