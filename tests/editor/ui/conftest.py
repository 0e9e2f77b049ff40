"""Fixtures for the UI tests: a real MainWindow (offscreen), images on disk, and a guard
that fails any test leaving a QThread running (the engine worker must be shut down)."""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pytest
import shiboken6
from PIL import Image
from PySide6.QtCore import QThread

_started: list[weakref.ref] = []
_original_start = QThread.start


def _tracking_start(self: QThread, *args, **kwargs) -> None:
    _started.append(weakref.ref(self))
    _original_start(self, *args, **kwargs)


def running_threads() -> list[QThread]:
    """QThreads started during the current test that are still running (one whose C++
    side was deleted, e.g. by deleteLater once finished, is not)."""
    return [
        t for ref in _started if (t := ref()) is not None and shiboken6.isValid(t) and t.isRunning()
    ]


@pytest.fixture(autouse=True)
def no_qthread_left_running(qapp):
    """Fail a test that leaves a QThread it started still running."""
    QThread.start = _tracking_start
    _started.clear()
    yield
    QThread.start = _original_start
    running = running_threads()
    _started.clear()
    for thread in running:  # stop them so the next test starts clean
        thread.quit()
        thread.wait(5000)
    if running:
        pytest.fail(f"test left {len(running)} QThread(s) running: {running}")


@pytest.fixture
def settings(tmp_path: Path):
    from editor.ui.settings import Settings

    return Settings(tmp_path / "settings" / "overpaint.ini")


@pytest.fixture
def window(qtbot, settings):
    from editor.ui.main_window import MainWindow

    win = MainWindow(settings)
    # Not qtbot.addWidget: its teardown closes the window before ours could answer the
    # save prompt, and a modal question would block the test run.
    win.resize(1100, 800)
    # waitActive is a context manager: it waits on leaving the block, and fails the test if
    # the window is not active by then. Keys then go to the focus widget, as for a user.
    with qtbot.waitActive(win):
        win.show()
        win.activateWindow()
    yield win
    win.ask_save_changes = lambda: "discard"
    win.close()
    win.deleteLater()


def gradient_rgba(width: int = 160, height: int = 120) -> np.ndarray:
    """An opaque picture where every pixel differs, so misplaced pixels show."""
    y, x = np.mgrid[0:height, 0:width]
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    rgba[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    rgba[..., 2] = ((x + y) % 256).astype(np.uint8)
    rgba[..., 3] = 255
    return rgba


@pytest.fixture
def png_path(tmp_path: Path) -> Path:
    path = tmp_path / "picture.png"
    Image.fromarray(gradient_rgba()).save(path)
    return path
