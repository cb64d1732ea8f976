"""How NumPy spells each typed scalar operation, and a Body printed as NumPy expressions over whole arrays."""
from __future__ import annotations

import math

import numpy as np

from graphc.scalar_ops import Body

# op -> format over the operands' code; a ufunc name lets the last operation write into `out=`
SPELLINGS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}", "neg": "-{0}",
    "pow": "np.power({0}, {1})", "max": "np.maximum({0}, {1})", "min": "np.minimum({0}, {1})",
    "floordiv": "np.floor_divide({0}, {1})", "mod": "np.mod({0}, {1})", "xor": "np.bitwise_xor({0}, {1})",
    "shr": "np.right_shift({0}, {1})",
    "exp": "np.exp({0})", "log": "np.log({0})", "log1p": "np.log1p({0})", "expm1": "np.expm1({0})",
    "sqrt": "np.sqrt({0})", "tanh": "np.tanh({0})", "erf": "_erf({0})", "sin": "np.sin({0})", "cos": "np.cos({0})",
    "tan": "np.tan({0})", "abs": "np.abs({0})", "sign": "np.sign({0})", "floor": "np.floor({0})", "ceil": "np.ceil({0})",
    "lt": "{0} < {1}", "le": "{0} <= {1}", "eq": "{0} == {1}", "ne": "{0} != {1}",
    "and": "np.logical_and({0}, {1})", "or": "np.logical_or({0}, {1})", "not": "np.logical_not({0})",
    "where": "np.where({0}, {1}, {2})", "cast": "{0}.astype(np.{dtype})",
}
UFUNCS = {
    "add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "div": "np.true_divide", "neg": "np.negative",
    "pow": "np.power", "max": "np.maximum", "min": "np.minimum", "exp": "np.exp", "log": "np.log", "log1p": "np.log1p",
    "expm1": "np.expm1", "sqrt": "np.sqrt", "tanh": "np.tanh", "sin": "np.sin", "cos": "np.cos", "abs": "np.abs",
    "lt": "np.less", "le": "np.less_equal", "eq": "np.equal", "ne": "np.not_equal",
}
_INFIX = {"add", "sub", "mul", "div", "neg", "lt", "le", "eq", "ne"}


def number(value, dtype) -> str:
    """A constant as a Python literal (NumPy gives a weak literal the dtype of the arrays it meets);
    integers are typed scalars, so that arithmetic on constants alone wraps as the arrays' would."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return str(bool(value))
    if dtype.kind in "iu":
        return f"np.{dtype.name}({int(value)})"
    v = float(value)
    if math.isnan(v):
        return "np.nan"
    if math.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(v)


class BodyPrinter:
    """Prints a Body: values used more than once become named temporaries, the rest are inlined."""

    def __init__(self, body: Body, loads: dict, axes: list, fresh):
        self.body, self.loads, self.axes, self.fresh = body, loads, axes, fresh
        self.uses = [0] * len(body.ops)
        for o in body.ops:
            for a in o.args:
                self.uses[a] += 1
        self.code: dict[int, str] = {}
        self.lines: list[str] = []

    def leaf(self, i: int) -> str | None:
        o = self.body.ops[i]
        if o.op == "const":
            return number(o.value, o.dtype)
        if o.op == "arg":
            return self.loads[o.value]
        if o.op == "axis":
            return self.axes(o.value)
        return None

    def expr(self, i: int, top: bool = False) -> str:
        """Code for op i; parenthesised unless it is atomic or the whole statement."""
        if i in self.code:
            return self.code[i]
        leaf = self.leaf(i)
        if leaf is not None:
            return leaf
        o = self.body.ops[i]
        text = SPELLINGS[o.op].format(*(self.expr(a) for a in o.args), dtype=o.dtype.name)
        if o.op in _INFIX and not top:
            text = f"({text})"
        return text

    def prepare(self) -> None:
        """Name every non-leaf value that is used more than once (in schedule order)."""
        for i, o in enumerate(self.body.ops):
            if self.leaf(i) is None and self.uses[i] > 1 and i != self.body.out:
                name = self.fresh()
                self.lines.append(f"{name} = {self.expr(i, top=True)}")
                self.code[i] = name

    def assign(self, target: str) -> list[str]:
        """Statements that write the body's value into the array expression `target` (same shape)."""
        self.prepare()
        o = self.body.ops[self.body.out]
        if o.op in UFUNCS:
            args = ", ".join(self.expr(a, top=True) for a in o.args)
            return self.lines + [f"{UFUNCS[o.op]}({args}, out={target})"]
        if o.op == "cast":
            return self.lines + [f"np.copyto({target}, {self.expr(o.args[0], top=True)}, casting='unsafe')"]
        return self.lines + [f"{target}[...] = {self.expr(self.body.out, top=True)}"]

    def value(self) -> tuple[list[str], str]:
        """Statements, and the expression of the body's value."""
        self.prepare()
        return self.lines, self.expr(self.body.out, top=True)
