"""graphc: declare a network as a static dataflow graph, differentiate it symbolically, compile and run it."""
from . import dtypes
from .dtypes import bool_, float32, float64, int32, int64
from .errors import DifferentiationError, DTypeError, GraphcError, GraphError, InputError, ShapeError
from .ir import Graph, Node, verify
from .ops import *  # noqa: F401,F403  (every op's DSL function)
from .ops import COMPOSITES, REGISTRY, scope
from .ops.elementwise import elementwise
from .tensor import Param, Tensor, as_tensor
from .autodiff import grad, vjp
from .gradcheck import check_grad
from .compiler import compile
from .interpreter import evaluate
from .render import render

__version__ = "0.1.0"


def graph(outputs) -> Graph:
    """The Graph that computes `outputs` (a tensor or a list of tensors)."""
    return Graph.of(outputs)


from . import data, losses, nn, optim  # noqa: E402  (built on the DSL above)
from .train import EarlyStopping, History, Trainer  # noqa: E402
