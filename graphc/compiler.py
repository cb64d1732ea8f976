"""gc.compile: turn output tensors (and parameter updates) into a callable on a chosen backend.

The semantics of a call: every output is computed from the parameters as they were when the
call started; the updates are assigned together, in place, and become visible when it returns.
"""
from __future__ import annotations

import numpy as np

from . import shapes
from .errors import ArgumentError, GraphError, InputError, NonFiniteError
from .interpreter import run
from .ir import Graph, rich_display, toposort, verify
from .pipeline import LEVELS
from .runtime import CAST_POLICIES, Executable, InputPlan, backend_builder, default_backend
from .tensor import Param, Tensor, as_nodes, as_tensor


class ReferenceBackend:
    """Runs the graph with the reference interpreter: each op's NumPy semantics, node by node."""

    name = "reference"

    def __init__(self, graph: Graph, n_outputs: int, updates: list, debug: bool = False):
        self.graph, self.n_outputs, self.updates, self.debug = graph, n_outputs, updates, debug

    def __call__(self, arrays, bindings):
        values = run(self.graph, arrays, bindings, check_finite=self.debug)
        # copies: a parameter's value *is* its storage, which the updates are about to overwrite
        outs = [np.array(values[o]) for o in self.graph.outputs[:self.n_outputs]]
        new_values = [np.array(values[v]) for _, v in self.updates]  # all computed before any is assigned
        for (var, _), value in zip(self.updates, new_values):
            var.value[...] = value
        return outs


