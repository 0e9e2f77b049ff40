#!/usr/bin/env bash
# Creates .venv and installs Overpaint into it (idempotent). Usage: bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
py=.venv/bin/python
# torch first, pinned: on CPU machines that build lies on disk, while any other spec
# would pull a multi-GB CUDA build.
if ! "$py" -c "import torch" 2>/dev/null; then
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q "torch==2.13.0"
fi
if [ "${1:-}" = "--test" ]; then
  "$py" -m pip install -q -e ".[test]"
else
  "$py" -m pip install -q -e .
fi
