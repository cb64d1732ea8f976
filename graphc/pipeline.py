"""The compiler's pipeline, in one place: graph passes -> lowering -> Program passes -> memory plan.

`stages(optimize)` is the whole list a reader needs: optimize=0 runs no pass (the unoptimised
Program, every test's oracle and a teacher's starting picture), 1 the graph rewrites, 2 (the
default) also the Program passes and the planned arena. Each stage is a named pure function;
`verify` runs after every stage in debug mode (and wherever GRAPHC_VERIFY=1, as in the test suite),
naming the stage that broke an invariant. Debug mode leaves fusion out, so that its NaN check after
every kernel names the one node that produced the value. Every stage's effect is recorded on the Program (`program.report`), and with
`dump=DIR` (or GRAPHC_DUMP) each stage's listing, its diff against the previous one and a drawing
(graphc.render installs the drawer) are written.
"""
from __future__ import annotations

import difflib
import os
import time

from .errors import GraphcError, GraphError
from .ir import Graph, verify as verify_graph
from .lower import lower
from .passes import (donate_updates, fold_gemm_batches, fuse_elementwise, fuse_epilogues, layout_sequential, plan_memory,
                     plan_report, simplify, split_merged_axes, sum_gemm_batches)
from .program import Program
from .program_verify import verify as verify_program

GRAPH_PASSES: list = [simplify]  # Graph -> Graph, at optimize >= 1
PROGRAM_PASSES: list = [donate_updates, fold_gemm_batches, sum_gemm_batches, fuse_epilogues, fuse_elementwise,
                        split_merged_axes]  # Program -> Program, at optimize >= 2
LEVELS = (0, 1, 2)


STAGE_DRAWING: dict = {"draw": None}  # set by graphc.render: draw(graph or program, path) for dumps (no upward import)
FUSION = (sum_gemm_batches, fuse_epilogues, fuse_elementwise)  # left out in debug mode: its NaN check names one node per kernel


def stages(optimize: int, debug: bool = False) -> tuple[list, list, object]:
    """(graph passes, Program passes, memory plan) that `optimize` runs."""
    if optimize not in LEVELS:
        raise GraphError(f"optimize must be one of {LEVELS}, got {optimize!r}")
    program_passes = [p for p in PROGRAM_PASSES if not (debug and p in FUSION)] if optimize >= 2 else []
    return (list(GRAPH_PASSES) if optimize >= 1 else [], program_passes, plan_memory if optimize >= 2 else layout_sequential)


def compile_program(graph: Graph, bindings: dict, n_outputs: int, updates: list, debug: bool = False,
                    optimize: int = 2, dump: str | None = None) -> Program:
    """The Program of `graph` for one shape binding: its first n_outputs outputs are results, the rest
    are the new values of `updates` [(Variable, node)]."""
    graph_passes, program_passes, memory_plan = stages(optimize, debug)
    dump = dump or os.environ.get("GRAPHC_DUMP") or None
    debug = debug or os.environ.get("GRAPHC_VERIFY", "") not in ("", "0")  # the test suite sets it
    trail = _Trail(dump, bindings)
    trail.record("input graph", graph, {"nodes": len(graph)})
    for graph_pass in graph_passes:
        before = len(graph)
        trail.start()
        graph = _checked(graph_pass.__name__, graph_pass(graph), verify_graph, debug)
        stats = dict(getattr(graph, "pass_stats", {}) or {})
        trail.record(graph_pass.__name__, graph, {"nodes_before": before, "nodes_after": len(graph), **stats})
        # a pass keeps the outputs in order: the update values are the outputs after the results
        updates = [(var, node) for (var, _), node in zip(updates, graph.outputs[n_outputs:])]
    trail.start()
    program = _checked("lower", lower(graph, bindings, n_outputs, updates), verify_program, True)
    trail.record("lower", program, {"kernels": len(program.kernels), "buffers": len(program.buffers)})
    for program_pass in program_passes:
        before = len(program.kernels)
        trail.start()
        program = _checked(program_pass.__name__, program_pass(program), verify_program, debug)
        trail.record(program_pass.__name__, program, {"kernels_before": before, "kernels_after": len(program.kernels)})
    trail.start()
    program = _checked(memory_plan.__name__, memory_plan(program), verify_program, debug)
    trail.record(memory_plan.__name__, program, plan_report(program).as_dict())
    program.report = trail.entries
    return program


class _Trail:
    """Each stage's effect (for fn.report()) and, with a dump directory, its listing and diff."""

    def __init__(self, directory: str | None, bindings: dict):
        self.directory, self.entries, self.previous = directory, [], None
        self.started = None
        if directory:
            suffix = "_".join(f"{k}{v}" for k, v in sorted(bindings.items())) or "static"
            self.directory = os.path.join(directory, suffix)
            os.makedirs(self.directory, exist_ok=True)

    def start(self) -> None:
        self.started = time.perf_counter()

    def record(self, stage: str, result, stats: dict):
        """Note what `stage` did (and its seconds, verification included); with a dump directory, write its
        result's listing, diff and drawing."""
        seconds = {"seconds": time.perf_counter() - self.started} if self.started is not None else {}
        self.started = None
        self.entries.append({"stage": stage, **stats, **seconds})
        if not self.directory:
            return
        listing = str(result)  # a Program's listing states its buffers and kernels as they are now
        index = len(self.entries) - 1
        base = os.path.join(self.directory, f"{index:02d}_{stage.replace(' ', '_')}")
        with open(base + ".txt", "w") as f:
            f.write(listing)
        draw = STAGE_DRAWING["draw"]
        if draw is not None:
            try:
                draw(result, base + ".svg")
            except GraphcError as e:  # Graphviz missing, say: the listings are still worth having
                with open(base + ".svg.txt", "w") as f:
                    f.write(f"no drawing: {e}\n")
        if self.previous is not None:
            diff = difflib.unified_diff(self.previous[1].splitlines(True), listing.splitlines(True),
                                        fromfile=self.previous[0], tofile=stage)
            with open(base + ".diff", "w") as f:
                f.writelines(diff)
        self.previous = (stage, listing)


def _checked(stage: str, result, verify, enabled: bool):
    if enabled:
        try:
            verify(result)
        except GraphError as e:
            raise GraphError(f"after stage {stage!r}: {e}") from None
    return result
