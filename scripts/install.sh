#!/usr/bin/env bash
# Install ebkit and its first-party plugins into the current Python environment.
# Usage: bash scripts/install.sh [--test]   (--test adds pytest and ruff)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

# Install the CPU build of torch first where none is present: letting pip resolve
# "torch" by itself would pull the newest release with gigabytes of CUDA packages.
if ! "$python" -c "import torch" >/dev/null 2>&1; then
    "$python" -m pip install --quiet "torch==2.13.0"
fi

core="."
if [ "${1:-}" = "--test" ]; then
    core=".[test]"
fi
"$python" -m pip install --quiet \
    -e "$core" \
    -e plugins/ebkit-autoencoder \
    -e plugins/ebkit-hmc \
    -e plugins/ebkit-ladder \
    -e plugins/ebkit-lecun \
    -e plugins/ebkit-estimation \
    -e plugins/ebkit-losses \
    -e plugins/ebkit-pt \
    -e plugins/ebkit-rae
echo "ebkit installed: $("$python" -m pip show ebkit 2>/dev/null | sed -n 's/^Version: //p')"
