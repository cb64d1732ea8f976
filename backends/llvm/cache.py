"""The LLVM backend's entries in the shared store (graphc.backends.diskcache), keyed by the Program, graphc's code,
the CPU and the LLVM version.

The key hashes the Program's fingerprint (so a hit skips building the IR as well as compiling it), the
source of graphc itself (a changed printer never loads code its predecessor printed), the CPU's name
and features, and the llvmlite and LLVM versions. An entry holds the object code and the metadata the
step needs at run time (its range checks). Location: $GRAPHC_CACHE_DIR/llvm, else
$XDG_CACHE_HOME/graphc/llvm, else ~/.cache/graphc/llvm.
"""
from __future__ import annotations

import llvmlite
import llvmlite.binding as llvm

from ..diskcache import Store, digest

FORMAT = "graphc-llvm-object-2"  # bump when what an entry holds changes
STORE = Store("llvm", ".o", "LLVM")
directory, load, store, info, clear = STORE.directory, STORE.load, STORE.store, STORE.info, STORE.clear
_warned = STORE.warned


def key(*parts: str) -> str:
    """The entry name for `parts` (the Program's fingerprint and build options) with this graphc on this CPU with
    this LLVM: a cache from another CPU or version never matches."""
    return digest(FORMAT, llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info)), llvm.get_process_triple(),
                  llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(), *parts)
