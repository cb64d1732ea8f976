"""Print a Program as a readable, vectorised NumPy module: one line per kernel over strided views."""
from __future__ import annotations

import numpy as np
import sympy

from graphc import scalar
from graphc.program import Fill, Gather, Map, MatMul, Program, Random, Reduce, ScatterAdd, View

_UNARY = {
    sympy.exp: "np.exp", sympy.log: "np.log", sympy.sin: "np.sin", sympy.cos: "np.cos", sympy.tan: "np.tan",
    sympy.tanh: "np.tanh", sympy.Abs: "np.abs", sympy.sign: "np.sign", sympy.erf: "_erf",
    sympy.floor: "np.floor", sympy.ceiling: "np.ceil", scalar.sigmoid: "_sigmoid",
    scalar.log1p: "np.log1p", scalar.expm1: "np.expm1",
}
_BINARY_REL = {
    sympy.StrictGreaterThan: "np.greater", sympy.GreaterThan: "np.greater_equal", sympy.StrictLessThan: "np.less",
    sympy.LessThan: "np.less_equal", sympy.Equality: "np.equal", sympy.Unequality: "np.not_equal",
}
_FOLDED = {sympy.Max: "np.maximum", sympy.Min: "np.minimum", sympy.And: "np.logical_and", sympy.Or: "np.logical_or"}


def _number(v: float) -> str:
    if np.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    if np.isnan(v):
        return "np.nan"
    return repr(float(v))


def print_body(expr, names: dict) -> str:
    """NumPy source for a scalar formula; `names` maps argument symbols to variable names."""
    p = lambda e: print_body(e, names)  # noqa: E731
    t = type(expr)
    if expr in names:
        return names[expr]
    if expr.is_Integer:
        return str(int(expr))
    if expr.is_Number:
        return _number(float(expr))
    if expr is sympy.pi:
        return "np.pi"
    if expr is sympy.E:
        return "np.e"
    if expr is sympy.true or expr is sympy.false:
        return str(bool(expr))
    if t is sympy.Add:
        terms = sorted(expr.args, key=lambda a: a.could_extract_minus_sign())  # positive terms first
        out = ""
        for a in terms:
            if a.could_extract_minus_sign():
                out += f" - {p(-a)}" if out else f"-{p(-a)}"
            else:
                out += f" + {p(a)}" if out else p(a)
        return f"({out})"
    if t is sympy.Mul:
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            return f"(-{p(rest)})"
        num = [a for a in expr.args if not (a.is_Pow and a.exp.is_Number and a.exp < 0)]
        den = [a.base ** -a.exp for a in expr.args if a.is_Pow and a.exp.is_Number and a.exp < 0]
        top = " * ".join(p(a) for a in num) or "1"
        return f"({top} / {p(sympy.Mul(*den))})" if den else f"({top})"
    if t is sympy.Pow:
        b, e = expr.base, expr.exp
        if e == -1:
            return f"(1 / {p(b)})"
        if e == 2:
            return f"np.square({p(b)})"
        if e == sympy.S.Half:
            return f"np.sqrt({p(b)})"
        if e == -sympy.S.Half:
            return f"(1 / np.sqrt({p(b)}))"
        if e.is_Integer and e > 0:
            return f"({p(b)} ** {int(e)})"
        return f"np.power({p(b)}, {p(e)})"
    if t in _UNARY:
        return f"{_UNARY[t]}({p(expr.args[0])})"
    if t in _FOLDED:  # n-ary max/min/and/or as nested binary calls
        out = p(expr.args[0])
        for a in expr.args[1:]:
            out = f"{_FOLDED[t]}({out}, {p(a)})"
        return out
    if t is sympy.Heaviside:
        h0 = float(expr.args[1]) if len(expr.args) > 1 else 0.5
        if h0 in (0.0, 1.0):  # a comparison: several times faster than np.heaviside
            return f"({p(expr.args[0])} {'>' if h0 == 0.0 else '>='} 0)"
        return f"np.heaviside({p(expr.args[0])}, {h0!r})"
    if t is sympy.DiracDelta:
        return f"(0.0 * {p(expr.args[0])})"
    if t is sympy.Piecewise:
        out = p(expr.args[-1][0])
        for value, cond in reversed(expr.args[:-1]):
            out = f"np.where({p(cond)}, {p(value)}, {out})"
        return out
    if t in _BINARY_REL:
        return f"{_BINARY_REL[t]}({p(expr.args[0])}, {p(expr.args[1])})"
    if t is sympy.Not:
        return f"np.logical_not({p(expr.args[0])})"
    raise NotImplementedError(f"the NumPy backend cannot print {t.__name__} in {expr}")


