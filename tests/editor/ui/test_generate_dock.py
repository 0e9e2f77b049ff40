"""The Generate dock as a user leaves it and comes back to it: the Advanced section stays
open (or closed) across a restart without scrolling the prompt away, and with it open
in a short dock the settings scroll while Generate, Cancel and the progress stay in
view under them."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QToolButton, QWidget

from editor.ui.generate.panel import GenerationPanel
from tests.journeys.test_live import close_window, restart
from tests.journeys.test_panel_and_candidates import _settle


def _whole_in(widget: QWidget, area: QWidget) -> bool:
    """All of `widget` shows, not clipped by a scroll area, inside `area`."""
    rect = QRect(widget.mapTo(area, QPoint(0, 0)), widget.size())
    unclipped = widget.visibleRegion().boundingRect().size() == widget.size()
    return widget.isVisible() and unclipped and area.rect().contains(rect)


def test_the_advanced_section_is_shown_as_the_user_left_it(window, qtbot, settings) -> None:
    assert not window.generation_panel.advanced.expanded()  # a first start: folded
    toggle = window.findChild(QToolButton, "advancedToggle")
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    assert window.generation_panel.scheduler_combo.isVisible()

    again = restart(window, settings, qtbot)
    try:
        panel = again.generation_panel
        assert panel.advanced.expanded()
        assert panel.inpaint_options.isVisible() and panel.scheduler_combo.isVisible()
        # Opened where it is: the prompt the user starts with is still at the top.
        assert panel.scroll.verticalScrollBar().value() == 0
        assert _whole_in(panel.prompt_edit, panel.scroll.viewport())
        qtbot.mouseClick(again.findChild(QToolButton, "advancedToggle"), Qt.MouseButton.LeftButton)
        third = restart(again, settings, qtbot)
    finally:
        close_window(again)
    try:
        assert not third.generation_panel.advanced.expanded()
        assert not third.generation_panel.inpaint_options.isVisible()
    finally:
        close_window(third)


def test_generate_stays_in_view_in_a_short_dock_with_advanced_open(window, qtbot) -> None:
    panel, dock = window.generation_panel, window.generation_dock
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: window.height() == 900)
    window.reset_layout()
    _settle(qtbot)
    qtbot.mouseClick(window.findChild(QToolButton, "advancedToggle"), Qt.MouseButton.LeftButton)
    bar = panel.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() > 0)  # Advanced scrolled into view
    assert _whole_in(panel.generate_button, dock)  # and Generate did not scroll away
    # A message is the progress bar's text: Generate stays under the pointer and the
    # settings keep their height.
    at = panel.generate_button.mapTo(dock, QPoint(0, 0))
    viewport = panel.scroll.viewport().size()
    panel.set_running(True)
    panel.set_waiting("Loading the model…")
    _settle(qtbot)
    assert panel.generate_button.mapTo(dock, QPoint(0, 0)) == at
    assert panel.scroll.viewport().size() == viewport
    assert panel.progress_bar.shown_text() == "Loading the model…"
    assert _whole_in(panel.progress_bar, dock)
    panel.set_running(False)
    # As short as the column lets it get: the Layers dock below takes the rest.
    window.resizeDocks([dock, window.layers_dock], [1, 2000], Qt.Orientation.Vertical)
    _settle(qtbot)
    assert dock.height() < 300
    for widget in (panel.generate_button, panel.cancel_button, panel.progress_bar):
        assert _whole_in(widget, dock), widget.objectName()
    # The settings scroll behind them: each Advanced row can be scrolled to, the
    # buttons staying where they are.
    at = panel.generate_button.mapTo(dock, QPoint(0, 0))
    for row in (panel.prompt_edit, panel.scheduler_combo, panel.samples_spin):
        bar.setValue(row.mapTo(panel.scroll.widget(), QPoint(0, 0)).y())  # scrolled to
        _settle(qtbot)
        assert _whole_in(row, panel.scroll.viewport()), row.objectName()
        assert panel.generate_button.mapTo(dock, QPoint(0, 0)) == at
    assert _whole_in(panel.generate_button, dock)


def test_a_panel_of_its_own_pins_its_buttons_under_the_settings(qtbot) -> None:
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.advanced.set_expanded(True)
    panel.resize(380, 300)
    with qtbot.waitExposed(panel):
        panel.show()
    _settle(qtbot)
    assert panel.scroll.verticalScrollBar().maximum() > 0  # the settings scroll
    for widget in (panel.generate_button, panel.progress_bar):
        assert _whole_in(widget, panel)
        assert not panel.scroll.isAncestorOf(widget)
    with qtbot.waitSignal(panel.generate_requested, timeout=1000):
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)


def test_the_seed_lock_shows_whether_it_is_locked(qtbot) -> None:
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    lock = panel.seed_lock
    assert not panel.seed_locked()

    def drawn() -> QImage:
        return lock.icon().pixmap(QSize(18, 18)).toImage()

    unlocked, unlocked_tip = drawn(), lock.toolTip()
    qtbot.mouseClick(lock, Qt.MouseButton.LeftButton)
    assert panel.seed_locked()
    assert drawn() != unlocked  # a closed padlock, not the same picture checked
    assert lock.toolTip() != unlocked_tip and lock.toolTip().startswith("Seed locked")
    assert unlocked_tip.startswith("Seed unlocked")

    panel.set_seed_locked(False)
    assert drawn() == unlocked and lock.toolTip() == unlocked_tip


def test_the_prompt_hint_names_where_generate_paints(
    window, qtbot, png_path, tiny_modern_dir
) -> None:
    from editor.ui.generate.edit_mode import INSTRUCTION_HINT
    from tests.editor.ui.test_painting import drag, open_at_100

    panel = window.generation_panel
    hint = panel.prompt_edit.placeholderText
    # A first start's empty canvas: the picture, not "the region" (region layers are
    # something else, Layer ▸ Region Prompt).
    assert hint() == "Prompt: what should appear in the picture"
    open_at_100(window, png_path)
    window.set_tool("select_rect")
    drag(qtbot, window, [(10, 10), (60, 50)])
    assert hint() == "Prompt: what should appear in the selection"
    qtbot.keyClick(window.canvas, Qt.Key.Key_M)  # a painted mask wins, as Generate does
    drag(qtbot, window, [(20, 20), (40, 30)])  # inside the selection, which clips it
    assert window.document.has_mask()
    assert hint() == "Prompt: what should appear in the masked area"
    window.undo()
    assert hint() == "Prompt: what should appear in the selection"
    window.document.select_none()
    assert hint() == "Prompt: what should appear in the picture"
    window.document.set_generation_frame(QRect(0, 0, 64, 64))
    assert hint() == "Prompt: what should appear in the frame"

    panel.set_model(str(tiny_modern_dir("flux-kontext")))
    panel.set_mode("edit")
    assert hint() == INSTRUCTION_HINT
    window.document.set_generation_frame(None)  # Edit's hint stays while it is chosen
    assert hint() == INSTRUCTION_HINT
    panel.set_mode("auto")
    assert hint() == "Prompt: what should appear in the picture"
    window.new_document(64, 64)
    window.document.select_rect(QRect(0, 0, 8, 8))  # the new picture's selection counts
    assert hint() == "Prompt: what should appear in the selection"
