"""The window at the size a first start gets on a 1400x900 screen: the Generate dock shows
its everyday settings and the Advanced header without scrolling, and the Advanced
section (sampler, shift, samples, inpainting) opens into view with one click; the Layers
list shows at least six layers below it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QDoubleSpinBox, QScrollArea, QToolButton, QWidget

from editor.model.document import Document
from engine.models import inspect_model


def _shown(widget: QWidget, scroll: QScrollArea) -> bool:
    """Whether all of `widget` is on screen in the scroll area's viewport."""
    viewport = scroll.viewport()
    rect = QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())
    return widget.isVisible() and viewport.rect().contains(rect)


def _pinned(widget: QWidget, dock: QWidget) -> bool:
    """Whether all of `widget` shows, unclipped, inside `dock`."""
    rect = QRect(widget.mapTo(dock, QPoint(0, 0)), widget.size())
    whole = widget.visibleRegion().boundingRect().size() == widget.size()
    return widget.isVisible() and whole and dock.rect().contains(rect)


def _at_first_start_size(window, qtbot) -> None:
    """The window as a first start lays it out on a 1400x900 screen (View ▸ Reset Layout
    puts the docks where a first start does)."""
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: window.size().height() == 900)
    window.reset_layout()
    qtbot.wait(50)  # the docks settle into their sizes


def test_generate_settings_fit_and_advanced_opens_into_view(
    window, qtbot, tiny_modern_dir: Callable[[str], Path]
) -> None:
    panel = window.generation_panel
    flux = tiny_modern_dir("flux")
    panel.set_models([inspect_model(flux)], str(flux))  # a family with a Shift row
    _at_first_start_size(window, qtbot)
    scroll = panel.scroll
    assert isinstance(scroll, QScrollArea)
    toggle = window.findChild(QToolButton, "advancedToggle")
    shift = window.findChild(QDoubleSpinBox, "shiftSpin")
    assert scroll.verticalScrollBar().value() == 0
    assert _pinned(panel.generate_button, window.generation_dock)
    for widget in (
        panel.mode_combo, panel.seed_spin, panel.steps_spin,
        panel.guidance_spin, panel.strength_spin, toggle,
    ):  # fmt: skip
        assert _shown(widget, scroll), widget
    assert not shift.isVisible() and not panel.inpaint_options.isVisible()

    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _shown(shift, scroll))  # scrolled into view, no hunting
    for widget in (panel.scheduler_combo, panel.samples_spin, toggle):
        assert _shown(widget, scroll), widget
    assert panel.inpaint_options.isVisible()
    assert _pinned(panel.generate_button, window.generation_dock)  # not scrolled away
    assert panel.advanced_form.isRowVisible(shift)
    # Its fields line up with those above, under FLUX's long "Distilled guidance" label.
    assert panel.parameters_form.labelForField(panel.guidance_spin).text() == ("Distilled guidance")
    left = {w.mapTo(panel, QPoint(0, 0)).x() for w in (panel.steps_spin, shift, panel.samples_spin)}
    assert len(left) == 1
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    assert not shift.isVisible()


def test_the_layers_list_shows_six_layers(window, qtbot) -> None:
    doc = Document(64, 64)
    for i in range(8):
        doc.add_layer(f"layer {i}")
    window.set_document(doc, None, None)
    _at_first_start_size(window, qtbot)
    view = window.layers_panel.list
    assert view.count() == 8
    whole = [
        row for row in range(view.count())
        if view.viewport().rect().contains(view.visualItemRect(view.item(row)))
    ]  # fmt: skip
    assert len(whole) >= 6
    # The window above keeps its main buttons in view.
    assert _pinned(window.generation_panel.generate_button, window.generation_dock)


def test_a_ready_result_keeps_the_advanced_row_in_view(window, qtbot, tiny_model_dir: Path) -> None:
    """'1 result ready: …' is said in the idle bar: as a line of its own it took 20 px from
    the settings and scrolled the Advanced row out of view at this size."""
    panel = window.generation_panel
    window.new_document(64, 64, fill=(255, 255, 255, 255))
    panel.set_model(str(tiny_model_dir))
    panel.prompt_edit.setPlainText("a small red boat")
    panel.steps_spin.setValue(2)
    panel.set_mode("txt2img")
    _at_first_start_size(window, qtbot)
    scroll = panel.scroll
    toggle = window.findChild(QToolButton, "advancedToggle")
    window.actions.generate.trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=120_000)
    qtbot.wait(50)  # the dock lays out the footer anew
    bar = panel.progress_bar
    ready = "1 result ready: accept one or discard them."
    assert bar.format() == ready
    assert bar.fontMetrics().horizontalAdvance(ready) < bar.contentsRect().width()  # all of it
    assert bar.shown_text() == ready and bar.toolTip() == ""  # not cut short
    assert scroll.verticalScrollBar().maximum() == 0 and _shown(toggle, scroll)
    assert _pinned(panel.generate_button, window.generation_dock)
    qtbot.mouseClick(window.candidates.discard_button, Qt.MouseButton.LeftButton)
    assert bar.format() == "Idle"
