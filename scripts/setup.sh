#!/usr/bin/env bash
# Install everything graphc needs into ./.venv: Graphviz's `dot` (system package) and the Python package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }  # one line per step: a fresh machine takes a few minutes

if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Graphviz (apt-get; about a minute)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
  else
    echo "graphc: Graphviz's 'dot' program is missing; install the system package 'graphviz'" >&2
    echo "        (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz)." >&2
    echo "        Everything but rendering to SVG/PNG/PDF works without it." >&2
  fi
else
  say "Graphviz found: $(command -v dot)"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
say "installing graphc and its dependencies into .venv (pip; about a minute on a fresh machine)"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
say "done: $(.venv/bin/python -c 'import graphc; print("graphc", graphc.__version__)') in .venv"
