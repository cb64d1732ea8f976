"""ONNX's own node test cases (onnx.backend.test.case.node), generated once per onnx version into a cache folder
(pytest's cache, not committed) and run through gc.onnx.load and a backend against the expected outputs."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

import graphc as gc

FLOAT_TOL = dict(rtol=1e-4, atol=1e-5)
# cases whose expected outputs are written with fewer digits than the tolerance asks for
CASE_TOL = {"test_averagepool_2d_ceil_last_window_starts_on_pad": dict(rtol=1e-4, atol=1e-4),  # 4 decimals
            "test_gridsample_bicubic": dict(rtol=1e-4, atol=1e-4)}  # 4 decimals (we agree with float64 to 2e-7)


def cases(folder: Path) -> list[dict]:
    """[{name, op, path}] for every single-node case whose data are plain tensors; generated on first use."""
    import onnx

    folder = folder / f"onnx-{onnx.__version__}"
    index = folder / "index.json"
    if index.is_file():
        return json.loads(index.read_text())
    from onnx.backend.test.case.node import collect_testcases

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for case in collect_testcases():
        graph = case.model.graph
        if len(graph.node) != 1 or case.name.endswith("_expanded") or not case.data_sets:
            continue
        inputs, outputs = case.data_sets[0]
        if not all(isinstance(a, np.ndarray) for a in list(inputs) + list(outputs)):
            continue  # sequences, optionals, maps
        (folder / f"{case.name}.onnx").write_bytes(case.model.SerializeToString())
        arrays = {f"in{n}": a for n, a in enumerate(inputs)} | {f"out{n}": a for n, a in enumerate(outputs)}
        if any(a.dtype == object for a in arrays.values()):
            continue  # strings
        np.savez(folder / f"{case.name}.npz", **arrays)
        out.append(dict(name=case.name, op=graph.node[0].op_type, path=str(folder / case.name)))
    tmp = index.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(index)
    return out


_STATIC = re.compile(r"input '([^']*)' \(.*\) must be known when the model is imported")


def run_case(case: dict, backend: str) -> tuple[str, str]:
    """('pass' | 'fail' | 'unsupported', why) for one case on one backend."""
    import onnx

    model = onnx.load_model_from_string(Path(case["path"] + ".onnx").read_bytes())
    with np.load(case["path"] + ".npz", allow_pickle=False) as data:
        arrays = dict(data)
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    feeds = {name: arrays[f"in{n}"] for n, name in enumerate(names)}
    expected = [arrays[f"out{n}"] for n in range(len(model.graph.output))]
    constants = {}
    while True:  # an input the model needs at import time (a shape, axes) is frozen as a constant
        try:
            imported = gc.onnx.load(model, constants=constants)
            break
        except gc.OnnxError as e:
            m = _STATIC.search(str(e))
            if m and m.group(1) in feeds and m.group(1) not in constants:
                constants[m.group(1)] = feeds[m.group(1)]
                continue
            return "unsupported", str(e)[:300]
        except gc.GraphcError as e:
            return "unsupported", f"{type(e).__name__}: {str(e)[:300]}"
    given = {k: v for k, v in feeds.items() if k not in constants}
    try:
        fn = imported.compile(backend=backend)
        got = fn(**given)
    except gc.GraphcError as e:
        return "fail", f"{type(e).__name__}: {str(e)[:300]}"
    for n, (g, w) in enumerate(zip(got, expected)):
        g = np.asarray(g)
        if g.shape != w.shape:
            return "fail", f"output {n}: shape {g.shape}, expected {w.shape}"
        if g.dtype != w.dtype:
            return "fail", f"output {n}: dtype {g.dtype}, expected {w.dtype}"
        if w.dtype.kind == "f":
            if not np.allclose(g, w, equal_nan=True, **CASE_TOL.get(case["name"], FLOAT_TOL)):
                return "fail", f"output {n}: max abs error {np.nanmax(np.abs(g.astype(np.float64) - w)):.3g}"
        elif not np.array_equal(g, w):
            return "fail", f"output {n}: {np.sum(g != w)} of {w.size} elements differ"
    return "pass", ""


def table(results: dict) -> dict:
    """{op: Counter(pass=, fail=, unsupported=)} from {case name: (op, status, why)}."""
    out: dict = {}
    for op, status, _ in results.values():
        out.setdefault(op, Counter())[status] += 1
    return out
