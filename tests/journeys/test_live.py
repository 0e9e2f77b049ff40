"""Live painting as a new user meets it: every view mode keeps the Generate and Live
buttons on screen (also after a restart), View > Reset Layout, small blobs in the live
result, the control layer that steers it, and strokes that stay visible while painting."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDockWidget

from editor.ui.live_panel import DISPLAYS


def fully_visible(widget, window) -> bool:
    """Shown whole, with a size, inside the window: not scrolled, squashed or tabbed away."""
    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return False
    if widget.visibleRegion().boundingRect().size() != widget.size():
        return False
    corners = (widget.rect().topLeft(), widget.rect().bottomRight())
    return all(window.rect().contains(widget.mapTo(window, p)) for p in corners)


def main_buttons(window) -> dict[str, object]:
    live = window.live.panel
    return {
        "Generate": window.generation_panel.generate_button,
        "Live": live.live_button,
        "Apply": live.apply_button,
    }


def hidden_buttons(window) -> list[str]:
    window.live_dock.raise_()  # the Live tab, as a user clicks it
    QApplication.processEvents()
    return [name for name, b in main_buttons(window).items() if not fully_visible(b, window)]


def choose_view(window, key: str) -> None:
    combo = window.live.panel.display_combo
    combo.setCurrentIndex(combo.findData(key))
    QApplication.processEvents()


def restart(window, settings, qtbot):
    """Quit (the layout is saved) and start a new window with the same settings."""
    from editor.ui.main_window import MainWindow

    window.ask_save_changes = lambda: "discard"
    window.close()
    again = MainWindow(settings)
    again.show()
    qtbot.waitExposed(again)
    return again


def close_window(window) -> None:
    window.ask_save_changes = lambda: "discard"
    window.close()
    window.deleteLater()


def test_every_live_view_keeps_the_main_buttons_on_screen_also_after_a_restart(
    window, qtbot, settings
):
    assert hidden_buttons(window) == []
    for key, _text in (*DISPLAYS, DISPLAYS[0]):
        choose_view(window, key)
        assert hidden_buttons(window) == [], key
    choose_view(window, "side")
    again = restart(window, settings, qtbot)
    try:
        assert again.live.panel.display() == "overlay"  # a fresh start shows the overlay
        assert hidden_buttons(again) == []
        choose_view(again, "side")
        assert hidden_buttons(again) == []
        # The side view shows with a size, beside the buttons.
        assert fully_visible(again.live.panel.view, again)
    finally:
        close_window(again)


def test_a_squashed_saved_layout_is_corrected_on_the_next_start(window, qtbot, settings):
    # A layout saved by the older version: the Live dock pulled up over the Generate dock.
    choose_view(window, "side")
    window.resizeDocks([window.live_dock], [window.height()], Qt.Orientation.Vertical)
    QApplication.processEvents()
    again = restart(window, settings, qtbot)
    try:
        assert hidden_buttons(again) == []
    finally:
        close_window(again)


def test_reset_layout_brings_back_the_default_arrangement(window, qtbot):
    right = Qt.DockWidgetArea.RightDockWidgetArea
    QApplication.processEvents()
    default_height = window.generation_dock.height()
    window.tools_dock.close()
    window.live_dock.setFloating(True)
    window.removeDockWidget(window.layers_dock)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.layers_dock)
    window.layers_dock.show()
    window.resizeDocks([window.generation_dock], [150], Qt.Orientation.Vertical)
    QApplication.processEvents()

    window.actions.reset_layout.trigger()
    QApplication.processEvents()
    docks = window.findChildren(QDockWidget)
    assert all(d.isVisible() and not d.isFloating() for d in docks)
    assert window.dockWidgetArea(window.layers_dock) == right
    assert window.dockWidgetArea(window.tools_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert window.live_dock in window.tabifiedDockWidgets(window.layers_dock)
    assert abs(window.generation_dock.height() - default_height) <= 4
    assert hidden_buttons(window) == []
