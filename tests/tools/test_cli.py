"""The `graphc` command end to end: train, eval, render, info; every failure (bad options, broken scripts, damaged
checkpoints, graphc bugs) is one line on stderr and --debug shows the traceback."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc import script as scripts
from graphc.cli import main, parser
from graphc.script import ScriptError, check_field

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
    assert "(default: llvm)" in out and any(line.startswith("llvm ") and "LLVM" in line for line in out.splitlines())


def test_bench_times_a_scripts_step_on_each_backend(capsys):
    assert main(["bench", "examples/digits_mlp.py", "--fast", "--steps", "3", "--backend", "numpy,llvm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["backend", "batch", "first", "call", "step", "x", "fastest"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["llvm", "numpy"]
    assert main(["bench", "examples/digits_cnn.py", "--fast"]) == 1  # its own run(): refused in one line
    assert "own run(config)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["bench", "examples/digits_mlp.py", "--backend", "numpy,cuda9"])


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
    for cmd in ("train", "eval", "bench", "render", "info", "cache"):
        proc = subprocess.run([sys.executable, "-m", "graphc.cli", cmd, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: graphc " + cmd in proc.stdout


# -- every failure is one line on stderr, never a graphc traceback ----------------------------------
TEMPLATE = """
import numpy as np
import graphc as gc
from graphc import nn

X = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
Y = (X[:, :1] > 0).astype(np.float32)

def data(fast=False, seed=0):
    return DATA

def model(seed=0):
    return MODEL

def loss(output, target):
    return LOSS
