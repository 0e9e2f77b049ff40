#!/usr/bin/env bash
# Sets everything up on a fresh machine, then opens the editor. Extra arguments go to
# `overpaint` (for example an image to open).
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/bootstrap.sh
exec .venv/bin/overpaint "$@"
