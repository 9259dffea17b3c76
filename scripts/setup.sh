#!/usr/bin/env bash
# Create .venv and install nextread into it. Usage: scripts/setup.sh [extra]   (extra: "test")
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The CPU build of torch first: otherwise sentence-transformers pulls the multi-GB CUDA build.
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
target="."
if [ "${1:-}" != "" ]; then target=".[$1]"; fi
.venv/bin/python -m pip install --quiet -e "$target"
