"""Elementwise ops, each defined by a sympy formula: evaluation, broadcasting and derivatives.

`Elementwise` is one op per formula (sigmoid, add, ...); `expr` is the op whose formula is an
attribute, which is what derivatives of elementwise ops are built from: the VJP of sigmoid is
one `expr` node computing g*y*(1-y), carrying its formula for rendering and for being
differentiated again. A user registers a new op from a formula with `gc.elementwise`.
"""
from __future__ import annotations

import inspect
from typing import Callable, Sequence

import sympy

from .. import dtypes, scalar, scalar_ops, shapes
from ..errors import ArgumentError, DTypeError, DifferentiationError
from ..ir import Node
from .movement import sum_to_shape
from .registry import REGISTRY, Op, as_node, register

# dtype behaviours of elementwise ops
SAME, FLOAT, BOOL, LOGICAL, INTEGER = "same", "float", "bool", "logical", "integer"


def _result_dtype(rule: str, in_dtypes, name: str):
    if rule == LOGICAL:
        if any(d != dtypes.bool_ for d in in_dtypes):
            raise DTypeError(f"needs bool operands, got {', '.join(map(str, in_dtypes))}")
        return dtypes.bool_
    d = dtypes.promote(*in_dtypes)
    if rule == INTEGER and not dtypes.is_int(d):
        raise DTypeError(f"needs integer operands, got {', '.join(map(str, in_dtypes))}")
    if rule == BOOL:
        return dtypes.bool_
    if rule == FLOAT:
        return d if dtypes.is_float(d) else dtypes.DEFAULT_FLOAT
    if d == dtypes.bool_:
        raise DTypeError("arithmetic on bool operands; cast them (x.astype('float32')) or use logical ops")
    return d


