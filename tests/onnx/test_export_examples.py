"""Every training example's model, exported by `graphc export` (the CLI's path: graphc.script.export), passes onnx's
full checker and computes under onnxruntime what graphc's inference graph computes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc import script as scripts

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the onnx package: pip install 'graphc-compiler[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="these checks use onnxruntime as the oracle (pip install onnxruntime)")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAINING = [p.name for p in sorted(EXAMPLES.glob("*.py"))
            if all(f"def {name}(" in p.read_text() for name in ("data", "model", "loss"))]


def test_there_are_training_examples_to_export():
    assert len(TRAINING) >= 5, TRAINING


@pytest.mark.parametrize("name", TRAINING)
def test_an_examples_model_exports_and_agrees_under_onnxruntime(name, tmp_path):
    module = scripts.load(str(EXAMPLES / name))
    cfg = scripts.config_for(module)
    cfg.fast, cfg.save, cfg.progress = True, None, False
    path = tmp_path / "model.onnx"
    scripts.export(module, cfg, str(path))
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    trainer, datasets = scripts.build(module, cfg)
    X = np.asarray(datasets["train"][0])[:5]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": X})[0]
    # the same script and seed build the same initial parameters: graphc's evaluation output on them
    trainer.model.eval()
    x = gc.input("x", (None,) + X.shape[1:], X.dtype)
    want = gc.compile(trainer.model(x), inputs=[x], backend="reference")(x=X)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
