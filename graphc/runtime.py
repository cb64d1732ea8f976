"""The runtime: checking the arrays a call is given, the backend registry, and compiled executables.

`bind_inputs` validates a call's arrays and binds symbolic dims before anything runs; an
`Executable` owns the per-binding cache of Programs (compiled through `graphc.pipeline`), the
arena and the external arrays of each, so that a backend is only `build(program) -> fn(arena, externals)`."""
from __future__ import annotations

import threading

import numpy as np

from . import dtypes, shapes
from .ops.leaves import RESIDENCY_LOCK, RESIDENT
from .errors import ArgumentError, InputError
from .ir import Node
from .pipeline import compile_program

CAST_POLICIES = ("no", "safe", "same_kind")


class InputPlan:
    """bind_inputs for one graph's inputs, with the per-input facts worked out once: a call whose
    arrays already have the declared dtypes and shapes binds in a few microseconds; anything else
    (a cast, a wrong shape, a list) takes bind_inputs, which checks everything and names the problem."""

    def __init__(self, inputs: tuple[Node, ...]):
        self.inputs = inputs
        self.names = {n.attrs["name"] for n in inputs}
        self.specs = []
        simple = True
        for node in inputs:
            declared = node.attrs["shape"]
            fixed = tuple((a, d) for a, d in enumerate(declared) if isinstance(d, int))
            symbols = tuple((a, d.name) for a, d in enumerate(declared) if not isinstance(d, int) and d.is_Symbol)
            simple &= len(fixed) + len(symbols) == len(declared)  # compound dims (2*N): the full check
            self.specs.append((node.attrs["name"], node, len(declared), fixed, symbols, node.dtype))
        self.simple = simple

    def bind(self, given: dict, cast: str = "safe") -> tuple[dict, dict]:
        if not self.simple or given.keys() != self.names:
            return bind_inputs(self.inputs, given, cast)
        arrays, bindings = {}, {}
        for name, node, rank, fixed, symbols, dtype in self.specs:
            arr = given[name]
            if type(arr) is not np.ndarray or arr.dtype != dtype or arr.ndim != rank:
                return bind_inputs(self.inputs, given, cast)
            shape = arr.shape
            for axis, d in fixed:
                if shape[axis] != d:
                    return bind_inputs(self.inputs, given, cast)
            for axis, symbol in symbols:
                if bindings.setdefault(symbol, shape[axis]) != shape[axis]:
                    return bind_inputs(self.inputs, given, cast)
            arrays[node] = arr
        return arrays, bindings


