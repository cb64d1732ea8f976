#!/usr/bin/env bash
# Install everything graphc needs into ./.venv: Graphviz's `dot` (system package) and the Python package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
  else
    echo "graphc: Graphviz's 'dot' program is missing; install the system package 'graphviz'" >&2
    echo "        (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz)." >&2
    echo "        Everything but rendering to SVG/PNG/PDF works without it." >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
