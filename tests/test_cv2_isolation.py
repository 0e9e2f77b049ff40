"""opencv-python must not leak its Qt5 settings into Overpaint's Qt or its child processes.

Importing cv2 sets QT_QPA_PLATFORM_PLUGIN_PATH / QT_QPA_FONTDIR to its bundled Qt5 plugins;
engine.core.cvsafe puts them back. Each check runs in a fresh interpreter, because cv2 may
already be imported in the pytest process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.xvfb import require

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, tmp_path: Path, **env_extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update({"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}, **env_extra)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cv2_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("cv2")
    assert spec is not None and spec.origin
    return str(Path(spec.origin).parent)


def _cv2_is_headless() -> bool:
    # The headless wheel has no Qt and sets nothing; version.py says which build this is.
    text = (Path(_cv2_dir()) / "version.py").read_text()
    return re.search(r"^headless\s*=\s*True", text, re.M) is not None


ENV_DUMP = "import os, json; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('QT_') or k == 'LD_LIBRARY_PATH'}))"


def test_raw_cv2_import_sets_qt_variables(tmp_path: Path):
    """The hazard is real for the installed opencv-python, so the guard matters."""
    if _cv2_is_headless():
        pytest.skip("opencv-python-headless bundles no Qt and sets no variables")
    env = _run("import cv2\n" + ENV_DUMP, tmp_path)
    assert env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").startswith(_cv2_dir())
    assert env.get("QT_QPA_FONTDIR", "").startswith(_cv2_dir())


GUARDED_APP = """
import os, sys, json
before = dict(os.environ)
import numpy as np
from engine.fill import classical_fill
from engine.watermark import embed_watermark, read_watermark
img = np.random.default_rng(0).integers(0, 256, (260, 260, 3), dtype=np.uint8)
mask = np.zeros((260, 260), np.uint8); mask[100:120, 100:120] = 255
classical_fill(img, mask)
assert read_watermark(embed_watermark(img)) == "OVERPAINT"
assert "cv2" in sys.modules  # cv2 really is loaded before the QApplication exists
changed = {k: v for k, v in os.environ.items() if before.get(k) != v}
removed = [k for k in before if k not in os.environ]

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication([])
win = QMainWindow()
win.setCentralWidget(QLabel("Overpaint"))
win.resize(320, 200)
win.show()
app.processEvents()
image = win.grab().toImage()
colors = {image.pixel(x, y) for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
print(json.dumps({
    "changed": changed, "removed": removed, "platform": app.platformName(),
    "visible": win.isVisible(), "size": [image.width(), image.height()], "colors": len(colors),
    "env": {k: v for k, v in os.environ.items() if k.startswith("QT_")},
}))
"""


def test_guarded_cv2_leaves_environment_and_qt_app_intact(tmp_path: Path):
    result = _run(GUARDED_APP, tmp_path)
    assert result["changed"] == {} and result["removed"] == []
    cv2_dir = _cv2_dir()
    assert not [v for v in result["env"].values() if cv2_dir in v]
    assert result["platform"] == "offscreen"
    assert result["visible"] is True
    assert result["size"] == [320, 200]
    assert result["colors"] > 1  # the label's text was drawn


def test_guard_keeps_a_users_own_qt_plugin_path(tmp_path: Path):
    code = "from engine.core.cvsafe import import_cv2\nimport_cv2()\n" + ENV_DUMP
    env = _run(code, tmp_path, QT_QPA_PLATFORM_PLUGIN_PATH="/opt/my-qt/plugins")
    assert env["QT_QPA_PLATFORM_PLUGIN_PATH"] == "/opt/my-qt/plugins"
    assert "QT_QPA_FONTDIR" not in env


CHILD_QT5 = """
import json, subprocess, sys
if sys.argv[1] == "raw":
    import cv2
else:
    from engine.core.cvsafe import import_cv2
    import_cv2()
out = subprocess.run(["xvfb-run", "-a", "krita", "--version"], capture_output=True, text=True, timeout=60)
print(json.dumps({"rc": out.returncode, "out": out.stdout + out.stderr}))
"""


def test_qt5_child_process_starts_after_guarded_import(tmp_path: Path):
    """A Qt5 program started by Overpaint (Krita here) must not load cv2's Qt5 plugin."""
    require("krita", "xvfb-run")  # a Qt5 program to start; skipped without, failed under CI

    def run(mode: str) -> dict:
        for _ in range(3):
            result = start(mode)
            # An Xvfb that xvfb-run started but Krita could not reach (seen once in a full
            # run on a loaded machine) says nothing about the plugins: try it again.
            if "could not connect to display" not in result["out"].lower():
                break
        return result

    def start(mode: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", CHILD_QT5, mode],
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("QT_")},
                "HOME": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    guarded = run("guarded")
    assert guarded["rc"] == 0 and "krita" in guarded["out"].lower(), guarded
    if not _cv2_is_headless():
        raw = run("raw")  # shows what the guard prevents
        assert raw["rc"] != 0 or "could not load the qt platform plugin" in raw["out"].lower(), raw


def test_cv2_and_imwatermark_are_imported_only_through_cvsafe():
    pattern = re.compile(r"^\s*(import|from)\s+(cv2|imwatermark)\b", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("engine", "editor")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "cvsafe.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
