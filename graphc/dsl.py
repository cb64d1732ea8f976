"""The user-facing functions on tensors: every op function of graphc.ops lifted (graphc.tensor.lift),
the op registries as the DSL sees them, and graph, grad, vjp, evaluate and check_grad."""
from __future__ import annotations

import functools
from collections.abc import Mapping

from . import autodiff, gradcheck, ops
from .interpreter import run
from .ir import Graph
from .runtime import bind_inputs
from .tensor import DslOp, Tensor, as_nodes, as_tensor, call, lift
from .errors import ArgumentError

_NOT_LIFTED = {"scope", "elementwise"}  # scope() takes no tensors; elementwise() returns a function: lifted below

globals().update({name: lift(getattr(ops, name)) for name in ops.__all__ if name not in _NOT_LIFTED})
scope = ops.scope


@functools.wraps(ops.elementwise)
def elementwise(*args, **kwargs):
    return lift(ops.elementwise(*args, **kwargs))


class _Registry(Mapping):
    """A live view of a registry of graphc.ops (name -> op or composite) whose entries take tensors."""

    def __init__(self, entries: dict):
        self._entries = entries

    def __getitem__(self, name: str) -> DslOp:
        return lift(self._entries[name])

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"{type(self).__name__}({sorted(self._entries)})"


REGISTRY, COMPOSITES = _Registry(ops.REGISTRY), _Registry(ops.COMPOSITES)


def graph(outputs) -> Graph:
    """The Graph that computes `outputs` (a tensor or a list of tensors)."""
    return Graph(as_nodes(outputs))


def grad(y, wrt, disconnected: str = "zeros"):
    """d y / d wrt for a scalar tensor y: a tensor for a single wrt, a list for a list (graphc.autodiff.grad)."""
    return call(autodiff.grad, as_tensor(y), wrt, disconnected)


def vjp(outputs, wrt, cotangents, disconnected: str = "zeros"):
    """sum_k cotangents[k] · d outputs[k] / d wrt, on tensors (graphc.autodiff.vjp)."""
    return call(autodiff.vjp, outputs, wrt, cotangents, disconnected)


def evaluate(outputs, inputs: dict | None = None, **kw):
    """Evaluate tensors directly with the reference interpreter: `gc.evaluate(y, x=array)`."""
    single = not isinstance(outputs, (list, tuple))
    g = Graph(as_nodes(outputs))
    arrays, bindings = bind_inputs(g.inputs, dict(inputs or {}, **kw), cast="same_kind")
    values = run(g, arrays, bindings)
    result = [values[o] for o in g.outputs]
    return result[0] if single else result


def check_grad(fn_or_output, inputs, *, eps: float = 1e-6, tol: float = 1e-6, atol: float = 0.0, directions: int = 3,
               seed: int = 0, raise_on_fail: bool = True, constants: dict | None = None) -> dict[str, float]:
    """Symbolic gradients against central finite differences (graphc.gradcheck.check_grad, on tensors):
    check_grad(lambda x, w: gc.sum(gc.tanh(x @ w)), [x_array, w_array]) or check_grad(loss, {w: w.value, x: x_array})."""
    options = dict(eps=eps, tol=tol, atol=atol, directions=directions, seed=seed, raise_on_fail=raise_on_fail)
    constants = {as_tensor(t).node: v for t, v in (constants or {}).items()}
    if isinstance(fn_or_output, Tensor):
        if not isinstance(inputs, dict):
            raise ArgumentError("with an output tensor, pass inputs as {tensor: value}")
        inputs = {as_tensor(t).node: v for t, v in inputs.items()}
        return gradcheck.check_grad(fn_or_output.node, inputs, constants=constants, **options)

    def node_fn(*nodes):
        return as_tensor(fn_or_output(*(Tensor.of(n) for n in nodes))).node

    return gradcheck.check_grad(node_fn, inputs, constants=constants, **options)


__all__ = sorted(set(ops.__all__) | {"REGISTRY", "COMPOSITES", "graph", "grad", "vjp", "evaluate", "check_grad"})
