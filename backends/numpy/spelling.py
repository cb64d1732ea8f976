"""How NumPy spells each typed scalar operation, and a Body printed as NumPy expressions over whole arrays."""
from __future__ import annotations

import math

import numpy as np

from graphc.scalar_ops import Body

# op -> the NumPy ufunc that computes it elementwise with `out=`, so a body's values land in preallocated
# arrays (the store, or the module's scratch) and a call allocates nothing; `where` and `cast` are printed
# as np.copyto statements instead
SPELLINGS = {
    "add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "div": "np.true_divide", "neg": "np.negative",
    "pow": "np.power", "max": "np.maximum", "min": "np.minimum", "floordiv": "np.floor_divide", "mod": "np.mod",
    "xor": "np.bitwise_xor", "shr": "np.right_shift", "shl": "np.left_shift", "bitand": "np.bitwise_and",
    "bitor": "np.bitwise_or",
    "exp": "np.exp", "log": "np.log", "log1p": "np.log1p", "expm1": "np.expm1", "sqrt": "np.sqrt", "tanh": "np.tanh",
    "erf": "_erf", "sin": "np.sin", "cos": "np.cos", "tan": "np.tan", "atan": "np.arctan", "abs": "np.abs", "sign": "np.sign",
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
    or into a scratch array of the domain's shape that `scratch` lends (and takes back after its last use);
    a value used once is computed inside its consumer's call."""

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

    def _order(self) -> tuple[list[int], set[int]]:
        """(the order operations run in, the operations nested inside their one consumer's call).

        A ufunc operation used once, by another ufunc operation, is printed inside that call: most
        fused kernels are one statement. Nested calls run depth first, left to right, just before
        their consumer; the other operations (the statements) run in the Body's order."""
        consumer: dict[int, int] = {}
        for i, o in enumerate(self.body.ops):
            for a in o.args:
                consumer[a] = i
        nested = {i for i, o in enumerate(self.body.ops)
                  if self.leaf(i) is None and o.op not in ("where", "cast") and self.uses[i] == 1 and i != self.body.out
                  and self.body.ops[consumer[i]].op not in ("where", "cast")}
        order: list[int] = []

        def visit(i):
            for a in self.body.ops[i].args:
                if a in nested:
                    visit(a)
            order.append(i)
        for i in range(len(self.body.ops)):
            if self.leaf(i) is None and i not in nested:
                visit(i)
        return order, nested

    def statements(self, target: str | None) -> tuple[list[str], str]:
        """Statements computing the body (the last one into `target` when given), and the result's code."""
        out = self.body.out
        if self.leaf(out) is not None:
            leaf = self.leaf(out)
            return ([f"{target}[...] = {leaf}"] if target else []), (target or leaf)
        self.target = target
        order, nested = self._order()
        dest: dict[int, str] = {}
        direct_where: set[int] = set()
        for i in order:  # where each value goes, in the order the operations run
            o = self.body.ops[i]
            last = i == out and target is not None
            if o.op == "where":  # two copies into the destination: it must not be the condition's or `then`'s array
                direct = last and all((self.leaf(a) is None and dest[a] != target) or self.body.ops[a].op == "const"
                                      for a in o.args[:2])
                dest[i] = target if direct else self._borrow(i, o.dtype)
                direct_where |= {i} if direct else set()
                self._done_with(o.args)
            else:
                self._done_with(o.args)  # an elementwise ufunc may write over an operand it is reading
                dest[i] = target if last else self._borrow(i, o.dtype)
            self.code[i] = dest[i]

        def expr(i) -> str:
            leaf = self.leaf(i)
            if leaf is not None:
                return leaf
            if i not in nested:
                return dest[i]
            return call(i)

        def call(i) -> str:
            o = self.body.ops[i]
            return f"{SPELLINGS[o.op]}({', '.join(expr(a) for a in o.args)}, out={dest[i]})"

        lines = []
        for i in order:
            if i in nested:
                continue
            o = self.body.ops[i]
            args = [expr(a) for a in o.args]
            if o.op == "where":
                lines += [f"np.copyto({dest[i]}, {args[2]})", f"np.copyto({dest[i]}, {args[1]}, where={args[0]})"]
                if i == out and target is not None and i not in direct_where:
                    lines.append(f"{target}[...] = {dest[i]}")
            elif o.op == "cast" and self.body.ops[o.args[0]].dtype.kind == "f" and o.dtype.kind in "iu":
                lines.append(f"np.copyto({dest[i]}, _to_int({args[0]}, np.{o.dtype.name}))")  # graphc's rule out of range
            elif o.op == "cast":
                lines.append(f"np.copyto({dest[i]}, {args[0]}, casting='unsafe')")
            else:
                lines.append(call(i))
        return lines, (target if target is not None else dest[out])

    def assign(self, target: str) -> list[str]:
        """Statements that write the body's value into the array `target` (the domain's shape)."""
        return self.statements(target)[0]

    def value(self) -> tuple[list[str], str]:
        """Statements, and the name of an array (or a leaf's code) holding the body's value."""
        return self.statements(None)
