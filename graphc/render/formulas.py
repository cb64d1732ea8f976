"""Readable one-line formulas for labels: a unicode sympy printer, and how values are named in formulas.

Node labels must be single lines (sympy's 2-D pretty printer stacks fractions over several
lines, which Graphviz cannot lay out), so `fmt` prints with `FormulaPrinter`, a StrPrinter
that writes `·` for products, juxtaposes parenthesised factors (`σ(z)(1 − σ(z))`, `2(y − ŷ)`),
superscripts small powers, `√`, `|x|` and Iverson brackets `[x > 0]` for Heaviside.
`Namer` gives every node the expression it is called by: its user name, or, for an unnamed
elementwise value, its op applied to its operands' names (`(y − ŷ)`), so derivative labels read
like the course's formulas.
"""
from __future__ import annotations

import re
import unicodedata

import sympy
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

from .. import scalar

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class FormulaPrinter(StrPrinter):
    """sympy's string printer with unicode operators, for one-line labels.

    `names` maps symbols to the text printed for them (a forward value's name), so operands keep
    the order of the formula's arguments (w2·a1, not sympy's alphabetical a1·w2)."""

    printmethod = "_graphc_formula"  # not sympy's _sympystr: functions are spelled here, arguments unwrapped

    def __init__(self, names: dict | None = None):
        super().__init__()
        self._names = names or {}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def _print_Function(self, expr):
        name = "σ" if isinstance(expr, scalar.sigmoid) else expr.func.__name__
        return f"{name}({', '.join(unwrap(self._print(a)) for a in expr.args)})"

    def _factor(self, f) -> str:
        return f"({self._print(f)})" if f.is_Add or (f.is_Number and f < 0) or isinstance(f, sympy.Piecewise) else self._print(f)

    def _print_Mul(self, expr):
        c, rest = expr.as_coeff_Mul()
        sign = ""
        if c.is_Number and c < 0:
            sign, c = "-", -c
        num, den = [], []
        if c != 1:
            p, q = sympy.fraction(c) if c.is_Rational else (c, 1)
            if p != 1:
                num.append(p)
            if q != 1:
                den.append(q)
        for f in sympy.Mul.make_args(rest):
            base, e = f.as_base_exp()
            if e.is_Number and e < 0:
                den.append(base if e == -1 else sympy.Pow(base, -e, evaluate=False))
            elif f != 1:
                num.append(f)
        num.sort(key=lambda f: (not f.is_Number, bool(f.is_Add)))  # numbers first, sums last: 2(y − ŷ), σ(z)(1 − σ(z))
        top = self._join([self._factor(f) for f in num]) or "1"
        if not den:
            return sign + top
        bottom = self._join([self._factor(f) for f in den])
        if len(den) > 1:
            bottom = f"({bottom})"
        if len(num) > 1 and "·" in top:
            top = f"({top})"
        return f"{sign}{top}/{bottom}"

    @staticmethod
    def _join(parts) -> str:
        out = ""
        for p in parts:
            if out and not (p.startswith("(") and (out.endswith(")") or out[-1].isdigit())):
                out += "·"
            out += p
        return out

    def _print_Add(self, expr, order=None):
        terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        out = ""
        for t in terms:  # positive terms first, in sympy's order: a − b, 1 − σ(z)
            if t.could_extract_minus_sign():
                out += f" - {self.parenthesize(-t, precedence(expr))}" if out else f"-{self.parenthesize(-t, precedence(expr))}"
            else:
                out += f" + {self.parenthesize(t, precedence(expr))}" if out else self.parenthesize(t, precedence(expr))
        return out

    def _print_Pow(self, expr):
        base, e = expr.base, expr.exp
        b = self._print(base)
        if not (base.is_Symbol or base.is_Function or (base.is_Atom and not base.could_extract_minus_sign())):
            b = f"({b})"
        if e == sympy.S.Half:
            return f"√{b}"
        if e.is_Integer and e < 0:
            return f"1/{self._print(sympy.Pow(base, -e, evaluate=False)) if e != -1 else b}"
        if e == -sympy.S.Half:
            return f"1/√{b}"
        if e.is_Integer:
            return b + str(e).translate(_SUPERSCRIPT)
        return f"{b}^{self._factor(e) if not (e.is_Symbol or e.is_Number) else self._print(e)}"

    def _print_Float(self, expr):
        return f"{float(expr):.4g}"

    def _print_Abs(self, expr):
        return f"|{unwrap(self._print(expr.args[0]))}|"

    def _print_Heaviside(self, expr):
        arg = expr.args[0]
        if arg.is_Add:
            pos = [t for t in arg.args if not t.could_extract_minus_sign()]
            neg = [-t for t in arg.args if t.could_extract_minus_sign()]
            if pos and neg:
                return f"[{self._print(sympy.Add(*pos))} > {self._print(sympy.Add(*neg))}]"
        return f"[{self._print(arg)} > 0]"

    def _print_Piecewise(self, expr):
        parts = [f"{self._print(v)} if {self._print(c)}" for v, c in expr.args[:-1]]
        return "(" + " else ".join(parts + [self._print(expr.args[-1][0])]) + ")"

    def _print_Max(self, expr):
        return f"max({', '.join(unwrap(self._print(a)) for a in expr.args)})"

    def _print_Min(self, expr):
        return f"min({', '.join(unwrap(self._print(a)) for a in expr.args)})"

    def _print_Pi(self, expr):
        return "π"

    def _print_Exp1(self, expr):
        return "e"

    def parenthesize(self, item, level, strict=False):
        if precedence(item) < level or (strict and precedence(item) == level):
            return f"({self._print(item)})"
        return self._print(item)


