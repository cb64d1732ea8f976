"""verify(program): the invariants that keep every printer of a Program memory-safe and its result defined.

Checked: every access of every kernel stays inside its buffer (over the valid box of a load);
loads, stores and domains agree in shape; bodies are typed as their stores; every buffer has
exactly one writer (none for inputs and constants, at most one for parameters) and is written
before it is read; temporaries that share arena bytes are never live at the same time.
"""
from __future__ import annotations

from .errors import GraphError
from .program import COMBINES, Chain, Gather, Gemm, Loop, Program, View
from .scalar_ops import OPS


def _access_problems(where: str, access, domain, valid=None) -> list[str]:
    if any(d == 0 for d in domain):
        return []
    if tuple(access.shape) != tuple(domain):
        return [f"{where}: access of {access.buffer.name} has shape {list(access.shape)}, the domain {list(domain)}"]
    if valid is not None:
        if len(valid) != len(domain) or any(not (0 <= lo <= hi <= d) for (lo, hi), d in zip(valid, domain)):
            return [f"{where}: valid box {list(valid)} does not fit the domain {list(domain)}"]
        if any(lo == hi for lo, hi in valid):
            return []
        if not isinstance(access, View):
            return [f"{where}: a load with a valid box must read through a View"]
        access = access.slice([lo for lo, _ in valid], [hi for _, hi in valid], [1] * len(valid))
    lo, hi = access.index_range()
    if lo < 0 or hi >= access.buffer.size:
        return [f"{where}: reaches elements [{lo}, {hi}] of {access.buffer.name}, outside [0, {access.buffer.size})"]
    return []


def _loop_problems(k: Loop, where: str) -> list[str]:
    out = []
    names = [ld.name for ld in k.loads]
    if len(set(names)) != len(names):
        out.append(f"{where}: load names {names} repeat")
    for ld in k.loads:
        out += _access_problems(f"{where} load {ld.name}", ld.access, k.domain, ld.valid)
        if isinstance(ld.access, Gather) and ld.access.index not in names:
            out.append(f"{where}: gather index {ld.access.index} is not a load of the kernel")
    out += _access_problems(f"{where} store", k.store, k.domain)
    if isinstance(k.store, Chain):
        out.append(f"{where}: a store must be a View or a Gather")
    if k.combine is not None and k.combine not in COMBINES:
        out.append(f"{where}: unknown combine {k.combine!r}")
    if any(not 0 <= a < len(k.domain) for a in k.reduce):
        out.append(f"{where}: reduction axes {k.reduce} outside the domain")
    if k.reduce and k.combine is None:
        out.append(f"{where}: reduction axes {k.reduce} without a combine")
    if isinstance(k.store, View) and k.combine is None:
        for a, (d, s) in enumerate(zip(k.domain, k.store.strides)):
            if d > 1 and s == 0:
                out.append(f"{where}: axis {a} stores every point to the same element but has no combine")
    for o in k.body.ops:
        if OPS.get(o.op) != len(o.args):
            out.append(f"{where}: body operation {o.op} with {len(o.args)} operand(s) is not a scalar operation of graphc.scalar_ops.OPS")
    missing = set(k.body.args()) - set(names)
    if missing:
        out.append(f"{where}: body reads {sorted(missing)}, which are not loads")
    if any(a >= len(k.domain) for a in k.body.axes()):
        out.append(f"{where}: body uses an axis outside the domain")
    if k.body.dtype != k.store.buffer.dtype:
        out.append(f"{where}: body gives {k.body.dtype}, the store is {k.store.buffer.dtype}")
    for name, lo, hi, _ in k.checks:
        if name not in names:
            out.append(f"{where}: check of {name}, which is not a load")
    return out


