"""The ONNX element types graphc stores, as NumPy dtypes; the others are refused by name."""
from __future__ import annotations

import numpy as np

from ..errors import OnnxError

# ONNX TensorProto data types graphc stores (float16, int8, uint8, ... are refused by name)
_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}
_NAMES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 8: "string", 10: "float16", 12: "uint32", 13: "uint64",
          14: "complex64", 15: "complex128", 16: "bfloat16"}


def onnx_dtype(code: int, what: str):
    if code in _DTYPES:
        return np.dtype(_DTYPES[code])
    raise OnnxError(f"{what}: dtype {_NAMES.get(code, code)} is not supported by graphc "
                    "(bool, int32, int64, float32, float64)")
