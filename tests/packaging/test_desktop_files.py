"""The desktop entry and AppStream metainfo pass the freedesktop validators."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.packaging.xvfb import require

# In the resources package, so a wheel carries them for `overpaint install-desktop`.
DESKTOP = Path(__file__).resolve().parents[2] / "resources" / "desktop"
APP_ID = "io.github.overpaint.Overpaint"


def _tool(name: str) -> str:
    require(name)
    return shutil.which(name)


def test_desktop_entry_validates() -> None:
    entry = DESKTOP / f"{APP_ID}.desktop"
    result = subprocess.run(
        [_tool("desktop-file-validate"), str(entry)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()
    assert f"Icon={APP_ID}" in entry.read_text()


def test_metainfo_validates() -> None:
    metainfo = DESKTOP / f"{APP_ID}.metainfo.xml"
    result = subprocess.run(
        [_tool("appstreamcli"), "validate", "--no-net", str(metainfo)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_icon_exists_in_resources() -> None:
    from PIL import Image

    icons = Path(__file__).resolve().parents[2] / "resources" / "icons"
    with Image.open(icons / "overpaint-256.png") as icon:
        assert icon.size == (256, 256)
        assert icon.getextrema()[3][0] == 0  # transparent corners: a real app icon shape
    assert (icons / "overpaint.svg").read_text().startswith("<svg")