class CompiledFunction:
    """A callable over keyword inputs that returns the outputs and then applies the updates in place."""

    def __init__(self, outputs, updates: dict | None, backend: str, cast: str, debug: bool, inputs=None,
                 optimize: int = 2, dump: str | None = None):
        if isinstance(optimize, bool) or optimize not in LEVELS:
            raise ArgumentError(f"compile: optimize must be one of {LEVELS}, got {optimize!r}")
        if not isinstance(outputs, (Tensor, list, tuple)):
            raise ArgumentError(f"compile: outputs must be a tensor or a list of tensors, got {type(outputs).__name__}"
                                + (" (pass [] to compile updates alone)" if outputs is None else ""))
        if cast not in CAST_POLICIES:
            raise ArgumentError(f"compile: cast must be one of {CAST_POLICIES}, got {cast!r}")
        if not isinstance(debug, (bool, np.bool_)):
            raise ArgumentError(f"compile: debug must be True or False, got {debug!r}")
        self.single = isinstance(outputs, (Tensor,))
        out_nodes = as_nodes(outputs)
        self.updates = _check_updates(updates or {})
        results = out_nodes + [v for _, v in self.updates]
        extra = as_nodes(inputs) if inputs is not None else []
        for n in extra:
            if n.op.name != "input":
                raise GraphError(f"inputs= takes graph inputs (gc.input), got {n.qualname!r} ({n.op.name})")
        self.graph = verify(Graph(results, nodes=toposort(results + extra)))
        _check_dims_bound(self.graph)
        self.n_outputs = len(out_nodes)
        names = [n.attrs["name"] for n in self.graph.inputs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise GraphError(f"the graph has several inputs named {dup}; input names must be unique")
        self.backend_name, self.cast, self.debug = backend, cast, debug
        self._inputs = InputPlan(self.graph.inputs)
        if backend == "reference":
            self.backend = ReferenceBackend(self.graph, self.n_outputs, self.updates, debug=debug)
        else:
            self.backend = Executable(self.graph, self.n_outputs, self.updates, backend_builder(backend), debug=debug,
                                      optimize=optimize, dump=dump)
        self.optimize = optimize

    @property
    def input_names(self) -> list[str]:
        return [n.attrs["name"] for n in self.graph.inputs]

    def __call__(self, *positional, **inputs):
        if positional:
            raise InputError(f"pass inputs by name: f({', '.join(f'{n}=...' for n in self.input_names)}); "
                             f"got {len(positional)} positional argument(s)")
        arrays, bindings = self._inputs.bind(inputs, self.cast)
        if self.debug:  # a NaN or Inf that arrives in an input is the input's, not the first node's that reads it
            for node, array in arrays.items():
                if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
                    bad = "NaN" if np.isnan(array).any() else "Inf"
                    raise NonFiniteError(f"{bad} in input {node.attrs['name']!r} (shape {array.shape}), before any node ran")
        outs = self.backend(arrays, bindings)
        if self.single:
            return outs[0]
        return outs

    def to_host(self) -> None:
        """Bring every parameter and optimiser state this function uses back to its host array (`param.value`).
        Reading `.value` does so for one; a device backend keeps them in its memory between calls."""
        for node in self.graph.nodes:
            if node.op.name == "param":
                node.attrs["var"].value  # noqa: B018 - reading releases a device's copy

    @property
    def source(self) -> str:
        """The generated source of the most recently run shape specialisation (code-generating backends):
        a NumPy module, or the LLVM backend's IR before optimisation."""
        return self._generated("source")

    def profile(self, repeats: int = 20, **inputs) -> list[tuple[str, float]]:
        """[(kernel label, seconds)] for one call with `inputs`, per kernel, timed in native code (the LLVM
        backend; the median of `repeats` calls). The calls run the step: updates are applied each time."""
        arrays, bindings = self._inputs.bind(inputs, self.cast)
        backend = self.backend
        spec = backend.specialize(bindings) if isinstance(backend, Executable) else None
        if spec is not None:
            backend.last = spec  # profiling is calling: fn.program and fn.source are this binding's now
        if spec is None or not hasattr(spec.fn, "profile"):
            raise AttributeError(f"backend {self.backend_name!r} has no per-kernel profile (the LLVM backend has)")
        by_name = {n.attrs["name"]: a for n, a in arrays.items()}
        staged = [np.ascontiguousarray(by_name[name], dtype=buf.dtype) for name, buf in spec.program.inputs.items()]
        with spec.lock:
            return spec.fn.profile(spec.run, staged, repeats)

    @property
    def llvm_ir(self) -> str:
        """The LLVM backend's IR of the most recent specialisation, after optimisation (the vectorised loops)."""
        return self._generated("optimized_ir")

    @property
    def asm(self) -> str:
        """The LLVM backend's machine code of the most recent specialisation, as assembly text."""
        return self._generated("asm")

    def _generated(self, what: str) -> str:
        backend = self.backend
        if not isinstance(backend, Executable):
            raise AttributeError(f"backend {self.backend_name!r} generates no code")
        if backend.last is None:
            if any(shapes.free_symbols(n.shape) for n in self.graph.inputs):
                raise AttributeError("no code yet: symbolic dims are bound per call, so call the function once first")
            backend.last = backend.specialize({})
        text = getattr(backend.last.fn, what, None)
        if text is None:
            raise AttributeError(f"backend {self.backend_name!r} generates no {what}")
        return text

    @property
    def program(self):
        """The lowered Program of the most recent call's shape binding (or of static shapes)."""
        backend = self.backend
        if not isinstance(backend, Executable):
            raise AttributeError("the reference backend interprets the graph; it lowers no Program")
        if backend.last is None:
            if any(shapes.free_symbols(n.shape) for n in self.graph.inputs):
                raise AttributeError("no program yet: symbolic dims are bound per call, so call the function once first")
            backend.last = backend.specialize({})
        return backend.last.program

    def report(self) -> list[dict]:
        """What each compiler stage did for the most recent call's shape binding (or static shapes):
        one dict per stage, in pipeline order (graphc.pipeline): nodes before/after and rewrites by
        rule for graph passes, kernels for Program passes, and for the memory plan the bytes of the
        temporaries unplanned, planned and the peak-live lower bound; then the backend's own stages (the
        LLVM backend: the cache key, IR building, O3, machine-code emission or a cache load, linking).
        Every stage has its `seconds`. The reference backend interprets the graph as it is: one entry."""
        if not isinstance(self.backend, Executable):
            return [{"stage": "reference interpreter", "nodes": len(self.graph)}]
        return [dict(entry) for entry in self.program.report]

    def _repr_mimebundle_(self, include=None, exclude=None):
        """A notebook draws the compiled kernels after a call, the graph before (graphc.ir.rich_display)."""
        return rich_display(self)

    def __repr__(self):
        specs = ""
        if isinstance(self.backend, Executable) and self.backend.cache:  # one compiled Program per shape binding
            specs = ", compiled for " + "; ".join(", ".join(f"{k}={v}" for k, v in b.items()) or "static shapes"
                                                  for b in self.backend.bindings)
        return (f"<graphc function ({', '.join(self.input_names)}) -> {self.n_outputs} output(s), {len(self.updates)} update(s), "
                f"backend={self.backend_name}{specs}>")


def _check_dims_bound(graph: Graph):
    """Every symbolic dim in the graph must be declared by one of its inputs, or no call could bind it."""
    bound = set().union(*(shapes.free_symbols(n.shape) for n in graph.inputs)) if graph.inputs else set()
    for n in graph.nodes:
        missing = shapes.free_symbols(n.shape) - bound
        if missing:
            raise GraphError(f"{n.op.name} {n.qualname!r} has shape {shapes.fmt_shape(n.shape)}, but no input of the function "
                             f"declares dim(s) {sorted(missing)}; pass the input(s) that do with compile(..., inputs=[...])")


def _check_updates(updates: dict) -> list:
    if not isinstance(updates, dict):
        raise GraphError(f"updates must be a dict {{param: new value}}, got {type(updates).__name__}"
                         + (" (pass dict(pairs))" if isinstance(updates, (list, tuple)) else ""))
    out = []
    for target, new in updates.items():
        if not isinstance(target, Param):
            raise GraphError(f"update targets must be parameters (gc.param), got {target!r}")
        new = as_tensor(new)
        var = target.variable
        if len(new.shape) != len(var.shape) or not all(shapes.dims_equal(a, b) for a, b in zip(new.shape, var.shape)):
            raise GraphError(f"update of {var.name!r}: new value has shape {shapes.fmt_shape(new.shape)}, the parameter {var.shape}")
        if new.dtype != var.dtype:
            if not np.can_cast(new.dtype, var.dtype, casting="same_kind"):
                raise GraphError(f"update of {var.name!r}: new value has dtype {new.dtype}, the parameter {var.dtype}")
            new = new.astype(var.dtype)
        out.append((var, new.node))
    return out


def compile(outputs, updates: dict | None = None, backend: str | None = None, cast: str = "safe", debug: bool = False,
            inputs=None, optimize: int = 2, dump: str | None = None):
    """Compile `outputs` (a tensor or a list) and optional `updates` {param: new value tensor}.

    The result is called with the graph's inputs by keyword; it returns the outputs' values and
    then assigns every update simultaneously, in place, to the parameters' storage.
    backend: 'llvm' (the default: the whole step as one native call, compiled for this CPU; 'numpy'
    where llvmlite cannot load), 'numpy' (readable vectorised NumPy source in `fn.source`),
    'reference' (the interpreter, every backend's oracle), or any other registered backend.
    cast: how far inputs of another dtype may be converted ('safe', 'same_kind' or 'no').
    debug: check every value for NaN/Inf and name the first node that produced one.
    inputs: extra gc.inputs the function takes although no output reads their values (for
    example the batch input that a gradient's shape depends on).
    optimize: 2 (the default) runs every pass of graphc.pipeline (graph rewrites, Program passes,
    the planned arena); 1 only the graph rewrites; 0 none (the unoptimised program, the oracle).
    dump: a directory to write, per shape binding, every stage's listing and its diff against the
    stage before (the environment variable GRAPHC_DUMP does the same for scripts).
    """
    return CompiledFunction(outputs, updates, backend or default_backend(), cast, debug, inputs, optimize, dump)
