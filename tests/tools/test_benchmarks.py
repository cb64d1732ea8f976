"""Smoke test of the benchmark harness: W1, graphc's NumPy backend and the hand-written NumPy, --quick, in a subprocess."""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_harness_quick_w1(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--workload", "W1", "--backend", "numpy",
                           "--peers", "none", "--threads", "1", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 30, f"the quick smoke run took {elapsed:.1f} s"

    text = proc.stdout
    assert "== threads=1" in text and "sgemm" in text and "GB/s" in text
    assert "W1: tiny MLP" in text and "MFLOP/step" in text
    header = next(ln for ln in text.splitlines() if ln.startswith("impl "))
    for col in ("agree", "median", "x numpy", "x best peer", "first call", "peak mem", "GFLOP/s", "%sgemm"):
        assert col in header
    rows = {ln.split()[0]: ln for ln in text.splitlines() if ln.startswith(("numpy ", "graphc[numpy] ", "graphc[numpy,O0] "))}
    assert set(rows) == {"numpy", "graphc[numpy]", "graphc[numpy,O0]"}  # the optimiser's effect side by side
    assert all(" ok " in ln for ln in rows.values()), rows

    data = json.loads(out.read_text())
    assert data["meta"]["quick"] is True and data["meta"]["cores"] >= 1
    (run,) = data["runs"]
    assert run["threads"] == 1
    assert run["machine"]["sgemm_gflops"] > 0 and run["machine"]["copy_gbs"] > 0
    (w,) = run["workloads"]
    assert w["id"] == "W1" and w["flops"] > 0 and w["best_peer"] == "numpy"
    results = {r["impl"]: r for r in w["results"]}
    assert set(results) == {"numpy", "graphc[numpy]", "graphc[numpy,O0]"}
    for r in results.values():
        assert r["status"] == "ok" and r["agreement"]["ok"], r
        assert r["median_s"] > 0 and r["first_call_s"] > 0 and r["vs_numpy"] > 0 and r["vs_best_peer"] > 0
        assert r["memory"]["method"] == "tracemalloc" and r["memory"]["peak_bytes"] > 0
        assert 0 < r["frac_sgemm_peak"]
    assert results["numpy"]["vs_numpy"] == 1.0
    assert results["graphc[numpy]"]["agreement"]["update_rel_err"] < 2e-3
