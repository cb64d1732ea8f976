"""The memory view: a compiled step's arena as a picture (matplotlib), the teacher's figure of buffer reuse.

Each temporary is a rectangle over (the kernels during which it is live) × (its bytes in the arena);
temporaries that share bytes follow one another in time. The external buffers (inputs, parameters,
optimiser state, outputs) are drawn in a band above the arena. Dashed lines mark the planned arena
size and the peak-live lower bound (no plan can go below it).
"""
from __future__ import annotations

from ..checkpoint import atomic_write
from ..errors import RenderError
from ..passes import lifetimes, plan_report
from ..program import Program

ROLE_FACE = {"temp": "#93c5fd", "input": "#bfdbfe", "param": "#fde68a", "state": "#fef3c7", "const": "#e5e7eb",
             "output": "#a7f3d0"}


def memory_figure(program: Program, path: str | None = None, title: str | None = None):
    """A matplotlib Figure of `program`'s memory plan (written to `path` when given: .svg, .png, .pdf)."""
    try:  # lazy: matplotlib is optional and heavy
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # after use("Agg"): no display needed
        from matplotlib.patches import Patch, Rectangle
    except ImportError as e:
        raise RenderError("the memory view needs matplotlib: pip install 'graphc-compiler[plot]'") from e
    steps = max(len(program.kernels), 1)
    live = lifetimes(program)
    report = plan_report(program)
    fig, ax = plt.subplots(figsize=(10, 5))
    for b in program.temporaries:
        if b.id not in live or not b.nbytes:
            continue
        first, last = live[b.id]
        ax.add_patch(Rectangle((first, b.offset), last - first + 1, b.nbytes, facecolor=ROLE_FACE["temp"],
                               edgecolor="#1e3a8a", linewidth=0.4))
    top = max(report.planned, 1)
    band = top * 1.08
    external = [b for b in program.externals if b.nbytes]
    y = band
    for b in external:  # externals live for the whole call, stacked above the arena
        ax.add_patch(Rectangle((0, y), steps, b.nbytes, facecolor=ROLE_FACE.get(b.role, "#eeeeee"),
                               edgecolor="#6b7280", linewidth=0.4))
        y += b.nbytes
    ax.axhline(report.planned, color="#1e3a8a", linestyle="--", linewidth=1)
    ax.axhline(report.lower_bound, color="#b91c1c", linestyle=":", linewidth=1.2)
    ax.axhline(band, color="#9ca3af", linewidth=0.6)
    ax.set_xlim(0, steps)
    ax.set_ylim(0, max(y, band) * 1.02)
    ax.set_xlabel("kernel (schedule order)")
    ax.set_ylabel("bytes")
    mib = lambda n: f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"  # noqa: E731
    ax.set_title(title or f"arena {mib(report.planned)} (unplanned {mib(report.unplanned)}, "
                 f"lower bound {mib(report.lower_bound)}); {report.temporaries} temporaries, {len(program.kernels)} kernels",
                 fontsize=10)
    handles = [Patch(facecolor=ROLE_FACE["temp"], edgecolor="#1e3a8a", label="temporary (arena)")]
    handles += [Patch(facecolor=ROLE_FACE[r], edgecolor="#6b7280", label=r) for r in ("input", "param", "state", "output")
                if any(b.role == r for b in external)]
    handles += [plt.Line2D([], [], color="#1e3a8a", linestyle="--", label="planned arena"),
                plt.Line2D([], [], color="#b91c1c", linestyle=":", label="peak-live lower bound")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    if path is not None:
        fmt = str(path).rsplit(".", 1)[-1].lower()
        if fmt not in ("svg", "png", "pdf"):
            plt.close(fig)
            raise RenderError(f"the memory view writes .svg, .png or .pdf, not {path!r}")
        atomic_write(path, lambda f: fig.savefig(f, format=fmt))
    return fig
