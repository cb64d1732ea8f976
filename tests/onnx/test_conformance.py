"""ONNX's own node test cases through gc.onnx.load and every runnable backend: no wrong answer, and no op type
passing fewer cases than the committed baseline (tests/onnx/conformance.json; GRAPHC_UPDATE_CONFORMANCE=1
rewrites it after an improvement)."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from tests.support import BACKENDS

onnx = pytest.importorskip("onnx", reason="the ONNX tests need the onnx package: pip install 'graphc-compiler[onnx]'")

from tests.onnx.node_cases import cases, run_case, table  # noqa: E402

BASELINE = Path(__file__).with_name("conformance.json")


@pytest.fixture(scope="module")
def node_cases(request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("onnx-node-cases")) if cache is not None else tmp_path_factory.mktemp("onnx-node-cases")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own overflow warnings
        return cases(folder)


@pytest.mark.parametrize("backend", BACKENDS)
def test_onnx_node_cases_agree_with_their_expected_outputs(node_cases, backend):
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf/nan are data in several cases
        for case in node_cases:
            status, why = run_case(case, backend)
            results[case["name"]] = (case["op"], status, why)
    wrong = {name: why for name, (_, status, why) in results.items() if status == "fail"}
    assert not wrong, f"{len(wrong)} cases computed a wrong answer on {backend}:\n" + "\n".join(
        f"{name}: {why}" for name, why in sorted(wrong.items())[:30])
    passing = {op: counts["pass"] for op, counts in sorted(table(results).items()) if counts["pass"]}
    if os.environ.get("GRAPHC_UPDATE_CONFORMANCE") and backend == "reference":
        BASELINE.write_text(json.dumps({"_onnx": onnx.__version__, **passing}, indent=1, sort_keys=True) + "\n")
    baseline = json.loads(BASELINE.read_text())
    if onnx.__version__ != baseline.get("_onnx", onnx.__version__):
        pytest.skip(f"the baseline was counted with onnx {baseline['_onnx']}, this is {onnx.__version__}")
    regressed = {op: (n, passing.get(op, 0)) for op, n in baseline.items() if not op.startswith("_") and passing.get(op, 0) < n}
    assert not regressed, f"op types passing fewer cases than before on {backend} (before, now): {regressed}"
