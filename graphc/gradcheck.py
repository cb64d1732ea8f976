"""check_grad: symbolic gradients against central finite differences, in float64, along random directions.

It works on nodes (`graphc.check_grad` is the same on tensors)."""
from __future__ import annotations

import numpy as np

from .autodiff import grad
from .errors import ArgumentError, GraphcError, InputError
from .interpreter import run
from .ir import Graph, Node
from .ops.leaves import input as make_input


class GradCheckError(GraphcError, AssertionError):
    """A symbolic gradient disagrees with finite differences."""


def check_grad(fn_or_output, inputs, *, eps: float = 1e-6, tol: float = 1e-6, atol: float = 0.0, directions: int = 3,
               seed: int = 0, raise_on_fail: bool = True, constants: dict | None = None) -> dict[str, float]:
    """Compare d output / d input with central differences along `directions` random unit directions.

    Two forms:
      check_grad(lambda x, w: gc.sum(gc.tanh(x @ w)), [x_array, w_array])    # builds float64 inputs
      check_grad(loss, {w: w.value, x: x_array})                             # an existing scalar output
    `constants` gives values to other graph inputs that are held fixed ({labels: ints}).
    A direction passes when |fd - symbolic| <= atol + tol * max(|fd|, |symbolic|); atol > 0 lets a
    gradient that is exactly zero pass despite finite-difference round-off.
    Every value is computed in float64. Returns {input name: worst relative error}; raises
    GradCheckError listing them when one exceeds `tol` (unless raise_on_fail=False).
    """
    if isinstance(fn_or_output, Node):
        y = fn_or_output
        if not isinstance(inputs, dict):
            raise ArgumentError("with an output node, pass inputs as {node: value}")
        wrt = list(inputs)
        values = [np.asarray(v, np.float64) for v in inputs.values()]
    else:
        arrays = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        names = list(inputs) if isinstance(inputs, dict) else [f"x{i}" for i in range(len(arrays))]
        values = [np.asarray(a, np.float64) for a in arrays]
        wrt = [make_input(n, v.shape, np.float64) for n, v in zip(names, values)]
        y = fn_or_output(*wrt)
    fixed = {t: np.asarray(v) for t, v in (constants or {}).items()}
    grads = grad(y, wrt)
    graph = Graph([y] + grads)
    bindings = _bindings(graph, {**fixed, **dict(zip(wrt, values))})
    for n in graph.inputs:
        if n not in set(wrt) and n not in fixed:
            raise InputError(f"input {n.attrs['name']!r} of the graph has no value in `inputs` or `constants`")

    def evaluate(vals, outputs):
        env = run(graph, {**fixed, **dict(zip(wrt, vals))}, bindings, float64=True, keep="all")
        return [env[o] for o in outputs]

    analytic = evaluate(values, grads)
    rng = np.random.default_rng(seed)
    report: dict[str, float] = {}
    failing: set[str] = set()
    for i, (w, v) in enumerate(zip(wrt, values)):
        worst = 0.0
        for _ in range(directions):
            d = rng.standard_normal(v.shape)
            d /= max(np.linalg.norm(d), 1e-300)
            plus = [x if j != i else x + eps * d for j, x in enumerate(values)]
            minus = [x if j != i else x - eps * d for j, x in enumerate(values)]
            fd = (float(evaluate(plus, [y])[0]) - float(evaluate(minus, [y])[0])) / (2 * eps)
            an = float(np.sum(analytic[i] * d))
            err = abs(fd - an) / max(abs(fd), abs(an), 1e-8)
            worst = max(worst, err)
            if abs(fd - an) > atol + tol * max(abs(fd), abs(an), 1e-8):
                failing.add(w.qualname)
        report[w.qualname] = worst
    failed = {k: report[k] for k in failing}
    if failed and raise_on_fail:
        lines = "\n".join(f"  {k}: relative error {e:.3g}" for k, e in report.items())
        raise GradCheckError(f"gradient check failed (tol {tol:g}):\n{lines}")
    return report


def _bindings(graph: Graph, values: dict) -> dict:
    bindings: dict = {}
    for node, v in values.items():
        for d, actual in zip(node.shape, np.shape(v)):
            if not isinstance(d, int) and d.is_Symbol:
                bindings[d.name] = actual
    return bindings
