"""The ONNX element types graphc stores, as NumPy dtypes; the others are refused by name."""
from __future__ import annotations

import numpy as np

from ..errors import OnnxError

# ONNX TensorProto data types graphc stores (strings, complex numbers, bfloat16 and the 8- and 4-bit floats
# are refused by name)
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
           10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
_NAMES = {8: "string", 14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz",
          19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1"}


def onnx_dtype(code: int, what: str):
    if code in _DTYPES:
        return np.dtype(_DTYPES[code])
    raise OnnxError(f"{what}: dtype {_NAMES.get(code, code)} is not supported by graphc "
                    "(bool, int8-int64, uint8-uint64, float16, float32, float64)")
