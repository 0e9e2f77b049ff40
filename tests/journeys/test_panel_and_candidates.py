"""The Generate dock and the Results strip as a new user meets them: the panel fits its
dock whatever Auto says, the wheel scrolls the panel rather than the spin box under the
pointer, Accept shows what was accepted, a change of canvas size fits the view, and an
img2img says why it runs fewer steps than asked.

Everything runs for real: the bundled demo model (the window's default) on the engine's
worker thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

from editor.ui.generate.panel import MAX_SEED
from editor.ui.scale_dialog import ScaleImageDialog
from engine.inpaint_modes import INPAINT_MODES

WAIT_MS = 120_000
LONG_MODEL = "/models/juggernaut-xl-v9-rundiffusion-photo-2-lightning-4-step.safetensors"


def _settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(10)


def _inside(widget: QWidget, viewport: QWidget) -> bool:
    rect = QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())
    return viewport.rect().contains(rect)


def test_generate_panel_fits_its_dock_with_every_label_it_can_show(window, qtbot):
    panel = window.generation_panel
    scroll = panel.scroll
    assert isinstance(scroll, QScrollArea)
    # The longest things the panel shows: a long model file name, the largest seed,
    # locked, and a long progress line.
    panel.set_model(LONG_MODEL)
    panel.seed_spin.setValue(MAX_SEED)
    assert panel.seed_locked()
    panel.set_progress(112, 150, 4000)
    for size in (QSize(1280, 800), QSize(1600, 1000)):
        window.resize(size)
        _settle(qtbot)
        generate_at = panel.generate_button.mapTo(panel, QPoint(0, 0))
        for mode in (m for m in INPAINT_MODES if m != "auto"):
            panel.inpaint_options.show_picked(mode)  # what Auto says it chose
            _settle(qtbot)
            label = panel.inpaint_options.picked_label.text()
            where = f"{size.width()}×{size.height()}, {label!r}"
            assert scroll.horizontalScrollBar().maximum() == 0, where
            assert scroll.widget().width() <= scroll.viewport().width(), where
            for button in (panel.generate_button, panel.cancel_button):
                assert _inside(button, window.generation_dock), f"{button.text()} at {where}"
            # Nothing jumps under the pointer when Auto's choice appears.
            assert panel.generate_button.mapTo(panel, QPoint(0, 0)) == generate_at, where


def _wheel(widget: QWidget, down: bool = True) -> None:
    """One notch of the mouse wheel with the pointer over the middle of `widget`."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, -120 if down else 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_panel_unless_a_field_has_the_focus(window, qtbot):
    window.resize(1280, 800)
    panel = window.generation_panel
    panel.advanced.set_expanded(True)  # the scheduler is among the Advanced settings
    bar = panel.scroll.verticalScrollBar()
    _settle(qtbot)
    bar.setValue(0)  # opening Advanced scrolled it into view
    assert bar.maximum() > 0  # the panel is taller than its dock: there is room to scroll
    window.canvas.setFocus()
    steps, scheduler = panel.steps_spin.value(), panel.scheduler_combo.currentText()

    # Over a spin box the pointer is on its text field, which hands the wheel to the spin
    # box: both get it here.
    for widget in (panel.steps_spin.lineEdit(), panel.steps_spin, panel.scheduler_combo):
        before = bar.value()
        _wheel(widget)
        assert bar.value() > before, widget
    assert panel.steps_spin.value() == steps
    assert panel.scheduler_combo.currentText() == scheduler
    assert not panel.steps_spin.hasFocus()

    # Once the user has clicked into the field, the wheel is the field's.
    qtbot.mouseClick(panel.steps_spin.lineEdit(), Qt.MouseButton.LeftButton)
    assert panel.steps_spin.hasFocus()
    before = bar.value()
    _wheel(panel.steps_spin, down=False)
    assert panel.steps_spin.value() == steps + 1
    assert bar.value() == before


def test_accept_shows_the_accepted_result_and_counts_the_rest(window, qtbot):
    window.new_document(96, 96, fill=(255, 255, 255, 255))
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red circle")
    panel.steps_spin.setValue(2)
    panel.samples_spin.setValue(3)
    window.actions.generate.trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 3, timeout=WAIT_MS)
    assert panel.progress_bar.format().startswith("3 results ready")
    first = window.candidates.current()
    assert first is window.candidates.candidates()[0]
    window.actions.actual_size.trigger()  # 100 %: one canvas pixel per screen pixel

    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    assert window.candidates.count() == 2
    assert panel.progress_bar.format().startswith("2 results ready")
    _settle(qtbot)
    shown = window.canvas.grab().toImage().convertToFormat(window.canvas.image().format())
    top_left = window.canvas.canvas_to_widget(QPointF(0, 0)).toPoint()
    shown = shown.copy(QRect(top_left, QSize(96, 96)))
    accepted = first.image.convertToFormat(shown.format())
    assert shown == accepted  # not the next candidate previewed over it
    assert np.array_equal(window.document.composite_array()[..., :3], first.result.rgba[..., :3])

    # The others stay in the strip; a click previews one.
    item = window.candidates.list.item(0)
    rect = window.candidates.list.visualItemRect(item)
    qtbot.mouseClick(
        window.candidates.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
    )
    assert window.candidates.current() is window.candidates.candidates()[0]
    assert window.candidates.accept_button.isEnabled()


def _answer_scale_dialog(width: int) -> None:
    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, ScaleImageDialog):
            dialog.width_spin.setValue(width)
            dialog.accept()
        else:
            QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)


def test_scale_image_fits_the_view(window, qtbot):
    window.new_document(200, 150, fill=(255, 255, 255, 255))
    canvas = window.canvas
    _settle(qtbot)
    zoom = canvas.zoom
    _answer_scale_dialog(400)
    window.actions.scale_image.trigger()
    assert (window.document.width, window.document.height) == (400, 300)
    qtbot.waitUntil(lambda: canvas.canvas_size() == QSize(400, 300))
    _settle(qtbot)
    assert canvas.zoom != zoom
    shown = canvas.canvas_rect_to_widget(QRectF(0, 0, 400, 300))
    assert QRectF(canvas.rect()).contains(shown), (shown, canvas.rect())
    assert window.zoom_label.text() == f"{canvas.zoom * 100:.0f} %"


def test_img2img_says_how_many_of_the_steps_its_strength_runs(window, qtbot):
    window.new_document(96, 96, fill=(40, 120, 200, 255))
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a lake")
    panel.set_mode("img2img")
    panel.steps_spin.setValue(8)
    panel.strength_spin.setValue(0.5)
    seen: list[tuple[str, str]] = []  # the bar's steps and what it says beside them
    client = window.generation.client
    client.progress.connect(
        lambda *_a: seen.append(panel.progress_bar.format().partition(" · ")[::2])
    )
    window.actions.generate.trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    said = [text for _steps, text in seen]
    assert "4 of 8 steps (strength 0.5)" in said, seen
    assert all(steps.startswith("Step ") and "/4" in steps for steps, _text in seen), seen
