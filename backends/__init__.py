"""graphc's code-generating backends (installed as `graphc.backends`).

Each backend is a subpackage that prints the backend-neutral lowered Program and registers
itself with `graphc.compiler.register_backend`. The reference interpreter, the oracle every
backend is tested against, lives in `graphc.interpreter` and is always available.
"""
