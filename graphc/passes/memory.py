"""The memory plan: liveness of temporaries along the schedule and their offsets in one arena.

A temporary is live from the kernel that writes it to the last kernel that reads it (both
included: a kernel's inputs and output are live at once). Temporaries whose lifetimes overlap
never share a byte. Offsets are chosen greedily: buffers are placed one by one, each at the lowest
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


# the orders in which buffers are placed; the plan with the smallest arena wins (each takes milliseconds)
ORDERS = {
    "size": lambda b, f, l: (-aligned(b.nbytes), f, b.id),
    "size_then_longest": lambda b, f, l: (-aligned(b.nbytes), f - l, b.id),
    "area": lambda b, f, l: (-aligned(b.nbytes) * (l - f + 1), f, b.id),
    "duration": lambda b, f, l: (-(l - f), -aligned(b.nbytes), b.id),
    "start": lambda b, f, l: (f, -aligned(b.nbytes), b.id),
}


def _place(temps: list, live: dict, order) -> dict[int, int]:
    """{buffer id: offset}: each buffer, in `order`, at the lowest aligned offset free over its lifetime."""
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last) of buffers already placed
    offsets = {}
    for b in sorted(temps, key=lambda b: order(b, *live[b.id])):
        first, last = live[b.id]
        size = aligned(b.nbytes)
        busy = sorted((o, e) for o, e, f, l in placed if f <= last and first <= l)
        offset = 0
        for o, e in busy:  # the lowest gap that holds the buffer
            if o - offset >= size:
                break
            offset = max(offset, e)
        offsets[b.id] = offset
        placed.append((offset, offset + size, first, last))
    return offsets


def plan_memory(program: Program) -> Program:
    """Offsets for the temporaries so that buffers live at the same time never share bytes (see the module)."""
    live = lifetimes(program)
    temps = [b for b in program.temporaries if b.id in live and b.nbytes]
    plans = [_place(temps, live, order) for order in ORDERS.values()]
    sizes = {b.id: aligned(b.nbytes) for b in temps}
    best = min(plans, key=lambda p: max((o + sizes[i] for i, o in p.items()), default=0))
    for b in temps:
        b.offset = best[b.id]
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
    live = lifetimes(program)
    temps = [b for b in program.temporaries if b.id in live]
    steps = len(program.kernels)
    delta = [0] * (steps + 1)
    for b in temps:
        first, last = live[b.id]
        delta[first] += aligned(b.nbytes)
        delta[last + 1] -= aligned(b.nbytes)
    peak = running = 0
    for d in delta:
        running += d
        peak = max(peak, running)
    return MemoryReport(unplanned=sum(aligned(b.nbytes) for b in program.temporaries), planned=aligned(program.arena_bytes),
                        lower_bound=peak, temporaries=len(program.temporaries))
