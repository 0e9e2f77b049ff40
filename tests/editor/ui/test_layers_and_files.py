"""Layers panel, import, drag-and-drop and clipboard paste on the real window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from tests.editor.ui.conftest import gradient_rgba


def names(window) -> list[str]:
    """Layer names as the panel lists them (top first)."""
    lst = window.layers_panel.list
    return [lst.item(i).text() for i in range(lst.count())]


def solid_png(path: Path, rgba: tuple[int, int, int, int], size=(40, 30)) -> Path:
    Image.new("RGBA", size, rgba).save(path)
    return path


def test_layer_buttons_and_panel_controls(window, qtbot, png_path: Path, tmp_path: Path) -> None:
    window.open_path(png_path)
    doc = window.document
    assert names(window) == ["picture"]
    assert window.import_layer(solid_png(tmp_path / "red.png", (255, 0, 0, 255)))
    assert names(window) == ["red", "picture"]
    assert tuple(doc.composite_array()[10, 10]) == (255, 0, 0, 255)

    panel = window.layers_panel
    # Visibility checkbox hides the layer (one undo step).
    panel.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert not doc.layers[1].visible
    assert tuple(doc.composite_array()[10, 10]) == tuple(gradient_rgba()[10, 10])
    window.undo()
    assert doc.layers[1].visible
    # Opacity and blend mode act on the current layer.
    panel.list.setCurrentRow(0)
    panel.opacity_slider.setValue(50)
    assert doc.layers[1].opacity == 0.5
    panel.blend_combo.setCurrentIndex(panel.blend_combo.findData("multiply"))
    assert doc.layers[1].blend_mode == "multiply"
    panel.opacity_slider.setValue(100)
    r, g, b = (int(v) for v in gradient_rgba()[10, 10, :3])
    assert tuple(doc.composite_array()[10, 10, :3]) == (r, 0, 0)  # red multiply
    # Renaming through the list.
    panel.list.item(0).setText("Red paint")
    assert doc.layers[1].name == "Red paint"

    # Reorder as a drag does: move the top layer to the bottom.
    panel.move_current(1)
    assert names(window) == ["picture", "Red paint"]
    assert tuple(doc.composite_array()[10, 10]) == tuple(gradient_rgba()[10, 10])

    window.actions.duplicate_layer.trigger()
    assert names(window) == ["picture", "Red paint copy", "Red paint"]
    window.actions.delete_layer.trigger()
    assert names(window) == ["picture", "Red paint"]
    panel.list.setCurrentRow(0)
    window.actions.merge_down.trigger()
    assert names(window) == ["Red paint"]
    assert window.undo_action.text() == "&Undo Merge down"
    window.actions.add_layer.trigger()
    window.actions.flatten.trigger()
    assert names(window) == ["Background"]
    assert np.array_equal(doc.composite_array(), gradient_rgba())


def test_drop_files_open_or_import(window, png_path: Path, tmp_path: Path) -> None:
    blue = solid_png(tmp_path / "blue.png", (0, 0, 255, 255))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png_path))])
    # On the untouched start-up canvas a dropped image opens.
    window.drop(mime)
    assert window.windowTitle() == "picture.png — Overpaint"
    assert names(window) == ["picture"]
    # On a picture, dropped images become layers; Ctrl opens instead.
    mime.setUrls([QUrl.fromLocalFile(str(blue))])
    window.drop(mime)
    assert names(window) == ["blue", "picture"]
    assert window.windowTitle() == "picture.png* — Overpaint"
    window.ask_save_changes = lambda: "discard"
    window.drop(mime, open_instead=True)
    assert window.windowTitle() == "blue.png — Overpaint"
    assert names(window) == ["blue"]


def test_drag_enter_accepts_only_openable_files(window, tmp_path: Path) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QDragEnterEvent

    def accepted(paths: list[Path]) -> bool:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        event = QDragEnterEvent(
            QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )  # fmt: skip
        event.setAccepted(False)
        window.dragEnterEvent(event)
        return event.isAccepted()

    assert accepted([tmp_path / "a.png"]) and accepted([tmp_path / "p.ora"])
    assert not accepted([tmp_path / "notes.txt"])


def test_paste_image_from_clipboard_as_layer(window, png_path: Path) -> None:
    window.open_path(png_path)
    rgba = np.zeros((8, 6, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    QApplication.clipboard().setImage(
        QImage(rgba.data, 6, 8, 24, QImage.Format.Format_RGBA8888).copy()
    )
    assert window.paste()
    layer = window.document.current_layer
    assert layer.name == "Pasted" and np.array_equal(layer.to_rgba(), rgba)
    assert window.undo_action.text() == "&Undo Paste"


def test_pasting_an_image_above_the_size_limit_is_refused(window, png_path: Path) -> None:
    window.open_path(png_path)
    window.settings.max_image_megapixels = 1
    QApplication.clipboard().setImage(QImage(1200, 900, QImage.Format.Format_RGBA8888))
    assert not window.paste()
    assert window.last_error.startswith("The pasted image is 1200x900 pixels, above the limit")
    assert names(window) == ["picture"] and window.document.history.count() == 0


def test_import_of_bad_file_reports_and_changes_nothing(
    window, png_path: Path, tmp_path: Path
) -> None:
    window.open_path(png_path)
    bad = tmp_path / "junk.png"
    bad.write_bytes(b"junk")
    assert not window.import_layer(bad)
    assert "junk.png" in window.last_error
    assert names(window) == ["picture"] and window.document.history.count() == 0


def test_canvas_size_dialog_expands_canvas_for_outpainting(window, qtbot, png_path: Path) -> None:
    from PySide6.QtCore import QTimer

    from engine.request import Box

    window.open_path(png_path)

    def fill_in() -> None:
        dialog = QApplication.activeModalWidget()
        dialog.width_spin.setValue(220)
        dialog.anchor_combo.setCurrentText("left")
        dialog.accept()

    QTimer.singleShot(0, fill_in)
    window.actions.canvas_size.trigger()
    doc = window.document
    assert (doc.width, doc.height) == (220, 120)
    assert window.undo_action.text() == "&Undo Resize canvas"
    composite = doc.composite_array()
    assert np.array_equal(composite[:, :160], gradient_rgba())
    assert not composite[:, 160:, 3].any()
    window.canvas.grab()  # paints, which brings the view up to date
    assert window.canvas.canvas_size().width() == 220
    # A frame over the new empty strip and the picture's edge: Auto picks outpaint.
    doc.set_generation_frame(Box(120, 0, 100, 120))
    job = window.generation.prepare({"mode": "auto", "prompt": "more sea"}, 256)
    assert job.request.mode == "outpaint" and job.region_source == "frame"


def test_alpha_lock_keeps_transparent_pixels_transparent(window, qtbot, tmp_path: Path) -> None:
    from PySide6.QtGui import QColor

    from tests.editor.ui.test_painting import drag

    half = np.zeros((60, 80, 4), np.uint8)
    half[:, :40] = (0, 255, 0, 255)
    Image.fromarray(half).save(tmp_path / "half.png")
    window.open_path(tmp_path / "half.png")
    window.canvas.actual_size()
    window.layers_panel.alpha_lock_check.setChecked(True)
    assert window.document.current_layer.alpha_locked
    window.tool_options.set_foreground(QColor(255, 0, 0))
    window.tool_options.hardness_spin.setValue(100)
    window.tool_options.set_size(8)
    drag(qtbot, window, [(20, 30), (60, 30)])
    rgba = window.document.current_layer.to_rgba()
    assert tuple(rgba[30, 20]) == (255, 0, 0, 255)
    assert rgba[30, 60, 3] == 0


def test_recent_files_menu_reopens(window, png_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    Image.fromarray(gradient_rgba(30, 20)).save(other)
    window.open_path(png_path)
    window.open_path(other)
    window.recent_menu.aboutToShow.emit()  # what opening the menu does
    titles = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert titles[:2] == ["other.png", "picture.png"]
    window.recent_menu.actions()[1].trigger()
    assert window.windowTitle() == "picture.png — Overpaint"


def test_settings_dialog_and_engine_options_reach_the_request(
    window, png_path: Path, tmp_path: Path
) -> None:
    from editor.ui.dialogs import SettingsDialog
    from editor.ui.settings import Settings

    window.open_path(png_path)
    dialog = SettingsDialog(window.settings, window)
    dialog.dirs_list.addItem(str(tmp_path / "models"))
    dialog.watermark_check.setChecked(False)
    dialog.device_combo.setCurrentText("cpu")
    dialog.low_memory_check.setChecked(True)
    dialog.undo_spin.setValue(64)
    assert dialog.threads_spin.text().startswith("Automatic")  # 0 until the user picks
    dialog.threads_spin.setValue(1)
    dialog.accept()
    fresh = Settings(window.settings.path)
    assert fresh.cpu_threads == 1
    assert fresh.model_dirs == [tmp_path / "models"]
    assert (fresh.watermark, fresh.device, fresh.low_memory, fresh.undo_memory_mb) == (
        False, "cpu", True, 64,
    )  # fmt: skip
    job = window.generation.prepare({"mode": "auto", "prompt": "x"}, 256)
    assert job.request.watermark is False
    assert dict(job.request.options) == {
        "device": "cpu", "attention_slicing": True, "vae_tiling": True,
    }  # fmt: skip


def test_dropping_a_layer_row_reorders_the_document(window, tmp_path: Path, png_path: Path) -> None:
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

    window.open_path(png_path)
    for colour, name in (((255, 0, 0, 255), "red"), ((0, 0, 255, 255), "blue")):
        window.import_layer(solid_png(tmp_path / f"{name}.png", colour))
    assert names(window) == ["blue", "red", "picture"]
    lst = window.layers_panel.list
    lst.setCurrentRow(0)  # drag "blue" ...
    target = lst.visualItemRect(lst.item(2)).center()  # ... onto "picture"
    mime = lst.model().mimeData([lst.model().index(0, 0)])
    args = (
        Qt.DropAction.MoveAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    for event in (QDragEnterEvent(target, *args), QDragMoveEvent(target, *args)):
        QApplication.sendEvent(lst.viewport(), event)
        assert event.isAccepted()
    QApplication.sendEvent(lst.viewport(), QDropEvent(target.toPointF(), *args))
    assert names(window) == ["red", "picture", "blue"]
    assert [layer.name for layer in window.document.layers] == ["blue", "picture", "red"]
    assert window.undo_action.text().startswith("&Undo ")
    window.undo()
    assert names(window) == ["blue", "red", "picture"]


def test_failed_save_and_export_report_and_keep_changes(
    window, png_path: Path, tmp_path: Path
) -> None:
    window.open_path(png_path)
    window.document.add_layer("work")
    missing = tmp_path / "no-such-folder"
    assert not window.save_as(missing / "p.ora")
    assert "p.ora" in window.last_error
    assert window.is_modified() and window.path is None
    window.last_error = ""
    assert not window.export_png(missing / "p.png")
    assert "p.png" in window.last_error
    assert not missing.exists()
    assert window.windowTitle() == "picture.png* — Overpaint"


def test_frame_past_the_edge_grows_the_canvas_for_outpainting(window, png_path: Path) -> None:
    from engine.request import Box

    window.open_path(png_path)
    doc = window.document
    doc.set_generation_frame(Box(100, -20, 100, 80))  # 40 px past the right, 20 past the top
    job = window.generation.prepare({"mode": "auto", "prompt": "more sky"}, 256)
    assert (doc.width, doc.height) == (200, 140)
    assert doc.layers[0].x == 0 and doc.layers[0].y == 20  # the picture moved down
    frame = doc.generation_frame
    assert (frame.x, frame.y, frame.width, frame.height) == (100, 0, 100, 80)
    assert job.request.mode == "outpaint" and job.region_source == "frame"
    assert window.undo_action.text() == "&Undo Expand canvas"


def test_frame_too_far_past_the_edge_is_refused_and_changes_nothing(window, png_path: Path) -> None:
    import pytest

    from engine.jobs import JobError
    from engine.request import Box

    window.open_path(png_path)
    doc = window.document
    doc.set_generation_frame(Box(100, 0, 40_000, 80))
    size, steps = (doc.width, doc.height), len(doc.history.texts())
    with pytest.raises(JobError, match="too far past the picture"):
        window.generation.prepare({"mode": "auto", "prompt": "more sky"}, 256)
    assert (doc.width, doc.height) == size and len(doc.history.texts()) == steps


def test_history_panel_lists_steps_and_jumps(window, qtbot, png_path: Path) -> None:
    window.open_path(png_path)
    doc = window.document
    doc.add_layer("one")
    doc.add_layer("two")
    doc.select_all()
    lst = window.history_panel.list
    assert [lst.item(i).text() for i in range(lst.count())] == [
        "Opened picture.png", "Add layer", "Add layer", "Select all",
    ]  # fmt: skip
    assert lst.currentRow() == 3
    lst.setCurrentRow(1)  # back to just after the first step
    assert names(window) == ["one", "picture"] and not doc.has_selection()
    qtbot.waitUntil(lambda: lst.currentRow() == 1 and lst.count() == 4)
    lst.setCurrentRow(3)
    assert names(window) == ["two", "one", "picture"] and doc.has_selection()
    lst.setCurrentRow(0)
    assert names(window) == ["picture"]
    assert window.windowTitle() == "picture.png — Overpaint"


def test_new_image_dialog_offers_the_last_size_made(window, settings, tmp_path: Path) -> None:
    from PySide6.QtCore import QTimer

    from editor.ui.settings import Settings

    shown: list[tuple[int, int]] = []

    def answer(size: tuple[int, int] | None) -> None:
        dialog = QApplication.activeModalWidget()
        assert dialog.windowTitle() == "New Image"
        shown.append((dialog.width_spin.value(), dialog.height_spin.value()))
        if size is None:
            dialog.reject()
            return
        dialog.width_spin.setValue(size[0])
        dialog.height_spin.setValue(size[1])
        dialog.accept()

    QTimer.singleShot(0, lambda: answer((256, 256)))
    window.actions.new.trigger()
    assert (window.document.width, window.document.height) == (256, 256)
    QTimer.singleShot(0, lambda: answer(None))
    window.actions.new.trigger()
    # First run offers the default; the second time the fields start at the last size.
    assert shown == [(1024, 1024), (256, 256)]
    settings.sync()
    assert Settings(settings.path).new_image_size == (256, 256)  # kept for the next session
    assert Settings(tmp_path / "fresh" / "overpaint.ini").new_image_size == (1024, 1024)