class ModulePrinter:
    """Names every buffer and view once, then prints one statement per kernel."""

    def __init__(self, program: Program, debug: bool = False):
        self.program, self.debug = program, debug
        self.view_names: dict[tuple, str] = {}
        self.setup: list[str] = []

    def view(self, v: View) -> str:
        key = (v.buffer.id, v.shape, v.strides, v.offset)
        if key not in self.view_names:
            b = v.buffer.name
            if v.is_whole:
                expr = f"{b}.reshape({v.shape})" if len(v.shape) != 1 else b
            else:
                item = v.buffer.dtype.itemsize
                base = f"{b}[{v.offset}:]" if v.offset else b
                expr = f"_view({base}, {v.shape}, {tuple(s * item for s in v.strides)})"
            name = f"{b}_v{len(self.view_names)}"
            self.setup.append(f"    {name} = {expr}")
            self.view_names[key] = name
        return self.view_names[key]

    def kernel(self, k) -> str:
        o = self.view(k.out)
        ins = [self.view(v) for v in k.inputs]
        if isinstance(k, Fill):
            return f"{o}.fill({_number(k.value)})"
        if isinstance(k, Map):
            body = print_body(k.body, dict(zip(k.args, ins)))
            if body.startswith("(") and body.endswith(")") and body.count("(") == 1:
                body = body[1:-1]
            return f"{o}[...] {'+=' if k.accumulate else '='} {body}"
        if isinstance(k, Reduce):
            axes = tuple(k.axes)
            if k.op in ("argmax", "argmin"):
                return f"{o}[...] = np.{k.op}({ins[0]}, axis={axes[0]}, keepdims=True)"
            return f"np.{k.op}({ins[0]}, axis={axes}, keepdims=True, out={o})"
        if isinstance(k, MatMul):
            return f"np.matmul({ins[0]}, {ins[1]}, out={o})"
        if isinstance(k, Gather):
            return f"{o}[...] = _take({ins[0]}, {ins[1]}, {k.axis})"
        if isinstance(k, ScatterAdd):
            return f"_scatter_add({o}, {ins[0]}, {ins[1]}, {k.axis})"
        if isinstance(k, Random):
            counter = f"int({ins[0]})" if ins else "0"
            return f"{o}[...] = _random_{k.dist}({k.seed}, {counter}, {k.out.shape}, {o}.dtype)"
        raise NotImplementedError(f"the NumPy backend has no printer for {type(k).__name__}")

    def source(self, graph_hash: str = "") -> str:
        prog = self.program
        body = []
        for k in prog.kernels:
            line = self.kernel(k)
            body.append(f"        {line}" + (f"  # {k.label}" if k.label else ""))
            if self.debug and k.out.buffer.dtype.kind == "f":
                body.append(f"        _check_finite({self.view(k.out)}, {k.label!r})")
        for target, src in prog.updates:
            body.append(f"        {self.view(View.whole(target, src.shape))}[...] = {self.view(src)}  # update {target.name}")
        outs = ", ".join(self.view(v) for v in prog.outputs)
        head = [
            f'"""graphc NumPy module for graph {graph_hash[:12]} with {", ".join(f"{k}={v}" for k, v in prog.bindings.items()) or "static shapes"}.',
            "",
            "bind(buffers) creates every view once; the returned run() executes the kernels in order.",
            '"""',
            "import numpy as np",
            "from numpy.lib.stride_tricks import as_strided as _view",
            "from graphc.backends.numpy.support import (_check_finite, _erf, _random_normal, _random_uniform,",
            "                                           _scatter_add, _sigmoid, _take)",
            "",
            "",
            "def bind(buffers):",
        ]
        buffers = [f"    {b.name} = buffers[{b.name!r}]  # {b.role} {b.dtype}[{b.size}]" for b in prog.buffers]
        body = [line.replace("        ", "            ", 1) for line in body]
        run = (["", "    def run():", "        with np.errstate(all='ignore'):  # inf/nan are data here; debug mode checks them"]
               + (body or ["            pass"])
               + [f"        return ({outs}{',' if len(prog.outputs) == 1 else ''})", "", "    return run", ""])
        return "\n".join(head + buffers + self.setup + run)
