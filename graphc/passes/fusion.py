"""Kernel fusion on the Program: elementwise producers are substituted into the Loops that read them, and an
elementwise Loop that reads a Gemm's product becomes the Gemm's epilogue.

A producer is an elementwise Loop (no reduction, no init, no checks, no index-dependent body, plain
View loads) that writes a whole temporary. Each read of that temporary by a consumer Loop is replaced
by the producer's body over the producer's loads, their views composed with the consumer's view
(`compose`): the fused kernel still reads only original buffers, and the temporary disappears. A
composition that strides cannot express (a read that would carry across the producer's axes) is not
fused. The cost rule never duplicates expensive work: a producer is inlined into several reads only
when its body is one cheap operation on one load and every read is the very view it writes
(element by element), and never through a read that may repeat elements (a broadcast, overlapping
windows). Fused bodies stay small (MAX_BODY_OPS operations, MAX_LOADS loads).

Moving reads changes when they happen, so fusion refuses when a buffer the producer reads is
written between the producer and the consumer (a parameter update): the fused kernel must see the
values the producer saw.
"""
from __future__ import annotations

import dataclasses

from ..program import Gemm, Load, Loop, Operand, Program, View, contiguous_strides, injective, unravel
from ..scalar_ops import Body, Builder

MAX_BODY_OPS = 48   # operations in a fused body (beyond it, one more buffer costs less than a huge kernel)
MAX_LOADS = 8       # loads of a fused kernel (operands a printer juggles at once)
CHEAP_OPS = 1       # a producer this small (one operation on one load: a cast, x·c) may be inlined into several reads
EXPENSIVE = {"exp", "log", "log1p", "expm1", "sqrt", "tanh", "erf", "sin", "cos", "tan", "pow", "div", "floordiv", "mod"}


