"""Index arithmetic in IR: an i64 value that the Program's duck-typed `flat_index` can add, multiply, divide."""
from __future__ import annotations

import llvmlite.ir as ir

from .scalars import I64


class Index:
    """An i64 IR value that `flat_index` can do arithmetic on (Python ints fold away)."""

    def __init__(self, b: ir.IRBuilder, value):
        self.b, self.value = b, value

    @staticmethod
    def of(b, v):
        return v if isinstance(v, Index) else Index(b, ir.Constant(I64, int(v)))

    def _bin(self, other, op):
        if isinstance(other, int) and op in ("add", "mul"):
            if (op == "add" and other == 0) or (op == "mul" and other == 1):
                return self
        o = Index.of(self.b, other)
        return Index(self.b, getattr(self.b, op)(self.value, o.value))

    def __add__(self, other):
        return self._bin(other, "add")

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, int) and other == 0:
            return 0
        return self._bin(other, "mul")

    __rmul__ = __mul__

    def __floordiv__(self, other):  # floor division (indices of chains are non-negative; gathers may not be)
        q, r = self._divmod(other)
        return q

    def __mod__(self, other):
        q, r = self._divmod(other)
        return r

    def _divmod(self, other):
        b = self.b
        d = Index.of(b, other).value
        q, r = b.sdiv(self.value, d), b.srem(self.value, d)
        zero = ir.Constant(I64, 0)
        fix = b.and_(b.icmp_signed("!=", r, zero), b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", d, zero)))
        return Index(b, b.select(fix, b.sub(q, ir.Constant(I64, 1)), q)), Index(b, b.select(fix, b.add(r, d), r))
