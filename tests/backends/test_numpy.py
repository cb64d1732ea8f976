"""The NumPy backend's own promise: the generated module is readable, vectorised NumPy source."""
from __future__ import annotations

import re

import numpy as np

import graphc as gc


def test_generated_source_is_readable_vectorised_numpy(tmp_path):
    x = gc.input("x", (None, 4))
    with gc.scope("dense"):
        w = gc.param("w", np.ones((4, 2), np.float32))
        h = gc.relu(x @ w, name="h")
    f = gc.compile(h, backend="numpy")
    f(x=np.ones((3, 4), np.float32))
    src = f.source
    assert "np.matmul(" in src and "dense/h" in src and "np.maximum(" in src
    assert not re.search(r"^\s*(for|while) ", src, re.M)  # no Python loop over elements
    path = tmp_path / "module.py"
    path.write_text(src)
    compile(src, str(path), "exec")


def test_the_spelling_table_covers_every_scalar_operation():
    from graphc.backends.numpy.spelling import SPELLINGS
    from graphc.scalar_ops import OPS

    leaves = {"arg", "axis", "const"}
    assert set(OPS) - leaves == set(SPELLINGS)
