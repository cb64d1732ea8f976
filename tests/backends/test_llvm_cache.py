"""The LLVM backend's machine-code cache: a second compile loads it; an entry that is corrupt, not private or
from another IR is never used; writes are atomic; `graphc cache` shows and empties it."""
from __future__ import annotations

import os
import re
import stat
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.backends.llvm import cache
from graphc.cli import main


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "llvm"  # $GRAPHC_CACHE_DIR/<backend>
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    cache._warned.clear()
    return folder


def _step(scale=2.0):
    x = gc.input("x", (3, 4))
    fn = gc.compile(gc.tanh(x) * scale, backend="llvm")
    data = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    return fn, fn(x=data), np.tanh(data) * scale


def _entries(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".o")


def test_a_second_compile_loads_the_machine_code_and_computes_the_same(cache_dir):
    first, got1, want = _step()
    assert not first.backend.last.fn.compiled.from_cache and len(_entries(cache_dir)) == 1
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    second, got2, _ = _step()
    assert second.backend.last.fn.compiled.from_cache
    np.testing.assert_array_equal(got1, got2)
    np.testing.assert_allclose(got2, want, rtol=1e-6)
    assert re.search(r"<\d+ x (float|double)>", second.llvm_ir)  # a cached compile still shows its vectorised IR
    _step(scale=3.0)  # other IR: another entry
    assert len(_entries(cache_dir)) == 2


def test_a_cache_hit_builds_no_ir_until_someone_reads_it(cache_dir):
    _step()
    fn, got, want = _step()
    compiled = fn.backend.last.fn.compiled
    assert compiled.from_cache and compiled._ir is None  # the key is the Program's: no IR printed to look it up
    assert "define" in fn.source and compiled._ir is not None  # printed again on demand, for reading


def test_a_range_check_from_a_cached_entry_names_this_programs_node(cache_dir):
    def gather():
        table, idx = gc.input("table", (5, 2)), gc.input("idx", (3,), dtype="int64")
        return gc.compile(gc.take(table, idx), backend="llvm")
    table = np.ones((5, 2), np.float32)
    first, second = gather(), gather()  # equal Programs, different node numbers in their labels
    first(table=table, idx=np.array([0, 1, 2]))
    with pytest.raises(gc.IndexRangeError) as failure:
        second(table=table, idx=np.array([0, 9, 2]))
    assert second.backend.last.fn.compiled.from_cache
    assert second.backend.last.program.kernels[0].label.split()[0] in str(failure.value)


def test_a_corrupt_entry_is_discarded_with_one_warning_and_rebuilt(cache_dir):
    _step()
    (entry,) = _entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[:40] + b"garbage")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        fn, got, want = _step()
    assert not fn.backend.last.fn.compiled.from_cache
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert _step()[0].backend.last.fn.compiled.from_cache  # rewritten


def test_an_entry_others_may_write_is_never_loaded(cache_dir):
    _step()
    (entry,) = _entries(cache_dir)
    os.chmod(entry, 0o666)
    with pytest.warns(RuntimeWarning, match="writable by others"):
        fn, got, want = _step()
    assert not fn.backend.last.fn.compiled.from_cache
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_shared_cache_directory_is_not_used(cache_dir):
    cache_dir.mkdir(parents=True)
    os.chmod(cache_dir, 0o777)
    with pytest.warns(RuntimeWarning, match="not private"):
        fn, got, want = _step()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not _entries(cache_dir)


def test_no_partial_entry_is_ever_visible(cache_dir):
    _step()
    assert all(not p.name.startswith(".partial-") for p in cache_dir.iterdir())


def test_graphc_cache_info_and_clear(cache_dir, capsys):
    _step()
    assert main(["cache", "info"]) == 0
    assert "llvm: 1 entry" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 1 file" in capsys.readouterr().out and not _entries(cache_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["cache", "info"]) == 0


def test_a_fresh_process_loads_a_cached_matmul_and_computes_it(cache_dir):
    # the BLAS is found by name when code loads: a process whose first compile is a cache hit must register it too
    import subprocess
    import sys

    script = ("import numpy as np, graphc as gc\n"
              "x = gc.input('x', (64, 32)); w = gc.param('w', np.ones((32, 16), np.float32))\n"
              "fn = gc.compile(gc.tanh(x @ w), backend='llvm')\n"
              "a = np.linspace(-1, 1, 64 * 32, dtype=np.float32).reshape(64, 32)\n"
              "got = fn(x=a)\n"
              "assert np.allclose(got, np.tanh(a @ np.ones((32, 16), np.float32)), atol=1e-6)\n"
              "print(fn.backend.last.fn.compiled.from_cache)\n")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir.parent))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    assert [r.stdout.split() for r in runs] == [["False"], ["True"]]


def test_the_report_splits_the_compile_time_by_stage(cache_dir):
    first, _, _ = _step()
    stages = {e["stage"]: e for e in first.report()}
    for stage in ("simplify", "lower", "plan_memory", "llvm: build IR", "llvm: parse, verify, optimise (O3)",
                  "llvm: emit machine code", "llvm: link and load"):
        assert stages[stage]["seconds"] >= 0, stage
    second, _, _ = _step()
    stages = [e["stage"] for e in second.report()]
    assert "llvm: load from the cache" in stages and "llvm: build IR" not in stages
