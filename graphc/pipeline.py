"""The compiler's pipeline, in one place: graph passes -> lowering -> Program passes -> memory plan.

Each stage is a named pure function; `verify` runs after every stage in debug mode (and in the
test suite), naming the stage that broke an invariant. The pass lists are empty until the
optimiser fills them; the memory plan today lays temporaries out one after another.
"""
from __future__ import annotations

from .errors import GraphError
from .ir import Graph, verify as verify_graph
from .lower import lower
from .program import Program
from .program_verify import verify as verify_program

GRAPH_PASSES: list = []     # Graph -> Graph
PROGRAM_PASSES: list = []   # Program -> Program
ARENA_ALIGNMENT = 64        # bytes: every temporary starts on a cache line (and a SIMD register's alignment)


def layout_sequential(program: Program) -> Program:
    """Give every temporary its own aligned arena range, in schedule order (no reuse yet)."""
    offset = 0
    for b in program.temporaries:
        b.offset = offset
        offset += -(-b.nbytes // ARENA_ALIGNMENT) * ARENA_ALIGNMENT
    return program


MEMORY_PLAN = layout_sequential


def compile_program(graph: Graph, bindings: dict, n_outputs: int, updates: list, debug: bool = False) -> Program:
    """The Program of `graph` for one shape binding: its first n_outputs outputs are results, the rest
    are the new values of `updates` [(Variable, node)]."""
    for graph_pass in GRAPH_PASSES:
        graph = _checked(graph_pass.__name__, graph_pass(graph), verify_graph, debug)
    program = _checked("lower", lower(graph, bindings, n_outputs, updates), verify_program, True)
    for program_pass in PROGRAM_PASSES:
        program = _checked(program_pass.__name__, program_pass(program), verify_program, debug)
    return _checked(MEMORY_PLAN.__name__, MEMORY_PLAN(program), verify_program, debug)


def _checked(stage: str, result, verify, enabled: bool):
    if enabled:
        try:
            verify(result)
        except GraphError as e:
            raise GraphError(f"after stage {stage!r}: {e}") from None
    return result
