"""The memory plan: liveness of temporaries along the schedule and their offsets in one arena.

A temporary is live from the kernel that writes it to the last kernel that reads it (both
included: a kernel's inputs and output are live at once). Temporaries whose lifetimes overlap
never share a byte, with one exception: an elementwise kernel writes in place over an input that dies
there (the two, and chains of such kernels, share one slot). Offsets are chosen greedily: buffers are placed one by one, each at the lowest
64-byte-aligned offset free over its whole lifetime, in five orders (by size, as TFLite's "greedy by
size", ties broken by start or by lifetime; by size × lifetime; by lifetime; by start), and the
smallest arena wins. `plan_report`
compares it with the peak-live lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..program import Program

ARENA_ALIGNMENT = 64  # bytes: every temporary starts on a cache line (and a SIMD register's alignment)


def aligned(nbytes: int) -> int:
    return -(-nbytes // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


def lifetimes(program: Program) -> dict[int, tuple[int, int]]:
    """{buffer id: (first kernel that writes it, last kernel that touches it)} for every temporary written."""
    temps = {b.id for b in program.temporaries}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for step, k in enumerate(program.kernels):
        for b in list(k.reads) + [k.writes]:
            if b.id in temps:
                first.setdefault(b.id, step)
                last[b.id] = step
    return {i: (first[i], last[i]) for i in first}


def layout_sequential(program: Program) -> Program:
    """Every temporary its own aligned arena range, in schedule order (no reuse): optimize=0's plan."""
    offset = 0
    for b in program.temporaries:
        b.offset = offset
        offset += aligned(b.nbytes)
    return program


# the orders in which slots (size, first, last, key) are placed; the smallest arena wins (milliseconds each)
ORDERS = {
    "size": lambda s, f, l, k: (-s, f, k),
    "size_then_longest": lambda s, f, l, k: (-s, f - l, k),
    "area": lambda s, f, l, k: (-s * (l - f + 1), f, k),
    "duration": lambda s, f, l, k: (-(l - f), -s, k),
    "start": lambda s, f, l, k: (f, -s, k),
}


def in_place_groups(program: Program, live: dict) -> dict[int, int]:
    """{buffer id: id of its group's first buffer}: an elementwise kernel may write over an input that dies
    there (Loop.overwrites), so the two share one slot; chains of such kernels share it too."""
    root: dict[int, int] = {}
    for step, k in enumerate(program.kernels):
        out = k.writes
        if out.id not in live or live[out.id][0] != step or not hasattr(k, "overwrites"):
            continue
        for b in k.reads:
            if b.id in live and live[b.id][1] == step and b.role == "temp" and b.id not in root.values() \
                    and k.overwrites(b):
                root[out.id] = root.get(b.id, b.id)
                break
    return root


def _slots(program: Program, live: dict, group: dict) -> dict[int, list]:
    """{slot key: [aligned size, first kernel, last kernel]}: one slot per temporary, or per in-place group."""
    spans: dict[int, list] = {}
    for b in program.temporaries:
        if b.id in live and b.nbytes:
            first, last = live[b.id]
            s = spans.setdefault(group.get(b.id, b.id), [aligned(b.nbytes), first, last])
            s[0], s[1], s[2] = max(s[0], aligned(b.nbytes)), min(s[1], first), max(s[2], last)
    return spans


def _place(slots: list, order) -> dict:
    """{slot key: offset}: each slot, in `order`, at the lowest aligned offset free over its lifetime."""
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last) of slots already placed
    offsets = {}
    for size, first, last, key in sorted(slots, key=lambda s: order(*s)):
        busy = sorted((o, e) for o, e, f, l in placed if f <= last and first <= l)
        offset = 0
        for o, e in busy:  # the lowest gap that holds the slot
            if o - offset >= size:
                break
            offset = max(offset, e)
        offsets[key] = offset
        placed.append((offset, offset + size, first, last))
    return offsets


def plan_memory(program: Program) -> Program:
    """Offsets for the temporaries so that buffers live at the same time never share bytes, except an
    elementwise kernel's output with an input that dies there (see the module)."""
    live = lifetimes(program)
    temps = [b for b in program.temporaries if b.id in live and b.nbytes]
    group = in_place_groups(program, live)
    slots = [(size, first, last, key) for key, (size, first, last) in _slots(program, live, group).items()]
    sizes = {s[3]: s[0] for s in slots}
    plans = [_place(slots, order) for order in ORDERS.values()]
    best = min(plans, key=lambda p: max((o + sizes[k] for k, o in p.items()), default=0))
    for b in temps:
        b.offset = best[group.get(b.id, b.id)]
    for b in program.temporaries:  # never written (or empty): no bytes needed, but a valid offset
        if b.offset is None or b.id not in live or not b.nbytes:
            b.offset = 0
    return program


@dataclass(frozen=True)
class MemoryReport:
    """Bytes of the temporaries: unplanned (each its own range), planned (the arena), and the peak-live
    lower bound (the most bytes live at one kernel, which no plan can beat)."""

    unplanned: int
    planned: int
    lower_bound: int
    temporaries: int

    @property
    def ratio(self) -> float:
        """planned / lower bound (1.0 is optimal)."""
        return self.planned / self.lower_bound if self.lower_bound else 1.0

    def as_dict(self) -> dict:
        return {"temporaries": self.temporaries, "bytes_unplanned": self.unplanned, "bytes_planned": self.planned,
                "bytes_lower_bound": self.lower_bound, "planned_over_lower_bound": round(self.ratio, 4)}


def plan_report(program: Program) -> MemoryReport:
    """The plan's bytes against the peak-live lower bound, which counts an in-place group as one buffer."""
    live = lifetimes(program)
    steps = len(program.kernels)
    delta = [0] * (steps + 1)
    for size, first, last in _slots(program, live, in_place_groups(program, live)).values():
        delta[first] += size
        delta[last + 1] -= size
    peak = running = 0
    for d in delta:
        running += d
        peak = max(peak, running)
    return MemoryReport(unplanned=sum(aligned(b.nbytes) for b in program.temporaries), planned=aligned(program.arena_bytes),
                        lower_bound=peak, temporaries=len(program.temporaries))
