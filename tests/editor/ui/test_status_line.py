"""The Generate dock's messages at the size a first start gets on a 1400x900 screen.

The model loading, what the step count is made of, a cancel and an error are the progress
bar's text, not rows of their own: none of them takes height from the scrolling settings,
so the Advanced header stays in view throughout, and each text shows whole in the bar or
cut short with all of it in the bar's tooltip.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox, QToolButton, QWidget

from editor.ui.generate.status_line import StatusLine, error_colour
from tests.editor.ui.test_default_layout import _at_first_start_size, _pinned, _shown
from tests.editor.ui.test_generation import WAIT_MS, prepare
from tests.editor.ui.test_painting import open_at_100
from tests.journeys.test_panel_and_candidates import _settle


class _Resizes(QObject):
    """Every size a widget is given from now on."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.sizes: list[QSize] = []
        widget.installEventFilter(self)

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.sizes.append(event.size())
        return False


def _readable(bar: StatusLine, text: str) -> bool:
    """`text` is drawn whole in the bar, or as much as fits and an ellipsis with all of it
    in the tooltip."""
    shown = bar.shown_text()
    if shown == text:
        return bar.toolTip() == ""
    return shown.endswith("…") and text.startswith(shown[:-1]) and bar.toolTip() == text


def _warning_pixels(bar: StatusLine) -> int:
    image = bar.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1, 4)
    bgr = pixels[:, : image.width(), :3].astype(int)
    red = error_colour(bar.palette())
    target = np.array([red.blue(), red.green(), red.red()])
    return int((np.abs(bgr - target).max(axis=2) <= 24).sum())


def test_messages_leave_the_advanced_row_in_view(
    window, qtbot, png_path: Path, tiny_model_dir: Path, tmp_path: Path, caplog
) -> None:
    panel, dock = window.generation_panel, window.generation_dock
    bar, scroll = panel.progress_bar, panel.scroll
    toggle = window.findChild(QToolButton, "advancedToggle")
    open_at_100(window, png_path)
    prepare(window, tiny_model_dir, steps=150)
    panel.set_mode("img2img")
    panel.strength_spin.setValue(0.9)  # 135 of the 150 steps run, which the bar explains
    _at_first_start_size(window, qtbot)
    assert scroll.verticalScrollBar().value() == 0
    assert _shown(toggle, scroll) and _pinned(bar, dock)
    settings_size = scroll.viewport().size()
    resizes = _Resizes(scroll.viewport())

    def still_in_view() -> None:
        _settle(qtbot)
        assert _shown(toggle, scroll), toggle.mapTo(scroll.viewport(), toggle.rect().topLeft())
        assert scroll.viewport().size() == settings_size and resizes.sizes == []
        assert _pinned(bar, dock) and _pinned(panel.generate_button, dock)

    loading: list[tuple[str, bool]] = []
    # The coordinator connects first as it creates the client, so this sees the panel after.
    window.generation.client.started.connect(
        lambda _job: loading.append((bar.shown_text(), _readable(bar, "Loading the model…")))
    )
    assert window.generate() is not None
    # The model loads: the busy bar says so (Qt itself draws no text on a busy bar).
    qtbot.waitUntil(lambda: " · " in bar.format(), timeout=WAIT_MS)
    assert loading == [("Loading the model…", True)]
    # The steps run, and what their count is made of is said beside them.
    assert bar.format().startswith("Step ") and "/135" in bar.format()
    assert bar.format().endswith(" · 135 of 150 steps (strength 0.9)")
    assert _readable(bar, bar.format()) and bar.shown_text().startswith("Step ")
    still_in_view()

    with qtbot.waitSignal(window.generation.client.cancelled, timeout=WAIT_MS):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    still_in_view()
    assert bar.shown_text() == "Generation cancelled." and bar.toolTip() == ""
    assert not bar.is_error() and _warning_pixels(bar) == 0

    prepare(window, tmp_path / "no-such-model")
    caplog.set_level(logging.WARNING)
    with qtbot.waitSignal(window.generation.error, timeout=WAIT_MS) as failed:
        window.generate()
    message = failed.args[0]
    for box in window.findChildren(QMessageBox, "errorMessage"):
        box.close()  # it said the message too; the dock's line is what is checked here
    still_in_view()
    assert "no-such-model" in message and bar.format() == message
    assert _readable(bar, message) and bar.is_error()
    assert _warning_pixels(bar) > 20  # drawn in the warning colour
    assert message in caplog.text  # and in the log
