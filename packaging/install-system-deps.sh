#!/usr/bin/env bash
# Debian packages the tests use: a virtual screen (xvfb, xdotool), Krita as an
# independent OpenRaster reader, and the desktop-entry/AppStream validators.
set -euo pipefail
pkgs=(xvfb xauth xdotool x11-apps imagemagick libxcb-cursor0 libxkbcommon-x11-0 libegl1 krita desktop-file-utils appstream)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
