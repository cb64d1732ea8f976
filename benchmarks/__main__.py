"""`python -m benchmarks`: run the workloads for every graphc backend and installed peer, one subprocess per thread setting."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_PEERS = ["torch", "torch.compile", "jax", "pytensor", "tinygrad"]
THREAD_VARS = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS", "NUM_CPU_THREADS", "GRAPHC_BENCH_THREADS"]


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description="Run the workloads for every graphc backend and installed peer, "
                                 "one subprocess per thread setting; ratios are measured side by side.")
    ap.add_argument("--workload", default="all", help="comma list: W1,W2,W3,W4,W5 (W4 = W4-b1 and W4-b1024), or all")
    ap.add_argument("--backend", default="default",
                    help="comma list of graphc backends; default: every registered one but the 'reference' interpreter; none")
    ap.add_argument("--peers", default="all", help=f"comma list of {', '.join(ALL_PEERS)}; all; none (the hand-written "
                                                    "NumPy always runs: it is the baseline and the oracle)")
    ap.add_argument("--threads", default="1,all", help="comma list of thread counts, 'all' = every core (default 1,all)")
    ap.add_argument("--quick", action="store_true", help="smoke mode for CI: tiny repeat counts; says nothing about speed")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--blocks", type=int, help="interleaved timing rounds (default 15; quick 3)")
    ap.add_argument("--block-ms", type=float, help="time per implementation per round (default 40; quick 2)")
    ap.add_argument("--compile-timeout", type=float, default=300.0,
                    help="seconds an implementation may take to build and run its first step (default 300; 0: no limit)")
    ap.add_argument("--cold-caches", action="store_true",
                    help="give the peers' on-disk compile caches (inductor, numba/PyTensor, JAX, tinygrad) a fresh empty "
                         "folder, so 'first call' is a true cold compile; by default they keep what earlier runs cached")
    ap.add_argument("--no-warm", action="store_true", help="skip the second, warm-cache compile of each implementation")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.blocks = a.blocks or (3 if a.quick else 15)
    a.block_s = (a.block_ms or (2.0 if a.quick else 40.0)) / 1000
    a.warmup_s = 0.0 if a.quick else 0.3
    return a


def thread_counts(spec: str) -> list[int]:
    out = []
    for t in spec.split(","):
        n = (os.cpu_count() or 1) if t.strip() == "all" else int(t)
        if n not in out:
            out.append(n)
    return out


def child_env(n: int, cache_dir: str | None = None) -> dict:
    env = dict(os.environ)
    if cache_dir:  # each peer's on-disk compile cache, emptied
        env.update(TORCHINDUCTOR_CACHE_DIR=os.path.join(cache_dir, "inductor"), NUMBA_CACHE_DIR=os.path.join(cache_dir, "numba"),
                   JAX_COMPILATION_CACHE_DIR=os.path.join(cache_dir, "jax"), CACHEDB=os.path.join(cache_dir, "tinygrad.db"))
        env["PYTENSOR_FLAGS"] = ",".join(filter(None, [env.get("PYTENSOR_FLAGS"), f"compiledir={cache_dir}/pytensor"]))
    for var in THREAD_VARS:
        env[var] = str(n)
    if n == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    env.setdefault("KINETO_LOG_LEVEL", "5")  # torch's profiler (memory of a step) is chatty on stderr otherwise
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def meta(args) -> dict:
    import numpy

    try:
        commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": commit, "python": platform.python_version(),
            "numpy": numpy.__version__, "platform": platform.platform(), "cpu": cpu or platform.processor(),
            "cores": os.cpu_count(), "argv": sys.argv[1:], "quick": args.quick,
            "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}}


def parent(args) -> int:
    info = meta(args)
    if info["openblas_env"]:
        print(f"note: {info['openblas_env']} is set; numpy's OpenBLAS may run a slower kernel than the CPU allows "
              "(see the BLAS line of each run)", file=sys.stderr)
    runs, rc = [], 0
    forward = list(sys.argv[1:])
    for n in thread_counts(args.threads):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "run.json")
            cmd = [sys.executable, "-m", "benchmarks", *_strip(forward), "--threads", str(n), "--_child", "--_out", out]
            proc = subprocess.run(cmd, env=child_env(n, tmp if args.cold_caches else None), cwd=ROOT)
            if proc.returncode or not os.path.exists(out):
                print(f"benchmarks: the threads={n} run failed (exit {proc.returncode})", file=sys.stderr)
                rc = rc or proc.returncode or 1
                continue
            with open(out) as f:
                runs.append(json.load(f))
    if len(runs) > 1:
        print(summary(runs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": info, "runs": runs}, f, indent=1)
        print(f"wrote {args.json}")
    return rc


def _strip(argv):
    """The parent's arguments without --threads/--json (each child gets one thread count and writes its own file)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--threads", "--json"):
            skip = True
            continue
        if a.startswith(("--threads=", "--json=")):
            continue
        out.append(a)
    return out


