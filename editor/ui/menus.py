"""The main window's menu bar (which action sits in which menu, in what order) and what
each action does when triggered.

The actions themselves (texts, shortcuts) are in `editor.ui.actions`. `None` in a list
is a separator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from editor.ui.tools_bridge import TOOL_NAMES

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
    _fill(bar.addMenu("&Image"), (a.canvas_size, a.scale_image, None, a.upscale))
    view = _fill(bar.addMenu("&View"), (a.zoom_in, a.zoom_out, a.fit, a.actual_size, None))
    _fill(view, (a.toggle_mask, None))
    for dock in (window.tools_dock, window.generation_dock, window.layers_dock,
                 window.history_dock, window.generations_dock, window.live_dock,
                 window.results_dock):  # fmt: skip
        view.addAction(dock.toggleViewAction())
    _fill(view, (None, a.reset_layout))
    _fill(
        bar.addMenu("&Tools"),
        (*window.tool_actions, None, a.brush_smaller, a.brush_bigger, a.swap_colors),
    )
    _fill(
        bar.addMenu("&Layer"),
        (a.add_layer, a.duplicate_layer, a.delete_layer, None, a.raise_layer, a.lower_layer,
         a.layer_to_top, a.layer_to_bottom, None, a.merge_down, a.flatten, None,
         a.control_layer, a.make_control),
    )  # fmt: skip
    _fill(
        bar.addMenu("&Generate"),
        (a.generate, a.cancel, a.clear_frame, None, a.accept_candidate, a.discard_candidate,
         a.discard_all, None, *window.live.actions, None, a.models, a.train_lora),
    )  # fmt: skip
    _fill(bar.addMenu("&Help"), (a.user_guide, a.shortcuts, None, a.show_log, None, a.about))
    return recent


def _open_models(w: MainWindow) -> None:
    from editor.ui.model_manager.dialog import open_models_dialog  # loaded when first opened

    open_models_dialog(w)


def _open_train(w: MainWindow) -> None:
    from editor.ui.train.dialog import open_train_dialog  # loaded when first opened

    open_train_dialog(w)


def _help(w: MainWindow, what: str) -> None:
    from editor.ui import help_dialogs  # loaded when first opened

    getattr(help_dialogs, what)(w)


def _control_layers_ui(w: MainWindow, what: str) -> None:
    from editor.ui.generate import control_layer_dialog as dialogs

    getattr(dialogs, what)(w)


def connect_actions(w: MainWindow) -> None:
    """Connect every action to the window method (or view/panel slot) it runs."""
    a, c = w.actions, w.canvas
    connections: dict[str, Callable[..., object]] = {
        "new": w.ask_new_document,
        "open": lambda: w.open_path(None),
        "import_layer": lambda: w.import_layer(None),
        "save": lambda: w.save(),
        "save_as": lambda: w.save_as(None),
        "export": lambda: w.export_png(None),
        "close": w.close_document,
        "quit": w.close,
        "copy": lambda: w.copy(merged=False),
        "copy_merged": lambda: w.copy(merged=True),
        "paste": w.paste,
        "clear": w.clear_selected,
        "fill_foreground": w.fill_with_foreground,
        "settings": w.show_settings,
        "select_all": lambda: w.edit("select_all"),
        "select_none": lambda: w.edit("select_none"),
        "invert_selection": lambda: w.edit("invert_selection"),
        "grow_selection": lambda: w.ask_selection_radius("grow_selection", "Grow by"),
        "shrink_selection": lambda: w.ask_selection_radius("shrink_selection", "Shrink by"),
        "feather_selection": lambda: w.ask_selection_radius("feather_selection", "Feather"),
        "selection_from_mask": w.selection_from_mask,
        "clear_mask": lambda: w.edit("clear_mask"),
        "invert_mask": lambda: w.edit("invert_mask"),
        "mask_from_selection": lambda: w.edit("mask_from_selection"),
        "canvas_size": w.ask_canvas_size,
        "scale_image": w.ask_scale_image,
        "upscale": w.upscale.open_dialog,
        "toggle_mask": c.set_mask_visible,
        "zoom_in": lambda: c.zoom_in(),
        "zoom_out": lambda: c.zoom_out(),
        "fit": c.fit,
        "actual_size": c.actual_size,
        "reset_layout": w.reset_layout,
        "brush_smaller": w.tool_options.smaller,
        "brush_bigger": w.tool_options.bigger,
        "swap_colors": w.tool_options.swap_colors,
        "add_layer": lambda: w.edit("add_layer"),
        "duplicate_layer": lambda: w.edit("duplicate_layer"),
        "delete_layer": lambda: w.edit("delete_layer"),
        "merge_down": lambda: w.edit("merge_down"),
        "raise_layer": lambda: w.edit("restack_layer", "up"),
        "lower_layer": lambda: w.edit("restack_layer", "down"),
        "layer_to_top": lambda: w.edit("restack_layer", "top"),
        "layer_to_bottom": lambda: w.edit("restack_layer", "bottom"),
        "flatten": lambda: w.edit("flatten"),
        "control_layer": lambda: _control_layers_ui(w, "edit_control_layer"),
        "make_control": lambda: _control_layers_ui(w, "make_control_from_layer"),
        "generate": w.generate,
        "clear_frame": lambda: w.edit("set_generation_frame", None),
        "cancel": w.cancel,
        "accept_candidate": w.accept_candidate,
        "discard_candidate": w.candidates.discard_current,
        "discard_all": w.candidates.clear,
        "about": w.show_about,
        "user_guide": lambda: _help(w, "open_user_guide"),
        "shortcuts": lambda: _help(w, "open_shortcuts"),
        "show_log": lambda: _help(w, "show_log_file"),
        "models": lambda: _open_models(w),
        "train_lora": lambda: _open_train(w),
    }
    for name, slot in connections.items():
        getattr(a, name).triggered.connect(slot)
    for name in TOOL_NAMES:
        getattr(a, f"tool_{name}").triggered.connect(lambda _c=False, n=name: w.set_tool(n))
    a.toggle_mask.setChecked(True)
    a.tool_brush.setChecked(True)
    w.layers_panel.add_context_actions([a.control_layer, a.make_control])
