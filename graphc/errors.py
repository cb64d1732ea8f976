"""The exceptions graphc raises: every user-facing failure is one of these."""


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """Operand shapes do not fit an op's shape rule (the message names op, node and shapes)."""


class DTypeError(GraphcError, TypeError):
    """Operand dtypes do not fit an op's dtype rule, or a cast would lose information."""


class ArgumentError(GraphcError, ValueError, TypeError):
    """An op, layer or function was given an argument of the wrong kind or value (a float where an
    integer is meant, a negative count, a name that is not a string); the message names it."""


class TooLargeError(GraphcError, MemoryError, ValueError):
    """A value or an arena needs more memory than this machine has (the message names it and its size)."""


class GraphError(GraphcError, ValueError):
    """A graph is malformed (verify failed) or a graph-level request makes no sense."""


class InputError(GraphcError, ValueError):
    """A compiled function, the Trainer or a data helper was called with missing, unknown, ill-shaped
    or ill-typed arguments (the message names the argument and what was expected)."""


class IndexRangeError(GraphcError, IndexError, ValueError):
    """Index values (gather indices, class labels) outside their range, found when a call runs."""


class DifferentiationError(GraphcError, ValueError):
    """A gradient was requested that cannot be built (non-scalar output, disconnected input, ...)."""


class NonFiniteError(GraphcError, FloatingPointError, ValueError):
    """Debug mode found NaN or Inf; the message names the first node that produced it."""


class RenderError(GraphcError, RuntimeError):
    """A drawing could not be produced (Graphviz's `dot` missing or failing, an unknown file type)."""


class DeviceError(GraphcError, RuntimeError):
    """A backend's device is missing or failed: no GPU, no driver, a missing optional extra (the message says
    what is missing and how to get it)."""


class OnnxError(GraphcError, ValueError):
    """An ONNX model graphc cannot read or import: a malformed file, unsafe external data, an unsupported op,
    attribute or dtype (the message names the file, the node and its op type, and what is missing)."""
