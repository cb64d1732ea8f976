"""Reading an ONNX model from a path, bytes or a ModelProto safely: malformed files, external data, sizes.

Model files may come from anywhere. A tensor's external data is read only from a file inside the
model's own directory (an absolute path or one that climbs out with `..` is refused), its offset and
length must lie inside that file and match the tensor's declared size, and every size is checked
before anything is allocated. A file that is not a model gives one OnnxError naming it.
"""
from __future__ import annotations

import importlib
import math
import os
from pathlib import Path

import numpy as np

from ..errors import GraphcError, OnnxError
from ..shapes import check_fits
from .types import onnx_dtype

EXTRA = "pip install 'graphc-compiler[onnx]'"
MAX_MODEL_BYTES = 2 ** 31  # protobuf's own limit on one message


def require_onnx():
    """The `onnx` package, or one OnnxError saying how to install it."""
    try:
        return importlib.import_module("onnx")
    except ImportError:
        raise OnnxError(f"reading ONNX models needs the onnx package: {EXTRA}") from None


def read_model(source):
    """(ModelProto, what to call it in errors) from a path, bytes or a ModelProto; external data resolved."""
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        model, where, folder = source, "the ONNX model", None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        model, where, folder = _parse(onnx, bytes(source), "the ONNX model bytes"), "the ONNX model bytes", None
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise OnnxError(f"{where}: no such model file")
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise OnnxError(f"{where}: {size} bytes is larger than an ONNX model file can be (2 GiB; larger "
                            "models keep their weights in external data files)")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise OnnxError(f"{where}: cannot read the model file ({e.strerror or e})") from None
        model, folder = _parse(onnx, data, where), path.parent
    else:
        raise OnnxError(f"gc.onnx.load takes a path, bytes or an onnx.ModelProto, got {type(source).__name__}")
    if not model.HasField("graph"):
        raise OnnxError(f"{where}: not an ONNX model (it has no graph)")
    for tensor in _tensors(model.graph):
        try:
            _resolve(tensor, folder, where)
        except OnnxError:
            raise
        except (OSError, ValueError, GraphcError) as e:  # an unreadable file, a path NumPy/OS refuse, too large
            raise OnnxError(f"{where}: tensor {tensor.name or '<unnamed>'!r}: its external data cannot be read "
                            f"({type(e).__name__}: {e})") from None
    return model, where


def _parse(onnx, data: bytes, where: str):
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeWarning-like errors or ValueError
        raise OnnxError(f"{where}: not an ONNX model, or a truncated one ({type(e).__name__}: {e})") from None
    return model


def _tensors(graph):
    """Every TensorProto in a graph: initializers and tensor attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def _resolve(tensor, folder: Path | None, where: str) -> None:
    """Read a tensor's external data into it, from inside the model's folder only."""
    if tensor.data_location != 1:  # TensorProto.EXTERNAL
        return
    info = {entry.key: entry.value for entry in tensor.external_data}
    name = tensor.name or "<unnamed>"
    location = info.get("location", "")
    if folder is None:
        raise OnnxError(f"{where}: tensor {name!r} keeps its data in external file {location!r}; "
                        "load the model from its path so that the file can be found beside it")
    if any(d < 0 for d in tensor.dims):
        raise OnnxError(f"{where}: tensor {name!r} has negative dims {list(tensor.dims)}")
    if not location or "\0" in location or os.path.isabs(location) or Path(location).drive:
        raise OnnxError(f"{where}: tensor {name!r}: external data path {location!r} must be relative to the model's folder")
    base = folder.resolve()
    target = (base / location).resolve()
    if base != target and base not in target.parents:
        raise OnnxError(f"{where}: tensor {name!r}: external data path {location!r} leaves the model's folder")
    if not target.is_file():
        raise OnnxError(f"{where}: tensor {name!r}: external data file {location!r} is missing")
    itemsize = _itemsize(tensor, where)
    count = math.prod(tensor.dims)
    expected = count * itemsize
    check_fits(expected, f"{where}: tensor {name!r}")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", expected))
    except ValueError:
        raise OnnxError(f"{where}: tensor {name!r}: external data offset/length must be integers") from None
    size = target.stat().st_size
    if offset < 0 or length != expected or offset + length > size:
        raise OnnxError(f"{where}: tensor {name!r}: external data ({location!r}, offset {offset}, length {length}) "
                        f"does not hold its {expected} bytes (the file has {size})")
    with open(target, "rb") as f:
        f.seek(offset)
        tensor.raw_data = f.read(length)
    del tensor.external_data[:]
    tensor.data_location = 0


def _itemsize(tensor, where: str) -> int:
    return np.dtype(onnx_dtype(tensor.data_type, f"{where}: tensor {tensor.name!r}")).itemsize
