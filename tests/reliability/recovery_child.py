"""A real editor (MainWindow, offscreen) that paints and autosaves until it is killed.

Run by tests/reliability/test_recovery.py in a subprocess:

    python -m tests.reliability.recovery_child MODE OUT_DIR

MODE "strokes": paint a fixed set of brush strokes through the tool API, wait until
the autosave holding all of them is on disk, write the expected composite to
OUT_DIR/expected.npy, print READY and wait (for SIGKILL).
MODE "busy": paint a stroke, start an autosave if none runs, repeat forever, printing
each completed autosave, so the kill lands at a random point of painting or writing.
The environment (OVERPAINT_DATA_DIR, OVERPAINT_SETTINGS) comes from the test.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def paint_stroke(document, rng: np.random.Generator) -> None:
    from editor.tools.brush import BrushSettings, BrushTool

    color = tuple(int(c) for c in rng.integers(0, 256, 3))
    tool = BrushTool(document, BrushSettings(size=float(rng.integers(4, 20)), color=color))
    points = rng.uniform(0, [document.width, document.height], (5, 2))
    tool.begin(*points[0])
    for x, y in points[1:]:
        tool.move(x, y)
    tool.end()


def main(mode: str, out_dir: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from editor.ui.application import create_application
    from editor.ui.main_window import MainWindow

    create_application()
    window = MainWindow()
    window.show()
    QApplication.processEvents()
    autosaver = window.enable_recovery().autosaver
    rng = np.random.default_rng(42)
    if mode == "strokes":
        for _ in range(6):  # no event processing in between: no tick sees half of them
            paint_stroke(window.document, rng)
        target = autosaver.writes + 1
        deadline = time.monotonic() + 60
        # The autosave timer (from the settings) must write the strokes on its own.
        while autosaver.writes < target and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        autosaver.wait()
        np.save(out_dir / "expected.npy", window.document.composite_array())
        print("READY", autosaver.writes, flush=True)
        while True:
            QApplication.processEvents()
            time.sleep(0.05)
    else:
        reported = 0
        while True:
            paint_stroke(window.document, rng)
            QApplication.processEvents()
            autosaver.autosave_now()
            if autosaver.writes > reported:
                reported = autosaver.writes
                print("WROTE", reported, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