class Elementwise(Op):
    """An elementwise op from a sympy formula (NumPy broadcasting of its operands)."""

    kind = "elementwise"

    def __init__(self, name: str, arity: int, formula: Callable, *, result: str = SAME,
                 derivative: Callable | None = None, numpy: Callable | None = None,
                 differentiable: bool = True, attrs: Sequence[str] = (), stable: Callable | None = None):
        self.name, self.arity, self.formula_fn, self.stable_fn = name, arity, formula, stable
        self.result, self.derivative_fn, self.numpy_fn = result, derivative, numpy
        self.differentiable, self.attr_names = differentiable, tuple(attrs)
        self._cache: dict = {}

    @property
    def computes(self) -> bool:
        return self.result != INTEGER  # bit operations take integers only: float16 is refused as itself

    def same_definition(self, other: "Elementwise") -> bool:
        """True when `other` declares the same op: formula, arity, result rule, attributes, stated derivative."""
        try:
            same_derivative = (self.derivative_fn is None) == (other.derivative_fn is None) and (
                self.derivative_fn is None or self.derivatives() == other.derivatives())
            return (self.arity, self.result, self.attr_names, self.numpy_fn is None) == (
                other.arity, other.result, other.attr_names, other.numpy_fn is None) and (
                not self.attr_names and self.formula() == other.formula() and same_derivative)
        except Exception:  # noqa: BLE001 - a formula that cannot be built is not the same definition
            return False

    # -- the formula and its derivatives (derived once per attribute set, cached) ----
    def formula(self, **attrs):
        key = ("f", tuple(sorted(attrs.items())))
        if key not in self._cache:
            self._cache[key] = sympy.sympify(self.formula_fn(*scalar.arg_symbols(self.arity), **attrs))
        return self._cache[key]

    def lowering_formula(self, **attrs):
        """The formula backends compute: the op's stated stable spelling if it has one, else its formula."""
        if self.stable_fn is None:
            return self.formula(**attrs)
        key = ("s", tuple(sorted(attrs.items())))
        if key not in self._cache:
            self._cache[key] = sympy.sympify(self.stable_fn(*scalar.arg_symbols(self.arity), **attrs))
        return self._cache[key]

    def derivatives(self, **attrs) -> tuple:
        """d(formula)/d(arg_i) for each argument: the op's stated stable form, else sympy.diff."""
        key = ("d", tuple(sorted(attrs.items())))
        if key not in self._cache:
            args = scalar.arg_symbols(self.arity)
            if self.derivative_fn is not None:
                stated = self.derivative_fn(*args, scalar.Y, **attrs)
                ds = tuple(sympy.sympify(d) for d in (stated if isinstance(stated, (tuple, list)) else (stated,)))
            else:
                f = self.formula(**attrs)
                ds = tuple(sympy.diff(f, a) for a in args)
            self._cache[key] = ds
        return self._cache[key]

    # -- rules ---------------------------------------------------------------
    def normalize(self, inputs, attrs):
        if len(inputs) != self.arity:
            raise ArgumentError(f"takes {self.arity} operand(s), got {len(inputs)}")
        unknown = set(attrs) - set(self.attr_names)
        if unknown:
            raise ArgumentError(f"unknown attribute(s) {sorted(unknown)}")
        return {k: float(v) for k, v in attrs.items()}

    def shape(self, *inputs, **attrs):
        return shapes.broadcast_shapes(*(i.shape for i in inputs))

    def dtype(self, *inputs, **attrs):
        return _result_dtype(self.result, [i.dtype for i in inputs], self.name)

    def reference(self, *arrays, **attrs):
        if self.result == FLOAT:  # int operands of a float-valued op are computed in the default float
            arrays = [a.astype(dtypes.DEFAULT_FLOAT) if a.dtype.kind in "biu" else a for a in arrays]
        in_dtypes = [a.dtype for a in arrays]
        out = _result_dtype(self.result, in_dtypes, self.name)
        if self.numpy_fn is not None:
            # in the type graphc computes in (NumPy would take int32 with float32 to float64)
            compute = self.compute_dtype(in_dtypes, out)
            if compute != dtypes.bool_:
                arrays = [a if a.dtype == compute else a.astype(compute) for a in arrays]
            return self.numpy_fn(*arrays, **attrs)
        return scalar_ops.evaluate_formula(self.formula(**attrs), scalar.arg_symbols(self.arity), arrays,
                                           self.compute_dtype(in_dtypes, out), out)

    def vjp(self, g, y, *inputs, **attrs):
        return _elementwise_vjp(g, y, inputs, scalar.arg_symbols(self.arity), self.derivatives(**attrs))

    def compute_dtype(self, in_dtypes, out_dtype):
        """The dtype the formula's arithmetic happens in: the result's, or the operands' for a comparison."""
        return dtypes.promote(*in_dtypes) if self.result == BOOL else out_dtype

    def lower(self, ctx, *accesses, **attrs):
        compute = self.compute_dtype([a.buffer.dtype for a in accesses], ctx.node.dtype)
        return ctx.elementwise(self.lowering_formula(**attrs), scalar.arg_symbols(self.arity), accesses, compute)


class Expr(Op):
    """An elementwise op whose formula is an attribute: `fn` is a sympy Lambda over the inputs.

    Free symbols of the body that are not arguments are symbolic dims (bound at call time)."""

    name, kind = "expr", "elementwise"
    computes = False  # moves, selects or converts: works on a float16 value as stored

    def normalize(self, inputs, attrs):
        fn = attrs["fn"]
        if len(fn.variables) != len(inputs):
            raise ArgumentError(f"formula takes {len(fn.variables)} argument(s), got {len(inputs)}")
        attrs["dtype"] = dtypes.as_dtype(attrs["dtype"])
        return attrs

    def shape(self, *inputs, fn, dtype):
        return shapes.broadcast_shapes(*(i.shape for i in inputs))

    def dtype(self, *inputs, fn, dtype):
        return dtype

    def reference(self, *arrays, fn, dtype):
        if dtype == dtypes.bool_:
            return scalar_ops.evaluate_formula(fn.expr, fn.variables, arrays, dtypes.promote(*(a.dtype for a in arrays)), dtype)
        # float64 operands (the interpreter's float64 mode, for finite differences) keep their precision
        wide = dtypes.promote(dtype, *(a.dtype for a in arrays if dtypes.is_float(a.dtype))) if dtypes.is_float(dtype) else dtype
        return scalar_ops.evaluate_formula(fn.expr, fn.variables, arrays, dtypes.compute_type(wide), wide)

    def vjp(self, g, y, *inputs, fn, dtype):
        return _elementwise_vjp(g, y, inputs, fn.variables, tuple(sympy.diff(fn.expr, v) for v in fn.variables))

    def lower(self, ctx, *accesses, fn, dtype):
        compute = dtype if dtype != dtypes.bool_ else dtypes.promote(*(a.buffer.dtype for a in accesses))
        return ctx.elementwise(fn.expr, fn.variables, accesses, compute)


