"""Dock sizes that never hide a dock's main buttons, and the default dock arrangement.

A dock's contents scroll when the dock is short, but its main buttons (Live, Apply; the
Generate panel pins its button under its scrolling settings and keeps its prompts in
view) must stay in view: `keep_in_view` gives the dock's scroll area a minimum height
that reaches down to them, so neither a neighbour growing (the Live side view), a
dragged splitter nor a saved layout from an older version can squash them away. The
minimum follows the contents (a LoRA row or status line appearing above the button).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLayout,
    QLayoutItem,
    QMainWindow,
    QScrollArea,
    QTabBar,
    QWidget,
)


def _holds(item: QLayoutItem, target: QWidget) -> bool:
    if item.widget() is not None:
        widget = item.widget()
        return widget is target or widget.isAncestorOf(target)
    layout = item.layout()
    if layout is None:
        return False
    return any(_holds(layout.itemAt(i), target) for i in range(layout.count()))


def height_down_to(layout: QLayout, target: QWidget) -> int:
    """The height a top-to-bottom `layout` needs, at its items' preferred heights, to show
    `target` in full. Squeezed items only get smaller, so no less height ever hides it."""
    margins = layout.contentsMargins()
    height, shown = margins.top(), 0
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item.isEmpty():  # a hidden widget takes no room
            continue
        if shown:
            height += max(layout.spacing(), 0)
        shown += 1
        height += item.sizeHint().height()
        if _holds(item, target):
            return height
    return height + margins.bottom()


class _KeepInView(QObject):
    def __init__(self, scroll: QScrollArea, targets: tuple[QWidget, ...]) -> None:
        super().__init__(scroll)
        self.scroll, self.targets = scroll, targets
        scroll.widget().installEventFilter(self)
        self.update()

    def update(self) -> None:
        content = self.scroll.widget()
        layout = content.layout()
        need = max(height_down_to(layout, t) for t in self.targets)
        frame = 2 * self.scroll.frameWidth()
        self.scroll.setMinimumHeight(need + frame)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.update()
        return False


def scrolling(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area that resizes it: docks scroll rather than force a
    window taller than small laptop screens."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


def keep_in_view(scroll: QScrollArea, *targets: QWidget) -> None:
    """Keep `scroll` (holding a widget with a top-to-bottom layout) tall enough to show
    each of `targets` without scrolling."""
    scroll.setProperty("keepInView", True)
    _KeepInView(scroll, targets)


def _tab_bar_height(window: QMainWindow, dock: QDockWidget) -> int:
    for bar in window.findChildren(QTabBar):
        if bar.isVisible() and any(
            bar.tabText(i) == dock.windowTitle() for i in range(bar.count())
        ):
            return bar.height()
    return 0


def give_room(window: QMainWindow, dock: QDockWidget, height: int, neighbour: QDockWidget) -> None:
    """Make `dock` `height` px tall, taking the room from `neighbour` above or below it in
    the same column; the neighbour keeps its minimum (its main buttons)."""
    if dock.isFloating() or neighbour.isFloating() or not dock.isVisible():
        return
    if window.dockWidgetArea(dock) != window.dockWidgetArea(neighbour):
        return
    # Sizes are of the column's items: a tabbed dock's item holds its tab bar too.
    tabs = _tab_bar_height(window, dock)
    total = neighbour.height() + dock.height() + tabs
    want = min(height + tabs, total)
    window.resizeDocks([neighbour, dock], [total - want, want], Qt.Orientation.Vertical)


def _behind_a_tab(dock: QDockWidget) -> bool:
    """Whether `dock` is open but another dock's tab covers it. Qt keeps a dock behind a
    tab "visible" (isVisible, its toggle action checked); only its on-screen region is
    empty."""
    window = dock.parentWidget()
    if dock.isFloating() or not isinstance(window, QMainWindow):
        return False
    return bool(window.tabifiedDockWidgets(dock)) and dock.visibleRegion().isEmpty()


def dock_view_action(dock: QDockWidget, shortcut: str = "") -> QAction:
    """The View menu's entry for `dock`, as Krita, Photoshop and Qt Creator do it: it opens
    a closed dock and brings it forward, brings forward an open dock that another tab
    covers, and closes only the dock in front. (The dock's own toggleViewAction closed a
    covered dock, and opened it again still behind the tab in front.)"""
    view = dock.toggleViewAction()
    action = QAction(view.text(), dock)
    action.setObjectName(f"view_{dock.objectName()}")
    action.setCheckable(True)
    action.setChecked(view.isChecked())
    if shortcut:
        key = QKeySequence(shortcut)
        action.setShortcut(key)
        native = key.toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{view.text().replace('&', '')} ({native})")
    view.toggled.connect(action.setChecked)  # closed by its title bar button, a saved layout

    def choose() -> None:
        if not view.isChecked():
            view.trigger()
            dock.raise_()
        elif _behind_a_tab(dock):
            dock.raise_()
        else:
            view.trigger()
        action.setChecked(view.isChecked())  # triggering flipped it; the dock's state rules

    action.triggered.connect(choose)
    return action
