"""ONNX in and out: `gc.onnx.load(path_or_model)` reads a model into graphc tensors, `gc.onnx.save(outputs, path)`
writes a forward graph as a model (both need the optional `onnx` package)."""
from .exporter import save
from .importer import OnnxModel, load

__all__ = ["OnnxModel", "load", "save"]
