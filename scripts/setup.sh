#!/usr/bin/env bash
# Create a virtual environment and install nextread into it, saying what each step does and how long it took.
# Usage: scripts/setup.sh [extra]   (extra: "test"; VENV=path for another environment than .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

step() {  # step "what happens" command...: say it, do it, say how long it took
  local label=$1 started=$SECONDS
  shift
  echo "==> $label"
  "$@"
  echo "    done in $((SECONDS - started)) s"
}

if [ ! -x "$VENV/bin/python" ]; then
  step "creating the virtual environment $VENV" "$PYTHON" -m venv "$VENV"
fi
step "upgrading pip" "$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch's CPU build first: otherwise the dependencies of sentence-transformers pull the multi-GB CUDA build.
step "installing torch, CPU build (about 200 MB the first time)" bash scripts/install-torch-cpu.sh "$VENV/bin/python"
target="."
if [ "${1:-}" != "" ]; then target=".[$1]"; fi
step "installing nextread${1:+[$1]} and its dependencies (the first time: a few minutes)" \
  "$VENV/bin/python" -m pip install --quiet -e "$target"
