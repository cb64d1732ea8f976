"""The LLVM backend's own promises: one native step, code for the host CPU that a user can read, vectorised
loops, sympy-defined ops with no backend change, and native code that never sees a wrong buffer."""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

import graphc as gc


def test_a_sigmoid_layer_is_one_vectorised_native_step_whose_code_can_be_read():
    x = gc.input("x", (None, 64))
    w = gc.param("w", np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32))
    y = gc.sigmoid(x @ w)
    fn = gc.compile(y, backend="llvm")
    data = np.random.default_rng(1).normal(size=(16, 64)).astype(np.float32)
    np.testing.assert_allclose(fn(x=data), 1 / (1 + np.exp(-(data @ w.value))), rtol=1e-5, atol=1e-6)
    assert re.search(r'define i32 @"?step"?\(', fn.source) and re.search(r'define internal i32 @"?k\d+"?\(', fn.source)
    assert re.search(r"<(4|8|16) x float>", fn.llvm_ir)                  # the vectorisers took the epilogue
    assert re.search(r"\bv?(mul|add|fmadd\w*|div)ps\s+%[xyz]mm", fn.asm)  # packed float32 arithmetic
    assert not re.search(r"call\s+\S*expf", fn.asm)                     # exp inline, not a libm call per element


def test_a_sum_along_a_contiguous_axis_keeps_vector_partial_sums_within_tolerance():
    # float add combines are declared reassociable (graphc.program.REASSOCIABLE): the vectoriser may split the sum
    x = gc.input("x", (8, 5000))
    fn = gc.compile(gc.sum(gc.exp(x), axis=1), backend="llvm")
    data = np.random.default_rng(0).normal(size=(8, 5000)).astype(np.float32)
    np.testing.assert_allclose(fn(x=data), np.exp(data.astype(np.float64)).sum(axis=1), rtol=1e-5)
    assert re.search(r"fadd reassoc <(4|8|16) x float>", fn.llvm_ir)
    products = gc.compile(gc.prod(x, axis=1), backend="llvm")
    products(x=data)
    assert not re.search(r"fmul reassoc", products.llvm_ir)  # products keep their order


def test_an_op_defined_by_a_sympy_formula_compiles_with_no_backend_change():
    s, t = sympy.symbols("s t", real=True)
    x, y = gc.input("x", (5,)), gc.input("y", (5,))
    out = gc.expr(sympy.tanh(s) * sympy.exp(-t ** 2) + s * t, {s: x, t: y})
    data = dict(x=np.linspace(-2, 2, 5, dtype=np.float32), y=np.linspace(-1, 1, 5, dtype=np.float32))
    np.testing.assert_allclose(gc.compile(out, backend="llvm")(**data), gc.compile(out, backend="reference")(**data),
                               rtol=1e-6)


def test_out_of_range_labels_stop_the_native_step_with_the_check_named():
    z, labels = gc.input("z", (4, 3)), gc.input("y", (4,), gc.int64)
    fn = gc.compile(gc.losses.cross_entropy(z, labels), backend="llvm")
    z0 = np.zeros((4, 3), np.float32)
    assert np.isclose(fn(z=z0, y=np.array([0, 1, 2, 0])), np.log(3.0))
    with pytest.raises(gc.IndexRangeError, match="class labels"):
        fn(z=z0, y=np.array([0, 1, 3, 0]))


def test_wrong_arrays_are_refused_before_native_code_runs():
    x = gc.input("x", (None, 3))
    fn = gc.compile(x * 2.0, backend="llvm")
    for bad in (np.ones((2, 4), np.float32), np.ones(3, np.float32), [[1, 2, 3]] * 2 + [[1, 2]]):
        with pytest.raises(gc.InputError):
            fn(x=bad)
    np.testing.assert_array_equal(fn(x=np.asfortranarray(np.ones((2, 3), np.float32))), np.full((2, 3), 2.0))


@pytest.mark.parametrize("m, n", [(1, 7), (7, 1), (1, 1)])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matrix_vector_products_take_gemv_and_agree_with_numpy(m, n, ta, tb):
    rng = np.random.default_rng(m * 10 + n)
    a_data = rng.normal(size=(5, m) if ta else (m, 5)).astype(np.float32)
    b_data = rng.normal(size=(n, 5) if tb else (5, n)).astype(np.float32)
    a, b = gc.input("a", a_data.shape), gc.input("b", b_data.shape)
    out = (a.T if ta else a) @ (b.T if tb else b)
    got = gc.compile(out, backend="llvm")(a=a_data, b=b_data)
    np.testing.assert_allclose(got, (a_data.T if ta else a_data) @ (b_data.T if tb else b_data), rtol=1e-5, atol=1e-6)


def test_a_program_llvm_cannot_build_runs_on_numpy_with_one_warning(monkeypatch):
    from graphc.backends.llvm import function

    def refuse(*args, **kwargs):
        raise RuntimeError("LLVM ERROR: no target for this platform")
    monkeypatch.setattr(function, "LlvmFunction", refuse)
    x = gc.input("x", (3,))
    fn = gc.compile(gc.exp(x), backend="llvm")
    with pytest.warns(RuntimeWarning, match="runs on the NumPy backend"):
        got = fn(x=np.zeros(3, np.float32))
    np.testing.assert_array_equal(got, np.ones(3, np.float32))


def test_profile_times_every_kernel_in_native_code():
    x = gc.input("x", (None, 16))
    w = gc.param("w", np.ones((16, 8), np.float32))
    fn = gc.compile(gc.sum(gc.tanh(x @ w)), backend="llvm")
    data = np.ones((4, 16), np.float32)
    prof = fn.profile(x=data)
    assert [label for label, _ in prof] == [k.label for k in fn.program.kernels]
    assert all(t >= 0 for _, t in prof) and sum(t for _, t in prof) > 0
    with pytest.raises(AttributeError, match="per-kernel profile"):
        gc.compile(x * 2.0, backend="numpy").profile(x=data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_numbers_and_dropout_masks_agree_bit_for_bit_with_numpy(dtype):
    x = gc.input("x", (64, 33), dtype)
    outs = [gc.uniform((64, 33), seed=7, dtype=dtype), gc.normal((5, 7), seed=3, dtype=dtype),
            gc.nn.Dropout(0.3, seed=11)(x)]
    data = np.ones((64, 33), dtype)
    got = gc.compile(outs, backend="llvm")(x=data)
    for a, b in zip(got, gc.compile(outs, backend="numpy")(x=data)):
        np.testing.assert_array_equal(a, b)
    assert 0.2 < np.mean(got[2] == 0) < 0.4  # a mask was drawn


def test_without_a_loadable_llvmlite_the_default_is_numpy_with_one_warning(monkeypatch):
    import builtins
    import sys

    from graphc import runtime

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name.startswith("llvmlite"):
            raise OSError("libLLVM.so: cannot open shared object file")
        return real_import(name, *args, **kwargs)
    for mod in [m for m in sys.modules if m.startswith(("llvmlite", "graphc.backends.llvm"))]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    monkeypatch.setattr(runtime, "_default", [])
    monkeypatch.delitem(runtime.BACKENDS, "llvm", raising=False)
    with pytest.warns(RuntimeWarning, match=r"llvm backend cannot be loaded \(OSError.*graphc uses the numpy backend"):
        assert runtime.default_backend() == "numpy"
    x = gc.input("x", (2,))
    fn = gc.compile(x * 2.0)
    assert fn.backend_name == "numpy"
    np.testing.assert_array_equal(fn(x=np.ones(2, np.float32)), [2.0, 2.0])