def bind_inputs(inputs: tuple[Node, ...], given: dict, cast: str = "safe") -> tuple[dict, dict]:
    """Validate keyword arguments against the graph's inputs.

    Returns ({input node: array}, {symbol name: int}). Raises InputError naming the input and
    both shapes for: a missing or unknown name, a wrong rank, a wrong fixed dim, inconsistent
    bindings of a symbolic dim, or a dtype that cannot be cast under the `cast` policy
    ('safe': only value-preserving casts such as int32 -> float64; 'same_kind': float64 -> float32 too;
    'no': exact dtypes only)."""
    if cast not in CAST_POLICIES:
        raise ArgumentError(f"cast must be one of {CAST_POLICIES}, got {cast!r}")
    by_name = {n.attrs["name"]: n for n in inputs}
    unknown = sorted(set(given) - set(by_name))
    missing = [name for name in by_name if name not in given]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing input(s) {missing}")
        if unknown:
            parts.append(f"unknown input(s) {unknown}")
        raise InputError(f"{'; '.join(parts)}; the function takes {list(by_name)}")
    arrays, bindings, bound_by = {}, {}, {}
    for name, node in by_name.items():
        value = given[name]
        try:
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        except (ValueError, TypeError) as e:  # ragged lists and the like
            raise InputError(f"input {name!r}: cannot be read as an array ({e})") from None
        if not isinstance(value, np.ndarray) and arr.dtype.kind in "biuf" and dtypes.weak_dtype_for(value, node.dtype) == node.dtype:
            arr = arr.astype(node.dtype)  # Python numbers and lists are weak, as when building graphs
        declared = node.attrs["shape"]
        expect = _Expect(declared)  # formatted only when an error message needs it (this runs every call)
        if arr.ndim != len(declared):
            raise InputError(f"input {name!r}: {expect} (rank {len(declared)}), got shape {arr.shape} (rank {arr.ndim})")
        for axis, (d, actual) in enumerate(zip(declared, arr.shape)):
            if isinstance(d, int):
                if d != actual:
                    raise InputError(f"input {name!r}: {expect}, got {arr.shape}: dim {axis} is {actual}, expected {d}")
            elif d.is_Symbol:
                prev = bindings.get(d.name)
                if prev is not None and prev != actual:
                    raise InputError(f"input {name!r}: {expect}, got {arr.shape}: dim {axis} ({shapes.fmt_dim(d)}) is {actual}, "
                                     f"but {bound_by[d.name]} bound it to {prev}")
                bindings[d.name] = actual
                bound_by.setdefault(d.name, f"input {name!r}")
        want = node.dtype
        if arr.dtype != want:
            ok = arr.dtype.kind in "biuf" and (cast != "no") and np.can_cast(arr.dtype, want, casting=cast)
            if not ok:
                hint = " (pass cast='same_kind' to allow it)" if np.can_cast(arr.dtype, want, casting="same_kind") else ""
                raise InputError(f"input {name!r}: expected dtype {want}, got {arr.dtype}; the cast is not allowed under cast={cast!r}{hint}")
            if want.kind in "iu" and arr.dtype.kind in "iu" and arr.size and not np.can_cast(arr.dtype, want):
                info = np.iinfo(want)  # a narrowing the policy allows may still not wrap a value silently
                if arr.min() < info.min or arr.max() > info.max:
                    raise InputError(f"input {name!r}: values in [{arr.min()}, {arr.max()}] do not fit {want}")
            with np.errstate(over="ignore"):  # float64 beyond float16's range is inf, as a cast gives it
                arr = arr.astype(want)
        arrays[node] = arr
    for name, node in by_name.items():  # compound dims (2*N) are checked once every symbol is bound
        for axis, d in enumerate(node.attrs["shape"]):
            if not isinstance(d, int) and not d.is_Symbol:
                unbound = sorted(shapes.free_symbols([d]) - set(bindings))
                if unbound:
                    raise InputError(f"input {name!r}: dim {axis} is {arrays[node].shape[axis]}, expected {d}, but "
                                     f"{', '.join(unbound)} is not bound by any input (declare it alone in some input's shape)")
                want_dim = shapes.concrete(d, bindings)
                if arrays[node].shape[axis] != want_dim:
                    raise InputError(f"input {name!r}: dim {axis} is {arrays[node].shape[axis]}, expected {d} = {want_dim}")
    return arrays, bindings


