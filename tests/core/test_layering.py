"""The package's layers: no module imports a module of a layer above its own.

Layers, bottom up: 0 scalar foundations, 1 the IR, 2 ops, 3 autodiff, 4 lowering, passes, the
runtime and backends, 5 the DSL, 6 libraries built on the DSL, 7 rendering and the command line.
Every import statement of graphc/ and backends/ (installed as graphc.backends) is checked, at
module level and inside functions. An import inside a function must say why on its line or the
line above (a heavy dependency loaded lazily, say), and must not go upward either. Nothing in
graphc/ imports graphc.backends: backends are loaded by name (importlib), through the registry.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"graphc": ROOT / "graphc", "graphc.backends": ROOT / "backends"}

LAYER_OF_MODULE = {
    "graphc.errors": 0, "graphc.dtypes": 0, "graphc.shapes": 0, "graphc.scalar": 0, "graphc.scalar_ops": 0,
    "graphc.ir": 1,
    "graphc.autodiff": 3,
    "graphc.gradcheck": 4,  # its finite differences run the reference interpreter
    "graphc.program": 4, "graphc.lower": 4, "graphc.interpreter": 4, "graphc.runtime": 4, "graphc.pipeline": 4,
    "graphc.program_verify": 4, "graphc.access": 4,
    "graphc.tensor": 5, "graphc.dsl": 5, "graphc.compiler": 5,
    "graphc.losses": 6, "graphc.optim": 6, "graphc.train": 6, "graphc.data": 6, "graphc.checkpoint": 6,
    "graphc.script": 6, "graphc.script_views": 6,
    "graphc.cli": 7, "graphc.info": 7, "graphc": 7,
}
LAYER_OF_PACKAGE = {  # the package and every module in it
    "graphc.ops": 2, "graphc.passes": 4, "graphc.backends": 4, "graphc.nn": 6, "graphc.onnx": 6, "graphc.render": 7,
}

# Known violations, each (importing module, function it sits in, imported module). Empty the
# list as they go; never add to it to get a new import through.
ALLOWED: set = set()


def module_files() -> dict[str, Path]:
    """{dotted module name: file} for every module of graphc/ and backends/."""
    out = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


MODULES = module_files()


def layer(module: str) -> int | None:
    if module in LAYER_OF_MODULE:
        return LAYER_OF_MODULE[module]
    for package, n in LAYER_OF_PACKAGE.items():
        if module == package or module.startswith(package + "."):
            return n
    return None


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _targets(module: str, node: ast.AST) -> list[str]:
    """The modules an import statement in `module` loads (a name imported from a package may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        parts = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = ".".join(parts[:len(parts) - node.level + 1])
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in MODULES else base)
    return list(dict.fromkeys(out))


class _Imports(ast.NodeVisitor):
    """(line, enclosing function's qualified name or '<module>', imported module) of every import."""

    def __init__(self, module: str):
        self.module, self.stack, self.found = module, [], []

    def _scoped(self, node, is_function):
        self.stack.append((node.name, is_function))
        self.generic_visit(node)
        self.stack.pop()

    def visit_FunctionDef(self, node):
        self._scoped(node, True)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._scoped(node, False)

    def visit_Import(self, node):
        inside = any(is_function for _, is_function in self.stack)
        where = ".".join(name for name, _ in self.stack) if inside else "<module>"
        for target in _targets(self.module, node):
            self.found.append((node, where, target))

    visit_ImportFrom = visit_Import


def imports(module: str):
    source = MODULES[module].read_text()
    visitor = _Imports(module)
    visitor.visit(ast.parse(source))
    return source.splitlines(), visitor.found


def _says_why(lines: list[str], node: ast.AST) -> bool:
    """A comment on the import's first or last line, or on the line above it."""
    near = [lines[node.lineno - 1], lines[node.end_lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""]
    return any("#" in line for line in near)


def violations() -> list[str]:
    problems = []
    for module in MODULES:
        lines, found = imports(module)
        here = layer(module)
        for node, where, target in found:
            if (module, where, target) in ALLOWED:
                continue
            label = f"{module} ({where}, line {node.lineno}) imports {target}"
            if where != "<module>" and not _says_why(lines, node):
                problems.append(f"{label} inside a function without a comment saying why")
            if not target.startswith("graphc") or here is None:
                continue
            there = layer(target)
            if target.startswith("graphc.backends") and not module.startswith("graphc.backends"):
                problems.append(f"{label}: load backends by name through the backend registry")
            elif there is not None and there > here:
                problems.append(f"{label}: layer {here} imports layer {there}")
    return problems


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if layer(m) is None]
    assert not unplaced, f"add these modules to LAYER_OF_MODULE or LAYER_OF_PACKAGE in {__file__}: {unplaced}"


def test_no_module_imports_a_layer_above_its_own():
    problems = violations()
    assert not problems, "\n".join(problems)


def test_the_allow_list_holds_only_live_violations():
    present = {(module, where, target) for module in MODULES for _, where, target in imports(module)[1]}
    stale = sorted(ALLOWED - present)
    assert not stale, f"these allowed imports are gone: remove them from ALLOWED: {stale}"


def test_the_checker_sees_upward_and_unexplained_imports(tmp_path, monkeypatch):
    fake = tmp_path / "graphc" / "ir.py"
    fake.parent.mkdir()
    fake.write_text("from .tensor import Tensor\n\n\ndef f():\n    from . import dsl\n\n\ndef g():\n"
                    "    import networkx  # lazy: heavy\n")
    monkeypatch.setitem(MODULES, "graphc.ir", fake)
    problems = [p for p in violations() if p.startswith("graphc.ir ")]
    assert any("imports graphc.tensor: layer 1 imports layer 5" in p for p in problems)
    assert any("(f, line 5) imports graphc.dsl inside a function without a comment" in p for p in problems)
    assert not any("networkx" in p for p in problems)