def _size(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _whole(view, buffer) -> bool:
    return (isinstance(view, View) and view.buffer is buffer and view.offset == 0 and view.size == buffer.size
            and tuple(view.strides) == contiguous_strides(view.shape))


def compose(outer: View, shape: tuple, inner: View) -> View | None:
    """The View that reads, at each point q of `outer` (a view of a contiguous `shape`-d temporary), what
    `inner` (a view over `shape`) reads at the temporary's position outer(q); None when that is not
    expressible as strides (the read would carry from one axis of `shape` into another)."""
    # merge runs of axes that `inner` reads contiguously (and drop unit axes): fewer axes to carry across
    axes: list[list[int]] = []  # [extent, inner stride]
    for d, s in zip(shape, inner.strides):
        if d == 1:
            continue
        if axes and axes[-1][1] == d * s:
            axes[-1] = [axes[-1][0] * d, s]
        else:
            axes.append([d, s])
    extents = tuple(d for d, _ in axes)
    if any(d == 0 for d in shape):
        return None
    temp_strides = contiguous_strides(extents)
    start = unravel(outer.offset, extents) if extents else ()
    lo, hi = list(start), list(start)
    strides = []
    for d, v in zip(outer.shape, outer.strides):
        if d == 1 or v == 0:
            strides.append(0)
            continue
        i = next((i for i, t in enumerate(temp_strides) if t <= abs(v)), None)
        if i is None or abs(v) % temp_strides[i]:
            return None
        m = v // temp_strides[i]
        if abs(m) >= extents[i]:
            return None
        span = m * (d - 1)
        lo[i] += min(span, 0)
        hi[i] += max(span, 0)
        strides.append(m * axes[i][1])
    if any(a < 0 or b >= d for a, b, d in zip(lo, hi, extents)):
        return None
    offset = inner.offset + sum(p * s for p, (_, s) in zip(start, axes))
    return View(inner.buffer, tuple(outer.shape), tuple(strides), offset)


def _is_producer(k) -> bool:
    return (isinstance(k, Loop) and not k.reduce and k.combine is None and k.init is None and not k.checks
            and k.store.buffer.role == "temp" and _whole(k.store, k.store.buffer) and not k.body.axes()
            and all(isinstance(ld.access, View) and ld.valid is None for ld in k.loads))


def _work(body: Body) -> tuple[int, bool]:
    """(non-leaf operations, whether any is expensive)."""
    ops = [o for o in body.ops if o.op not in ("arg", "const", "axis")]
    return len(ops), any(o.op in EXPENSIVE for o in ops)


def _repeats(view: View) -> bool:
    """May the view read some element more than once (a broadcast axis, overlapping windows)?"""
    return not injective(view.shape, view.strides)


def _writers(kernels) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for step, k in enumerate(kernels):
        out.setdefault(k.writes.id, []).append(step)
    return out


def _written_between(buffers, writers: dict, lo: int, hi: int) -> bool:
    """Is any of `buffers` written by a kernel at a step in (lo, hi]?"""
    return any(lo < step <= hi for b in buffers for step in writers.get(b.id, ()))


def _inline(consumer: Loop, temp, producer: Loop) -> Loop | None:
    """`consumer` with every read of `temp` replaced by `producer`'s body; None when a read cannot be composed."""
    loads = [ld for ld in consumer.loads if ld.buffer is not temp]
    by_key = {(ld.access.key(), ld.valid is None): ld.name for ld in loads if isinstance(ld.access, View)}
    names = {ld.name for ld in consumer.loads}
    b = Builder()
    fresh = iter(f"f{i}" for i in range(10 ** 6))
    values: dict[str, int] = {}
    for ld in consumer.loads:
        if ld.buffer is not temp:
            values[ld.name] = b.arg(ld.name, ld.buffer.dtype)
            continue
        bound = {}
        for pl in producer.loads:
            access = compose(ld.access, producer.domain, pl.access)
            if access is None:
                return None
            name = by_key.get((access.key(), True))
            if name is None:
                name = next(n for n in fresh if n not in names)
                names.add(name)
                loads.append(Load(name, access))
                by_key[(access.key(), True)] = name
            bound[pl.name] = b.arg(name, pl.buffer.dtype)
        values[ld.name] = _copy_body(b, producer.body, bound)
    body = b.build(_copy_body(b, consumer.body, values))
    if len(loads) > MAX_LOADS or _work(body)[0] > MAX_BODY_OPS:
        return None
    return dataclasses.replace(consumer, loads=tuple(loads), body=body)


def _copy_body(b: Builder, body: Body, args: dict) -> int:
    """Emit `body` into builder `b` with each named arg replaced by the given position; returns its result."""
    at: list[int] = []
    for o in body.ops:
        if o.op == "arg":
            at.append(args[o.value])
        elif o.op == "const":
            at.append(b.const(o.value, o.dtype))
        elif o.op == "axis":
            at.append(b.axis(o.value))
        else:
            at.append(b.emit(o.op, tuple(at[a] for a in o.args), o.dtype, o.value))
    return at[body.out]


def fuse_elementwise(program: Program) -> Program:
    """Substitute every fusable elementwise producer into the Loops that read its result (module docstring)."""
    kernels = list(program.kernels)
    protected = {id(b) for b, _ in program.outputs}
    step = len(kernels) - 1
    while step >= 0:
        producer = kernels[step]
        fused = _try_fuse(kernels, step, protected) if _is_producer(producer) else None
        if fused is not None:
            kernels = fused
        step -= 1
    program.kernels = kernels
    program.prune_buffers()
    return program


def _try_fuse(kernels: list, step: int, protected: set) -> list | None:
    producer = kernels[step]
    temp = producer.store.buffer
    if id(temp) in protected:
        return None
    readers = [(j, k) for j, k in enumerate(kernels) if j > step and temp in k.reads]
    if not readers or any(not isinstance(k, Loop) for _, k in readers):
        return None
    reads = [ld for _, k in readers for ld in k.loads if ld.buffer is temp]
    ops, expensive = _work(producer.body)
    if len(reads) > 1 and (expensive or ops > CHEAP_OPS or len(producer.loads) > 1
                           or any(not _whole(ld.access, temp) for ld in reads)):
        return None  # never duplicate real work, nor cheap work read through another view (windows, transposes)
    writers = _writers(kernels)
    sources = [ld.buffer for ld in producer.loads]
    out = list(kernels)
    for j, k in readers:
        if any(not isinstance(ld.access, View) or ld.valid is not None or _repeats(ld.access) for ld in k.loads
               if ld.buffer is temp):
            return None
        names = {ld.name for ld in k.loads if ld.buffer is temp}
        if any(getattr(ld.access, "index", None) in names for ld in k.loads) or any(c[0] in names for c in k.checks):
            return None  # the value is an index: it must stay a load
        if getattr(k.store, "index", None) in names:
            return None
        if _written_between(sources, writers, step, j - 1):
            return None  # the consumer would see a value the producer did not
        fused = _inline(k, temp, producer)
        if fused is None or (k.writes in sources and not _reads_only_where_it_writes(fused, k.writes)):
            return None
        fused.label, fused.fused = _merged(producer, k)
        out[j] = fused
    del out[step]
    return out


def _reads_only_where_it_writes(k: Loop, buffer) -> bool:
    """Does the elementwise Loop `k`, which writes `buffer`, read it only at the element it is writing
    (an update in place, `m = 0.9·m + g`), so that every read sees the old value?"""
    return (not k.reduce and k.combine is None and k.init is None and isinstance(k.store, View)
            and all(isinstance(ld.access, View) and ld.valid is None and ld.access.key() == k.store.key()
                    for ld in k.loads if ld.buffer is buffer))


def _merged(first, then) -> tuple[str, tuple]:
    """The label and the `fused` parts of the kernel that merges `first` into `then`."""
    parts = tuple(dict.fromkeys((first.fused or (first.label,)) + (then.fused or (then.label,))))
    return " + ".join(p for p in parts if p), parts


def fuse_epilogues(program: Program) -> Program:
    """An elementwise Loop that reads a Gemm's product (and nothing else reads it) becomes the Gemm's
    epilogue: the Gemm writes the Loop's result, applied while the tile is hot."""
    kernels = list(program.kernels)
    protected = {id(b) for b, _ in program.outputs}
    for g_step in range(len(kernels) - 1, -1, -1):
        while isinstance(kernels[g_step], Gemm):  # a chain (bias add, then activation) folds in one by one
            g = kernels[g_step]
            product = g.c.buffer
            if (g.beta != 0.0 or id(product) in protected or product.role != "temp"
                    or not _whole(g.operand_view("c"), product)):
                break
            readers = [(j, k) for j, k in enumerate(kernels) if j > g_step and product in k.reads]
            fused = _as_epilogue(g, readers[0][1], kernels, g_step, readers[0][0]) if len(readers) == 1 else None
            if fused is None:
                break
            kernels[g_step] = fused
            del kernels[readers[0][0]]
    program.kernels = kernels
    program.prune_buffers()
    return program


def _as_epilogue(g: Gemm, k, kernels: list, g_step: int, k_step: int) -> Gemm | None:
    product = g.c.buffer
    shape = tuple(g.batch) + (g.m, g.n)
    if (not isinstance(k, Loop) or k.reduce or k.combine is not None or k.init is not None or k.checks
            or k.body.axes() or _size(k.domain) != _size(shape) or not _whole(k.store, k.store.buffer)
            or k.store.buffer.dtype != product.dtype or k.store.buffer.size != product.size):
        return None
    mine = [ld for ld in k.loads if ld.buffer is product]
    others = [ld for ld in k.loads if ld.buffer is not product]
    if len(mine) != 1 or not _whole(mine[0].access, product) or mine[0].valid is not None:
        return None
    if any(not isinstance(ld.access, View) or ld.valid is not None for ld in others):
        return None
    if tuple(k.domain) != shape:  # the same elements in C order (a batch folded into rows): the loads reshaped
        reshaped = [ld.access._affine_reshape(shape) for ld in others]
        if any(v is None for v in reshaped):
            return None
        others = [dataclasses.replace(ld, access=v) for ld, v in zip(others, reshaped)]
    target = k.store.buffer
    if target in (g.a.buffer, g.b.buffer) or any(ld.buffer is target for ld in others + list(g.epilogue_loads)):
        return None  # the product lands in target before the epilogue reads: it must not read target's old value
    # the epilogue runs at the Gemm's step: what it reads must be ready there, and what it writes unread until k
    writers = _writers(kernels)
    if _written_between([ld.buffer for ld in others], writers, g_step - 1, k_step - 1):
        return None
    if any(target in kk.reads or kk.writes is target for kk in kernels[g_step + 1:k_step]):
        return None
    b = Builder()
    loads = list(g.epilogue_loads)
    names = {ld.name for ld in loads} | {"acc"}
    args = {}
    for ld in others:  # the consumer's loads join the epilogue's (renamed where a name is taken)
        name = ld.name if ld.name not in names else next(f"e{i}" for i in range(len(names) + 1) if f"e{i}" not in names)
        names.add(name)
        loads.append(dataclasses.replace(ld, name=name))
        args[ld.name] = b.arg(name, ld.buffer.dtype)
    acc = b.arg("acc", product.dtype)
    if g.epilogue is not None:  # the product the consumer reads is the earlier epilogue's value
        acc = _copy_body(b, g.epilogue, {"acc": acc, **{ld.name: b.arg(ld.name, ld.buffer.dtype) for ld in g.epilogue_loads}})
    args[mine[0].name] = acc
    body = b.build(_copy_body(b, k.body, args))
    if len(loads) > MAX_LOADS or _work(body)[0] > MAX_BODY_OPS:
        return None
    c = Operand(target, 0, contiguous_strides(shape)[:-2])
    label, parts = _merged(g, k)
    return dataclasses.replace(g, c=c, epilogue=body, epilogue_loads=tuple(loads), label=label, fused=parts)
