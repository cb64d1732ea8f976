"""The lowered IR on its own: accesses, typed scalar bodies, and verify(program) refusing every broken invariant."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc import scalar, scalar_ops
from graphc.program import Buffer, Chain, Gather, Gemm, Load, Loop, Operand, Program, View
from graphc.program_verify import verify

F32 = np.dtype(np.float32)


def buf(i, size, role="temp", dtype=F32, offset=None):
    return Buffer(i, f"b{i}", np.dtype(dtype), size, role, offset=offset)


def copy_body(dtype=F32, name="a0"):
    b = scalar_ops.Builder()
    return b.build(b.arg(name, dtype))


def loop(src, dst, domain=None, **kw):
    return Loop(tuple(domain or src.shape), (Load("a0", src),), copy_body(src.buffer.dtype), dst, **kw)


def prog(buffers, kernels, outputs=()):
    return Program(buffers=list(buffers), kernels=list(kernels), outputs=list(outputs))


# -- accesses ----------------------------------------------------------------------
def test_flat_index_is_one_definition_for_ints_arrays_and_symbols():
    b = buf(0, 24, "input")
    chain = View.whole(b, (2, 3, 4)).transpose((0, 2, 1)).reshape((2, 12))
    assert isinstance(chain, Chain)
    data = np.arange(24).reshape(2, 3, 4)
    want = data.transpose(0, 2, 1).reshape(2, 12)
    i, j = np.ogrid[:2, :12]
    np.testing.assert_array_equal(chain.flat_index((i, j)), want)
    assert chain.flat_index((1, 5)) == want[1, 5]
    s, t = sympy.symbols("s t", integer=True, nonnegative=True)
    expr = chain.flat_index((s, t))
    assert any(isinstance(a, (sympy.floor, sympy.Mod)) for a in sympy.preorder_traversal(expr))
    assert expr.subs({s: 1, t: 5}) == want[1, 5]


def test_gather_wraps_negative_indices():
    b = buf(0, 12, "input")
    g = Gather(View.whole(b, (4, 3)), 0, "ix", 1, (2, 3))
    rows = np.array([[1], [-1]])
    j = np.arange(3)[None, :]
    np.testing.assert_array_equal(g.flat_index((None, j), {"ix": rows}), [[3, 4, 5], [9, 10, 11]])


# -- scalar bodies -------------------------------------------------------------------
def test_a_fused_formula_is_a_dag_not_a_tree():
    x = scalar.X
    expr = x
    for _ in range(16):  # as a tree this would have 2**16 nodes (sympy itself slows down beyond)
        expr = sympy.exp(expr) + expr * expr
    body = scalar_ops.from_sympy(expr, {x: ("arg", "a0", F32)}, F32, F32)
    assert len(body.ops) < 200


def test_bodies_are_typed_with_explicit_casts():
    a, b_ = scalar.arg_symbols(2)
    body = scalar_ops.from_sympy(a * b_ + 1, {a: ("arg", "a0", np.dtype(np.int32)), b_: ("arg", "a1", F32)}, F32, F32)
    casts = [o for o in body.ops if o.op == "cast"]
    assert len(casts) == 1 and casts[0].dtype == F32 and body.dtype == F32
    cond = scalar_ops.from_sympy(sympy.Piecewise((a, b_ > 0), (0, True)), {a: ("arg", "a0", F32), b_: ("arg", "a1", F32)},
                                 F32, F32)
    (where,) = [o for o in cond.ops if o.op == "where"]
    assert cond.ops[where.args[0]].dtype == np.bool_


def test_stable_forms_are_decided_in_the_body():
    x = scalar.X
    body = scalar_ops.from_sympy(scalar.sigmoid(x), {x: ("arg", "a0", F32)}, F32, F32)
    values = scalar_ops.evaluate(body, {"a0": np.array([-1000, -1, 0, 1, 1000], np.float32)})
    np.testing.assert_allclose(values, [0, 1 / (1 + np.e), 0.5, 1 / (1 + 1 / np.e), 1], rtol=1e-6)
    step = scalar_ops.from_sympy(sympy.Heaviside(x, 0), {x: ("arg", "a0", F32)}, F32, F32)
    np.testing.assert_array_equal(scalar_ops.evaluate(step, {"a0": np.array([-1, 0, 2], np.float32)}), [0, 0, 1])


def test_negative_zero_and_zero_stay_distinct_constants():
    b = scalar_ops.Builder()
    assert b.const(-0.0, F32) != b.const(0.0, F32)


# -- verify ------------------------------------------------------------------------
def test_verify_accepts_a_well_formed_program():
    x, y = buf(0, 12, "input"), buf(1, 12, "output")
    verify(prog([x, y], [loop(View.whole(x, (3, 4)), View.whole(y, (3, 4)))], [(y, (3, 4))]))


@pytest.mark.parametrize("case", ["load past the end", "load below 0", "store past the end", "boxed load", "gather base",
                                  "chain base"])
def test_verify_rejects_out_of_bounds_loops(case):
    x, y = buf(0, 12, "input"), buf(1, 12, "output")
    src, dst = View.whole(x, (3, 4)), View.whole(y, (3, 4))
    if case == "load past the end":
        k = loop(View(x, (3, 4), (4, 1), 1), dst)
    elif case == "load below 0":
        k = loop(View(x, (3, 4), (-4, 1), 4), dst)
    elif case == "store past the end":
        k = loop(src, View(y, (3, 4), (5, 1), 0))
    elif case == "boxed load":  # the box lets the load reach one row past the input
        shifted = View(x, (4, 4), (4, 1), 0)
        k = Loop((4, 4), (Load("a0", shifted, ((0, 4), (0, 4))),), copy_body(), View.whole(buf(2, 16, "output"), (4, 4)))
    elif case == "gather base":
        ix = buf(3, 3, "input", np.int64)
        gathered = Gather(View(x, (4, 4), (4, 1), 0), 0, "ix", 1, (3, 4))
        k = Loop((3, 4), (Load("ix", View(ix, (3, 4), (1, 0), 0)), Load("a0", gathered)), copy_body(), dst)
    else:
        chain = View(x, (3, 5), (5, 1), 0).reshape((15,))
        k = loop(chain, View.whole(buf(2, 15, "output"), (15,)))
    with pytest.raises(gc.GraphError, match="outside"):
        verify(prog([x, y, k.store.buffer], [k]))


def test_verify_rejects_out_of_bounds_and_malformed_gemms():
    a, b, c = buf(0, 6, "input"), buf(1, 6, "input"), buf(2, 4, "output")

    def gemm(**kw):
        args = dict(a=Operand(a, 0, ()), b=Operand(b, 0, ()), c=Operand(c, 0, ()), batch=(), m=2, n=2, k=3, lda=3, ldb=2, ldc=2)
        args.update(kw)
        return prog([a, b, c], [Gemm(**args)])

    verify(gemm())
    with pytest.raises(gc.GraphError, match="outside"):
        verify(gemm(a=Operand(a, 1, ())))
    with pytest.raises(gc.GraphError, match="leading dimension"):
        verify(gemm(ldb=1))
    with pytest.raises(gc.GraphError, match="outside"):
        verify(gemm(batch=(2,), a=Operand(a, 0, (6,)), b=Operand(b, 0, (0,)), c=Operand(c, 0, (0,))))


def test_verify_rejects_broken_invariants():
    x, y, t = buf(0, 4, "input"), buf(1, 4, "output"), buf(2, 4)
    v = lambda b: View.whole(b, (4,))  # noqa: E731
    with pytest.raises(gc.GraphError, match="2 writers"):
        verify(prog([x, y], [loop(v(x), v(y)), loop(v(x), v(y))]))
    with pytest.raises(gc.GraphError, match="before any kernel writes it"):
        verify(prog([x, y, t], [loop(v(t), v(y)), loop(v(x), v(t))]))
    with pytest.raises(gc.GraphError, match="is written by"):
        verify(prog([x, y], [loop(v(y), v(x))]))
    with pytest.raises(gc.GraphError, match="not loads"):
        verify(prog([x, y], [Loop((4,), (Load("a0", v(x)),), copy_body(name="zz"), v(y))]))
    with pytest.raises(gc.GraphError, match="body gives"):
        verify(prog([x, y], [Loop((4,), (Load("a0", v(x)),), copy_body(np.float64), v(y))]))
    with pytest.raises(gc.GraphError, match="no combine"):
        verify(prog([x, y], [loop(View(x, (4, 4), (1, 0), 0), View(y, (4, 4), (1, 0), 0))]))
    with pytest.raises(gc.GraphError, match="without a combine"):
        verify(prog([x, y], [loop(v(x), v(y), reduce=(0,))]))


def test_verify_rejects_live_temporaries_sharing_arena_bytes():
    x, y = buf(0, 4, "input"), buf(1, 4, "output")
    t1, t2 = buf(2, 4, offset=0), buf(3, 4, offset=8)
    v = lambda b: View.whole(b, (4,))  # noqa: E731
    kernels = [loop(v(x), v(t1)), loop(v(x), v(t2)), loop(v(t1), v(y))]  # t1 still live when t2 is written
    with pytest.raises(gc.GraphError, match="share arena bytes"):
        verify(prog([x, y, t1, t2], kernels))
    t2.offset = 16
    verify(prog([x, y, t1, t2], kernels))


def test_verify_rejects_a_body_operation_outside_the_vocabulary():
    x, y = buf(0, 4, "input"), buf(1, 4, "output")
    b = scalar_ops.Builder()
    body = b.build(b.emit("sigmoid", (b.arg("a0", F32),), F32))  # a high-level op never reaches a kernel
    with pytest.raises(gc.GraphError, match="not a scalar operation"):
        verify(prog([x, y], [Loop((4,), (Load("a0", View.whole(x, (4,))),), body, View.whole(y, (4,)))]))


def _compiled_program(build, *args, **kwargs):
    fn = gc.compile(build(*args, **kwargs), backend="numpy")
    return fn.program


def _mlp(scale, size=4, pad=0.0):
    x = gc.input("x", (3, size))
    w = gc.param("w", np.arange(size * 2, dtype=np.float32).reshape(size, 2))
    return gc.sum(gc.tanh(x @ w) * scale) + gc.sum(gc.pad(x, [(0, 0), (1, 1)], value=pad))


def test_the_fingerprint_of_equal_programs_is_equal_and_ignores_node_numbers():
    from graphc.program import fingerprint
    a, b = _compiled_program(_mlp, 2.0), _compiled_program(_mlp, 2.0)
    assert a.kernels[0].label != b.kernels[0].label or a is not b  # built twice: fresh node numbers
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize("change", [dict(scale=3.0), dict(scale=2.0, size=5), dict(scale=2.0, pad=-0.0),
                                    dict(scale=float("nan"))])
def test_the_fingerprint_tells_apart_programs_that_compute_differently(change):
    from graphc.program import fingerprint
    assert fingerprint(_compiled_program(_mlp, **change)) != fingerprint(_compiled_program(_mlp, 2.0))


def test_the_fingerprint_refuses_a_value_it_cannot_spell():
    from graphc.program import fingerprint
    program = _compiled_program(_mlp, 2.0)
    program.kernels[0].label = "ok"  # labels are left out
    fingerprint(program)
    program.kernels.append(object())
    with pytest.raises(TypeError, match="cannot spell"):
        fingerprint(program)
