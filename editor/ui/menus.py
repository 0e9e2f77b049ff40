"""The main window's menu bar: which action sits in which menu, in what order.

The actions themselves (texts, shortcuts) are in `editor.ui.actions`; the window
connects them. `None` in a list is a separator.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from editor.ui.main_window import MainWindow


def _fill(menu: QMenu, actions: Iterable[QAction | None]) -> QMenu:
    for action in actions:
        if action is None:
            menu.addSeparator()
        else:
            menu.addAction(action)
    return menu


def create_menus(window: MainWindow) -> QMenu:
    """Build the window's menu bar; returns the Open Recent menu (filled when shown)."""
    a = window.actions
    bar = window.menuBar()
    file_menu = _fill(bar.addMenu("&File"), (a.new, a.open))
    recent = file_menu.addMenu("Open &Recent")
    _fill(file_menu, (a.import_layer, None, a.save, a.save_as, a.export, None, a.close, a.quit))
    _fill(
        bar.addMenu("&Edit"),
        (window.undo_action, window.redo_action, None, a.copy, a.copy_merged, a.paste, None,
         a.clear, a.fill_foreground, None, a.settings),
    )  # fmt: skip
    _fill(
        bar.addMenu("&Select"),
        (a.select_all, a.select_none, a.invert_selection, a.grow_selection, a.shrink_selection,
         a.feather_selection, a.selection_from_mask, None, a.clear_mask, a.invert_mask,
         a.mask_from_selection),
    )  # fmt: skip
    _fill(bar.addMenu("&Image"), (a.canvas_size, a.scale_image))
    view = _fill(bar.addMenu("&View"), (a.zoom_in, a.zoom_out, a.fit, a.actual_size, None))
    _fill(view, (a.toggle_mask, None))
    for dock in (window.tools_dock, window.generation_dock, window.layers_dock,
                 window.history_dock, window.results_dock):  # fmt: skip
        view.addAction(dock.toggleViewAction())
    _fill(
        bar.addMenu("&Tools"),
        (*window.tool_actions, None, a.brush_smaller, a.brush_bigger, a.swap_colors),
    )
    _fill(
        bar.addMenu("&Layer"),
        (a.add_layer, a.duplicate_layer, a.delete_layer, a.merge_down, a.flatten),
    )
    _fill(
        bar.addMenu("&Generate"),
        (a.generate, a.cancel, a.clear_frame, None, a.accept_candidate, a.discard_candidate,
         a.discard_all),
    )  # fmt: skip
    _fill(bar.addMenu("&Help"), (a.about,))
    return recent
