"""Edit, Select, Image and File menu commands, by their Krita shortcuts: pixels and undo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.editor.ui.conftest import gradient_rgba


def _key(qtbot, window, key: Qt.Key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.canvas, key, mods)


def test_delete_clears_the_selection_and_undo_brings_it_back(window, qtbot, png_path) -> None:
    window.open_path(png_path)
    doc = window.document
    doc.select_rect(QRect(10, 20, 30, 40))
    _key(qtbot, window, Qt.Key.Key_Delete)
    rgba = doc.current_layer.to_rgba()
    assert not rgba[20:60, 10:40, 3].any()  # the selected pixels are gone
    assert np.array_equal(rgba[60:, :], gradient_rgba()[60:, :])  # the rest is untouched
    assert window.undo_action.text() == "&Undo Clear"
    window.undo()
    assert np.array_equal(doc.current_layer.to_rgba(), gradient_rgba())


def test_shift_backspace_fills_the_selection_with_the_foreground(window, qtbot, png_path) -> None:
    window.open_path(png_path)
    doc = window.document
    window.tool_options.set_foreground(QColor(10, 200, 30))
    doc.select_rect(QRect(0, 0, 16, 8))
    _key(qtbot, window, Qt.Key.Key_Backspace, Qt.KeyboardModifier.ShiftModifier)
    rgba = doc.current_layer.to_rgba()
    assert (rgba[:8, :16] == (10, 200, 30, 255)).all()
    assert np.array_equal(rgba[8:], gradient_rgba()[8:])
    window.undo()
    assert np.array_equal(doc.current_layer.to_rgba(), gradient_rgba())


def test_select_from_mask(window, png_path) -> None:
    window.open_path(png_path)
    doc = window.document
    window.actions.selection_from_mask.trigger()
    assert not doc.has_selection() and "mask first" in window.statusBar().currentMessage()
    mask = np.zeros((120, 160), np.uint8)
    mask[5:15, 50:70] = 255
    doc.set_mask(mask)
    window.actions.selection_from_mask.trigger()
    assert np.array_equal(doc.selection, mask)
    assert window.undo_action.text() == "&Undo Select from mask"


def test_ctrl_alt_i_scales_the_image_keeping_its_aspect(window, qtbot, png_path) -> None:
    window.open_path(png_path)
    doc = window.document

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert dialog.objectName() == "scaleImageDialog"
        dialog.width_spin.setValue(80)  # 160x120 -> 80x60: the height follows
        assert dialog.height_spin.value() == 60
        dialog.accept()

    QTimer.singleShot(0, answer)
    _key(
        qtbot,
        window,
        Qt.Key.Key_I,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier,
    )
    assert (doc.width, doc.height) == (80, 60)
    scaled = doc.composite_array()
    # Resampled, not cropped: the far corner's colour is still there.
    assert np.abs(scaled[-1, -1, :3].astype(int) - gradient_rgba()[-1, -1, :3]).max() <= 12
    assert window.size_label.text() == "80 × 60 px"
    window.undo()
    assert (doc.width, doc.height) == (160, 120)
    assert np.array_equal(doc.composite_array(), gradient_rgba())
    assert window.size_label.text() == "160 × 120 px"


def test_ctrl_w_closes_the_picture_after_asking(window, qtbot, png_path, tmp_path: Path) -> None:
    window.open_path(png_path)
    window.document.add_layer("work")
    picture = window.document
    window.ask_save_changes = lambda: "cancel"
    _key(qtbot, window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.document is picture and window.isVisible()
    window.ask_save_changes = lambda: "discard"
    _key(qtbot, window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    # A blank canvas takes its place; the window stays open for the next picture.
    doc = window.document
    assert doc is not picture and window.isVisible()
    assert (doc.width, doc.height) == (1024, 1024) and window.windowTitle() == "Overpaint"
    assert (doc.composite_array() == 255).all() and not window.is_modified()


def test_status_bar_shows_size_zoom_and_pointer(window, qtbot, png_path) -> None:
    window.open_path(png_path)
    assert window.size_label.text() == "160 × 120 px"
    window.canvas.actual_size()
    assert window.zoom_label.text() == "100 %"
    window.canvas.zoom_in()
    assert window.zoom_label.text() == f"{window.canvas.zoom * 100:.0f} %" != "100 %"
    window.canvas.actual_size()
    view = window.canvas
    at = view.canvas_to_widget(QPointF(42.5, 17.5))
    hover = QMouseEvent(
        QEvent.Type.MouseMove, at, view.mapToGlobal(at), Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(view, hover)  # the pointer passing over, no button held
    assert window.position_label.text() == "42, 17"
    window.document.resize_canvas(200, 130)
    assert window.size_label.text() == "200 × 130 px"
