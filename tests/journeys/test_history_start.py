"""The History dock's first row names where the image came from: "New image" for the
blank canvas the window starts with and for File ▸ New, "Opened NAME" for an opened
file; a jump back to it says so in the status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

Key, Mod = Qt.Key, Qt.KeyboardModifier


def rows(window) -> list[str]:
    lst = window.history_panel.list
    return [lst.item(i).text() for i in range(lst.count())]


def jump_to_start(window, qtbot) -> None:
    window.history_dock.raise_()
    lst = window.history_panel.list
    qtbot.waitUntil(lst.isVisible)
    rect = lst.visualItemRect(lst.item(0))
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: lst.currentRow() == 0)


def add_two_layers(window, qtbot) -> None:
    for _ in range(2):
        qtbot.keyClick(window.canvas, Key.Key_N, Mod.ControlModifier | Mod.ShiftModifier)


def test_the_start_canvas_and_file_new_read_new_image(window, qtbot) -> None:
    assert rows(window) == ["New image"]
    add_two_layers(window, qtbot)
    assert rows(window) == ["New image", "Add layer", "Add layer"]
    jump_to_start(window, qtbot)
    assert window.statusBar().currentMessage() == "Undid 2 steps: back to New image"
    assert len(window.document.layers) == 1

    window.new_document(64, 48)
    assert rows(window) == ["New image"]


def test_an_opened_file_reads_opened_and_its_name(window, qtbot, png_path: Path) -> None:
    assert window.open_path(png_path)
    assert rows(window) == ["Opened picture.png"]
    add_two_layers(window, qtbot)
    jump_to_start(window, qtbot)
    assert window.statusBar().currentMessage() == "Undid 2 steps: back to Opened picture.png"
    # File ▸ New afterwards starts a new image again.
    window.new_document(64, 48)
    assert rows(window) == ["New image"]
