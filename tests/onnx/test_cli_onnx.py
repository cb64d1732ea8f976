"""`graphc export SCRIPT --load CKPT -o model.onnx` and `graphc render model.onnx`: the ONNX paths of the CLI."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.cli import main

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the onnx package: pip install 'graphc-compiler[onnx]'")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_export_a_trained_checkpoint_then_draw_the_model_from_its_file(tmp_path, capsys):
    ckpt, model = tmp_path / "xor.npz", tmp_path / "xor.onnx"
    assert main(["train", str(EXAMPLES / "xor_mlp.py"), "--fast", "--save", str(ckpt)]) == 0
    assert main(["export", str(EXAMPLES / "xor_mlp.py"), "--load", str(ckpt), "-o", str(model)]) == 0
    assert f"saved={model}" in capsys.readouterr().out
    imported = gc.onnx.load(model)
    saved = dict(np.load(ckpt, allow_pickle=False))
    # the exported initializers are the checkpoint's trained values
    assert any(np.array_equal(p.value, v) for p in imported.params.values() for v in saved.values())
    xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    assert ((imported(x=xor)[0].reshape(-1) > 0.5) == [False, True, True, False]).all()
    if shutil.which("dot"):
        svg = tmp_path / "xor_both.svg"
        assert main(["render", str(model), "--view", "both", "-o", str(svg)]) == 0
        assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_onnx_commands_fail_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["render", str(bad), "--view", "forward", "-o", str(tmp_path / "b.svg")]) == 1
    err = capsys.readouterr().err.strip()
    assert "bad.onnx: not an ONNX model" in err and len(err.splitlines()) == 1
    assert main(["render", str(bad), "--view", "values"]) == 1
    assert "forward, backward or both" in capsys.readouterr().err
