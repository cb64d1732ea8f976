"""A graphc forward graph written as an ONNX model (`gc.onnx.save`): each primitive op as ONNX nodes.

Parameters and constants become initializers, inputs graph inputs (a symbolic dim keeps its name as a
dim_param), every elementwise op is written from its formula (graphc.onnx.formulas), and windows
(unfold, the im2col of convolution and pooling) become a Gather of static indices. Graphs that hold
ops an inference model has no use for (random sampling, the backward pass's scatters) are refused,
naming the node."""
from __future__ import annotations

import numpy as np
import sympy

from .. import dsl as gc, scalar, shapes
from ..checkpoint import atomic_write
from ..errors import OnnxError
from ..ops.elementwise import Elementwise
from ..tensor import as_nodes
from .formulas import FormulaWriter
from .reader import require_onnx

OPSET = 17
_ONNX_TYPES = {np.dtype(t): code for t, code in ((np.float32, 1), (np.uint8, 2), (np.int8, 3), (np.uint16, 4), (np.int16, 5),
                                                  (np.int32, 6), (np.int64, 7), (np.bool_, 9), (np.float16, 10),
                                                  (np.float64, 11), (np.uint32, 12), (np.uint64, 13))}
_REDUCE = {"max": "ReduceMax", "min": "ReduceMin", "mean": "ReduceMean", "prod": "ReduceProd"}
_LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_not": "Not"}
_NOT_EXPORTED = {"random_uniform", "random_normal", "fold", "unslice", "take_adjoint"}


def save(outputs, path=None, inputs=None, *, name: str = "graphc", opset: int = OPSET):
    """Write `outputs` (a tensor, a list, or {name: tensor}) as an ONNX model at `path` (atomically); return the
    ModelProto. `inputs` fixes the graph inputs' order (default: as the graph finds them)."""
    onnx = require_onnx()
    if not isinstance(opset, int) or not 14 <= opset <= OPSET:
        raise OnnxError(f"gc.onnx.save writes opsets 14 to {OPSET} (the forms of Reshape and the reductions it "
                        f"uses), got opset={opset!r}")
    named = outputs if isinstance(outputs, dict) else None
    out_nodes = as_nodes(list(named.values()) if named is not None else outputs)
    graph = gc.graph([gc.Tensor.of(n) for n in out_nodes])
    writer = _Writer(onnx, opset)
    order = as_nodes(inputs) if inputs is not None else list(graph.inputs)
    for node in order:
        writer.declare_input(node)
    # the outputs' names are taken before any other value's (an output named like an input gets a suffix)
    wanted = list(named) if named is not None else [n.name or f"output_{i}" for i, n in enumerate(out_nodes)]
    out_names = [writer.fresh(str(n)) for n in wanted]
    for node in graph.nodes:
        writer.node(node)
    outputs_info = []
    for out_name, node in zip(out_names, out_nodes):
        writer.nodes.append(onnx.helper.make_node("Identity", [writer.names[node]], [out_name]))
        outputs_info.append(onnx.helper.make_tensor_value_info(out_name, _onnx_type(node.dtype, out_name), _dims(node.shape)))
    model = onnx.helper.make_model(
        onnx.helper.make_graph(writer.nodes, name, writer.inputs, outputs_info, writer.initializers),
        opset_imports=[onnx.helper.make_opsetid("", opset)], producer_name="graphc")
    model.ir_version = min(model.ir_version, 8)  # readable by onnxruntime releases of the last years
    if path is not None:  # the checkpoints' atomic write: a crash never leaves half a model behind
        data = model.SerializeToString()
        atomic_write(str(path), lambda f: f.write(data))
    return model


def _onnx_type(dtype, what) -> int:
    try:
        return _ONNX_TYPES[np.dtype(dtype)]
    except KeyError:
        raise OnnxError(f"{what}: dtype {dtype} has no ONNX export") from None


def _dims(shape) -> list:
    return [d if isinstance(d, int) else str(d) for d in shape]


