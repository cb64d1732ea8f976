"""The text listing of a Program: buffers with roles and arena offsets, then each kernel's domain, loads, body, store."""
from __future__ import annotations

from . import dtypes
from .program import Chain, Gather, Gemm, Loop, Program, View


def fmt_access(a) -> str:
    if isinstance(a, View):
        return f"{a.buffer.name}[{', '.join(map(str, a.shape))}] @{a.offset} strides({', '.join(map(str, a.strides))})"
    if isinstance(a, Chain):
        steps = " ".join(f"{kind}{arg}" for kind, arg in a.steps)
        return f"{fmt_access(a.base)} then {steps}"
    if isinstance(a, Gather):
        return f"{fmt_access(a.base)} with axis {a.axis} <- {a.index}"
    return repr(a)


def fmt_kernel(k) -> list[str]:
    note = f"  # {k.label}" if k.label else ""
    if isinstance(k, Gemm):
        t = lambda flag: "ᵀ" if flag else ""  # noqa: E731
        head = (f"gemm batch{list(k.batch)} m={k.m} n={k.n} k={k.k}: {k.c.buffer.name} = "
                f"{k.alpha:g}·{k.a.buffer.name}{t(k.trans_a)}·{k.b.buffer.name}{t(k.trans_b)}"
                f"{f' + {k.beta:g}·C' if k.beta else ''} (lda={k.lda} ldb={k.ldb} ldc={k.ldc}){note}")
        lines = [head]
        if k.epilogue is not None:
            lines.append(f"    epilogue {k.epilogue}")
        return lines
    assert isinstance(k, Loop)
    axes = ", ".join(f"{'r' if i in k.reduce else 'i'}{i}<{d}" for i, d in enumerate(k.domain))
    head = f"loop [{axes}]" + (f" combine {k.combine}" if k.combine else "") + (f" init {k.init:g}" if k.init is not None else "")
    lines = [head + note]
    for ld in k.loads:
        box = f" valid {list(ld.valid)} else {ld.fill:g}" if ld.valid else ""
        lines.append(f"    {ld.name} = load {fmt_access(ld.access)}{box}")
    for name, lo, hi, _ in k.checks:
        lines.append(f"    check {lo} <= {name} < {hi}")
    lines.append(f"    body {k.body}")
    lines.append(f"    store {fmt_access(k.store)}")
    return lines


def listing(program: Program) -> str:
    binding = ", ".join(f"{k}={v}" for k, v in program.bindings.items()) or "static shapes"
    lines = [f"program ({binding}): {len(program.kernels)} kernels, arena {program.arena_bytes} bytes"]
    for b in program.externals + program.temporaries:
        where = f" @arena+{b.offset}" if b.offset is not None else ""
        lines.append(f"  buffer {b.name}: {dtypes.short(b.dtype)}[{b.size}] {b.role}{where}")
    for k in program.kernels:
        lines.extend("  " + line for line in fmt_kernel(k))
    outs = ", ".join(f"{b.name}{list(shape)}" for b, shape in program.outputs)
    lines.append(f"  return {outs}")
    return "\n".join(lines)
