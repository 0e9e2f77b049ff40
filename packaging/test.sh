#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs ruff, the import contracts and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/install-system-deps.sh
packaging/bootstrap.sh --test
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layering contracts of pyproject.toml [tool.importlinter] (custom type: tests/import_contracts.py).
.venv/bin/lint-imports --no-cache
# ComfyUI and its test checkpoint, built once per machine in ~/.cache/overpaint (tests/comfy).
.venv/bin/python -m tests.comfy.servers >/dev/null
exec .venv/bin/python -m pytest -q "$@"
