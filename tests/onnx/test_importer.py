"""gc.onnx.load: models become graphc tensors with the ONNX names; bad models and files give one clear OnnxError."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the onnx package: pip install 'graphc-compiler[onnx]'")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(0)
W1, B1 = RNG.normal(size=(4, 5)).astype(np.float32), RNG.normal(size=5).astype(np.float32)
W2 = RNG.normal(size=(5, 3)).astype(np.float32)


def _mlp(opset=17, batch="N", extra_nodes=(), w1=None):
    x = helper.make_tensor_value_info("input.x", TensorProto.FLOAT, [batch, 4])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 3])
    inits = [w1 if w1 is not None else numpy_helper.from_array(W1, "fc1.weight"), numpy_helper.from_array(B1, "fc1.bias"),
             numpy_helper.from_array(W2, "fc2.weight"), numpy_helper.from_array(np.array([-1, 5], np.int64), "shape")]
    nodes = [helper.make_node("Gemm", ["input.x", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm"),
             helper.make_node("Tanh", ["h"], ["a"], name="/act/Tanh"),
             helper.make_node("Reshape", ["a", "shape"], ["r"], name="/Reshape"),
             helper.make_node("MatMul", ["r", "fc2.weight"], ["logits"], name="/fc2/MatMul"), *extra_nodes]
    model = helper.make_model(helper.make_graph(nodes, "mlp", [x], [y], inits), opset_imports=[helper.make_opsetid("", opset)])
    return model


def _want(x):
    return np.tanh(x @ W1 + B1) @ W2


def test_an_mlp_imports_with_its_names_and_computes_like_numpy_for_any_batch():
    model = gc.onnx.load(_mlp())
    assert list(model.inputs) == ["input.x"] and list(model.outputs) == ["logits"]
    assert sorted(model.params) == ["fc1.bias", "fc1.weight", "fc2.weight"]  # the integer shape is a constant
    assert all(p.trainable for p in model.params.values())
    for batch in (1, 7):
        x = RNG.normal(size=(batch, 4)).astype(np.float32)
        np.testing.assert_allclose(model(**{"input.x": x})[0], _want(x), rtol=1e-5, atol=1e-6)
    names = {n.name for n in model.graph.nodes}
    assert any(name.startswith("/fc1/Gemm") or "fc1" in name for name in names), names


def test_gradients_with_respect_to_imported_parameters_match_finite_differences():
    model = gc.onnx.load(_mlp())
    x = RNG.normal(size=(6, 4)).astype(np.float64)
    loss = gc.sum(model.outputs["logits"] ** 2)
    w = model.params["fc1.weight"]
    assert model.inputs["input.x"].name == "input_x"
    (g,) = gc.compile(gc.grad(loss, [w]), inputs=list(model.inputs.values()))(input_x=x.astype(np.float32))
    eps, numeric = 1e-3, np.zeros_like(W1, np.float64)
    for i in np.ndindex(*W1.shape):
        plus, minus = W1.astype(np.float64).copy(), W1.astype(np.float64).copy()
        plus[i] += eps
        minus[i] -= eps
        f = lambda m: np.sum((np.tanh(x @ m + B1) @ W2) ** 2)  # noqa: E731
        numeric[i] = (f(plus) - f(minus)) / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=2e-3, atol=2e-3)


def test_an_unsupported_operator_is_refused_naming_the_node_and_its_op_type():
    bad = helper.make_node("Unique", ["logits"], ["u"], name="my_unique")
    with pytest.raises(gc.OnnxError, match=r"node 'my_unique' \(Unique\): graphc does not import the ONNX operator Unique"):
        gc.onnx.load(_mlp(extra_nodes=[bad]))


def test_an_unsupported_attribute_is_refused_by_name():
    bad = helper.make_node("Relu", ["logits"], ["r2"], name="relu", alpha=0.5)
    with pytest.raises(gc.OnnxError, match=r"node 'relu' \(Relu\): attribute\(s\) \['alpha'\] are not supported"):
        gc.onnx.load(_mlp(extra_nodes=[bad]))


def test_a_value_needed_at_import_time_must_be_static():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    s = helper.make_tensor_value_info("s", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])
    model = helper.make_model(helper.make_graph([helper.make_node("Reshape", ["x", "s"], ["y"])], "g", [x, s], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(gc.OnnxError, match=r"input 's' \(shape\) must be known when the model is imported.*constants="):
        gc.onnx.load(model)
    imported = gc.onnx.load(model, constants={"s": np.array([3, 2])})
    np.testing.assert_array_equal(imported(x=np.arange(6, dtype=np.float32).reshape(2, 3))[0],
                                  np.arange(6).reshape(3, 2))


def test_unsupported_dtypes_are_refused_by_name_and_old_opsets_upgraded():
    x = helper.make_tensor_value_info("brain", TensorProto.BFLOAT16, [2])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["brain"], ["y"])], "g", [x],
                                                [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2])]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(gc.OnnxError, match="input 'brain': dtype bfloat16 is not supported"):
        gc.onnx.load(model)
    old = gc.onnx.load(_mlp(opset=9))  # upgraded by onnx's version converter
    assert old.opset == 13
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_allclose(old(**{"input.x": x})[0], _want(x), rtol=1e-5, atol=1e-6)


def test_malformed_truncated_and_missing_files_name_the_file(tmp_path):
    good = _mlp().SerializeToString()
    (tmp_path / "trunc.onnx").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.onnx").write_bytes(b"\xff\x00 not a model at all" * 10)
    for name in ("trunc.onnx", "junk.onnx"):
        with pytest.raises(gc.OnnxError, match=f"{name}: not an ONNX model"):
            gc.onnx.load(tmp_path / name)
    with pytest.raises(gc.OnnxError, match="missing.onnx: no such model file"):
        gc.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(gc.OnnxError, match="takes a path, bytes or an onnx.ModelProto"):
        gc.onnx.load(42)
    (tmp_path / "good.onnx").write_bytes(good)
    assert gc.onnx.load(tmp_path / "good.onnx").where.endswith("good.onnx")


def _external(location, data=W1, length=None):
    tensor = numpy_helper.from_array(data, "fc1.weight")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length or data.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def test_external_data_is_read_only_from_inside_the_models_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(W1.tobytes())
    (tmp_path / "secret.bin").write_bytes(W1.tobytes())
    path = folder / "m.onnx"
    path.write_bytes(_mlp(w1=_external("weights.bin")).SerializeToString())
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(gc.onnx.load(path)(**{"input.x": x})[0], _want(x), rtol=1e-5, atol=1e-6)
    for location, match in (("../secret.bin", "leaves the model's folder"), (str(tmp_path / "secret.bin"), "must be relative"),
                            ("nothere.bin", "is missing")):
        path.write_bytes(_mlp(w1=_external(location)).SerializeToString())
        with pytest.raises(gc.OnnxError, match=match):
            gc.onnx.load(path)
    path.write_bytes(_mlp(w1=_external("weights.bin", length=W1.nbytes * 2)).SerializeToString())
    with pytest.raises(gc.OnnxError, match="does not hold its 80 bytes"):
        gc.onnx.load(path)
    with pytest.raises(gc.OnnxError, match="load the model from its path"):
        gc.onnx.load(_mlp(w1=_external("weights.bin")))


def test_without_the_onnx_package_loading_says_how_to_install_it(monkeypatch):
    import graphc.onnx.reader as reader

    def missing(name):
        raise ImportError(name)
    monkeypatch.setattr(reader.importlib, "import_module", missing)
    with pytest.raises(gc.OnnxError, match=r"pip install 'graphc-compiler\[onnx\]'"):
        gc.onnx.load(b"")


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]), ("i,i", [(4,), (4,)]), ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 4)]), ("ij->ji", [(2, 3)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]), ("i,j->ij", [(2,), (3,)]), ("ijk->kji", [(2, 3, 4)]),
    ("...ii->...i", [(2, 3, 3)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)])])
def test_einsum_computes_what_numpy_einsum_does(equation, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype(np.float32) for s in shapes]
    names = [f"x{i}" for i in range(len(arrays))]
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    graph = helper.make_graph([node], "e", [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape)
                                            for n, a in zip(names, arrays)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = gc.onnx.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    got = model.compile(backend="reference")(**dict(zip(names, arrays)))[0]
    np.testing.assert_allclose(got, np.einsum(equation, *arrays), rtol=1e-5, atol=1e-6)


def _one_node(op, inputs, outputs, opset=17, **attrs):
    infos = [helper.make_tensor_value_info(name, dtype, shape) for name, dtype, shape in inputs]
    graph = helper.make_graph([helper.make_node(op, [i[0] for i in inputs], outputs, **attrs)], "g", infos,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_bad_values_in_a_model_are_one_onnx_error():
    static_gather = _mlp(extra_nodes=[
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array([1, 2, 3], np.int64))),
        helper.make_node("Constant", [], ["i"], value=numpy_helper.from_array(np.array([5], np.int64))),
        helper.make_node("Gather", ["c", "i"], ["g"], name="bad_gather")])
    with pytest.raises(gc.OnnxError, match="bad_gather"):
        gc.onnx.load(static_gather)
    with pytest.raises(gc.OnnxError, match="dim 0 is -1"):
        gc.onnx.load(_one_node("Relu", [("x", TensorProto.FLOAT, [-1])], ["y"]))


def test_external_data_with_odd_paths_or_dims_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(W1.tobytes())
    path = tmp_path / "m.onnx"
    for tensor, match in ((_external("w\0.bin"), "must be relative"), (_external("weights.bin", length=1), "does not hold")):
        path.write_bytes(_mlp(w1=tensor).SerializeToString())
        with pytest.raises(gc.OnnxError, match=match):
            gc.onnx.load(path)
    negative = _external("weights.bin")
    negative.dims[:] = [-4, -5]
    path.write_bytes(_mlp(w1=negative).SerializeToString())
    with pytest.raises(gc.OnnxError, match="negative dims"):
        gc.onnx.load(path)


def test_shape_arithmetic_on_symbolic_dims_and_integer_resize_follow_onnxs_reference():
    from onnx.reference import ReferenceEvaluator

    shape_of_shape = _one_node("Shape", [("x", TensorProto.FLOAT, ["N", 3])], ["s"])
    shape_of_shape.graph.node.append(helper.make_node("Shape", ["s"], ["t"]))
    del shape_of_shape.graph.output[:]  # the shape itself is symbolic (no array can hold it); its length is 2
    shape_of_shape.graph.output.append(helper.make_tensor_value_info("t", TensorProto.INT64, None))
    model = gc.onnx.load(shape_of_shape)
    assert model.outputs["t"].op == "const"
    np.testing.assert_array_equal(model.outputs["t"].node.attrs["value"].array, [2])
    for mode in ("linear", "cubic", "nearest"):
        resize = _one_node("Resize", [("x", TensorProto.INT32, [1, 4])], ["y"], mode=mode)
        resize.graph.node[0].input.extend(["", "scales"])
        resize.graph.initializer.append(numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "scales"))
        x = np.array([[0, 10, 20, 30]], np.int32)
        want = ReferenceEvaluator(resize).run(None, {"x": x})[0]
        np.testing.assert_array_equal(gc.onnx.load(resize).compile(backend="reference")(x=x)[0], want)


def test_a_static_dim_picked_from_a_symbolic_shape_and_cast_keeps_the_cast_type():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Constant", [], ["i"], value=helper.make_tensor("i", TensorProto.INT64, [1], [1])),
             helper.make_node("Gather", ["s", "i"], ["g"]), helper.make_node("Cast", ["g"], ["c"], to=TensorProto.INT32)]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("c", TensorProto.INT32, None)])
    model = gc.onnx.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    out = model.outputs["c"]
    assert out.dtype == np.int32 and out.node.attrs["value"].array.tolist() == [3]


def test_float16_weights_and_uint8_images_import_and_agree_with_onnxruntime():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle here")
    W, b = RNG.standard_normal((4, 3)).astype(np.float16), RNG.standard_normal(3).astype(np.float16)
    nodes = [helper.make_node("Cast", ["img"], ["imgf"], to=TensorProto.FLOAT16), helper.make_node("Mul", ["imgf", "scale"], ["xs"]),
             helper.make_node("MatMul", ["xs", "W"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["z"]),
             helper.make_node("Relu", ["z"], ["y"]), helper.make_node("ReduceSum", ["y"], ["s"], keepdims=0)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("img", TensorProto.UINT8, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["N", 3]), helper.make_tensor_value_info("s", TensorProto.FLOAT16, [])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b"),
                     numpy_helper.from_array(np.array(1 / 255, np.float16), "scale")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    img = RNG.integers(0, 256, (5, 4)).astype(np.uint8)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"img": img})
    imported = gc.onnx.load(model)
    assert imported.params["W"].dtype == gc.float16 and imported.inputs["img"].dtype == gc.uint8
    for backend in ("reference", "numpy"):
        for g, w in zip(imported.compile(backend=backend)(img=img), want):
            assert g.dtype == np.float16
            # float16 ops computed in float32 and rounded once, as onnxruntime does: a sum's order may move one ulp
            np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=1e-3, atol=1e-3)


def test_dynamic_quantize_linear_matches_onnx_reference_including_an_all_zero_input():
    from onnx.reference import ReferenceEvaluator

    for data in (np.array([[0.0, 2.5, -3.7, 1.0]], np.float32), np.zeros((1, 4), np.float32),
                 RNG.normal(size=(3, 5)).astype(np.float32)):
        node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(data.shape))],
                                  [helper.make_tensor_value_info("y", TensorProto.UINT8, list(data.shape)),
                                   helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
                                   helper.make_tensor_value_info("z", TensorProto.UINT8, [])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        want = ReferenceEvaluator(model).run(None, {"x": data})
        for backend in ("reference", "numpy"):
            for g, w in zip(gc.onnx.load(model).compile(backend=backend)(x=data), want):
                assert g.dtype == w.dtype
                np.testing.assert_array_equal(g, w)


def _single_node_model(node, inputs, outputs, opset=18, initializers=()):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_index_ops_refuse_an_index_out_of_range_on_its_own_axis():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    cases = [
        (helper.make_node("ScatterElements", ["x", "i", "u"], ["y"], axis=1),
         dict(x=data, i=np.array([[3], [0]], np.int64), u=np.full((2, 1), 9, np.float32))),
        (helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1), dict(x=data, i=np.array([[3], [0]], np.int64))),
        (helper.make_node("GatherND", ["x", "i"], ["y"]), dict(x=data, i=np.array([[0, 3]], np.int64))),
        (helper.make_node("ScatterND", ["x", "i", "u"], ["y"]),
         dict(x=data, i=np.array([[0, 3]], np.int64), u=np.array([9], np.float32))),
    ]
    for node, feeds in cases:
        types = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}
        model = _single_node_model(node, [(k, types[v.dtype], list(v.shape)) for k, v in feeds.items()], [("y", TensorProto.FLOAT, None)])
        for backend in ("reference", "numpy"):
            with pytest.raises(gc.IndexRangeError):
                gc.onnx.load(model).compile(backend=backend)(**feeds)


def test_batch_norm_of_float16_with_float32_statistics_gives_float16():
    x = RNG.normal(size=(2, 3, 4)).astype(np.float16)
    stats = [numpy_helper.from_array(v.astype(np.float32), n) for n, v in
             (("s", np.ones(3)), ("b", np.zeros(3)), ("m", np.full(3, 0.1)), ("v", np.ones(3)))]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    model = _single_node_model(node, [("x", TensorProto.FLOAT16, [2, 3, 4])], [("y", TensorProto.FLOAT16, [2, 3, 4])], 15, stats)
    y = gc.onnx.load(model).compile(backend="reference")(x=x)[0]
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float32), (x.astype(np.float32) - 0.1) / np.sqrt(1 + 1e-5), rtol=2e-3, atol=2e-3)
