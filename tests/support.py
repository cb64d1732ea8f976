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


BACKENDS = registered_backends()
CODEGEN_BACKENDS = BACKENDS[1:]
