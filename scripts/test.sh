#!/usr/bin/env bash
# Lint, check formatting and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -m ruff check .
"$python" -m ruff format --check .
"$python" -m pytest