def summary(runs) -> str:
    lines = ["", "== summary: graphc median step time over the fastest peer's (lower is better; < 1 means graphc wins)"]
    ids = [w["id"] for w in runs[0]["workloads"]]
    for run in runs:
        for w in run["workloads"]:
            for r in w["results"]:
                if r["kind"] == "graphc":
                    v = f"{r['vs_best_peer']:.2f}x vs {w['best_peer']}" if r.get("vs_best_peer") else r.get("status", "-")
                    lines.append(f"  threads={run['threads']:<3} {w['id']:<9} {r['impl']:<16} {v}")
    return "\n".join(lines) if ids else ""


def child(args) -> int:
    import numpy as np

    from . import harness, numpy_ref, peers, workloads

    n = int(args.threads)
    blas = _limit_threads(n)
    wls = workloads.select(args.workload)
    backends, skipped = _graphc_backends(args.backend)
    impls = [("numpy", "peer", numpy_ref.build)]
    for b in backends:  # the optimiser's effect side by side: optimize=0 (no pass) next to the default 2
        impls.append((f"graphc[{b},O0]", "graphc", _graphc_builder(b, 0)))
        impls.append((f"graphc[{b}]", "graphc", _graphc_builder(b)))
    wanted = [] if args.peers in ("none", "numpy") else ALL_PEERS if args.peers == "all" else \
        [p.strip() for p in args.peers.split(",") if p.strip() not in ("numpy", "")]
    for p in wanted:
        if p not in peers.PEERS:
            raise SystemExit(f"unknown peer {p!r}; known: {', '.join(ALL_PEERS)}")
        why = peers.unavailable(p)
        if why:
            skipped[p] = why
        else:
            impls.append((p, "peer", lambda wl, prm, d, p=p: peers.build(p, wl, prm, d)))
    args.machine = harness.machine_limits(args.quick)
    run = {"threads": n, "blas": blas, "machine": args.machine, "skipped": skipped, "workloads": [],
           "impls": {name: peers.PEERS[name][2] for name, _, _ in impls if name in peers.PEERS}}
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    for wl in wls:
        print(f"[threads={n}] {wl.id} ...", file=sys.stderr, flush=True)
        run["workloads"].append(harness.run_workload(wl, impls, args))
    run["loadavg_1min"] = [load0[0] if load0 else None, os.getloadavg()[0] if load0 else None]  # before, after
    print(harness.table(run), flush=True)
    with open(args._out, "w") as f:
        json.dump(run, f, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
    return 0


def _limit_threads(n: int) -> str:
    """Thread counts are fixed by environment variables set before numpy is imported; threadpoolctl, where
    installed, enforces and reports them."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        import numpy as np

        try:
            name = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
        except Exception:  # noqa: BLE001
            name = "?"
        return f"{name} (threads from env vars; threadpoolctl not installed)"
    threadpool_limits(n)
    return "; ".join(f"{i.get('internal_api')} {i.get('version') or ''} {i.get('architecture') or ''} "
                     f"x{i.get('num_threads')}".replace("  ", " ") for i in threadpool_info())


def _graphc_backends(spec: str):
    import importlib
    import pkgutil

    import graphc.backends
    from graphc.runtime import BACKENDS

    for mod in pkgutil.iter_modules(graphc.backends.__path__):  # each backend registers itself on import
        try:
            importlib.import_module(f"graphc.backends.{mod.name}")
        except Exception:  # noqa: BLE001 - a backend that cannot load is reported below if asked for
            pass
    if spec == "none":
        return [], {}
    names = [b for b in BACKENDS if b != "reference"] if spec == "default" else [s.strip() for s in spec.split(",")]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown graphc backend(s) {unknown}; registered: {sorted(BACKENDS)}")
    skipped = {}
    for b in list(names):  # a GPU backend on a machine without one: reported as skipped, like a missing peer
        why = getattr(BACKENDS[b], "unavailable", None)
        reason = why() if why else None
        if reason:
            names.remove(b)
            skipped[f"graphc[{b}]"] = reason
    return names, skipped


def _graphc_builder(backend: str, optimize: int = 2):
    from .workloads import GraphcRunner

    return lambda wl, params, data: GraphcRunner(wl, params, data, backend, optimize)


def main(argv=None) -> int:
    args = parse(argv)
    return child(args) if args._child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
