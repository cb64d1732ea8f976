"""Loop domains split where a load reshapes a strided view, so that every access is affine (no division per element).

Reshaping a non-contiguous view merges axes that strides cannot express: the im2col copy of a
convolution reads windows (N, C, KH, KW, OH, OW) as (N, 1, C·KH·KW, OH·OW), a Chain whose index
takes a floor division and a modulo per merged axis per element. When the merge is the only step,
`split_merged_axes` splits the loop's domain axis back into the merged ones, (…, 150, 100) into
(…, 6, 5, 5, 10, 10): the chain becomes its base view, every other access of the loop gets one stride
per part (an affine split of its own stride), and the loop runs over the same elements in the same
order with unit-stride inner loops a vectoriser can use. A loop that uses a split axis's index in its
body, reads through a gather or another kind of chain, or carries a valid box is left as it is.
"""
from __future__ import annotations

import dataclasses
import math

from ..program import Chain, Loop, Program, View
from ..scalar_ops import Body, SOp


def split_merged_axes(program: Program) -> Program:
    """Every Loop whose chained loads are merges of a view's axes runs over the unmerged domain (module docstring)."""
    program.kernels = [(_split(k) or k) if isinstance(k, Loop) else k for k in program.kernels]
    return program


def _merge_groups(chain: Chain, domain: tuple) -> list[list[tuple]] | None:
    """Per domain axis, the (extent, stride) base axes a one-step reshape chain merged into it; None otherwise."""
    if len(chain.steps) != 1 or chain.steps[0][0] != "reshape" or tuple(chain.shape) != tuple(domain):
        return None
    base = [(d, s) for d, s in zip(chain.base.shape, chain.base.strides) if d != 1]
    groups, i = [], 0
    for d in domain:
        group, size = [], 1
        while size < d and i < len(base):
            group.append(base[i])
            size *= base[i][0]
            i += 1
        if size != d:
            return None
        groups.append(group)
    return groups if i == len(base) else None


def _split_view(view: View, parts: list[tuple]) -> View | None:
    """`view` (shaped like the old domain) over the split domain: a split axis of stride s and parts
    (d1, ..., dk) gets strides s·d2···dk, ..., s·dk, s."""
    shape, strides = [], []
    for d, s, axis_parts in zip(view.shape, view.strides, parts):
        if d != math.prod(axis_parts):
            return None
        inner = 1
        part_strides = []
        for p in reversed(axis_parts):
            part_strides.append(s * inner if p != 1 else 0)
            inner *= p
        shape.extend(axis_parts)
        strides.extend(reversed(part_strides))
    return View(view.buffer, tuple(shape), tuple(strides), view.offset)


def _split(k: Loop) -> Loop | None:
    if not isinstance(k.store, View) or any(ld.valid is not None for ld in k.loads):
        return None
    splits: list[tuple | None] = [None] * len(k.domain)
    grouped = {}
    for ld in k.loads:
        if isinstance(ld.access, Chain):
            groups = _merge_groups(ld.access, k.domain)
            if groups is None:
                return None
            grouped[ld.name] = groups
            for axis, group in enumerate(groups):
                if len(group) > 1:
                    dims = tuple(d for d, _ in group)
                    if splits[axis] not in (None, dims):
                        return None  # two chains split one axis differently
                    splits[axis] = dims
        elif not isinstance(ld.access, View):
            return None
    if not any(splits):
        return None
    used = set(k.body.axes())
    if any(splits[a] for a in used):
        return None  # the body reads a split axis's index
    parts = [splits[a] or (d,) for a, d in enumerate(k.domain)]
    first = [sum(len(p) for p in parts[:a]) for a in range(len(parts))]  # old axis -> its first new axis

    loads = []
    for ld in k.loads:
        if ld.name in grouped:
            access = _regroup(ld.access.base, grouped[ld.name], parts)
        else:
            access = _split_view(ld.access, parts)
        if access is None:
            return None
        loads.append(dataclasses.replace(ld, access=access))
    store = _split_view(k.store, parts)
    if store is None:
        return None
    body = Body(tuple(SOp(o.op, o.args, o.dtype, first[o.value]) if o.op == "axis" else o for o in k.body.ops),
                k.body.out)
    reduce = tuple(first[a] + j for a in k.reduce for j in range(len(parts[a])))
    return dataclasses.replace(k, domain=tuple(d for p in parts for d in p), loads=tuple(loads), body=body,
                               store=store, reduce=reduce)


def _regroup(base: View, groups: list[list[tuple]], parts: list[tuple]) -> View | None:
    """The chain's base view over the split domain: a merged axis takes its base axes' strides; an axis this
    chain did not merge but another did is split affinely."""
    shape, strides = [], []
    for group, axis_parts in zip(groups, parts):
        if len(group) > 1:
            shape.extend(d for d, _ in group)
            strides.extend(s for _, s in group)
            continue
        d, s = group[0] if group else (1, 0)
        piece = _split_view(View(base.buffer, (d,), (s,), 0), [axis_parts])
        if piece is None:
            return None
        shape.extend(piece.shape)
        strides.extend(piece.strides)
    return View(base.buffer, tuple(shape), tuple(strides), base.offset)

