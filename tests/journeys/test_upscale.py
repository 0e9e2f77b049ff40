"""Journey 9, Upscale & refine: Image ▸ Upscale… only asks; the job then runs like a
generation (progress with time left in the Generate panel, Cancel there or Esc) while the
window stays usable; the result is one undo step with shapes' outlines where Lanczos put
them, and the view fits the new size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from tests.bench.upscale import edge_deviation, shapes_picture

WAIT_MS = 120_000
DEMO = "Overpaint demo (shapes)"


def _open_shapes(window, tmp_path: Path, size: int) -> np.ndarray:
    picture = shapes_picture(size)
    path = tmp_path / "shapes.png"
    Image.fromarray(picture).save(path)
    assert window.open_path(path)
    window.canvas.actual_size()
    return picture


def _upscale_dialog(window, qtbot):
    window.actions.upscale.trigger()  # Image ▸ Upscale…
    dialog = window.upscale.dialog
    assert dialog is not None
    # The action made the dialog, so it cannot be shown inside `with qtbot.waitExposed`:
    # the empty block only waits, on leaving, until the dialog is exposed.
    with qtbot.waitExposed(dialog):
        pass
    return dialog


def test_upscale_and_refine_runs_as_a_job_and_fits_the_view(window, qtbot, tmp_path) -> None:
    picture = _open_shapes(window, tmp_path, 96)
    panel = window.generation_panel
    panel.set_model(DEMO)
    panel.steps_spin.setValue(7)  # 2 steps per tile at strength 0.3
    doc = window.document
    history = doc.history.count()

    dialog = _upscale_dialog(window, qtbot)
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    dialog.refine_check.setChecked(True)
    ticks: list[int] = []
    timer = QTimer(window)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    modal_during_job: list[object] = []
    formats: list[str] = []
    client = window.generation.client

    def during_step(*_args: object) -> None:
        modal_during_job.append(QApplication.activeModalWidget())
        formats.append(panel.progress_bar.format())

    client.progress.connect(during_step)
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        # The dialog only asked: the window is free while the job runs.
        assert not dialog.isVisible()
        assert panel.cancel_button.isEnabled()
        ticks_at_start = len(ticks)
    timer.stop()
    client.progress.disconnect(during_step)

    assert len(ticks) > ticks_at_start + 2  # the event loop kept running
    assert modal_during_job and all(w is None for w in modal_during_job)
    assert any(f.startswith("Step ") and f.endswith(" left") for f in formats), formats
    assert not panel.cancel_button.isEnabled()
    assert (doc.width, doc.height) == (192, 192)
    assert doc.history.count() == history + 1 and doc.history.undo_text() == "Upscale ×2"
    lanczos = np.asarray(Image.fromarray(picture).resize((192, 192), Image.Resampling.LANCZOS))
    dev = edge_deviation(doc.composite_array(), lanczos)
    assert dev.size > 200 and np.percentile(dev, 95) <= 0.5 and dev.max() < 1.5
    # The view fits the 192 px picture: all of it shows, touching two sides (16 px margin).
    canvas = window.canvas
    shown = 192 * canvas.zoom / canvas.devicePixelRatioF()
    assert shown <= min(canvas.width(), canvas.height()) - 32 + 0.5
    assert shown >= min(canvas.width(), canvas.height()) - 32 - 0.5


def test_esc_cancels_the_upscale_and_leaves_the_picture(window, qtbot, tmp_path) -> None:
    _open_shapes(window, tmp_path, 96)
    panel = window.generation_panel
    panel.set_model(DEMO)
    panel.steps_spin.setValue(100)
    doc = window.document
    before = doc.composite_array()
    history = doc.history.count()
    dialog = _upscale_dialog(window, qtbot)
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    dialog.refine_check.setChecked(True)
    client = window.generation.client
    with qtbot.waitSignal(client.progress, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(client.cancelled, timeout=WAIT_MS):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert panel.progress_bar.format() == "Upscale cancelled; the picture was not changed."
    assert (doc.width, doc.height) == (96, 96) and doc.history.count() == history
    assert np.array_equal(doc.composite_array(), before)
    assert not panel.cancel_button.isEnabled()


def test_refine_does_not_repeat_the_generate_prompt_in_every_tile(window, qtbot, tmp_path) -> None:
    # Found walking the window: the dialog took the Generate panel's prompt, and refining a
    # picture of "a blue triangle" drew a small triangle in every tile, a grid over it.
    flat = np.zeros((128, 128, 3), np.uint8)
    flat[:] = (30, 160, 50)
    path = tmp_path / "flat.png"
    Image.fromarray(flat).save(path)
    assert window.open_path(path)
    panel = window.generation_panel
    panel.set_model(DEMO)
    panel.prompt_edit.setPlainText("a blue triangle")
    panel.seed_spin.setValue(1)  # a seed that drew the grid
    if not panel.seed_lock.isChecked():
        qtbot.mouseClick(panel.seed_lock, Qt.MouseButton.LeftButton)

    dialog = _upscale_dialog(window, qtbot)
    assert dialog.prompt_edit.text() == ""  # a subject is the user's to add, knowingly
    assert "not the subject" in dialog.prompt_edit.placeholderText()
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    dialog.refine_check.setChecked(True)
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)

    out = window.document.composite_array()[..., :3].astype(int)
    assert out.shape[:2] == (256, 256)
    off = np.abs(out - np.array([30, 160, 50])).max(axis=-1)
    assert (off > 30).mean() < 0.001, f"{(off > 30).mean():.3f} of the flat picture changed"
