"""Output: the Digraph graphc returns, layout settings by size, atomic writes, and a clear error without `dot`.

Layout budget (measured with benchmarks/render_time.py, Graphviz 2.43): dot's network-simplex
ranking and crossing minimisation dominate on graphs of a few hundred nodes, so above
`BIG` nodes the settings cap both (`nslimit`, `nslimit1`, `mclimit`, `searchsize`, one
`remincross` pass off) and draw straight edges; that keeps every example's full forward +
backward graph under the 5 s budget. See docs/backprop.md for the numbers.
"""
from __future__ import annotations

import os
import tempfile

import graphviz

from ..errors import GraphcError, RenderError

BIG = 150     # nodes above which the layout effort is capped
HUGE = 600    # nodes above which the crossing minimisation is reduced further

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}

_MISSING = ("Graphviz's `dot` program was not found, so the drawing cannot be laid out. Install the `graphviz` "
            "system package (apt install graphviz / brew install graphviz / conda install graphviz) and make sure "
            "`dot` is on PATH; the DOT source is still available (.source, or a .dot path).")


def layout_attrs(n_nodes: int, n_edges: int) -> dict:
    """Graph attributes that bound dot's layout time for a drawing of this size."""
    attrs = {"newrank": "true", "nodesep": "0.25", "ranksep": "0.35"}
    if n_nodes > BIG:
        attrs.update(nslimit="2", nslimit1="2", mclimit="0.3", searchsize="30", remincross="false", splines="line")
    if n_nodes > HUGE:
        attrs.update(mclimit="0.05", nslimit="1", nslimit1="1")
    return attrs


class GraphcDigraph(graphviz.Digraph):
    """A graphviz.Digraph (so .source, .pipe(), .render() and Jupyter display work) whose layout
    errors become graphc errors: a missing `dot` says which package to install."""

    def pipe(self, *args, **kwargs):
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise RenderError(_MISSING) from e
        except graphviz.CalledProcessError as e:
            raise RenderError(f"Graphviz failed to lay out the drawing: {e.stderr.decode(errors='replace') if isinstance(e.stderr, bytes) else e}") from e

    def render(self, *args, **kwargs):
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise RenderError(_MISSING) from e

    def svg(self) -> str:
        """The laid-out drawing as SVG text."""
        return self.pipe(format="svg", encoding="utf-8")


def write(dg: graphviz.Digraph, path) -> str:
    """Write `dg` to `path` (.svg, .png, .pdf laid out by Graphviz; .dot/.gv as source) atomically."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise RenderError(f"cannot write {path!r}: use a .svg, .png, .pdf or .dot path")
    fmt = FORMATS[ext]
    data = dg.source.encode("utf-8") if fmt is None else dg.pipe(format=fmt)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".graphc-", suffix=ext, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make the figure private
        os.replace(tmp, path)  # readers never see a half-written file
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


__all__ = ["GraphcDigraph", "RenderError", "GraphcError", "layout_attrs", "write"]
