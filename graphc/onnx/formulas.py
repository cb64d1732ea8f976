"""An elementwise op's sympy formula (its one definition in the registry) written as ONNX nodes.

Every elementwise op exports through its formula: arithmetic, powers, the transcendental functions,
Max/Min, Abs, sign, floor/ceiling, Mod, relations, And/Or/Not, Piecewise (nested Where) and Heaviside.
Numbers become constants of the computation's dtype; the arguments are the node's inputs, already cast to it."""
from __future__ import annotations

import numpy as np
import sympy

from .. import scalar
from ..errors import OnnxError

_UNARY = {sympy.exp: "Exp", sympy.log: "Log", sympy.sin: "Sin", sympy.cos: "Cos", sympy.tan: "Tan",
          sympy.asin: "Asin", sympy.acos: "Acos", sympy.atan: "Atan", sympy.asinh: "Asinh", sympy.acosh: "Acosh",
          sympy.atanh: "Atanh",
          sympy.tanh: "Tanh", sympy.erf: "Erf", sympy.Abs: "Abs", sympy.sign: "Sign", sympy.floor: "Floor",
          sympy.ceiling: "Ceil", scalar.sigmoid: "Sigmoid"}
_RELATIONS = {sympy.StrictLessThan: "Less", sympy.LessThan: "LessOrEqual", sympy.StrictGreaterThan: "Greater",
              sympy.GreaterThan: "GreaterOrEqual", sympy.Equality: "Equal"}


class FormulaWriter:
    """Writes nodes through `emit(op_type, inputs, **attrs) -> output name` and `constant(array) -> name`."""

    def __init__(self, emit, constant, symbols: dict, dtype, what: str):
        self.emit, self.constant, self.symbols, self.dtype, self.what = emit, constant, symbols, np.dtype(dtype), what

    def number(self, value) -> str:
        if self.dtype.kind in "iu":  # wrapped into the type, as graphc's kernels take it (-1 in uint8 is 255)
            bits, low = 8 * self.dtype.itemsize, int(np.iinfo(self.dtype).min)
            value = (int(value) - low) % 2 ** bits + low
        return self.constant(np.asarray(value, self.dtype))

    def __call__(self, e) -> str:
        if e in self.symbols:
            return self.symbols[e]
        if e.is_Number or e in (sympy.pi, sympy.E):
            return self.number(float(e) if self.dtype.kind == "f" else int(e))
        t = type(e)
        if t in (sympy.Add, sympy.Mul):
            return self.nary(e)
        if t is sympy.Pow:
            return self.pow(*e.args)
        if e.func in (sympy.floor, sympy.ceiling) and self.dtype.kind in "iu":
            return self(e.args[0])  # an integer is its own floor (ONNX's Floor takes floats only)
        if t in _UNARY or e.func in _UNARY:
            return self.emit(_UNARY[e.func], [self(e.args[0])])
        if e.func is scalar.log1p:
            return self.emit("Log", [self.emit("Add", [self.number(1), self(e.args[0])])])
        if e.func is scalar.expm1:
            return self.emit("Sub", [self.emit("Exp", [self(e.args[0])]), self.number(1)])
        if t in (sympy.Max, sympy.Min):
            return self.emit("Max" if t is sympy.Max else "Min", [self(a) for a in e.args])
        if t in _RELATIONS:
            return self.emit(_RELATIONS[t], [self(e.args[0]), self(e.args[1])])
        if t is sympy.Unequality:
            return self.emit("Not", [self.emit("Equal", [self(e.args[0]), self(e.args[1])])])
        if t in (sympy.And, sympy.Or):
            out = self(e.args[0])
            for a in e.args[1:]:
                out = self.emit("And" if t is sympy.And else "Or", [out, self(a)])
            return out
        if t is sympy.Not:
            return self.emit("Not", [self(e.args[0])])
        if t is sympy.Piecewise:
            return self.piecewise(list(e.args))
        if t is sympy.Heaviside:
            x = self(e.args[0])
            at_zero = self(e.args[1]) if len(e.args) > 1 else self.number(0.5)
            zero = self.number(0)
            inner = self.emit("Where", [self.emit("Less", [x, zero]), zero, at_zero])
            return self.emit("Where", [self.emit("Greater", [x, zero]), self.number(1), inner])
        if e.func is scalar.floordiv:  # integers: (a - a mod b) / b is exact; floats: floor(a / b)
            a, b = self(e.args[0]), self(e.args[1])
            if self.dtype.kind in "iu":
                return self.emit("Div", [self.emit("Sub", [a, self.emit("Mod", [a, b], fmod=0)]), b])
            return self.emit("Floor", [self.emit("Div", [a, b])])
        if t is sympy.Mod:  # the divisor's sign (np.mod): a - b * floor(a / b) for floats
            a, b = self(e.args[0]), self(e.args[1])
            if self.dtype.kind in "iu":
                return self.emit("Mod", [a, b], fmod=0)
            return self.emit("Sub", [a, self.emit("Mul", [b, self.emit("Floor", [self.emit("Div", [a, b])])])])
        if e is sympy.true or e is sympy.false:
            return self.constant(np.asarray(bool(e)))
        raise OnnxError(f"{self.what}: its formula uses {t.__name__}, which graphc cannot write as ONNX")

    def nary(self, e) -> str:
        op = "Add" if isinstance(e, sympy.Add) else "Mul"
        terms = list(e.args)
        if op == "Mul":  # x * y**-1 -> x / y
            numerator = [a for a in terms if not (a.is_Pow and a.args[1].is_Number and a.args[1] < 0)]
            denominator = [sympy.Pow(a.args[0], -a.args[1]) for a in terms if a not in numerator]
            if denominator:
                top = self.nary(sympy.Mul(*numerator, evaluate=False)) if len(numerator) > 1 else (
                    self(numerator[0]) if numerator else self.number(1))
                bottom = self(sympy.Mul(*denominator)) if len(denominator) > 1 else self(denominator[0])
                return self.emit("Div", [top, bottom])
        out = self(terms[0])
        for a in terms[1:]:
            out = self.emit(op, [out, self(a)])
        return out

    def pow(self, base, exponent) -> str:
        x = self(base)
        if exponent == 2:
            return self.emit("Mul", [x, x])
        if exponent == -1:
            return self.emit("Reciprocal", [x]) if self.dtype.kind == "f" else self.emit("Div", [self.number(1), x])
        if exponent == sympy.S.Half:
            return self.emit("Sqrt", [x])
        if exponent == -sympy.S.Half:
            return self.emit("Reciprocal", [self.emit("Sqrt", [x])])
        return self.emit("Pow", [x, self(exponent)])

    def piecewise(self, pieces) -> str:
        value, condition = pieces[0]
        if condition is sympy.true or len(pieces) == 1:
            return self(value)
        return self.emit("Where", [self(condition), self(value), self.piecewise(pieces[1:])])
