#!/usr/bin/env bash
# One command: install the test dependencies and run lint, the docs build and the whole test suite.
# With CI=true, tests that need PostgreSQL (127.0.0.1:5432) or Redis fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# The browser tests drive Debian's Chromium at /usr/bin/chromium (never a browser build Playwright downloads).
if [ ! -x /usr/bin/chromium ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# axe-core, the accessibility checker the browser tests inject into every page, from the npm registry.
npm ci --prefix tests/ui/axe --no-audit --no-fund --silent
export OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/ruff check nextread tests bench
.venv/bin/lint-imports --no-cache  # the layers of docs/architecture.md, from pyproject.toml
# The reference pages must build as a site without a single warning (dead link, missing page).
site_dir="$(mktemp -d)"
.venv/bin/mkdocs build --strict --quiet --site-dir "$site_dir"
rm -rf "$site_dir"
# Two workers (NEXTREAD_TEST_WORKERS=0: one process); tests sharing a module's fixtures stay on one worker.
exec .venv/bin/python -m pytest -n "${NEXTREAD_TEST_WORKERS:-2}" --dist loadgroup "$@"