def unwrap(text: str) -> str:
    """`(a − b)` -> `a − b` when the outer parentheses enclose everything."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, c in enumerate(text):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and i < len(text) - 1:
            return text
    return text[1:-1]


_PRINTER = FormulaPrinter()


def fmt(expr, names: dict | None = None) -> str:
    """One line of unicode for a sympy expression (− for minus), symbols printed as `names` says."""
    printer = FormulaPrinter(names) if names else _PRINTER
    return printer.doprint(sympy.sympify(expr)).replace(" - ", " − ").replace("-", "−")


def pretty_name(name: str) -> str:
    """A user name as a reader expects it: `yhat` and `y_hat` become `ŷ`; anything else is kept."""
    m = re.fullmatch(r"([A-Za-z])_?hat(\d*)", name)
    if m:
        return unicodedata.normalize("NFC", m.group(1) + "\u0302") + m.group(2)
    return name


def _compound(expr) -> bool:
    return bool(expr.is_Add or expr.is_Mul or (expr.is_Pow and expr.exp.is_negative))


def _is_application(f, args) -> bool:
    return bool(f.is_Function) and tuple(f.args) == tuple(args)


def op_formula(op, attrs) -> tuple:
    """(formula, its argument symbols) for showing the elementwise `op` applied to operands: its formula
    when that is short arithmetic or one named function (σ(x), tanh(x), a/b), else `opname(args)` (relu(x))."""
    if op.name == "expr":
        fn = attrs["fn"]
        f, params = fn.expr, tuple(fn.variables)
    else:
        params = scalar.arg_symbols(op.arity)
        f = op.lowering_formula(**attrs)
        if not _is_application(f, params):
            f = op.formula(**attrs)
    if not _is_application(f, params) and not ((f.is_Add or f.is_Mul or f.is_Pow) and sympy.count_ops(f) <= 3):
        f = sympy.Function(op.name)(*params)
    return f, params


def formula_args(node) -> tuple:
    """The symbols an elementwise node's formula (and so its local derivative) is written in."""
    if node.op.name == "expr":
        return tuple(node.attrs["fn"].variables)
    return scalar.arg_symbols(len(node.inputs))


def is_formula_op(node) -> bool:
    return getattr(node.op, "kind", "") == "elementwise" and (node.op.name == "expr" or hasattr(node.op, "formula"))


class Namer:
    """What each node is called in labels and formulas: its user name (short unless ambiguous), a
    scalar constant's value, or for an unnamed elementwise value its op applied to its operands' names."""

    MAX_LEN = 24  # unnamed values are spelled out as formulas up to this many characters

    def __init__(self, nodes):
        short: dict[str, set] = {}
        for n in nodes:
            if n.name:
                short.setdefault(n.name, set()).add(n.qualname)
        self._ambiguous = {k for k, v in short.items() if len(v) > 1}
        self._text: dict = {}
        # unnamed values are numbered per drawing and per op (sum_1, sum_2) in schedule order: small
        # numbers a reader can find, the same in the forward labels and in the backward formulas
        self._serial: dict = {}
        counts: dict[str, int] = {}
        for n in sorted(nodes, key=lambda n: n.id):
            if not n.name:
                counts[n.op.name] = counts.get(n.op.name, 0) + 1
                self._serial[n] = counts[n.op.name]

    def base(self, node) -> str:
        """The user's name (scope-qualified with dots only when the short name is ambiguous), else op_id."""
        if node.name:
            if node.name in self._ambiguous and node.scope:
                return pretty_name(node.scope.replace("/", ".") + "." + node.name)
            return pretty_name(node.name)
        return f"{node.op.name}_{self._serial.get(node, node.id)}"

    def text(self, node) -> str:
        """The node's name in formulas; compound spellings come parenthesised: (y − ŷ)."""
        if node in self._text:
            return self._text[node]
        out = None
        if node.name:
            out = self.base(node)
        elif node.op.name == "const":
            arr = node.attrs["value"].array
            if arr.size == 1:
                v = float(arr.reshape(())[()])
                out = fmt(sympy.Integer(int(v)) if v.is_integer() else sympy.Float(v))
                out = f"({out})" if v < 0 else out
            else:
                out = f"const{list(arr.shape)}"
        elif is_formula_op(node) and node.inputs:
            spelled = self.applied(node)
            if spelled is not None and len(spelled) <= self.MAX_LEN:
                out = spelled
        if out is None:
            out = self.base(node)
        self._text[node] = out
        return out

    def applied(self, node) -> str | None:
        """`node`'s op applied to its operands' names (what `y` means in its local derivative): σ(z1), (w2·a1)."""
        try:
            f, params = op_formula(node.op, dict(node.attrs))
            names = {p: self.text(i) for p, i in zip(params, node.inputs)}
            text = fmt(f, names)
        except Exception:  # a formula the printer cannot spell: the caller falls back to the node's id
            return None
        return f"({text})" if _compound(f) else text
