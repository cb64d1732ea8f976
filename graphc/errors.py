"""The exceptions graphc raises: every user-facing failure is one of these."""


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """Operand shapes do not fit an op's shape rule (the message names op, node and shapes)."""


class DTypeError(GraphcError, TypeError):
    """Operand dtypes do not fit an op's dtype rule, or a cast would lose information."""


class GraphError(GraphcError, ValueError):
    """A graph is malformed (verify failed) or a graph-level request makes no sense."""


class InputError(GraphcError, ValueError):
    """A compiled function was called with missing, unknown or ill-shaped arguments."""


class IndexRangeError(GraphcError, IndexError, ValueError):
    """Index values (gather indices, class labels) outside their range, found when a call runs."""


class DifferentiationError(GraphcError, ValueError):
    """A gradient was requested that cannot be built (non-scalar output, disconnected input, ...)."""


class NonFiniteError(GraphcError, FloatingPointError):
    """Debug mode found NaN or Inf; the message names the first node that produced it."""


class RenderError(GraphcError, RuntimeError):
    """A drawing could not be produced (Graphviz's `dot` missing or failing, an unknown file type)."""
