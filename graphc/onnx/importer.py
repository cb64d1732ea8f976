"""An ONNX graph as graphc tensors: initializers become parameters, graph inputs `gc.input`s, nodes graphc ops.

Each node is converted by the function registered for its op type (graphc.onnx.convert and the ops_*
modules), inside a scope named after the node, so renderings read like the original model. Values the
converters need at import time (a Reshape's shape, a Slice's bounds, axes, pads) must be static: a
Constant, an integer initializer, or computed from static values only (folded here by graphc's own
reference interpreter). Float initializers are trainable parameters; one that a converter reads as a
static value (a Resize's scales) stays a constant. Anything graphc cannot import (an op, an attribute,
a dtype, an opset) is refused at load time with one OnnxError naming the node, never a wrong graph.
"""
from __future__ import annotations

import numpy as np

from .. import dsl as gc, shapes
from ..errors import GraphcError, OnnxError
from ..tensor import Tensor
from .convert import CONVERTERS, NodeContext, Static
from .reader import read_model, require_onnx
from .types import onnx_dtype
from . import ops_attention, ops_layout, ops_math, ops_more, ops_nn, ops_quant, ops_recurrent, ops_resize, ops_signal, ops_tensor, symbolic  # noqa: F401 - the ops_* modules register the converters

OPSETS = (13, None)  # the oldest default-domain opset imported; None: the newest the installed onnx knows
class OnnxModel:
    """An imported model: `inputs` and `outputs` (ONNX name -> Tensor), `params` (name -> Param), its opset.
    An input's graphc name is its ONNX name made an identifier ('input.1' -> 'input_1'): `inputs[k].name`.

    `model.graph` is the graphc graph of its outputs; `model.compile(**kw)` compiles the outputs over
    the inputs (`gc.compile`); `model(**arrays)` runs them (compiled once, on the default backend)."""

    def __init__(self, inputs: dict, outputs: dict, params: dict, opset: int, where: str):
        self.inputs, self.outputs, self.params, self.opset, self.where = inputs, outputs, params, opset, where
        self._compiled = None

    @property
    def graph(self):
        return gc.graph(list(self.outputs.values()))

    def compile(self, **kwargs):
        from ..compiler import compile as compile_  # layer 5, as this module: no cycle (graphc.compiler never imports it)

        return compile_(list(self.outputs.values()), inputs=list(self.inputs.values()), **kwargs)

    def __call__(self, **arrays) -> list:
        """Run the outputs on arrays named by the model's input names (or graphc's names for them)."""
        if self._compiled is None:
            self._compiled = self.compile()
        return self._compiled(**{self.inputs[k].name if k in self.inputs else k: v for k, v in arrays.items()})

    def __repr__(self):
        return (f"OnnxModel({self.where}: opset {self.opset}, inputs {list(self.inputs)}, outputs {list(self.outputs)}, "
                f"{len(self.params)} parameters)")


def load(source, *, constants: dict | None = None, trainable: bool = True) -> OnnxModel:
    """Import an ONNX model (a path, bytes or an onnx.ModelProto).

    constants: {input name: array} freezes graph inputs as constants (an input the model uses as a shape,
    axes or bounds must be known at import time). trainable: whether float initializers are trainable
    parameters (freeze some afterwards with `param.variable.trainable = False`)."""
    onnx = require_onnx()
    model, where = read_model(source)
    return Importer(onnx, _upgraded(onnx, model, where), where, constants or {}, trainable).run()


def _upgraded(onnx, model, where: str):
    """A model of an opset older than graphc's oldest, converted by onnx's own version converter."""
    versions = {o.domain: o.version for o in model.opset_import}
    version = versions.get("", versions.get("ai.onnx"))
    if version is None or version >= OPSETS[0]:
        return model
    try:
        from onnx import version_converter  # the optional package, found by load()

        return version_converter.convert_version(model, OPSETS[0])
    except Exception as e:  # noqa: BLE001 - the converter raises RuntimeError, ValueError or its own errors
        raise OnnxError(f"{where}: opset {version} is older than graphc imports ({OPSETS[0]}) and onnx's version "
                        f"converter could not upgrade it ({type(e).__name__}: {str(e)[:200]})") from None