"""
PARTS = dict(DATA='{"train": (X, Y), "test": (X, Y)}', MODEL="nn.Sequential(nn.Linear(2, 1, seed=seed), nn.Sigmoid())",
             LOSS="gc.losses.binary_cross_entropy(output, target)")


def _script(tmp_path, name="net.py", prefix="", **parts) -> str:
    text = TEMPLATE
    for key, value in dict(PARTS, **parts).items():
        text = text.replace(key, value)
    path = tmp_path / name
    path.write_text(prefix + text)
    return str(path)


def _fails_in_one_line(capsys, argv, code=1) -> str:
    """Run `graphc argv`; check the exit status and that stderr is one line without a traceback."""
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_the_training_script_template_trains(tmp_path, capsys):
    assert main(["train", _script(tmp_path), "--epochs", "2", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("result: epochs=2")


def test_a_syntax_error_is_reported_with_the_scripts_own_lines(tmp_path, capsys):
    bad = tmp_path / "syntax.py"
    bad.write_text("import graphc\n\ndef data(:\n    pass\n")
    assert main(["train", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"graphc: error in {bad}:") and "SyntaxError" in err and "line 3" in err
    assert "graphc/" not in err.replace(str(bad), "")  # none of graphc's own frames


@pytest.fixture(scope="module")
def xor_checkpoint(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("ckpt") / "xor.npz")
    assert main(["train", XOR, "--epochs", "2", "--save", path, "--no-progress"]) == 0
    return path


@pytest.mark.parametrize("damage", ["missing", "truncated", "empty", "random", "directory", "other model"])
def test_eval_with_a_bad_checkpoint_is_one_line(tmp_path, capsys, xor_checkpoint, damage):
    path = tmp_path / "bad.npz"
    good = Path(xor_checkpoint).read_bytes()
    if damage == "truncated":
        path.write_bytes(good[:len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(bytes(range(256)) * 4)
    elif damage == "directory":
        path.mkdir()
    elif damage == "other model":
        from graphc import checkpoint
        from graphc.nn import Linear, Sequential
        checkpoint.save(str(path), Sequential(Linear(3, 3)))
    line = _fails_in_one_line(capsys, ["eval", XOR, "--load", str(path)])
    assert line.startswith("graphc: CheckpointError: ") and str(path) in line


def test_eval_of_a_good_checkpoint_still_works(capsys, xor_checkpoint):
    assert main(["eval", XOR, "--load", xor_checkpoint]) == 0
    assert capsys.readouterr().out.startswith("result: test_loss=")


# The values each option refuses at parse time (argparse's exit status 2), one line each.
BAD_OPTIONS = {
    "--epochs": ["-1", "0", "nan", "abc", "1e999", "", "1.5", "inf"],
    "--batch-size": ["-1", "0", "nan", "abc", "1e999", "", "2.0"],
    "--lr": ["-1", "0", "nan", "abc", "1e999", "", "-inf", "inf", "-0.0"],
    "--patience": ["-1", "0", "nan", "abc", "1e999", ""],
    "--seed": ["-1", "nan", "abc", "1e999", "", "0.5"],
    "--optimizer": ["-1", "0", "nan", "abc", "1e999", "", "Adam"],
    "--backend": ["-1", "0", "nan", "abc", "1e999", "", "fortran"],
    "--save": [""],
}


@pytest.mark.parametrize("flag,value", [(f, v) for f, vs in BAD_OPTIONS.items() for v in vs])
def test_a_bad_train_option_is_refused_in_one_line(capsys, flag, value):
    line = _fails_in_one_line(capsys, ["train", XOR, flag, value], code=2)
    assert line.startswith(f"graphc train: error: argument {flag}: ") and line.endswith("(see graphc train --help)")
    assert "must be" in line or "not an available backend" in line or "expected one argument" in line  # -inf: an option?


@pytest.mark.parametrize("argv", [
    ["eval", XOR, "--load", "x.npz", "--seed", "-1"], ["eval", XOR, "--load", "x.npz", "--backend", "fortran"],
    ["eval", XOR, "--load", ""], ["eval", XOR], ["render", XOR, "--seed", "abc"], ["render", XOR, "-o", ""],
    ["render", XOR, "--view", "nope"], ["train"], [], ["nope"], ["train", XOR, "--no-such-flag"],
])
def test_bad_arguments_of_every_command_are_one_line(capsys, argv):
    assert _fails_in_one_line(capsys, argv, code=2).startswith("graphc")


def test_save_to_a_directory_is_refused_before_training(tmp_path, capsys):
    line = _fails_in_one_line(capsys, ["train", XOR, "--save", str(tmp_path)], code=2)
    assert "is a directory" in line and str(tmp_path) in line


def test_backend_errors_list_the_available_backends(tmp_path, capsys):
    line = _fails_in_one_line(capsys, ["train", XOR, "--backend", "fortran"], code=2)
    assert "'fortran' is not an available backend" in line and "numpy" in line and "llvm" in line
    script = _script(tmp_path, prefix='DEFAULTS = dict(backend="fortran")\n')
    line = _fails_in_one_line(capsys, ["train", script, "--epochs", "1"])
    assert script in line and "DEFAULTS['backend']" in line and "numpy" in line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(sorted(BAD_OPTIONS)), text=st.text(max_size=12))
def test_any_option_text_parses_to_a_valid_value_or_one_line(capsys, flag, text):
    capsys.readouterr()
    try:
        args = parser().parse_args(["train", XOR, f"{flag}={text}"])
    except SystemExit as e:
        assert e.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        return
    field = flag[2:].replace("-", "_")
    if field != "save":
        assert check_field(field, getattr(args, field)) == getattr(args, field)


def test_bad_defaults_in_a_script_name_the_script_and_field(tmp_path, capsys):
    for defaults, field in [("dict(epochs=0)", "epochs"), ("dict(lr=-1)", "lr"), ("dict(optimizer='sgdd')", "optimizer"),
                            ("dict(batch_size=2.5)", "batch_size"), ("dict(patience=-3)", "patience")]:
        script = _script(tmp_path, prefix=f"DEFAULTS = {defaults}\n")
        line = _fails_in_one_line(capsys, ["train", script])
        assert script in line and f"DEFAULTS[{field!r}]" in line and "must be" in line
    script = _script(tmp_path, prefix="DEFAULTS = [1, 2]\n")
    assert "DEFAULTS must be a dict" in _fails_in_one_line(capsys, ["train", script])


@pytest.mark.parametrize("part,value,expected", [
    ("MODEL", "42", "model(seed) must return a graphc.nn.Module, got int"),
    ("MODEL", "None", "model(seed) must return a graphc.nn.Module, got NoneType"),
    ("MODEL", "nn.Linear", "model(seed) must return a graphc.nn.Module, got type"),
    ("DATA", "[X, Y]", "data() must return a dict"),
    ("DATA", "(X, Y)", "data() must return a dict"),
    ("DATA", '{"tarin": (X, Y)}', "got the keys ['tarin']"),
    ("DATA", '{"train": (X, Y), "tset": (X, Y)}', "got the keys ['train', 'tset']"),
    ("DATA", '{"train": (X, Y, Y)}', "'train' is tuple, not a pair"),
    ("DATA", '{"train": X}', "'train' is ndarray, not a pair"),
    ("DATA", '{"train": (X, Y[:3])}', "the same number of rows"),
    ("DATA", '{"train": (1.0, 2.0)}', "the same number of rows"),
    ("DATA", '{"train": (X, Y), "val": (X[:2], Y)}', "'val' holds arrays of shapes (2, 2) and (8, 1)"),
    ("LOSS", "output", "loss(output, target) must return a scalar graphc tensor"),
    ("LOSS", "0.5", "loss(output, target) must return a scalar graphc tensor (a mean over the batch, say), got float"),
    ("LOSS", "None", "got NoneType"),
])
def test_a_script_function_returning_the_wrong_thing_is_named(tmp_path, capsys, part, value, expected):
    script = _script(tmp_path, **{part: value})
    line = _fails_in_one_line(capsys, ["train", script, "--epochs", "1", "--no-progress"])
    assert line.startswith(f"graphc: {script}: ") and expected in line


@pytest.mark.parametrize("old,new,expected", [
    ("def data(fast=False, seed=0):", "def data():", "data() must accept the call data(fast=..., seed=...)"),
    ("def model(seed=0):", "def model(size):", "model() must accept the call model(seed=...)"),
    ("def loss(output, target):", "def loss(output):", "loss() must accept the call loss(..., ...)"),
    ("def data(fast=False, seed=0):", "data = 3\ndef unused(fast=False, seed=0):", "no `data` function"),
])
def test_a_script_function_with_the_wrong_signature_is_named(tmp_path, capsys, old, new, expected):
    path = Path(_script(tmp_path))
    path.write_text(path.read_text().replace(old, new))
    line = _fails_in_one_line(capsys, ["train", str(path), "--epochs", "1", "--no-progress"])
    assert str(path) in line and expected in line


def test_run_and_optimizer_must_return_what_the_protocol_says(tmp_path, capsys):
    script = _script(tmp_path, prefix="def run(config):\n    return 3\n")
    assert "run(config) must return a dict of results, got int" in _fails_in_one_line(capsys, ["train", script])
    script = _script(tmp_path, prefix="def optimizer(params, lr):\n    return 'sgd'\n")
    line = _fails_in_one_line(capsys, ["train", script, "--epochs", "1"])
    assert "optimizer(params, lr) must return a graphc.optim optimiser, got str" in line


def test_graphc_errors_during_training_are_one_line_not_the_scripts(tmp_path, capsys):
    script = _script(tmp_path, DATA='{"train": (np.array([["a", "b"]] * 8), Y)}')
    line = _fails_in_one_line(capsys, ["train", script, "--epochs", "1", "--no-progress"])
    assert line.startswith("graphc: InputError: fit: X holds")


def test_a_diverging_run_is_one_line(tmp_path, capsys):
    script = _script(tmp_path, LOSS="gc.losses.binary_cross_entropy(output, target) * float('nan')")
    line = _fails_in_one_line(capsys, ["train", script, "--epochs", "1", "--no-progress"])
    assert script in line and "training diverged" in line and "--lr" in line


GRAPH_SCRIPT = """
import numpy as np
import graphc as gc

