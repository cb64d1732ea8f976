"""Smoke tests of every example: each runs as a script in --fast mode (quickstart with --steps 20) and
ends with a well-formed `result: key=value ...` line; digits_cnn also runs through `graphc train`."""
from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = [p for p in sorted(EXAMPLES.glob("*.py")) if not p.name.startswith("_") and p.name != "quickstart.py"]
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*$")   # a word such as a cell name or a path


def parse_value(text: str):
    """A result value: a finite number, True/False, or a plain word (a name, a path)."""
    if text in ("True", "False"):
        return text == "True"
    try:
        number = float(text)
    except ValueError:
        assert TOKEN.match(text) and text not in ("None", "nan", "inf"), f"unparseable value {text!r}"
        return text
    assert math.isfinite(number), f"non-finite value {text!r}"
    return int(text) if re.fullmatch(r"-?\d+", text) else number


def parse_result(stdout: str) -> dict:
    """The key=value pairs of the last non-empty line, which must be the `result:` line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    last = lines[-1]
    assert last.startswith("result: "), f"the last line is not a result line: {last!r}"
    pairs = last[len("result: "):].split()
    assert pairs, "an empty result line"
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        assert sep and KEY.match(key) and value, f"malformed pair {pair!r} in {last!r}"
        assert key not in out, f"duplicate key {key!r}"
        out[key] = parse_value(value)
    return out


def run(*args, timeout=120) -> dict:
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return parse_result(proc.stdout)


def test_there_are_examples():
    assert len(SCRIPTS) >= 5


NEEDS_ONNX = pytest.mark.skipif(importlib.util.find_spec("onnx") is None,
                                reason="needs the onnx package: pip install 'graphc-compiler[onnx]'")


@pytest.mark.parametrize("script", [pytest.param(p, marks=NEEDS_ONNX) if "onnx" in p.stem else p for p in SCRIPTS],
                         ids=[p.stem for p in SCRIPTS])
def test_example_runs_fast(script):
    result = run(script, "--fast", "--no-progress")
    assert result


@NEEDS_ONNX
def test_fine_tuning_an_imported_model_learns_the_digits_it_never_saw():
    result = run(EXAMPLES / "onnx_finetune.py", "--fast", "--no-progress")
    assert result["test_accuracy_before"] <= 0.6 < 0.85 <= result["test_accuracy_after"]
    assert result["frozen_parameters"] == 64 * 64 + 64 and result["trained_parameters"] == 64 * 10 + 10


def test_quickstart_runs():
    result = run(EXAMPLES / "quickstart.py", "--steps", "20")
    assert result["steps"] == 20


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_sequence_example_cell_flag(cell):
    script = EXAMPLES / "sequence_lstm.py"
    if not script.exists():
        pytest.skip("no sequence_lstm.py")
    assert run(script, "--fast", "--no-progress", "--cell", cell)["cell"] == cell


def _cli_has_train() -> bool:
    try:
        from graphc import cli
    except ImportError:
        return False
    parser = getattr(cli, "parser", None)
    if parser is None:
        return False
    subparsers = [a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction"]
    return any("train" in a.choices for a in subparsers)


@pytest.mark.skipif(not _cli_has_train(), reason="graphc.cli has no `train` subcommand yet")
def test_cli_trains_an_example():
    result = run("-m", "graphc.cli", "train", "examples/digits_cnn.py", "--fast", "--no-progress")
    assert 0.0 <= result["test_accuracy"] <= 1.0