def _gemm_problems(k: Gemm, where: str) -> list[str]:
    out = []
    for which in "abc":
        op = getattr(k, which)
        if len(op.batch_strides) != len(k.batch):
            out.append(f"{where}: operand {which} has {len(op.batch_strides)} batch strides for batch {list(k.batch)}")
            continue
        v = k.operand_view(which)
        out += _access_problems(f"{where} operand {which}", v, v.shape)
    for which, ld, inner in (("a", k.lda, k.m if k.trans_a else k.k), ("b", k.ldb, k.k if k.trans_b else k.n), ("c", k.ldc, k.n)):
        if ld < max(inner, 1):
            out.append(f"{where}: leading dimension of {which} is {ld}, less than its row length {inner}")
    if k.a.buffer.dtype != k.c.buffer.dtype or k.b.buffer.dtype != k.c.buffer.dtype or k.c.buffer.dtype.kind != "f":
        out.append(f"{where}: gemm needs float operands of one dtype")
    return out


def verify(program: Program) -> Program:
    """Raise GraphError listing every broken invariant of `program`; return it unchanged otherwise."""
    problems = []
    writers: dict[int, list[str]] = {}
    written: set[int] = set()
    first_write: dict[int, int] = {}
    last_use: dict[int, int] = {}
    for step, k in enumerate(program.kernels):
        where = f"kernel {step} ({type(k).__name__.lower()}{' ' + k.label if k.label else ''})"
        if isinstance(k, Loop):
            problems += _loop_problems(k, where)
        elif isinstance(k, Gemm):
            problems += _gemm_problems(k, where)
        else:
            problems.append(f"{where}: not a Loop or a Gemm")
            continue
        for b in k.reads:
            if b.role in ("temp", "output") and b.id not in written:
                problems.append(f"{where}: reads {b.name} before any kernel writes it")
            last_use[b.id] = step
        w = k.writes
        writers.setdefault(w.id, []).append(where)
        written.add(w.id)
        first_write.setdefault(w.id, step)
        last_use[w.id] = max(last_use.get(w.id, step), step)
    for b in program.buffers:
        n = len(writers.get(b.id, []))
        if b.role in ("temp", "output") and n != 1:
            problems.append(f"buffer {b.name} ({b.role}) has {n} writers, needs exactly one")
        elif b.role in ("input", "const") and n:
            problems.append(f"buffer {b.name} ({b.role}) is written by {writers[b.id]}")
        elif b.role in ("param", "state") and n > 1:
            problems.append(f"parameter buffer {b.name} has {n} writers: {writers[b.id]}")
    for b, shape in program.outputs:
        if b.role != "output":
            problems.append(f"output {b.name} has role {b.role}")
    problems += _arena_problems(program, first_write, last_use)
    if problems:
        raise GraphError("program failed verification:\n  " + "\n  ".join(problems))
    return program


def _in_place(program: Program, a, b, first_write: dict, last_use: dict) -> bool:
    """Do a and b meet at exactly one kernel, which writes one of them over the other as it dies?"""
    for dying, born in ((a, b), (b, a)):
        step = first_write[born.id]
        if last_use[dying.id] == step and first_write[dying.id] < step:
            k = program.kernels[step]
            if k.writes is born and isinstance(k, Loop) and k.overwrites(dying):
                return True
    return False


def _arena_problems(program: Program, first_write: dict, last_use: dict) -> list[str]:
    """Temporaries that share arena bytes must have disjoint lifetimes [first write, last use], except an
    elementwise kernel's store and an input that dies at that kernel (Loop.overwrites: in place)."""
    temps = [b for b in program.temporaries if b.offset is not None and b.id in first_write]
    out = []
    for i, a in enumerate(temps):
        if a.offset < 0 or a.offset % a.dtype.itemsize:
            out.append(f"buffer {a.name}: arena offset {a.offset} is negative or misaligned")
        for b in temps[i + 1:]:
            overlap = a.offset < b.offset + b.nbytes and b.offset < a.offset + a.nbytes
            live = first_write[a.id] <= last_use[b.id] and first_write[b.id] <= last_use[a.id]
            if overlap and live and a.nbytes and b.nbytes and not _in_place(program, a, b, first_write, last_use):
                out.append(f"buffers {a.name} and {b.name} share arena bytes while both are live")
    return out
