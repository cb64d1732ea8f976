"""ONNX in: `gc.onnx.load(path_or_model)` reads a model file into graphc tensors (needs the optional `onnx` package)."""
from .importer import OnnxModel, load

__all__ = ["OnnxModel", "load"]