class _Expect:
    """'expected shape (None, 3)', formatted lazily."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = shape

    def __format__(self, spec):
        return f"expected shape {shapes.fmt_shape(self.shape)}"


# -- compiled executables: the per-binding cache, the arena and the calling convention ------------------
BACKENDS: dict[str, object] = {}  # name -> builder with build(program, debug) -> fn(arena, externals)


def register_backend(name: str, builder) -> None:
    """Make a Program printer available as `gc.compile(..., backend=name)`."""
    BACKENDS[name] = builder


# the default is the first of these that loads here: native code where llvmlite works, else NumPy
DEFAULT_BACKENDS = ("llvm", "numpy")
_default: list[str] = []
_default_lock = threading.Lock()


def default_backend() -> str:
    """The backend `gc.compile`, `Trainer` and the CLI use when none is named: 'llvm' (the whole step as one
    native call), or 'numpy' with one warning where llvmlite cannot be loaded on this platform."""
    if _default:
        return _default[0]
    with _default_lock:
        if not _default:
            import importlib  # lazy: the backends register themselves when imported, on first use only
            import warnings

            reasons = []
            for name in DEFAULT_BACKENDS:
                try:
                    importlib.import_module(f"graphc.backends.{name}")
                except Exception as e:  # noqa: BLE001 - a native library that fails to load raises OSError, too
                    reasons.append(f"the {name} backend cannot be loaded ({type(e).__name__}: {e})")
                    continue
                if reasons:
                    warnings.warn("; ".join(reasons) + f"; graphc uses the {name} backend", RuntimeWarning, stacklevel=3)
                _default.append(name)
                break
            else:
                raise InputError("; ".join(reasons))
    return _default[0]


def backend_builder(name: str):
    """The registered builder called `name`, importing `graphc.backends.<name>` on first use."""
    if name not in BACKENDS:
        import importlib  # backends register themselves when imported; graphc/ never imports one by name

        try:
            importlib.import_module(f"graphc.backends.{name}")
        except ImportError as e:
            raise InputError(f"unknown backend {name!r}; available: {available_backends()}") from e
        if name not in BACKENDS:
            raise InputError(f"backend {name!r} did not register itself")
    return BACKENDS[name]


def available_backends() -> list[str]:
    """'reference' and every backend under graphc.backends that imports here (each registers itself)."""
    import importlib  # lazy: importing the backends is what this function is for
    import pkgutil

    package = importlib.import_module("graphc.backends")
    for mod in pkgutil.iter_modules(package.__path__):
        try:
            importlib.import_module(f"graphc.backends.{mod.name}")
        except ImportError:  # a backend whose optional dependencies are missing is not available
            pass
    return ["reference"] + sorted(BACKENDS)


class Specialization:
    """One shape binding: its Program, the backend's compiled function, the arena and the external arrays.

    The externals follow the Program's calling convention (inputs, parameters, optimiser state,
    constants, outputs); parameters are flat views of their Variables' arrays, so updates land in
    `param.value` in place. A lock serialises calls: they share the arena and the staging buffers."""

    def __init__(self, program, builder, debug: bool, input_nodes):
        self.program = program
        shapes.check_fits(program.arena_bytes + sum(b.nbytes for b in program.buffers if b.role != "temp"),  # at most
                          "this compiled program (its arena and external buffers)")
        self.fn = builder.build(program, debug=debug)
        # the backend's own stages (the LLVM backend: IR building, optimisation, code emission, loading) join the report
        program.report.extend(dict(entry) for entry in getattr(self.fn, "build_report", ()))
        # a backend may read the caller's input arrays where they are (`fn.inputs_by_argument`): then only a program
        # that writes parameters stages its inputs (an input that shares memory with a parameter must not change
        # under the running step)
        self.in_place_inputs = getattr(self.fn, "inputs_by_argument", False) and not any(
            k.writes.role in ("param", "state") for k in program.kernels)
        self.arena = np.empty(program.arena_bytes, np.uint8)
        self.externals = [_external_array(b, staged=not self.in_place_inputs) for b in program.externals]
        # and bind its function to these arrays once (`fn.bind(arena, externals) -> run(*inputs)`)
        bind = getattr(self.fn, "bind", None)
        self.run = bind(self.arena, self.externals) if bind is not None else lambda *_: self.fn(self.arena, self.externals)
        position = {id(b): i for i, b in enumerate(program.externals)}
        by_name = {n.attrs["name"]: n for n in input_nodes}
        # staging and results as arrays of the caller's shapes: a call copies in and out without a reshape
        self.input_slots = [(by_name[name], b.dtype, self.externals[position[id(b)]].reshape(
            shapes.concrete_shape(by_name[name].shape, program.bindings)) if not self.in_place_inputs else None)
            for name, b in program.inputs.items()]
        self.staged = [staging for _, _, staging in self.input_slots] if not self.in_place_inputs else []
        self.output_slots = [self.externals[position[id(b)]].reshape(shape) for b, shape in program.outputs]
        # a backend that keeps parameters in its own memory (`fn.keeps_variables`: CUDA) takes them itself; a host
        # backend works on the host arrays, so a newer copy held on a device comes back first
        self.variables = [] if getattr(self.fn, "keeps_variables", False) else [
            b.var for b in program.externals if b.role in ("param", "state")]
        self.lock = threading.Lock()

    @property
    def source(self) -> str | None:
        return getattr(self.fn, "source", None)

    def __call__(self, arrays: dict) -> list:
        """Run once: `arrays` maps each input (its node, as bind_inputs gives them) to a validated array."""
        if self.variables and RESIDENT[0]:  # a device step is alive and may hold or take these Variables
            with RESIDENCY_LOCK:
                for var in self.variables:
                    holder = var.holder
                    if holder is not None:
                        holder.release(var)
                return self._run(arrays)
        return self._run(arrays)

    def _run(self, arrays: dict) -> list:
        with self.lock:
            if self.in_place_inputs:
                self.run(*[_c_contiguous(arrays[key], dtype) for key, dtype, _ in self.input_slots])
            else:
                for key, _, staging in self.input_slots:
                    staging[...] = arrays[key]  # validated by bind_inputs: declared shape, a dtype the cast policy allows
                self.run(*self.staged)
            return [result.copy() for result in self.output_slots]


def _c_contiguous(array: np.ndarray, dtype) -> np.ndarray:
    """The caller's (validated) array as it is when it is C-contiguous, aligned and of `dtype`, else a converted copy
    (native code reads it in place: a misaligned view of a byte buffer is copied, never handed over)."""
    if array.dtype == dtype and array.flags.c_contiguous and array.flags.aligned:
        return array
    return np.ascontiguousarray(array, dtype=dtype)


def _external_array(buf, staged: bool = True) -> np.ndarray:
    if buf.role == "input" and not staged:
        return np.empty(0, buf.dtype)  # never read: the backend reads the caller's array
    if buf.role in ("param", "state"):
        flat = buf.var.value.reshape(-1)
        if flat.size and not np.shares_memory(flat, buf.var.value):
            raise InputError(f"parameter {buf.var.name!r}: its storage is not contiguous, so updates could not land in it")
        return flat
    if buf.role == "const":
        return np.array(buf.data, dtype=buf.dtype).reshape(-1)
    return np.empty(buf.size, buf.dtype)


class Executable:
    """A graph compiled by one backend: a Specialization per shape binding, built on first use.

    Programs are concrete per binding, so every new batch size compiles once more (a ragged last
    batch compiles a second specialization); `bindings` lists those built so far."""

    def __init__(self, graph, n_outputs: int, updates: list, builder, debug: bool = False, optimize: int = 2,
                 dump: str | None = None):
        self.graph, self.n_outputs, self.updates, self.builder, self.debug = graph, n_outputs, updates, builder, debug
        self.optimize, self.dump = optimize, dump
        self.cache: dict[tuple, Specialization] = {}
        self.last: Specialization | None = None
        self._lock = threading.Lock()

    @property
    def bindings(self) -> list[dict]:
        return [dict(key) for key in self.cache]

    @property
    def lowerings(self) -> int:
        return len(self.cache)

    def specialize(self, bindings: dict) -> Specialization:
        key = tuple(sorted(bindings.items())) if len(bindings) > 1 else tuple(bindings.items())
        spec = self.cache.get(key)
        if spec is None:
            with self._lock:
                spec = self.cache.get(key)
                if spec is None:
                    program = compile_program(self.graph, bindings, self.n_outputs, self.updates, debug=self.debug,
                                              optimize=self.optimize, dump=self.dump)
                    spec = self.cache[key] = Specialization(program, self.builder, self.debug, self.graph.inputs)
        return spec

    def __call__(self, arrays: dict, bindings: dict) -> list:
        last = self.last
        if last is None or last.program.bindings != bindings:  # a call like the last one skips the cache lookup
            last = self.last = self.specialize(bindings)
        return last(arrays)
