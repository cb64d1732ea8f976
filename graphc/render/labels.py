"""Node labels: what forward values are, which local derivative each backward node applies, value summaries.

Derivative knowledge stays with the ops: an elementwise VJP node carries its local derivative
(`meta["local_derivative"]`, a sympy formula in the op's operands x / a, b and its output y),
which is printed with the operands' names and y replaced by the op applied to them (σ(z));
any other VJP result is described by its forward op's `vjp_label(index, out, inputs)`.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, scalar, shapes
from .formulas import Namer, fmt, formula_args, is_formula_op, unwrap

LOSS_DEFAULT = "L"
_REDUCING = ("sum", "reshape", "cast")  # how autodiff brings a broadcast contribution to its operand's shape and dtype


def type_text(node) -> str:
    """Shape for edge labels, prefixed by the dtype when it is not the default float32. Drawings write
    the batch dim N, as the formulas do (shape=(N,), / N): one notation in a figure."""
    dims = "[" + ",".join(str(d) for d in node.shape) + "]"
    if node.dtype == dtypes.DEFAULT_FLOAT:
        return dims if node.shape else ""  # a float32 scalar needs no label
    return dtypes.short(node.dtype) + dims


class Labeller:
    """Label texts for one analysed graph (see graphc.render.analysis.Analysis)."""

    def __init__(self, analysis, namer: Namer | None = None):
        self.a = analysis
        self.names = namer or Namer(analysis.nodes)
        loss = analysis.loss
        self.loss_name = self.names.base(loss) if loss is not None and loss.name else LOSS_DEFAULT

    # -- names of cotangents --------------------------------------------------
    def d(self, node) -> str:
        """∂L/∂<node's name>."""
        return f"∂{self.loss_name}/∂{self.names.text(node)}"

    def cotangent_name(self, node) -> str:
        """How a backward node is referred to in other nodes' formulas."""
        x = self.a.cotangent_of(node)
        if x is None:
            return self.names.base(node)
        if self.a.is_total(node):
            return self.d(x)
        mark = self.a.grad_of(node)
        return f"{self.d(x)} (via {unwrap(self.names.text(mark[0]))})" if mark else self.d(x)

    def _product(self, node, cot: str, factor: str) -> str:
        times = "·" if node.ndim == 0 else "⊙"
        return f"{cot} {times} {factor}"

    # -- forward ------------------------------------------------------------------
    def forward(self, node) -> list[str]:
        """Lines: op and user name for ops; name for leaves; the value of small constants."""
        op = node.op.name
        if op == "const":
            return [self.names.text(node) if node.attrs["value"].array.size == 1 else node.attrs["value"].graph_label()]
        if op in ("input", "param"):
            return [self.names.base(node)]
        lines = [op]
        if node.name:
            lines.append(self.names.base(node))
        elif is_formula_op(node) and not self.names.text(node).startswith(f"{op}_"):
            lines.append(f"= {unwrap(self.names.text(node))}")
        else:  # the name the backward formulas use for this value (sum_2 in ∂L/∂sum_2)
            lines = [self.names.base(node)]
        return lines

    # -- backward -----------------------------------------------------------------
    def backward(self, node) -> list[str]:
        """Lines: `∂L/∂x = <formula>` (the local derivative this node applies), then aliases."""
        a = self.a
        if a.is_seed(node):
            return [f"∂{self.loss_name}/∂{self.loss_name} = 1"]
        x = a.cotangent_of(node)
        head, body = self._head(node), self._formula(node)
        lines = [f"{head} = {body}" if head else body]
        aliases = [y for y in a.total_of.get(node, []) if y is not x and y.op.name != "input"
                   and (y.name or y.op.name == "param") and y.op.name != "const"]
        if aliases:
            lines.append("= " + " = ".join(self.d(y) for y in aliases[:3]))
        return lines

    def _head(self, node) -> str | None:
        """What the node is: ∂L/∂x (total or one contribution), ∂L/∂x before Σ, or None for a helper value."""
        if self.a.cotangent_of(node) is not None:
            return self.cotangent_name(node)
        if "local_derivative" in node.meta:
            later = self._reduced_later(node)
            if later is not None:
                return f"{self.d(self.a.grad_of(later)[1])} before Σ"
        return None

    def _reduced_later(self, node):
        """For a contribution still of the broadcast shape: the node that sums it to its operand's shape."""
        seen = node
        for _ in range(3):
            users = [c for c in self.a.consumers.get(seen, []) if c in self.a.backward_set]
            if len(users) != 1 or users[0].op.name not in _REDUCING:
                return None
            seen = users[0]
            if self.a.grad_of(seen) is not None:
                return seen
        return None

    def _formula(self, node) -> str:
        meta = node.meta
        if "local_derivative" in meta:
            return self._local(node)
        if self.a.accumulates(node) is not None:
            return " + ".join(self._input_name(node, i) for i in range(len(node.inputs)))
        mark = self.a.grad_of(node)
        if mark is not None:
            f, x = mark
            if not is_formula_op(f):
                index = next((i for i, inp in enumerate(f.inputs) if inp is x), 0)
                return f.op.vjp_label_for(f, index, self._out_cotangent(f), [self.names.text(i) for i in f.inputs])
            if node.op.name in _REDUCING:  # an elementwise contribution summed to a broadcast operand's shape
                src = node
                while src.op.name in _REDUCING and src.inputs and src.inputs[0] in self.a.backward_set:
                    src = src.inputs[0]
                return f"Σ over broadcast axes of {self._name_of(src)}"
        args = ", ".join(self._input_name(node, i) for i in range(len(node.inputs)))
        attrs = repr(node.attrs) if len(node.attrs) else ""
        return f"{node.op.name}({args}{'; ' + attrs if attrs and len(attrs) <= 32 else ''})"

    def _name_of(self, node) -> str:
        if node is self.a.seed:
            return f"∂{self.loss_name}/∂{self.loss_name}"
        if node in self.a.backward_set:
            head = self._head(node)
            if head is not None:
                return head
            args = ", ".join(self._input_name(node, i) for i in range(len(node.inputs)))
            spelled = f"{node.op.name}({args})"
            return spelled if len(spelled) <= 28 else self.names.base(node)
        return self.names.text(node)

    def _input_name(self, node, i) -> str:
        return self._name_of(node.inputs[i])

    def _out_cotangent(self, f) -> str:
        """The name of the cotangent of f's output (the `g` its VJP was given)."""
        g = self.a.totals.get(f)
        if g is not None:
            if g is self.a.seed:
                return f"∂{self.loss_name}/∂{self.loss_name}"
            if g in self.a.backward_set:
                return self.cotangent_name(g)
        return self.d(f)

    def _local(self, node) -> str:
        """`∂L/∂out ⊙ d` with d the local derivative in the forward values' names."""
        d = node.meta["local_derivative"]
        target = self.a.grad_of(node)
        if target is None:
            later = self._reduced_later(node)
            target = self.a.grad_of(later) if later is not None else None
        if target is None:  # an elementwise VJP whose forward op is unknown: name the node's own operands
            names = {v: self._input_name(node, i) for i, v in enumerate(node.attrs["fn"].variables)}
            return fmt(node.attrs["fn"].expr, names)
        f = target[0]
        names = {p: self.names.text(i) for p, i in zip(formula_args(f), f.inputs)}
        if scalar.Y in d.free_symbols:
            names[scalar.Y] = self.names.applied(f) or self.names.text(f)
        cot = self._out_cotangent(f)
        if d == 1:
            return cot
        if d == -1:
            return f"−{cot}"
        if d.is_Number:
            return f"{fmt(d)}·{cot}"
        return self._product(node, cot, fmt(d, names))


# -- values ---------------------------------------------------------------------------
def summarize(value, max_items: int = 6) -> str:
    """A value for a label: scalars and small arrays printed, large arrays as shape, mean, min/max."""
    arr = np.asarray(value)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int8) if arr.size > max_items else arr
    if arr.size == 1:
        v = arr.reshape(())[()]
        return str(bool(v)) if arr.dtype.kind == "b" else f"{v:.4g}"
    if arr.size <= max_items:
        if arr.dtype.kind == "f":  # significant digits: a vanishing gradient of 5e-05 must not read as 0
            return np.array2string(arr, separator=", ", max_line_width=200,
                                   formatter={"float_kind": lambda v: f"{v:.4g}"}).replace("\n", "")
        return np.array2string(arr, separator=", ", max_line_width=200).replace("\n", "")
    shape = "×".join(str(d) for d in arr.shape)
    if arr.size == 0:
        return f"{shape} (empty)"
    a = arr.astype(np.float64)
    return f"{shape}: mean {a.mean():.3g}, min {a.min():.3g}, max {a.max():.3g}"