def build():
    x = gc.input("x", (None, 3))
    k = gc.input("k", (None,), "int64")
    w = gc.param("w", np.ones((3, 2), np.float32))
    return gc.mean(gc.matmul(x, w)) + gc.mean(gc.cast(k, "float32"))
"""


def test_render_values_view_says_what_the_script_must_define(tmp_path, capsys):
    script = tmp_path / "graph.py"
    script.write_text(GRAPH_SCRIPT)
    line = _fails_in_one_line(capsys, ["render", str(script), "--view", "values", "-o", str(tmp_path / "v.svg")])
    assert str(script) in line and "values = {name: array}" in line and "['x', 'k']" in line
    script.write_text(GRAPH_SCRIPT + "values = {'x': np.ones((2, 3), np.float32)}\n")
    assert "(missing: ['k'])" in _fails_in_one_line(capsys, ["render", str(script), "--view", "values"])
    script.write_text(GRAPH_SCRIPT + "values = {'x': np.ones((2, 3), np.float32), 'k': np.arange(2)}\n")
    assert main(["render", str(script), "--view", "values", "-o", str(tmp_path / "v.svg")]) == 0
    script.write_text(GRAPH_SCRIPT + "values = [1]\n")
    assert "`values` must be a dict" in _fails_in_one_line(capsys, ["render", str(script), "--view", "values"])


@pytest.mark.parametrize("view", ["forward", "backward", "both", "compiled"])
def test_render_of_a_graph_script_without_values_draws(tmp_path, view):
    script = tmp_path / "graph.py"
    script.write_text(GRAPH_SCRIPT)
    out = tmp_path / f"g_{view}.svg"
    assert main(["render", str(script), "--view", view, "-o", str(out)]) == 0  # compiled: random inputs
    assert "</svg>" in out.read_text()


@pytest.mark.parametrize("body,expected", [
    ("def build():\n    return None\n", "build() must be a graphc tensor or a list of tensors, got NoneType"),
    ("def build():\n    return [1, 2]\n", "build() must be a graphc tensor or a list of tensors, got ['int 1', 'int 2']"),
    ("def build():\n    return []\n", "build() must be a graphc tensor or a list of tensors"),
    ("loss = 3\n", "the top-level `loss` must be a graphc tensor"),
    ("x = 1\n", "nothing to draw"),
])
def test_render_of_a_script_with_nothing_drawable_is_one_line(tmp_path, capsys, body, expected):
    script = tmp_path / "g.py"
    script.write_text(body)
    line = _fails_in_one_line(capsys, ["render", str(script), "-o", str(tmp_path / "x.svg")])
    assert str(script) in line and expected in line


def test_an_unexpected_exception_is_one_line_and_debug_shows_it(monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(scripts, "train", boom)
    line = _fails_in_one_line(capsys, ["train", XOR])
    assert line == "graphc: internal error: RuntimeError: boom second line (run with --debug for the traceback)"
    for argv in (["--debug", "train", XOR], ["train", XOR, "--debug"]):
        with pytest.raises(RuntimeError, match="boom"):
            main(argv)


def test_keyboard_interrupt_exits_130_in_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scripts, "train", interrupted)
    assert _fails_in_one_line(capsys, ["train", XOR], code=130) == "graphc: interrupted"
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", "train", XOR])


def test_debug_re_raises_the_scripts_own_exception(tmp_path, capsys):
    script = _script(tmp_path, DATA="helper()", prefix="def helper():\n    raise LookupError('my data is missing')\n")
    assert main(["train", script]) == 1
    assert "LookupError: my data is missing" in capsys.readouterr().err
    with pytest.raises(LookupError, match="my data is missing"):
        main(["train", script, "--debug"])
    with pytest.raises(ScriptError, match="model"):  # graphc's own protocol check: its traceback
        main(["--debug", "train", _script(tmp_path, MODEL="42")])
    assert main(["--debug", "info"]) == 0 and main(["info", "--debug"]) == 0


def test_python_script_main_reports_failures_in_one_line(tmp_path):
    script = _script(tmp_path, MODEL="42")
    Path(script).write_text(Path(script).read_text() + "\nif __name__ == '__main__':\n"
                            "    import graphc.script\n    graphc.script.main(__file__)\n")
    for args, code in ([], 1), (["--epochs", "0"], 2), (["--lr", "nan"], 2):
        proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == code, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = subprocess.run([sys.executable, script, "--debug"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ScriptError" in proc.stderr


def test_calling_script_main_unguarded_is_one_line(tmp_path, capsys):
    script = _script(tmp_path, prefix="import graphc.script\n")
    Path(script).write_text(Path(script).read_text() + "\ngraphc.script.main(__file__)\n")
    line = _fails_in_one_line(capsys, ["train", script])
    assert script in line and 'if __name__ == "__main__":' in line


def test_command_line_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    for argv, code in ((["train", XOR, "--epochs", "0"], 2), (["eval", XOR, "--load", str(bad)], 1)):
        proc = subprocess.run([sys.executable, "-m", "graphc.cli", *argv], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == code and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
