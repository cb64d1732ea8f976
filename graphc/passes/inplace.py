"""Donated parameter updates: the kernel that computes a parameter's new value writes it straight into the
parameter's buffer, instead of into a temporary that a last copy kernel moves there.

This is safe when nothing reads the parameter's old value after that kernel (the producer itself may
read it, element by element, at the very element it writes: `p - lr·g`), the producer is an
elementwise Loop writing the whole temporary in order, and every later reader of the new value is a
Loop (it then reads the parameter's buffer, which holds that value). SGD's and Adam's updates (the
weights, the moments) then need neither a temporary nor a copy.
"""
from __future__ import annotations

import dataclasses

from ..program import Chain, Gather, Loop, Program, View, contiguous_strides


def _whole(view, buffer) -> bool:
    """Does `view` cover `buffer` element by element in flat order (offset 0, row-major, every element)?"""
    return (isinstance(view, View) and view.buffer is buffer and view.offset == 0 and view.size == buffer.size
            and tuple(view.strides) == contiguous_strides(view.shape))


def _is_copy(k) -> bool:
    """A Loop that copies one whole buffer into another, element by element."""
    if not isinstance(k, Loop) or k.reduce or k.combine is not None or k.init is not None or len(k.loads) != 1:
        return False
    (ld,) = k.loads
    body = k.body.ops[k.body.out]
    return (body.op == "arg" and body.value == ld.name and ld.valid is None and _whole(ld.access, ld.buffer)
            and _whole(k.store, k.store.buffer) and ld.buffer.dtype == k.store.buffer.dtype)


def _retarget(access, old, new):
    if isinstance(access, View):
        return dataclasses.replace(access, buffer=new) if access.buffer is old else access
    if isinstance(access, (Chain, Gather)):
        return dataclasses.replace(access, base=_retarget(access.base, old, new))
    return access


def donate_updates(program: Program) -> Program:
    """The Program with every donatable update written in place (see the module docstring)."""
    kernels = list(program.kernels)
    removed: set[int] = set()
    for copy in list(kernels):
        target = copy.writes
        if target.role not in ("param", "state") or not _is_copy(copy):
            continue
        temp = copy.loads[0].buffer
        if temp.role != "temp" or temp.size != target.size:
            continue
        producers = [i for i, k in enumerate(kernels) if id(k) not in removed and k.writes is temp]
        if len(producers) != 1:
            continue
        at = producers[0]
        producer = kernels[at]
        if (not isinstance(producer, Loop) or producer.reduce or producer.combine is not None or producer.init is not None
                or not _whole(producer.store, temp)):
            continue
        later = [k for k in kernels[at + 1:] if k is not copy and id(k) not in removed]
        if any(target in k.reads for k in later):
            continue  # the old value is still needed after the producer
        if any(ld.buffer is target and (ld.valid is not None or not _whole(ld.access, target)) for ld in producer.loads):
            continue  # the producer reads the old value somewhere other than where it writes
        readers = [k for k in later if temp in k.reads]
        if any(not isinstance(k, Loop) for k in readers):
            continue
        producer.store = _retarget(producer.store, temp, target)
        producer.label = f"{producer.label} (into {target.name})".strip()
        for k in readers:
            k.loads = tuple(dataclasses.replace(ld, access=_retarget(ld.access, temp, target)) for ld in k.loads)
        removed.add(id(copy))
    program.kernels = [k for k in kernels if id(k) not in removed]
    program.prune_buffers()
    return program