class Importer:
    def __init__(self, onnx, model, where: str, constants: dict, trainable: bool):
        self.onnx, self.model, self.where, self.trainable = onnx, model, where, trainable
        self.opset = _default_opset(model, where)
        self.values: dict = {}        # ONNX value name -> Tensor or Static
        self.params: dict = {}        # initializer name -> Param (made when first used as a tensor)
        self.initializers: dict = {}  # float initializer name -> array (a parameter unless read statically)
        self.inputs: dict = {}
        unknown = set(constants) - {i.name for i in model.graph.input}
        if unknown:
            raise OnnxError(f"{where}: constants= names {sorted(unknown)}, which are not inputs of the model "
                            f"({[i.name for i in model.graph.input]})")
        self.constants = {k: np.asarray(v) for k, v in constants.items()}

    def run(self) -> OnnxModel:
        graph = self.model.graph
        for tensor in graph.initializer:
            array = self.array(tensor, f"{self.where}: initializer {tensor.name!r}")
            if array.dtype.kind == "f":
                self.initializers[tensor.name] = array
            else:
                self.values[tensor.name] = Static(array)
        for info in graph.input:
            if info.name in self.initializers or info.name in self.values:
                continue  # an initializer listed among the inputs (IR < 4): its value is the default
            if info.name in self.constants:
                self.values[info.name] = Static(self.constants[info.name].astype(
                    onnx_dtype(info.type.tensor_type.elem_type, f"{self.where}: input {info.name!r}")))
                continue
            tensor = gc.input(self.input_name(info.name), self.dims(info), self.value_dtype(info))
            self.inputs[info.name] = self.values[info.name] = tensor
        for node in graph.node:
            self.convert(node)
        outputs = {}
        for info in graph.output:
            if info.name not in self.values and info.name not in self.initializers:
                raise OnnxError(f"{self.where}: graph output {info.name!r} is computed by no node")
            outputs[info.name] = self.tensor(info.name)
        return OnnxModel(self.inputs, outputs, self.params, self.opset, self.where)

    def input_name(self, name: str) -> str:
        """A graphc input name (a Python identifier: inputs are keywords) for an ONNX one ('input.1' -> 'input_1')."""
        candidate = _value_name(name).replace(".", "_").replace("-", "_").replace(":", "_")
        if not candidate.isidentifier():
            candidate = "x_" + candidate
        taken = {t.name for t in self.inputs.values()}
        base, n = candidate, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        return candidate

    # -- values -----------------------------------------------------------------------------
    def array(self, tensor, what: str) -> np.ndarray:
        dtype = onnx_dtype(tensor.data_type, what)
        from onnx import numpy_helper  # the optional package, imported once load() found it

        try:
            array = numpy_helper.to_array(tensor)
        except Exception as e:  # noqa: BLE001 - a malformed tensor: wrong byte count, bad fields
            raise OnnxError(f"{what}: malformed tensor data ({type(e).__name__}: {e})") from None
        return np.array(array, dtype=dtype, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)

    def tensor(self, name: str) -> Tensor:
        """The value as a graph tensor: a parameter for a float initializer, a constant for a static value."""
        value = self.values.get(name)
        if value is None and name in self.initializers:
            value = self.params[name] = gc.param(name, self.initializers[name], trainable=self.trainable)
            self.values[name] = value
        if value is None:
            raise OnnxError(f"{self.where}: value {name!r} is used before any node computes it")
        return value.tensor() if isinstance(value, Static) else value

    def static(self, name: str):
        """The value as a NumPy array when it is known at import time, else None."""
        value = self.values.get(name)
        if isinstance(value, Static):
            return value.array
        if value is None and name in self.initializers:
            return self.initializers[name]
        return None

    def dims(self, info) -> tuple:
        shape = info.type.tensor_type.shape
        if not info.type.tensor_type.HasField("shape"):
            raise OnnxError(f"{self.where}: input {info.name!r} has no declared shape; graphc compiles static graphs")
        dims = []
        for n, d in enumerate(shape.dim):
            if d.HasField("dim_value"):
                if d.dim_value < 0:
                    raise OnnxError(f"{self.where}: input {info.name!r}: dim {n} is {d.dim_value}; dims are >= 0")
                dims.append(int(d.dim_value))
            else:  # a named dim is a symbol shared by every input that names it; an unnamed one its own
                dims.append(d.dim_param or f"{info.name}_dim{n}")
        return tuple(dims)

    def value_dtype(self, info):
        if not info.type.HasField("tensor_type"):
            raise OnnxError(f"{self.where}: input {info.name!r} is not a tensor (sequences and maps are not supported)")
        return onnx_dtype(info.type.tensor_type.elem_type, f"{self.where}: input {info.name!r}")

    # -- nodes -------------------------------------------------------------------------------
    def convert(self, node) -> None:
        label = f"{self.where}: node {node.name!r} ({node.op_type})" if node.name else f"{self.where}: a {node.op_type} node"
        if node.domain not in ("", "ai.onnx"):
            raise OnnxError(f"{label}: operators of domain {node.domain!r} are not supported")
        convert = CONVERTERS.get(node.op_type)
        if convert is None:
            raise OnnxError(f"{label}: graphc does not import the ONNX operator {node.op_type}")
        ctx = NodeContext(self, node, label)
        try:
            symbolic_inputs = [self.static(i) if i else None for i in node.input]
            all_static = all(isinstance(self.values.get(i), Static) or not i for i in node.input)
            if all_static and node.op_type in symbolic.SUPPORTED and any(symbolic.is_symbolic(v) for v in symbolic_inputs):
                results = [symbolic.evaluate(ctx, symbolic_inputs)]
            else:
                with gc.scope(_scope_name(node)):
                    results = convert(ctx)
            ctx.check_attributes_read()
            results = list(results) if isinstance(results, (list, tuple)) else [results]
            self.bind(node, label, results, all_static)
        except OnnxError:
            raise
        except GraphcError as e:
            raise OnnxError(f"{label}: {e}") from None
        except Exception as e:  # noqa: BLE001 - a converter's own failure still names the node, never a raw error
            raise OnnxError(f"{label}: graphc's importer failed on this node ({type(e).__name__}: {e}); "
                            "this is a bug in graphc, please report it") from e

    def bind(self, node, label: str, results: list, all_static: bool) -> None:
        """The node's outputs become values: arrays static, tensors computed from static values only folded."""
        names = list(node.output)
        if len(results) < len([n for n in names if n]):
            raise OnnxError(f"{label}: graphc computes {len(results)} of its {len(names)} outputs")
        fold = all_static and node.op_type not in _NOT_FOLDED
        for name, value in zip(names, results):
            if not name:
                continue
            if isinstance(value, np.ndarray):
                value = Static(symbolic.settle(value, symbolic.result_dtype(node)) if symbolic.is_symbolic(value) else value)
            elif fold and isinstance(value, Tensor) and shapes.is_static(value.shape):  # from static values only: folded
                value = Static(np.asarray(gc.evaluate(value)))
            elif isinstance(value, Tensor) and value.node.op.name not in ("input", "param"):
                value = value.named(_value_name(name))
            self.values[name] = value


_NOT_FOLDED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Dropout"}


def _scope_name(node) -> str:
    return _value_name(node.name or node.op_type)


def _value_name(name: str) -> str:
    """ONNX names may hold any character; graphc names keep letters, digits, '_', '.', '-' and ':'."""
    cleaned = "".join(c if c.isalnum() or c in "_.-:" else "_" for c in name)
    return cleaned or "_"


def _default_opset(model, where: str) -> int:
    versions = {o.domain: o.version for o in model.opset_import}
    version = versions.get("", versions.get("ai.onnx"))
    if version is None:
        raise OnnxError(f"{where}: the model imports no default-domain opset")
    onnx = require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if version < OPSETS[0] or version > newest:
        raise OnnxError(f"{where}: opset {version}: graphc imports opsets {OPSETS[0]} to {newest} (convert the model "
                        "with onnx.version_converter.convert_version)")
    return int(version)
