"""The scalar vocabulary of elementwise formulas (sympy): the symbols formulas are written in and graphc's functions.

Every elementwise op is a sympy formula over real symbols. This module owns the few custom
sympy functions graphc adds (sigmoid, log1p, expm1: named so that they are computed stably)
and the NumPy stable sigmoid that serves as sigmoid's reference. Formulas become typed scalar
operations, for evaluation and for code, in one place: `graphc.scalar_ops`.
"""
from __future__ import annotations

import numpy as np
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


class floordiv(sympy.Function):
    """a // b, floor division (NumPy's floor_divide): a named function so that backends compute it as one
    operation (exact for integers of any size, where a/b through floats is not)."""

    @classmethod
    def eval(cls, a, b):
        if a.is_Number and b.is_Number and b != 0:
            return sympy.floor(a / b)


class _Bitwise(sympy.Function):
    """An integer bit operation: a named function each backend computes as one operation (integers only)."""


class bitand(_Bitwise):
    """a & b."""


class bitor(_Bitwise):
    """a | b."""


class bitxor(_Bitwise):
    """a ^ b (with -1: every bit flipped, ~a)."""


class shl(_Bitwise):
    """a << b; a shift by b outside [0, bits) gives 0, as NumPy's left_shift."""


class shr(_Bitwise):
    """a >> b (arithmetic for signed types); by b outside [0, bits): 0, or -1 for a negative a, as NumPy's right_shift."""


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
