#!/usr/bin/env bash
# Builds the ComfyUI server the tests drive, once per machine, in a cache outside the clone:
#   $OVERPAINT_COMFY_CACHE (default ~/.cache/overpaint)/ComfyUI       the unpacked source
#   $OVERPAINT_COMFY_CACHE (default ~/.cache/overpaint)/comfyui-venv  its own venv (~5.5 GB)
# Idempotent: a finished build leaves a stamp and is reused. Prints the cache folder.
# Usage: packaging/comfyui.sh [TARBALL]   (default: ../shared/vendor/ComfyUI-0.3.64.tar.gz)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tarball="${1:-${OVERPAINT_COMFY_TARBALL:-$here/../shared/vendor/ComfyUI-0.3.64.tar.gz}}"
cache="${OVERPAINT_COMFY_CACHE:-$HOME/.cache/overpaint}"
venv="$cache/comfyui-venv"
stamp="$cache/comfyui.ready"
want="$(basename "$tarball") torch==2.14.1 torchvision==0.29.1"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  echo "$cache"
  exit 0
fi
if [ ! -f "$tarball" ]; then
  echo "ComfyUI source not found at $tarball" >&2
  exit 1
fi
mkdir -p "$cache"
rm -f "$stamp"
rm -rf "$cache/ComfyUI"
tar xzf "$tarball" -C "$cache"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Both wheels lie on disk here; torch 2.13.0 cannot be used (its torchvision fails to import).
"$venv/bin/pip" install -q "torch==2.14.1" "torchvision==0.29.1" >&2
# ComfyUI's own requirements, less the torch family pinned above (torchaudio: audio only).
grep -viE '^(torch|torchvision|torchaudio)\s*$' "$cache/ComfyUI/requirements.txt" >"$cache/comfyui-req.txt"
"$venv/bin/pip" install -q -r "$cache/comfyui-req.txt" requests >&2
"$venv/bin/python" -c "import torch, torchvision, aiohttp" >&2
echo "$want" >"$stamp"
echo "$cache"
