"""Journeys 10 and 11 through the Generations dock: Regenerate or drag an entry, accept,
export, and replay the export with `overpaint rerun`.

Found walking the window under Xvfb: a result regenerated from the dock and accepted
over the first one (txt2img on the whole start-up canvas) hides it, yet the export
counted both, said "it holds 2 generations, not a single generation", and `rerun`
refused a picture that is exactly one generation. Dragging an entry without a file
onto the canvas pasted its 192-px thumbnail as a small "Pasted" layer instead of the
picture that Add as layer gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDropEvent

from engine.cli.commands import main as overpaint
from tests.journeys.waiting import WAIT_MS, next_result


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def generate_and_accept(qtbot, window) -> object:
    """Type a prompt, Generate (Ctrl+Return) with few steps, press Accept: the new layer."""
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red circle on blue")
    panel.steps_spin.setValue(2)
    next_result(
        qtbot,
        window,
        lambda: qtbot.keyClick(
            window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        ),
    )
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    return window.document.current_layer


def first_entry(qtbot, window):
    dock = window.generations_panel
    window.generation.history.flush()
    qtbot.waitUntil(lambda: dock.model.rowCount() >= 1, timeout=5000)
    dock.select(0)
    return dock


def test_a_regenerated_result_accepted_over_the_first_exports_as_one_generation(
    window, qtbot, tmp_path: Path, capsys
) -> None:
    first = generate_and_accept(qtbot, window)
    dock = first_entry(qtbot, window)
    next_result(qtbot, window, dock.actions["regenerate"].trigger)
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    assert len(window.document.layers) == 3 and window.document.current_layer is not first

    exported = tmp_path / "export.png"
    assert window.export_png(exported)
    told = window.statusBar().currentMessage()
    assert "single generation" not in told, told

    again = tmp_path / "again.png"
    capsys.readouterr()
    code = overpaint(["rerun", str(exported), "--out", str(again)])
    err = capsys.readouterr().err.strip()
    assert code == 0, err
    np.testing.assert_array_equal(pixels(again), pixels(exported))


def test_dragging_an_entry_onto_the_canvas_adds_the_whole_picture(window, qtbot) -> None:
    accepted = generate_and_accept(qtbot, window)
    expected = accepted.to_rgba(window.document.rect())
    window.document.delete_layer(accepted)
    dock = first_entry(qtbot, window)
    hit = dock.current_hit()
    assert not hit.path  # an editor result: no file, so the drag carries its entry

    mime = dock.model.mimeData([dock.view.currentIndex()])
    before = len(window.document.layers)

    def drop() -> None:
        event = QDropEvent(
            QPointF(window.canvas.rect().center()),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        window.dropEvent(event)

    drop()
    qtbot.waitUntil(lambda: len(window.document.layers) == before + 1, timeout=WAIT_MS)
    added = window.document.current_layer
    assert added.name != "Pasted"
    np.testing.assert_array_equal(added.to_rgba(window.document.rect()), expected)


def test_regenerating_a_command_line_txt2img_shows_its_progress_and_result(
    window, qtbot, tmp_path: Path, capsys
) -> None:
    """Found walking: a command-line txt2img has no region, and the window's progress
    (the region outline, the live preview) raised AttributeError at every step."""
    out = tmp_path / "cli.png"
    code = overpaint(
        ["txt2img", "--prompt", "a purple triangle", "--steps", "3", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    dock = window.generations_panel
    dock.search_box.setText("purp")  # the dock searches as the user types
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=5000)
    dock.select(0)

    result = next_result(qtbot, window, dock.actions["regenerate"].trigger)
    np.testing.assert_array_equal(result.rgba, pixels(out))
    assert (result.x, result.y) == (0, 0)


def test_the_mode_filter_finds_a_fill(window, qtbot, png_path: Path) -> None:
    """Found walking: the dock's mode list stopped at outpaint, so a Fill (and an Edit)
    in the history could be listed but never picked out by its mode."""
    assert window.open_path(png_path)
    mask = np.zeros((window.document.height, window.document.width), np.uint8)
    mask[10:30, 10:40] = 255
    window.document.set_mask(mask)
    window.generation_panel.set_mode("fill")
    next_result(qtbot, window, window.generate)
    window.generation.history.flush()

    dock = window.generations_panel
    modes = [dock.mode_box.itemText(i) for i in range(dock.mode_box.count())]
    assert {"fill", "edit"} <= set(modes), modes
    dock.mode_box.setCurrentIndex(modes.index("fill"))
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=5000)
    assert dock.status.text() == "1 generation"
    dock.mode_box.setCurrentIndex(modes.index("txt2img"))
    qtbot.waitUntil(lambda: dock.model.rowCount() == 0, timeout=5000)
