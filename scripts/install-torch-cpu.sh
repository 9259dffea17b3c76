#!/usr/bin/env bash
# Install the CPU build of torch into the environment of PYTHON. Usage: scripts/install-torch-cpu.sh PYTHON
# Run before `pip install nextread`: from PyPI, `pip install torch` on Linux takes the CUDA build and several
# GB of nvidia-* packages, which nextread never uses. A wheel already on disk (pip's find-links) wins;
# otherwise PyTorch's CPU index. Both without dependencies: the nextread install that follows resolves
# torch's own (sympy, networkx, ...) from the ordinary package index.
set -euo pipefail
PYTHON=$1
TORCH_VERSION=2.13.0
CPU_INDEX=https://download.pytorch.org/whl/cpu
if "$PYTHON" -m pip install --quiet --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
  echo "    torch $TORCH_VERSION: installed or found on this machine"
else
  echo "    torch $TORCH_VERSION: downloading the CPU build from $CPU_INDEX"
  "$PYTHON" -m pip install --quiet --no-deps "torch==$TORCH_VERSION" --index-url "$CPU_INDEX"
fi
# A CUDA build left by an earlier install lists nvidia-* packages among its requirements.
CUDA_CHECK="import importlib.metadata as m, sys; sys.exit(any(r.startswith('nvidia') for r in m.requires('torch') or []))"
if ! "$PYTHON" -c "$CUDA_CHECK"; then
  echo "    warning: the torch in this environment is a CUDA build (GBs nextread does not use);" \
    "delete the environment and run this again for the CPU build" >&2
fi