EXPR = register(Expr)


def expr(body, args: dict, dtype=None, name=None) -> Node:
    """An `expr` node computing `body` (sympy) with symbols bound to nodes by `args` {symbol: node}."""
    syms = tuple(s for s in args if s in body.free_symbols) or tuple(args)[:1]
    operands = [as_node(args[s]) for s in syms]
    dt = dtype or dtypes.promote(*(x.dtype for x in operands))
    return EXPR(*operands, fn=sympy.Lambda(syms, body), dtype=dt, name=name)


def _elementwise_vjp(g, y, inputs, args, derivatives):
    """Cotangents of an elementwise op: one `expr` node g*d_i per float input, reduced to its shape.

    Scalar constant operands are substituted into the formula (so d(x**2)/dx reads 2*x), and a
    derivative of exactly 1 passes g through without a node."""
    consts = {a: _scalar_value(x) for a, x in zip(args, inputs) if _scalar_value(x) is not None}
    # the cotangent's symbol must differ from the formula's arguments: the VJP of a backward `expr`
    # node (whose formula is in G) would otherwise bind G to its input instead of the cotangent
    gsym = scalar.G
    while gsym in args:
        gsym = sympy.Symbol(gsym.name + "_", real=True)
    out = []
    for x, a, d in zip(inputs, args, derivatives):
        d = d.subs(consts) if consts else d
        if not dtypes.is_float(x.dtype) or x.op.name == "const" or d == 0:
            out.append(None)
            continue
        if d.has(sympy.Derivative, sympy.Subs):  # sympy left it unevaluated: no kernel could compute it
            raise DifferentiationError(f"the derivative of {y.op.name} {y.qualname!r} with respect to {a} is {d}, which "
                                       "sympy cannot evaluate; state it with gc.elementwise(..., derivative=...)")
        if d == 1:
            ct = g
        else:
            env = {gsym: g, scalar.Y: y, **{s: t for s, t in zip(args, inputs) if s not in consts}}
            ct = expr(gsym * d, env, dtype=x.dtype)
            ct.meta.setdefault("local_derivative", d)
        out.append(sum_to_shape(ct, x.shape))
    return out


def _scalar_value(node):
    """The Python number held by a scalar constant node, else None."""
    if node.op.name == "const" and node.attrs["value"].array.size == 1:
        v = node.attrs["value"].array.reshape(())[()]
        return sympy.Integer(int(v)) if float(v).is_integer() else sympy.Float(float(v))
    return None


def elementwise(name: str, formula: Callable, *, arity: int | None = None, derivative=None,
                numpy=None, result: str = FLOAT, attrs: Sequence[str] = ()):
    """Register a new elementwise op from a sympy formula; returns the function that applies it.

    `formula` receives sympy symbols (one per operand, then attributes as keywords) and returns
    an expression; derivatives come from sympy.diff unless `derivative(*args, y)` states them.
    The function applies the op to nodes (the DSL's `graphc.elementwise` lifts it to tensors).
    """
    if arity is None:
        params = [p for p in inspect.signature(formula).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
        arity = len(params)
    op = Elementwise(name, arity, formula, result=result, derivative=derivative, numpy=numpy, attrs=attrs)
    existing = REGISTRY.get(name)
    if isinstance(existing, Elementwise) and existing.same_definition(op):
        op = existing  # the same definition again (a notebook cell run twice): the op it already is
    else:
        op = register(op)

    def apply(*operands, name=None, **attr_values):
        return op(*operands, name=name, **attr_values)

    apply.__name__ = name
    apply.__doc__ = f"Elementwise op {name!r}, defined by a sympy formula (see `{name}.op.formula()`)."
    apply.op = op
    return apply
