"""Timing (interleaved blocks), agreement with the NumPy reference, memory, machine limits, and the table."""
from __future__ import annotations

import gc
import os
import signal
import threading
import time
import tracemalloc
import traceback

import numpy as np

from .workloads import Workload

LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5  # loss (or inference outputs, relative to their largest magnitude)
UPDATE_RTOL = 2e-3  # parameter updates p1 - p0, relative to the largest reference update of that parameter


def _err_text(e: BaseException) -> str:
    last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    where = f" at {os.path.basename(last.filename)}:{last.lineno}" if last else ""
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}{where}"


class CompileTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CompileTimeout("build + first step ran past --compile-timeout")


def first_step(build, wl: Workload, timeout_s: float = 0):
    """Build an implementation on fresh parameters and data and run one step; times both. With timeout_s, a build
    that takes longer is interrupted (SIGALRM: effective while Python code runs, so a long native compile may overrun)."""
    params, data = wl.params(), wl.data()
    initial = {k: v.copy() for k, v in params.items()}
    gc.collect()
    alarm = timeout_s > 0 and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        t0 = time.perf_counter()
        runner = build(wl, params, data)
        t1 = time.perf_counter()
        out = runner.step()
        t2 = time.perf_counter()
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    result = np.array(runner.output(out), dtype=np.float64)
    after = {k: np.array(v, dtype=np.float64) for k, v in runner.params().items()}
    return runner, {"build_s": t1 - t0, "first_call_s": t2 - t0}, (result, initial, after)


def agreement(wl: Workload, got, ref) -> dict:
    """Compare one step's loss (or outputs) and parameter updates with the reference's."""
    (out, p0, p1), (rout, _, rp1) = got, ref
    if out.shape != rout.shape:
        return {"ok": False, "max_err": float("inf"), "detail": f"output shape {out.shape}, reference {rout.shape}"}
    scale = float(np.max(np.abs(rout))) if rout.size else 0.0
    out_err = float(np.max(np.abs(out - rout))) if out.size else 0.0
    ok = out_err <= LOSS_RTOL * scale + LOSS_ATOL
    worst, upd_err = "", 0.0
    if wl.train:
        for k, r in rp1.items():
            ref_delta, delta = r - p0[k], p1[k] - p0[k]
            rel = float(np.max(np.abs(delta - ref_delta)) / (np.max(np.abs(ref_delta)) + 1e-12))
            if rel > upd_err:
                upd_err, worst = rel, k
        ok = ok and upd_err <= UPDATE_RTOL
    what = "loss" if wl.train else "outputs"
    detail = f"{what} |err| {out_err:.1e}" + (f", update rel err {upd_err:.1e} ({worst})" if wl.train else "")
    return {"ok": bool(ok), "max_err": max(out_err / (scale or 1.0), upd_err), "out_abs_err": out_err,
            "update_rel_err": upd_err if wl.train else None, "detail": detail}


def _run_block(runner, k: int) -> float:
    step = runner.step
    t0 = time.perf_counter()
    for _ in range(k):
        step()
    return (time.perf_counter() - t0) / k


