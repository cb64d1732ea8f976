"""The `graphc` command end to end: train, eval, render, info, and errors in user scripts."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graphc.cli import main

ROOT = Path(__file__).resolve().parents[2]
XOR = str(ROOT / "examples" / "xor_mlp.py")


def test_train_then_eval_round_trip(tmp_path, capsys):
    ckpt = str(tmp_path / "xor.npz")
    assert main(["train", XOR, "--epochs", "1500", "--save", ckpt, "--no-progress"]) == 0
    trained = capsys.readouterr().out.strip().splitlines()[-1]
    assert trained.startswith("result: ") and "test_accuracy=1.0" in trained
    assert main(["eval", XOR, "--load", ckpt]) == 0
    evaluated = dict(kv.split("=") for kv in capsys.readouterr().out.split("result: ")[1].split())
    trained_kv = dict(kv.split("=") for kv in trained[len("result: "):].split())
    assert evaluated["test_loss"] == trained_kv["test_loss"]  # the saved parameters, evaluated again


@pytest.mark.parametrize("view", ["forward", "backward", "both", "values", "compiled"])
def test_render_every_view(tmp_path, view):
    out = tmp_path / f"xor_{view}.svg"
    assert main(["render", XOR, "--view", view, "-o", str(out)]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in svg


def test_info_lists_backends_and_tools(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("graphc", "backends", "blas", "cpu", "graphviz", "gpu"):
        assert any(line.startswith(key) for line in out.splitlines()), key
    assert "numpy" in out and "reference" in out


def test_errors_in_a_user_script_show_its_own_traceback(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(textwrap.dedent("""
        import graphc as gc

        def data(fast=False, seed=0):
            return helper()

        def helper():
            raise RuntimeError("my data is missing")

        def model(seed=0):
            return None

        def loss(o, t):
            return o
    """))
    proc = subprocess.run([sys.executable, "-m", "graphc.cli", "train", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "RuntimeError: my data is missing" in proc.stderr
    assert "in helper" in proc.stderr and str(bad) in proc.stderr
    assert "graphc/script.py" not in proc.stderr  # graphc's own frames are left out


def test_help_for_every_command():
    for cmd in ("train", "eval", "render", "info"):
        proc = subprocess.run([sys.executable, "-m", "graphc.cli", cmd, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: graphc " + cmd in proc.stdout
