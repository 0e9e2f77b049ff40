"""Slow saves and exports run off the UI thread behind a modal busy dialog."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressDialog, QWidget

from editor.io.errors import FileError
from editor.io.project import load_ora, save_ora
from editor.ui.busy import run_busy
from tests.editor.io.test_export_cli import big_document, read_mark


def visible_dialogs(parent: QWidget) -> list[str]:
    return [d.labelText() for d in parent.findChildren(QProgressDialog) if d.isVisible()]


def test_slow_work_shows_a_dialog_keeps_the_ui_alive_and_returns(qtbot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    seen: list[str] = []
    ticks_with_dialog: list[float] = []
    enough = threading.Event()

    def tick() -> None:  # on the UI thread, while the work runs
        if labels := visible_dialogs(parent):
            seen[:] = labels
            ticks_with_dialog.append(time.monotonic())
        if len(ticks_with_dialog) >= 10:
            enough.set()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(20)
    # The work ends only once the UI thread has ticked 10 times with the dialog up: it
    # returns 42 only if the event loop kept running meanwhile, however loaded the machine.
    assert run_busy(parent, "Saving big.ora…", lambda: enough.wait(60) and 42) == 42
    timer.stop()
    assert seen == ["Saving big.ora…"]
    assert visible_dialogs(parent) == []


def test_quick_work_shows_nothing_and_errors_reach_the_caller(qtbot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    assert run_busy(parent, "quick", lambda: "done") == "done"
    assert parent.findChildren(QProgressDialog) == []

    parent.show()
    shown = threading.Event()
    timer = QTimer()
    timer.timeout.connect(lambda: visible_dialogs(parent) and shown.set())
    timer.start(20)

    def fail() -> None:
        # Fails only once the busy dialog is up, however loaded the machine: the error
        # must come through the dialog's event loop too.
        assert shown.wait(60)
        raise FileError('Could not save "x.ora": the disk is full.')

    with pytest.raises(FileError, match="the disk is full"):
        run_busy(parent, "failing", fail)
    timer.stop()
    assert shown.is_set()
    assert visible_dialogs(parent) == []


def test_window_export_marks_generations_as_the_setting_says(window, tmp_path: Path) -> None:
    doc = big_document(generated=True)
    save_ora(doc, tmp_path / "gen.ora")
    assert window.open_path(tmp_path / "gen.ora")
    composite = doc.composite_array()[..., :3]

    assert window.export_png(tmp_path / "on.png")
    assert read_mark(tmp_path / "on.png") == "OVERPAINT"

    window.settings.watermark = False
    assert window.export_png(tmp_path / "off.png")
    with Image.open(tmp_path / "off.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), composite)

    # Saving goes through the same helper and still writes the whole project.
    assert window.save(tmp_path / "again.ora")
    assert not window.is_modified()
    np.testing.assert_array_equal(
        load_ora(tmp_path / "again.ora").composite_array(), doc.composite_array()
    )