def time_interleaved(runners: dict, blocks: int, block_s: float, warmup_s: float) -> dict:
    """Median per-step time of each runner over `blocks` rounds; every round runs each runner for about `block_s`,
    in a rotating order, so slow drift of the machine affects them alike. The garbage collector is off meanwhile."""
    reps, samples = {}, {name: [] for name in runners}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name, r in runners.items():  # warm-up, then steps per block from the measured speed
            n, t0 = 0, time.perf_counter()
            while n < 3 or time.perf_counter() - t0 < warmup_s:
                r.step()
                n += 1
            est = _run_block(r, max(1, n // 3))
            reps[name] = max(1, int(round(block_s / max(est, 1e-9))))
        names = list(runners)
        for b in range(blocks):
            for name in names[b % len(names):] + names[:b % len(names)]:
                samples[name].append(_run_block(runners[name], reps[name]))
    finally:
        if was_enabled:
            gc.enable()
    out = {}
    for name, s in samples.items():
        q25, med, q75 = np.percentile(s, [25, 50, 75])
        out[name] = {"median_s": float(med), "q25_s": float(q25), "q75_s": float(q75), "steps_per_block": reps[name],
                     "blocks": blocks}
    return out


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def step_memory(runner, steps: int = 3) -> dict:
    """Peak memory of a step in steady state. tracemalloc (NumPy-based: every array allocation is traced) gives the
    step's transient peak, plus the workspace the implementation keeps between steps (held_bytes); otherwise
    the growth of the resident set, sampled every ~0.2 ms while the step runs (approximate: allocators keep freed
    memory, so steady-state growth is often ~0). Runners with a framework-native account (torch's profiler, XLA's
    memory analysis) provide measure_memory()."""
    if hasattr(runner, "measure_memory"):
        return runner.measure_memory()
    if runner.mem_method == "tracemalloc":
        tracemalloc.start()
        try:
            runner.step()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(steps):
                runner.step()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        held = int(runner.held_bytes()) if hasattr(runner, "held_bytes") else 0
        return {"peak_bytes": int(peak) + held, "transient_bytes": int(peak), "held_bytes": held, "method": "tracemalloc"}
    base, peak, stop = _rss(), [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.0002)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        for _ in range(steps):
            runner.step()
    finally:
        stop.set()
        th.join()
    return {"peak_bytes": max(0, peak[0] - base), "method": "rss"}


def machine_limits(quick: bool) -> dict:
    """The practical ceilings in this process, with its thread setting: sgemm GFLOP/s of the BLAS numpy uses
    (best of several n x n products) and memory bandwidth (best large copy, bytes read + written per second)."""
    n = 512 if quick else 1536
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    c = np.empty_like(a)
    best = float("inf")
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    size = (32 if quick else 256) << 20
    src = np.ones(size // 4, np.float32)
    dst = np.empty_like(src)
    bw = float("inf")
    for _ in range(3 if quick else 5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        bw = min(bw, time.perf_counter() - t0)
    return {"sgemm_gflops": 2 * n ** 3 / best / 1e9, "sgemm_n": n, "copy_gbs": 2 * size / bw / 1e9, "copy_mib": size >> 20}


def run_workload(wl: Workload, impls: list, opts) -> dict:
    """impls: [(name, kind, build)] with the hand-written NumPy first (the reference). Returns the workload's record."""
    rows, timed, ref = [], {}, None
    for name, kind, build in impls:
        row = {"impl": name, "kind": kind}
        rows.append(row)
        try:
            runner, times, got = first_step(build, wl, opts.compile_timeout)
        except Exception as e:  # noqa: BLE001 - an implementation that fails is reported, not fatal
            row.update(status="error", reason=_err_text(e))
            if ref is None:
                raise
            continue
        row.update(times)
        if ref is None:
            ref = got
        agree = row["agreement"] = agreement(wl, got, ref)
        if not agree["ok"]:
            row.update(status="disagrees", reason=agree["detail"])
            continue
        row["status"] = "ok"
        timed[name] = runner
    if not opts.quick and not opts.no_warm:  # compile again with warm caches (imports, JIT caches, on-disk caches)
        for row in rows:
            if row["impl"] in timed:
                build = next(b for n, _, b in impls if n == row["impl"])
                try:
                    row["warm_first_call_s"] = first_step(build, wl, opts.compile_timeout)[1]["first_call_s"]
                except Exception as e:  # noqa: BLE001
                    row["warm_error"] = _err_text(e)
                gc.collect()
    timing = time_interleaved(timed, opts.blocks, opts.block_s, opts.warmup_s) if timed else {}
    flops = wl.flops()
    for row in rows:
        if row["impl"] not in timing:
            continue
        row.update(timing[row["impl"]])
        row["memory"] = step_memory(timed[row["impl"]], 1 if opts.quick else 3)
        row["gflops"] = flops / row["median_s"] / 1e9
        row["frac_sgemm_peak"] = row["gflops"] / opts.machine["sgemm_gflops"]
    peers = [r for r in rows if r["kind"] != "graphc" and "median_s" in r]
    base = next((r["median_s"] for r in rows if r["impl"] == "numpy" and "median_s" in r), None)
    best = min(peers, key=lambda r: r["median_s"]) if peers else None
    for row in rows:
        if "median_s" in row:
            row["vs_numpy"] = row["median_s"] / base if base else None
            row["vs_best_peer"] = row["median_s"] / best["median_s"] if best else None
    return {"id": wl.id, "title": wl.title, "batch": wl.batch, "train": wl.train, "flops": flops,
            "best_peer": best["impl"] if best else None, "results": rows}


# -- the table -----------------------------------------------------------------------------------------------
def fmt_time(s) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(b) -> str:
    if b is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024


MEM_TAGS = {"tracemalloc": "tm", "rss": "rss", "torch-profiler": "prof", "xla": "xla"}
COLUMNS = ["impl", "agree", "median", "+-iqr", "x numpy", "x best peer", "first call", "warm", "peak mem", "GFLOP/s",
           "%sgemm"]


def table(run: dict) -> str:
    m = run["machine"]
    lines = [f"== threads={run['threads']}  sgemm {m['sgemm_gflops']:.1f} GFLOP/s (n={m['sgemm_n']})  "
             f"copy {m['copy_gbs']:.1f} GB/s  BLAS: {run.get('blas', '?')}"
             + ("  load avg {:.1f} -> {:.1f}".format(*run["loadavg_1min"]) if run.get("loadavg_1min", [None])[0] is not None else "")]
    load = run.get("loadavg_1min") or [None]
    if load[0] is not None and max(load) + run["threads"] > (os.cpu_count() or 1) + 0.5:
        lines.append(f"   warning: other processes were using the CPU (1-min load {max(load):.1f} on {os.cpu_count()} cores); "
                     "multi-threaded BLAS/OpenMP degrade badly when a core is taken, so these ratios reflect contention")
    for w in run["workloads"]:
        lines.append("")
        lines.append(f"{w['id']}: {w['title']}, batch {w['batch']}, {w['flops'] / 1e6:.2f} MFLOP/step"
                     + (f"; best peer: {w['best_peer']}" if w["best_peer"] else ""))
        body = []
        for r in w["results"]:
            a = r.get("agreement")
            agree = ("ok " if a["ok"] else "NO ") + f"{a['max_err']:.0e}" if a else r.get("status", "-")
            if "median_s" not in r:
                body.append([r["impl"], agree if a else r["status"], f"{r['status']}: {r.get('reason', '')}"])
                continue
            mem = r.get("memory", {})
            body.append([
                r["impl"], agree, fmt_time(r["median_s"]), f"{(r['q75_s'] - r['q25_s']) / 2 / r['median_s'] * 100:.0f}%",
                f"{r['vs_numpy']:.2f}" if r.get("vs_numpy") else "-",
                f"{r['vs_best_peer']:.2f}" if r.get("vs_best_peer") else "-",
                fmt_time(r.get("first_call_s")), fmt_time(r.get("warm_first_call_s")),
                f"{fmt_bytes(mem.get('peak_bytes'))} ({MEM_TAGS.get(mem.get('method'), '?')})",
                f"{r['gflops']:.2f}", f"{r['frac_sgemm_peak'] * 100:.1f}"])
        widths = [max(len(COLUMNS[i]), *(len(b[i]) for b in body if len(b) == len(COLUMNS))) for i in range(len(COLUMNS))]
        lines.append("  ".join(c.ljust(wd) for c, wd in zip(COLUMNS, widths)).rstrip())
        for b in body:
            if len(b) == len(COLUMNS):
                lines.append("  ".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(b, widths))))
            else:
                lines.append(f"{b[0].ljust(widths[0])}  {b[1].rjust(widths[1])}  {b[2]}")
    if run.get("skipped"):
        lines.append("")
        lines += [f"skipped {name}: {why}" for name, why in run["skipped"].items()]
    lines.append("")
    lines.append("x numpy / x best peer: median step time over the hand-written NumPy's / over the fastest non-graphc "
                 "implementation's, measured side by side in this run. first call: build + first step in this process (compile "
                 "included; peers' on-disk caches from earlier runs help unless --cold-caches); warm: the same for a second "
                 "instance in this process. peak mem: tm = tracemalloc (transient peak + kept "
                 "workspace), prof = torch profiler allocation peak, xla = XLA memory analysis (temporaries + outputs), rss = resident-set "
                 "growth during steps (approximate, often ~0 in steady state). %sgemm: GFLOP/s over this run's sgemm.")
    return "\n".join(lines)
