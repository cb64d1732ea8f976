"""How NumPy spells each typed scalar operation, and a Body printed as NumPy expressions over whole arrays."""
from __future__ import annotations

import math

import numpy as np

from graphc.scalar_ops import Body

# op -> the NumPy ufunc that computes it elementwise; every one takes `out=`, so a body's values land in
# preallocated arrays (the store, or the module's scratch) and a call allocates nothing
SPELLINGS = {
    "add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "div": "np.true_divide", "neg": "np.negative",
    "pow": "np.power", "max": "np.maximum", "min": "np.minimum", "floordiv": "np.floor_divide", "mod": "np.mod",
    "xor": "np.bitwise_xor", "shr": "np.right_shift",
    "exp": "np.exp", "log": "np.log", "log1p": "np.log1p", "expm1": "np.expm1", "sqrt": "np.sqrt", "tanh": "np.tanh",
    "erf": "_erf", "sin": "np.sin", "cos": "np.cos", "tan": "np.tan", "abs": "np.abs", "sign": "np.sign",
    "floor": "np.floor", "ceil": "np.ceil",
    "lt": "np.less", "le": "np.less_equal", "eq": "np.equal", "ne": "np.not_equal",
    "and": "np.logical_and", "or": "np.logical_or", "not": "np.logical_not",
    "where": "np.copyto",  # np.copyto(out, other); np.copyto(out, then, where=cond)
    "cast": "np.copyto",   # np.copyto(out, x, casting='unsafe'): a C cast, as astype
}


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
    """Prints a Body as one ufunc call per operation, each writing with `out=` into the store (the last one)
    or into a scratch array of the domain's shape that `scratch` lends (and takes back after its last use)."""

    def __init__(self, body: Body, loads: dict, axes, scratch, aliases=()):
        self.body, self.loads, self.axes, self.scratch = body, loads, axes, scratch
        self.uses = [0] * len(body.ops)
        for o in body.ops:
            for a in o.args:
                self.uses[a] += 1
        self.code: dict[int, str] = {}
        self.lent: set[str] = set()
        # the loads that may share memory with the store: the store may hold an intermediate value only
        # once none of them is read any more
        self.aliased = [i for i, o in enumerate(body.ops) if o.op == "arg" and o.value in set(aliases)]
        self.target: str | None = None
        self.target_holds: int | None = None

    def leaf(self, i: int) -> str | None:
        o = self.body.ops[i]
        if o.op == "const":
            return number(o.value, o.dtype)
        if o.op == "arg":
            return self.loads[o.value]
        if o.op == "axis":
            return self.axes(o.value)
        return None

    def operand(self, i: int) -> str:
        leaf = self.leaf(i)
        return leaf if leaf is not None else self.code[i]

    def _done_with(self, args) -> None:
        for a in args:
            self.uses[a] -= 1
            name = self.code.get(a)
            if self.uses[a] == 0 and name in self.lent:
                self.lent.discard(name)
                self.scratch.give(name, self.body.ops[a].dtype)
            if self.uses[a] == 0 and a == self.target_holds:
                self.target_holds = None

    def _borrow(self, i: int, dtype) -> str:
        """Where value i goes: the store itself when it is free (same dtype, no aliased load still to read), else scratch."""
        if (self.target is not None and self.target_holds is None and dtype == self.body.dtype
                and all(self.uses[a] == 0 for a in self.aliased)):
            self.target_holds = i
            return self.target
        name = self.scratch.take(dtype)
        self.lent.add(name)
        return name

    def statements(self, target: str | None) -> tuple[list[str], str]:
        """Statements computing the body (the last one into `target` when given), and the result's code."""
        out = self.body.out
        if self.leaf(out) is not None:
            leaf = self.leaf(out)
            return ([f"{target}[...] = {leaf}"] if target else []), (target or leaf)
        lines = []
        self.target = target
        for i, o in enumerate(self.body.ops):
            if self.leaf(i) is not None:
                continue
            args = [self.operand(a) for a in o.args]
            last = i == out and target is not None
            if o.op == "where":  # two copies into the destination: it must not be the condition's or `then`'s array
                direct = last and all((self.leaf(a) is None and self.code[a] != target) or self.body.ops[a].op == "const"
                                      for a in o.args[:2])
                dest = target if direct else self._borrow(i, o.dtype)
                lines += [f"np.copyto({dest}, {args[2]})", f"np.copyto({dest}, {args[1]}, where={args[0]})"]
                self._done_with(o.args)
                if last and not direct:
                    lines.append(f"{target}[...] = {dest}")
            else:
                self._done_with(o.args)  # an elementwise ufunc may write over an operand it is reading
                dest = target if last else self._borrow(i, o.dtype)
                if o.op == "cast":
                    lines.append(f"np.copyto({dest}, {args[0]}, casting='unsafe')")
                else:
                    lines.append(f"{SPELLINGS[o.op]}({', '.join(args)}, out={dest})")
            self.code[i] = target if last else dest
        return lines, self.code[out]

    def assign(self, target: str) -> list[str]:
        """Statements that write the body's value into the array `target` (the domain's shape)."""
        return self.statements(target)[0]

    def value(self) -> tuple[list[str], str]:
        """Statements, and the name of an array (or a leaf's code) holding the body's value."""
        return self.statements(None)
