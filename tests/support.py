"""What several test packages share: the backends every backend-parametrised test runs on."""
from __future__ import annotations

import importlib
import pkgutil

import graphc.backends
from graphc import runtime


def registered_backends() -> list[str]:
    """'reference' and every code-generating backend that loads here (each registers itself when imported)."""
    for mod in pkgutil.iter_modules(graphc.backends.__path__):
        try:
            importlib.import_module(f"graphc.backends.{mod.name}")
        except ImportError:  # a backend whose optional dependencies are missing is not tested here
            pass
    return ["reference"] + sorted(runtime.BACKENDS)


def runnable(name: str) -> bool:
    """Can functions compiled for this backend run here (a GPU backend without a GPU prints source only)?"""
    why = getattr(runtime.BACKENDS.get(name), "unavailable", None)
    return why is None or why() is None


BACKENDS = [name for name in registered_backends() if runnable(name)]
PRINT_ONLY_BACKENDS = [name for name in registered_backends() if not runnable(name)]
CODEGEN_BACKENDS = BACKENDS[1:]


def agree_or_fail_alike(outputs, feeds_for, updates=None, rtol=1e-5, atol=1e-6):
    """Compile `outputs` (and `updates`) on the reference and NumPy backends and run both from the same
    parameters: the same values, or the same graphc error class (the bad-argument sweeps' verdict).
    feeds_for(input name) gives each input's array."""
    import numpy as np

    import graphc as gc
    from graphc.errors import GraphcError

    results = []
    start = {p: p.value.copy() for p in (updates or {})}
    for backend in ("reference", "numpy"):
        for p, value in start.items():  # both backends step from the same parameters
            p.value[...] = value
        try:
            f = gc.compile(outputs, updates=updates, backend=backend)
            results.append([np.asarray(r) for r in f(**{n: feeds_for(n) for n in f.input_names})])
        except GraphcError as e:
            results.append(type(e))
    ref, got = results
    if isinstance(ref, type) or isinstance(got, type):
        assert ref == got, f"reference gives {ref}, numpy {got}"
        return
    for a, b in zip(ref, got):
        assert a.shape == b.shape
        np.testing.assert_allclose(b.astype(np.float64), a.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
