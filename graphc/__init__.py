"""graphc: declare a network as a static dataflow graph, differentiate it symbolically, compile and run it."""
__version__ = "0.1.0"

from . import dtypes
from .dtypes import bool_, float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64
from .errors import (ArgumentError, DeviceError, DifferentiationError, DTypeError, GraphcError, GraphError, IndexRangeError,
                     InputError, NonFiniteError, OnnxError, RenderError, ShapeError, TooLargeError)
from .ir import Graph, Node, verify
from .dsl import *  # noqa: F401,F403  (every op's function on tensors)
from .dsl import COMPOSITES, REGISTRY, check_grad, elementwise, evaluate, grad, graph, scope, vjp
from .tensor import Param, Tensor, as_tensor
from .compiler import compile
from .render import render
from . import data, losses, nn, onnx, optim
from .train import EarlyStopping, History, Trainer