class _Writer:
    def __init__(self, onnx, opset: int):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.inputs, self.initializers = [], [], []
        self.names: dict = {}  # graphc node -> ONNX value name
        self.input_nodes: list = []  # in the order of self.inputs
        self.used: set = set()
        self.counter = 0

    def fresh(self, hint: str) -> str:
        base = "".join(c if c.isalnum() or c in "_./" else "_" for c in hint) or "v"
        name, n = base, 0
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name

    def emit(self, op_type: str, inputs: list, hint: str = "t", **attrs) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def constant(self, array, hint: str = "const") -> str:
        array = np.asarray(array)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array).reshape(array.shape), name))
        return name

    def declare_input(self, node) -> None:
        if node in self.names:
            return
        name = self.fresh(node.attrs["name"])
        self.names[node] = name
        self.input_nodes.append(node)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, _onnx_type(node.dtype, name), _dims(node.shape)))

    def node(self, node) -> None:
        if node in self.names:
            return
        op, attrs = node.op.name, node.attrs
        what = f"node {node.qualname!r} ({op})"
        if op in _NOT_EXPORTED:
            raise OnnxError(f"{what}: an inference graph to export cannot hold {op} (export the model's evaluation "
                            "outputs: dropout off, batch norm with its running statistics)")
        args = [self.names[i] for i in node.inputs]
        hint = node.name or op
        if op == "input":
            return self.declare_input(node)
        if op == "param":
            name = self.fresh(attrs["var"].name)
            self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(attrs["var"].value), name))
            self.names[node] = name
            return
        if op == "const":
            self.names[node] = self.constant(attrs["value"].array, hint)
            return
        self.names[node] = self.write(node, op, attrs, args, hint, what)

    def write(self, node, op, attrs, args, hint, what) -> str:
        x = node.inputs[0] if node.inputs else None
        if op in ("stop_gradient", "check_range"):
            return self.emit("Identity", args, hint)
        if op in _LOGICAL:
            return self.emit(_LOGICAL[op], args, hint)
        if op == "where":
            return self.emit("Where", args, hint)
        if op == "cast":
            return self.emit("Cast", args, hint, to=_onnx_type(attrs["dtype"], what))
        if op == "matmul":
            if node.dtype.kind in "iu" and node.dtype.itemsize < 4:  # ONNX multiplies 32- and 64-bit integers only
                wide = np.int32 if node.dtype.kind == "i" else np.uint32
                args = [self.cast_to(a, i.dtype, wide, what) for a, i in zip(args, node.inputs)]
                return self.cast_to(self.emit("MatMul", args, hint), wide, node.dtype, what)  # wraps, as graphc's does
            return self.emit("MatMul", args, hint)
        if op == "transpose":
            return self.emit("Transpose", args, hint, perm=list(attrs["perm"]))
        if op == "reshape":  # allowzero: a 0 in the target is a zero-length dim, not "copy the input's"
            return self.emit("Reshape", [args[0], self.shape_value(attrs["shape"], what, infer=True)], hint,
                             **({"allowzero": 1} if 0 in attrs["shape"] else {}))
        if op == "broadcast_to":
            own = (1,) * (len(attrs["shape"]) - x.ndim) + tuple(x.shape)
            # Expand keeps an input dim where the target says 1: a symbolic dim the input has needs no value
            target = [1 if not isinstance(d, int) and shapes.dims_equal(d, s) else d for d, s in zip(attrs["shape"], own)]
            return self.emit("Expand", [args[0], self.shape_value(target, what)], hint)
        if op == "concat":
            args = [self.cast_to(a, i.dtype, node.dtype, what) for a, i in zip(args, node.inputs)]
            return self.emit("Concat", args, hint, axis=attrs["axis"])
        if op == "take":
            return self.emit("Gather", args, hint, axis=attrs["axis"])
        if op == "iota":
            shape = attrs["shape"]
            values = np.arange(shape[attrs["axis"]]).reshape([-1 if a == attrs["axis"] else 1 for a in range(len(shape))])
            return self.constant(np.broadcast_to(values, shape).astype(attrs["dtype"]), hint)
        if op == "pad":
            pads = [a for a, _ in attrs["pads"]] + [b for _, b in attrs["pads"]]
            value = self.constant(np.asarray(attrs["value"], x.dtype), "pad_value")
            return self.emit("Pad", [args[0], self.constant(np.array(pads, np.int64), "pads"), value], hint, mode="constant")
        if op == "slice":
            return self.slice(args[0], x, attrs, hint)
        if op == "unfold":
            return self.unfold(args[0], x, attrs, hint, what)
        if op in ("sum", "max", "min", "mean", "prod"):
            axes = list(attrs["axes"])
            keep = int(bool(attrs["keepdims"]))
            if node.dtype in (np.bool_, np.int16, np.uint16):  # any / all, and 16-bit max/min: ONNX has none
                reduced = self.emit(_REDUCE[op], [self.cast_to(args[0], x.dtype, np.int32, what)], hint, axes=axes,
                                    keepdims=keep)
                return self.emit("Cast", [reduced], hint, to=_onnx_type(node.dtype, what))
            args = [self.cast_to(args[0], x.dtype, node.dtype, what)]  # graphc's result type (mean of ints is float)
            if op == "sum":
                return self.emit("ReduceSum", [args[0], self.constant(np.array(axes, np.int64), "axes")], hint, keepdims=keep)
            return self.emit(_REDUCE[op], args, hint, axes=axes, keepdims=keep)
        if op in ("argmax", "argmin"):
            axes = attrs["axes"]
            axis = axes[0] if isinstance(axes, (tuple, list)) else axes
            return self.emit("ArgMax" if op == "argmax" else "ArgMin", args, hint, axis=int(axis),
                             keepdims=int(bool(attrs["keepdims"])))
        if op == "expr":
            fn = attrs["fn"]
            return self.formula(fn.expr, fn.variables, node, args, np.dtype(attrs["dtype"]), hint, what)
        if isinstance(node.op, Elementwise):
            compute = node.op.compute_dtype([i.dtype for i in node.inputs], node.dtype)
            formula = node.op.lowering_formula(**{k: v for k, v in attrs.items()})
            return self.formula(formula, scalar.arg_symbols(node.op.arity), node, args, compute, hint, what)
        raise OnnxError(f"{what}: graphc cannot write {op} as ONNX")

    def cast_to(self, name: str, have, want, what) -> str:
        return name if np.dtype(have) == np.dtype(want) else self.emit("Cast", [name], "cast", to=_onnx_type(want, what))

    def shape_value(self, shape, what, infer: bool = False) -> str:
        """A shape as an int64 tensor: a constant, or (symbolic dims) built from the inputs' run-time shapes.
        With `infer`, one symbolic dim is left to Reshape's -1."""
        symbolic = [i for i, d in enumerate(shape) if not isinstance(d, int)]
        if not symbolic or (infer and len(symbolic) == 1):
            return self.constant(np.array([-1 if i in symbolic else d for i, d in enumerate(shape)], np.int64), "shape")
        parts = [self.dim_value(d, what) if not isinstance(d, int) else self.constant(np.array([d], np.int64), "dim")
                 for d in shape]
        return self.emit("Concat", parts, "shape", axis=0)

    def dim_value(self, dim, what) -> str:
        """A symbolic dim's run-time value, as a 1-element int64 tensor: from an input's shape (times a constant
        factor: 4*batch)."""
        factor, symbol = sympy.sympify(dim).as_coeff_Mul()
        if not factor.is_Integer:
            raise OnnxError(f"{what}: the dim {dim} is not an input's dim times an integer; it cannot be exported")
        for node, info in zip(self.input_nodes, self.inputs):
            for axis, d in enumerate(node.shape):
                if not isinstance(d, int) and sympy.simplify(d - symbol) == 0:
                    shape = self.emit("Shape", [info.name], "shape")
                    value = self.emit("Slice", [shape] + [self.constant(np.array([v], np.int64), k) for k, v in
                                                          (("starts", axis), ("ends", axis + 1))], "dim")
                    if factor != 1:
                        value = self.emit("Mul", [value, self.constant(np.array([int(factor)], np.int64), "factor")], "dim")
                    return value
        raise OnnxError(f"{what}: the dim {dim} is not an input's dim (times a number); it cannot be exported")

    def slice(self, name, x, attrs, hint) -> str:
        starts, stops, steps, axes = [], [], [], []
        for axis, (a, b, c) in enumerate(zip(attrs["starts"], attrs["stops"], attrs["steps"])):
            if a == 0 and c == 1 and shapes.dims_equal(b, x.shape[axis]):
                continue
            starts.append(int(a))
            stops.append(int(b) if b >= 0 else -(2 ** 63))  # a backward slice through index 0
            steps.append(int(c))
            axes.append(axis)
        if not axes:
            return self.emit("Identity", [name], hint)
        arrays = [self.constant(np.array(v, np.int64), k) for k, v in
                  (("starts", starts), ("ends", stops), ("axes", axes), ("steps", steps))]
        return self.emit("Slice", [name, *arrays], hint)

    def unfold(self, name, x, attrs, hint, what) -> str:
        """(N, C, *S) -> (N, C, *out, *K): a Gather of the flattened spatial axes at static window indices."""
        spatial = x.shape[2:]
        if not all(isinstance(d, int) for d in spatial):
            raise OnnxError(f"{what}: windows over symbolic spatial dims are not exported")
        kernel, stride, dilation = attrs["kernel"], attrs["stride"], attrs["dilation"]
        out = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(spatial, kernel, stride, dilation)]
        grids = np.meshgrid(*[np.arange(o) for o in out], *[np.arange(k) for k in kernel], indexing="ij")
        nd = len(spatial)
        flat = np.zeros(grids[0].shape, np.int64)
        for axis in range(nd):
            position = grids[axis] * stride[axis] + grids[nd + axis] * dilation[axis]
            flat = flat * spatial[axis] + position
        # Reshape's 0 keeps the input's N and C (either may be symbolic)
        flattened = self.emit("Reshape", [name, self.constant(np.array([0, 0, int(np.prod(spatial))], np.int64), "shape")],
                              f"{hint}_flat")
        return self.emit("Gather", [flattened, self.constant(flat, "window_index")], hint, axis=2)

    def formula(self, expr, symbols, node, args, compute, hint, what) -> str:
        expr = sympy.sympify(expr)
        if np.dtype(compute).kind in "iub" and any(not n.is_Integer for n in expr.atoms(sympy.Number)):
            compute = np.dtype(np.float64)  # a fraction in an integer op's formula (round's tie test): exact in float64
        elif np.dtype(compute) == np.bool_:
            compute = np.dtype(np.int32)  # comparisons of bools: ONNX compares numbers only
        cast_args = [a if i.dtype == compute else self.emit("Cast", [a], "cast", to=_onnx_type(compute, what))
                     for a, i in zip(args, node.inputs)]
        writer = FormulaWriter(lambda op, ins, **kw: self.emit(op, ins, hint, **kw),
                               lambda array: self.constant(array, "c"), dict(zip(symbols, cast_args)), compute, what)
        out = writer(expr)
        result = np.dtype(node.dtype)
        if result != compute and result != np.dtype(np.bool_):
            out = self.emit("Cast", [out], hint, to=_onnx_type(result, what))
        return out
