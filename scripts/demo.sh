#!/usr/bin/env bash
# One command: install everything and serve the bundled demo school on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "nextread demo: install into .venv, migrate the database, load the demo school, train the first model," \
  "then serve it (the first start takes a few minutes; each step is shown, the address comes last)"
bash scripts/setup.sh
export OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1
exec .venv/bin/nextread demo "$@"
