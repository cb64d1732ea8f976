"""RNN, GRU and LSTM nodes against onnxruntime (an optional test dependency) over their options: directions,
layouts, biases, initial states, per-sequence lengths, peepholes, clip, input_forget, linear_before_reset."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the onnx package: pip install 'graphc-compiler[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="these checks use onnxruntime as the oracle (pip install onnxruntime)")
from onnx import TensorProto, helper  # noqa: E402

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6


def _case(op, direction, layout, lengths, extra, seed):
    rng = np.random.default_rng(seed)
    dirs, g = (2 if direction == "bidirectional" else 1), GATES[op]
    feeds = {"X": rng.normal(size=(SEQ, BATCH, INPUT)).astype(np.float32),
             "W": rng.normal(size=(dirs, g * HIDDEN, INPUT)).astype(np.float32) * 0.5,
             "R": rng.normal(size=(dirs, g * HIDDEN, HIDDEN)).astype(np.float32) * 0.5,
             "B": rng.normal(size=(dirs, 2 * g * HIDDEN)).astype(np.float32) * 0.5}
    state = (dirs, BATCH, HIDDEN)
    names = ["X", "W", "R", "B", "", "initial_h"]
    feeds["initial_h"] = rng.normal(size=state).astype(np.float32)
    if lengths:
        names[4] = "sequence_lens"
        feeds["sequence_lens"] = np.array([SEQ, 2, 4][:BATCH], np.int32)
    if op == "LSTM":
        names += ["initial_c", "P"]
        feeds["initial_c"] = rng.normal(size=state).astype(np.float32)
        feeds["P"] = rng.normal(size=(dirs, 3 * HIDDEN)).astype(np.float32) * 0.5
    if layout:  # the same data batch-first
        feeds = {k: (v.transpose(1, 0, 2) if k in ("X", "initial_h", "initial_c") else v) for k, v in feeds.items()}
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outputs, hidden_size=HIDDEN, direction=direction, layout=layout, **extra)
    dtype = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32}
    graph = helper.make_graph([node], "rnn", [helper.make_tensor_value_info(k, dtype[v.dtype], v.shape) for k, v in feeds.items()],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8), feeds


OPTIONS = {"RNN": [{}, {"clip": 1.5}, {"activations": ["Relu"] * 2}],
           "GRU": [{}, {"linear_before_reset": 1}, {"clip": 1.0}],
           "LSTM": [{}, {"input_forget": 1}, {"clip": 0.8}]}
CASES = [(op, direction, layout, lengths, extra)
         for op in GATES for direction, layout, lengths in itertools.product(("forward", "reverse", "bidirectional"), (0, 1), (False, True))
         for extra in OPTIONS[op][:1 if lengths or layout else 3]]


@pytest.mark.parametrize("op,direction,layout,lengths,extra", CASES,
                         ids=[f"{c[0]}-{c[1]}-layout{c[2]}-{'lengths' if c[3] else 'full'}-{'-'.join(c[4]) or 'plain'}" for c in CASES])
def test_recurrent_nodes_agree_with_onnxruntime(op, direction, layout, lengths, extra):
    if extra.get("activations") and direction != "bidirectional":
        extra = {"activations": extra["activations"][:1]}
    model, feeds = _case(op, direction, layout, lengths, extra, seed=len(op) + layout)
    got = gc.onnx.load(model).compile(backend="reference")(**feeds)  # the backends agree on the node cases
    if layout:  # onnxruntime runs layout 0 only: the same case sequence-first, its outputs batch-first again
        plain, seq_first = _case(op, direction, 0, lengths, extra, seed=len(op) + layout)
        want = ort.InferenceSession(plain.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, seq_first)
        want = [want[0].transpose(2, 0, 1, 3)] + [w.transpose(1, 0, 2) for w in want[1:]]
    else:
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
