"""Every op graphc knows, and the functions that apply them to nodes (lifted to tensors as `graphc.*`)."""
from . import elementwise as elementwise_module, indexing, leaves, linalg, math, movement, nn, random, reduce, sorting, windowed  # noqa: F401,E501  (registers the ops)
from .elementwise import elementwise, expr
from .leaves import const, input, param
from .linalg import dot, matmul, outer
from .math import (abs, acos, acosh, add, asin, asinh, atan, atanh, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, cast, ceil, cos, div, elu, eq,
                   erf_ as erf, exp_ as exp, expm1, floor, floor_divide, fmod, ge, gelu, gt, le, leaky_relu,
                   left_shift, log1p, log_ as log, logical_and, logical_not, logical_or, lt, maximum, minimum, mod, mul,
                   ne, neg, pow, reciprocal, relu, right_shift, round_ as round, rsqrt, sigmoid, sign, sin, softplus,
                   sqrt_ as sqrt, square, step, stop_gradient, sub, tan, tanh, where)
from .indexing import check_range, gather, getitem, iota, one_hot, scatter_reduce, take
from .movement import (broadcast_to, concat, concatenate, expand_dims, flip, pad, permute, reshape, slice_axis, split,
                       squeeze, stack, sum_to_shape, swapaxes, transpose)
from .nn import (avg_pool1d, avg_pool2d, conv, conv1d, conv2d, log_softmax, max_pool1d, max_pool2d, softmax, unfold)
from .windowed import conv_transpose, max_pool_indices, pool
from .sorting import argsort, sort, take_along_axis, topk
from .random import bernoulli, dropout, normal, uniform
from .reduce import argmax, argmin, cumprod, cumsum, logsumexp, max, mean, min, prod, std, sum, var
from .arguments import check_functions
from .registry import COMPOSITES, REGISTRY, Composite, Op, as_node, make_node, named, register, scope

heaviside = step

# the public functions check their annotated arguments (graphc.ops.arguments); composites already do
check_functions(globals(), keep=lambda name, fn: name != "scope")

__all__ = [name for name in dir() if not name.startswith("_") and name not in {
    "elementwise_module", "indexing", "leaves", "linalg", "math", "movement", "nn", "random", "reduce", "registry", "windowed",
    "Composite", "Op", "as_node", "make_node", "named", "register", "COMPOSITES", "REGISTRY", "arguments",
    "check_functions"}]
