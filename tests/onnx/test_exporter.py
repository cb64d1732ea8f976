"""gc.onnx.save: every registry-sweep graph's forward outputs written as ONNX pass onnx's full checker and
compute under onnxruntime what graphc computes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc as gc

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the onnx package: pip install 'graphc-compiler[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="these checks use onnxruntime as the oracle (pip install onnxruntime)")

from tests.ops.test_ops_reference import CASES  # noqa: E402


def _run(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {k: v for k, v in feeds.items() if k in names})


def test_every_sweep_graph_exports_and_agrees_under_onnxruntime():
    wrong, refused, unrunnable, exported = [], [], [], 0
    for case in CASES:
        op, build = case.values[0], case.values[1]
        if any(m.name == "skip" for m in case.marks) or op.startswith("random"):
            continue
        out, feeds = build()[:2]
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        feeds = {getattr(k, "name", k): v for k, v in feeds.items()}
        inputs = [gc.Tensor.of(n) for n in gc.graph(outs).inputs]
        try:
            model = gc.onnx.save(outs, inputs=inputs)
        except gc.OnnxError as e:
            refused.append(f"{case.id}: {e}")
            continue
        onnx.checker.check_model(model, full_check=True)
        want = gc.compile(outs, backend="reference", inputs=inputs)(**{i.name: feeds[i.name] for i in inputs})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                got = _run(model, {i.name: np.asarray(feeds[i.name], i.dtype) for i in inputs})
            except Exception as e:  # noqa: BLE001 - onnxruntime lacks some kernels (Erf on float64, ...)
                if "NOT_IMPLEMENTED" not in str(e):
                    raise
                unrunnable.append(case.id)
                continue
        exported += 1
        for g, w in zip(got, want):
            try:
                assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
                if w.dtype.kind == "f":
                    tol = {np.float32: (2e-5, 1e-6), np.float16: (2e-3, 1e-3)}.get(w.dtype.type, (1e-10, 1e-6))
                    np.testing.assert_allclose(g, w, rtol=tol[0], atol=tol[1], equal_nan=True)
                else:
                    np.testing.assert_array_equal(g, w)
            except AssertionError as e:
                wrong.append(f"{case.id}: {str(e)[:300]}")
    assert not wrong, f"{len(wrong)} of {exported} exported graphs disagree under onnxruntime:\n" + "\n".join(wrong[:20])
    assert exported >= 0.9 * (exported + len(refused)), "\n".join(refused[:30])
    assert len(unrunnable) <= 0.05 * exported, unrunnable


def test_graphs_an_inference_model_has_no_use_for_are_refused_naming_the_node():
    x = gc.input("x", (3,))
    with pytest.raises(gc.OnnxError, match="cannot hold random_uniform"):
        gc.onnx.save(x * gc.uniform((3,)))


def test_save_writes_atomically_and_the_model_loads_back(tmp_path):
    x = gc.input("x", (None, 4))
    w = gc.param("w", np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    y = gc.tanh(x @ w)
    path = tmp_path / "sub" / "m.onnx"
    gc.onnx.save({"y": y}, path)
    assert path.is_file() and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    back = gc.onnx.load(path)
    xv = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(back(x=xv)[0], gc.evaluate(y, x=xv), rtol=1e-6)
    assert list(back.params) == ["w"]


def test_bool_comparisons_reductions_and_zero_length_reshapes_export_as_valid_models():
    a, b, z = gc.input("a", (3,), gc.bool_), gc.input("b", (3,), gc.bool_), gc.input("z", (None, 3))
    outs = {"lt": a < b, "ge": a >= b, "any": gc.max(a), "all": gc.min(a, 0), "r": gc.reshape(z, (3, -1))}
    model = gc.onnx.save(outs, inputs=[a, b, z])
    onnx.checker.check_model(model, full_check=True)
    feeds = dict(a=np.array([True, False, True]), b=np.array([False, False, True]), z=np.zeros((0, 3), np.float32))
    want = gc.compile(list(outs.values()), inputs=[a, b, z], backend="reference")(**feeds)
    for g, w in zip(_run(model, feeds), want):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(gc.OnnxError, match="opsets 14 to 17"):
        gc.onnx.save(outs, opset=18)


def test_a_saved_model_has_the_usual_file_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "m.onnx"
    gc.onnx.save(gc.input("x", (2,)) * 2.0, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_float16_and_small_integer_graphs_export_and_agree_under_onnxruntime():
    img, h = gc.input("img", (None, 4), gc.uint8), gc.input("h", (None, 4), gc.float16)
    w = gc.param("w16", RNG_EXPORT.normal(size=(4, 3)).astype(np.float16))
    i8 = gc.input("i8", (None, 4), gc.int8)
    x = img.astype("float16") * (1 / 255)
    outs = {"y": gc.relu(gc.matmul(x + h, w)), "s": gc.sum(h, axis=1), "q": (i8 // 3) * i8, "u": img + 1}
    model = gc.onnx.save(outs, inputs=[img, h, i8])
    onnx.checker.check_model(model, full_check=True)
    feeds = dict(img=RNG_EXPORT.integers(0, 256, (5, 4)).astype(np.uint8), h=RNG_EXPORT.normal(size=(5, 4)).astype(np.float16),
                 i8=RNG_EXPORT.integers(-128, 128, (5, 4)).astype(np.int8))
    want = gc.compile(list(outs.values()), inputs=[img, h, i8], backend="reference")(**feeds)
    for g, wv in zip(_run(model, feeds), want):
        assert g.dtype == wv.dtype
        np.testing.assert_allclose(g.astype(np.float64), wv.astype(np.float64), rtol=1e-3, atol=1e-3)


RNG_EXPORT = np.random.default_rng(3)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "uint32", "uint64", "float16"])
def test_graphs_of_every_narrow_dtype_export_as_valid_models(dtype):
    """Valid ONNX (the full checker) for each op over each dtype; onnxruntime agrees where it has the kernel."""
    x, y = gc.input("x", (3, 4), dtype), gc.input("y", (3, 4), dtype)
    ops = [x + y, x * y, x - y, x // y, x % y, gc.maximum(x, y), x < y, gc.sum(x, 1), gc.max(x, 1), gc.min(x, 0),
           gc.prod(x, 1), x @ gc.transpose(y), gc.abs(x), gc.where(x < y, x, y), x.astype("float32"), gc.argmax(x, 1),
           gc.cumsum(x, 1), gc.pad(x, ((1, 0), (0, 1))), gc.concat([x, y], 0), gc.sort(x)]
    values = (lambda: RNG_EXPORT.integers(1, 20, (3, 4))) if dtype != "float16" else (lambda: RNG_EXPORT.normal(size=(3, 4)))
    feeds = dict(x=values().astype(dtype), y=values().astype(dtype))
    for out in ops:
        model = gc.onnx.save(out, inputs=[x, y])
        onnx.checker.check_model(model, full_check=True)
        try:
            (got,) = _run(model, feeds)
        except Exception as e:  # noqa: BLE001 - onnxruntime has no kernel for some integer types (ReduceSum on uint8)
            assert "NOT_IMPLEMENTED" in str(e)
            continue
        want = gc.compile(out, inputs=[x, y], backend="reference")(**feeds)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-3)
