"""View ▸ <dock>: the entry brings an open dock covered by another tab forward, closes the
dock in front, and opens a closed one in front; Ctrl+H does it for Generations."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QTabBar


def _view_entry(window, title: str) -> QAction:
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    return next(a for a in view.actions() if a.text() == title)


def _front_tab(window, dock: QDockWidget) -> str:
    """The title of the tab in front in `dock`'s tab group."""
    for bar in window.findChildren(QTabBar):
        titles = [bar.tabText(i) for i in range(bar.count())]
        if bar.isVisible() and dock.windowTitle() in titles:
            return bar.tabText(bar.currentIndex())
    return ""


def test_view_entry_raises_a_covered_dock_then_closes_it_then_opens_it_in_front(
    window, qtbot
) -> None:
    generations, layers = window.generations_dock, window.layers_dock
    assert generations in window.tabifiedDockWidgets(layers)
    assert _front_tab(window, generations) == "Layers"  # open, but behind the Layers tab
    entry = _view_entry(window, "Generations")
    assert entry.isChecked()

    entry.trigger()
    qtbot.waitUntil(lambda: not generations.visibleRegion().isEmpty())
    assert _front_tab(window, generations) == "Generations"
    assert layers.visibleRegion().isEmpty()
    assert entry.isChecked() and not generations.isHidden()

    entry.trigger()  # now in front: the entry closes it
    qtbot.waitUntil(generations.isHidden)
    assert not entry.isChecked()
    qtbot.waitUntil(lambda: _front_tab(window, layers) not in ("", "Generations"))

    entry.trigger()  # closed: opens in front, not behind Layers again
    qtbot.waitUntil(lambda: not generations.visibleRegion().isEmpty())
    assert entry.isChecked() and _front_tab(window, generations) == "Generations"


def test_a_dock_closed_by_its_title_bar_unchecks_its_entry(window, qtbot) -> None:
    entry = _view_entry(window, "History")
    window.history_dock.close()
    assert not entry.isChecked()
    window.history_dock.show()
    assert entry.isChecked()


def test_ctrl_h_brings_the_generations_dock_forward(window, qtbot) -> None:
    generations = window.generations_dock
    assert generations.visibleRegion().isEmpty()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not generations.visibleRegion().isEmpty())
    assert _front_tab(window, generations) == "Generations"
    assert _view_entry(window, "Generations").toolTip().endswith("(Ctrl+H)")
