"""graphc's code-generating backends (installed as `graphc.backends`).

Each backend is a subpackage that prints the backend-neutral lowered Program and registers itself
with `graphc.runtime.register_backend` (a builder: `build(program, debug) -> fn(arena, externals)`).
The reference interpreter, the oracle every backend is tested against, lives in `graphc.interpreter`
and is always available.
"""
