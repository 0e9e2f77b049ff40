#!/usr/bin/env bash
# Creates .venv and installs Overpaint into it (idempotent). Usage: bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
py=.venv/bin/python
# pip's own chatter (build-backend deprecation blocks, resolver notes) goes to a log
# file; the terminal only hears about it when something fails.
log="$PWD/.venv/setup.log"
: >"$log"
pip_install() {
  if ! "$py" -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1; then
    echo "error: setting up .venv failed (pip install $*); the details are in $log" >&2
    exit 1
  fi
}
# torch first, pinned: on CPU machines that build lies on disk, while any other spec
# would pull a multi-GB CUDA build.
if ! "$py" -c "import torch" 2>/dev/null; then
  echo "Setting up .venv (the first time takes a few minutes; log: $log)" >&2
  pip_install --upgrade pip
  pip_install "torch==2.13.0"
fi
if [ "${1:-}" = "--test" ]; then
  pip_install -e ".[test]"
else
  pip_install -e .
fi
