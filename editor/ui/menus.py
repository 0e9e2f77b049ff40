"""The main window's menu bar (which action sits in which menu, in what order) and what
each action does when triggered.

The actions themselves (texts, shortcuts) are in `editor.ui.actions`. `None` in a list
is a separator. `ACTIONS` is the registry of what each action runs: the controller that
owns it and the method's name, connected in one place (`connect_actions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QWidget

from editor.ui.dock_layout import dock_view_action
from editor.ui.generate.control_layer_dialog import edit_control_layer, make_control_from_layer
from editor.ui.generate.layer_role_dialogs import edit_reference_layer, edit_region_prompt
from editor.ui.generations.dock import GENERATIONS_SHORTCUT
from editor.ui.help_dialogs import open_shortcuts, open_user_guide, show_log_file
from editor.ui.tools_bridge import TOOL_NAMES

if TYPE_CHECKING:
    from editor.ui.actions import Actions
    from editor.ui.canvas_view import CanvasView
    from editor.ui.generate.candidates import CandidatesStrip
    from editor.ui.layers_panel import LayersPanel
    from editor.ui.select_object import SelectObjectController
    from editor.ui.tool_options import ToolOptions
    from editor.ui.upscale.controller import UpscaleController
    from editor.ui.window_files import WindowFiles


class _Live(Protocol):
    actions: tuple[QAction, ...]


class MenuWindow(Protocol):
    """What the menus use of the main window: its actions and docks to list, and the
    controllers that own the actions (ACTIONS names the window's own methods, and a
    test checks each exists)."""

    actions: Actions
    undo_action: QAction
    redo_action: QAction
    tool_actions: list[QAction]
    live: _Live
    tools_dock: QDockWidget
    generation_dock: QDockWidget
    layers_dock: QDockWidget
    history_dock: QDockWidget
    generations_dock: QDockWidget
    live_dock: QDockWidget
    results_dock: QDockWidget
    files: WindowFiles
    canvas: CanvasView
    tool_options: ToolOptions
    candidates: CandidatesStrip
    upscale: UpscaleController
    select_object: SelectObjectController
    layers_panel: LayersPanel

    def menuBar(self) -> QMenuBar: ...
    def window(self) -> QWidget: ...
    def addAction(self, action: QAction) -> None: ...


# View menu keys of docks, by object name.
DOCK_SHORTCUTS = {"generationsDock": GENERATIONS_SHORTCUT}


def _fill(menu: QMenu, actions: Iterable[QAction | None]) -> QMenu:
    for action in actions:
        if action is None:
            menu.addSeparator()
        else:
            menu.addAction(action)
    return menu


def create_menus(window: MenuWindow) -> QMenu:
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
         a.feather_selection, a.selection_from_mask, None, a.tool_wand, a.tool_select_object,
         None, a.clear_mask, a.invert_mask, a.mask_from_selection),
    )  # fmt: skip
    _fill(bar.addMenu("&Image"), (a.canvas_size, a.scale_image, None, a.upscale,
                                  a.remove_background))  # fmt: skip
    view = _fill(bar.addMenu("&View"), (a.zoom_in, a.zoom_out, a.fit, a.actual_size, None))
    _fill(view, (a.toggle_mask, None))
    for dock in (window.tools_dock, window.generation_dock, window.layers_dock,
                 window.history_dock, window.generations_dock, window.live_dock,
                 window.results_dock):  # fmt: skip
        entry = dock_view_action(dock, DOCK_SHORTCUTS.get(dock.objectName(), ""))
        view.addAction(entry)
        window.addAction(entry)  # its key works with the menu bar hidden too
    _fill(view, (None, a.reset_layout))
    _fill(
        bar.addMenu("&Tools"),
        (*window.tool_actions, None, a.brush_smaller, a.brush_bigger, a.swap_colors),
    )
    _fill(
        bar.addMenu("&Layer"),
        (a.add_layer, a.duplicate_layer, a.delete_layer, a.rename_layer, None,
         a.raise_layer, a.lower_layer, a.layer_to_top, a.layer_to_bottom, None,
         a.merge_down, a.flatten, None,
         a.control_layer, a.make_control, a.region_prompt, a.reference_layer),
    )  # fmt: skip
    _fill(
        bar.addMenu("&Generate"),
        (a.generate, a.cancel, a.clear_frame, None, a.accept_candidate, a.discard_candidate,
         a.discard_all, None, *window.live.actions, None, a.models, a.train_lora),
    )  # fmt: skip
    _fill(bar.addMenu("&Help"), (a.user_guide, a.shortcuts, None, a.show_log, None, a.about))
    return recent


class Dialogs:
    """The menus' dialogs of one window; the Models and Train dialogs load when first
    opened (start-up time)."""

    def __init__(self, window: QWidget) -> None:
        self._window = window

    def models(self) -> None:
        # ~40 ms (http, ssl, the model manager): loaded when first opened, not at start-up
        from editor.ui.model_manager.dialog import open_models_dialog

        open_models_dialog(self._window)

    def train_lora(self) -> None:
        # ~40 ms (http, ssl, training's modules): loaded when first opened, not at start-up
        from editor.ui.train.dialog import open_train_dialog

        open_train_dialog(self._window)

    def user_guide(self) -> None:
        open_user_guide(self._window)

    def shortcuts(self) -> None:
        open_shortcuts(self._window)

    def show_log(self) -> None:
        show_log_file(self._window)

    def edit_control_layer(self) -> None:
        edit_control_layer(self._window)

    def make_control_from_layer(self) -> None:
        make_control_from_layer(self._window)

    def edit_region_prompt(self) -> None:
        edit_region_prompt(self._window)

    def edit_reference_layer(self) -> None:
        edit_reference_layer(self._window)


# The argument an action passes on: its checked state (a toggle).
CHECKED = object()

# Every action: its name in editor.ui.actions -> (the controller that owns it, the
# method, its arguments). The owners are named in `owners` below; the method is looked up
# when the action fires, so a method replaced on its owner (a test's hook) is the one
# that runs. Document edits go through the window's `edit`, which shows a refusal.
ACTIONS: dict[str, tuple[str, str, tuple[object, ...] | object]] = {
    "new": ("window", "ask_new_document", ()),
    "open": ("files", "open_path", (None,)),
    "import_layer": ("files", "import_layer", (None,)),
    "save": ("files", "save", ()),
    # A hook on the window that tests replace (see editor.ui.window_files).
    "save_as": ("window", "save_as", (None,)),
    "export": ("files", "export_png", (None,)),
    "close": ("files", "close_document", ()),
    "quit": ("window", "close", ()),
    "copy": ("files", "copy", (False,)),
    "copy_merged": ("files", "copy", (True,)),
    "paste": ("files", "paste", ()),
    "clear": ("window", "clear_selected", ()),
    "fill_foreground": ("window", "fill_with_foreground", ()),
    "settings": ("window", "show_settings", ()),
    "select_all": ("window", "edit", ("select_all",)),
    "select_none": ("window", "edit", ("select_none",)),
    "invert_selection": ("window", "edit", ("invert_selection",)),
    "grow_selection": ("window", "ask_selection_radius", ("grow_selection", "Grow by")),
    "shrink_selection": ("window", "ask_selection_radius", ("shrink_selection", "Shrink by")),
    "feather_selection": ("window", "ask_selection_radius", ("feather_selection", "Feather")),
    "selection_from_mask": ("window", "selection_from_mask", ()),
    "clear_mask": ("window", "edit", ("clear_mask",)),
    "invert_mask": ("window", "edit", ("invert_mask",)),
    "mask_from_selection": ("window", "edit", ("mask_from_selection",)),
    "canvas_size": ("window", "ask_canvas_size", ()),
    "scale_image": ("window", "ask_scale_image", ()),
    "upscale": ("upscale", "open_dialog", ()),
    "remove_background": ("select_object", "ask_remove_background", ()),
    "toggle_mask": ("canvas", "set_mask_visible", CHECKED),
    "zoom_in": ("canvas", "zoom_in", ()),
    "zoom_out": ("canvas", "zoom_out", ()),
    "fit": ("canvas", "fit", ()),
    "actual_size": ("canvas", "actual_size", ()),
    "reset_layout": ("window", "reset_layout", ()),
    "brush_smaller": ("tool_options", "smaller", ()),
    "brush_bigger": ("tool_options", "bigger", ()),
    "swap_colors": ("tool_options", "swap_colors", ()),
    "add_layer": ("window", "edit", ("add_layer",)),
    "duplicate_layer": ("window", "edit", ("duplicate_layer",)),
    "delete_layer": ("window", "edit", ("delete_layer",)),
    "rename_layer": ("layers", "rename_current", ()),
    "merge_down": ("window", "edit", ("merge_down",)),
    "raise_layer": ("window", "edit", ("restack_layer", "up")),
    "lower_layer": ("window", "edit", ("restack_layer", "down")),
    "layer_to_top": ("window", "edit", ("restack_layer", "top")),
    "layer_to_bottom": ("window", "edit", ("restack_layer", "bottom")),
    "flatten": ("window", "edit", ("flatten",)),
    "control_layer": ("dialogs", "edit_control_layer", ()),
    "make_control": ("dialogs", "make_control_from_layer", ()),
    "region_prompt": ("dialogs", "edit_region_prompt", ()),
    "reference_layer": ("dialogs", "edit_reference_layer", ()),
    "generate": ("window", "generate", ()),
    "clear_frame": ("window", "edit", ("set_generation_frame", None)),
    "cancel": ("window", "cancel", ()),
    "accept_candidate": ("window", "accept_candidate", ()),
    "discard_candidate": ("candidates", "discard_current", ()),
    "discard_all": ("candidates", "discard_all", ()),
    "about": ("window", "show_about", ()),
    "user_guide": ("dialogs", "user_guide", ()),
    "shortcuts": ("dialogs", "shortcuts", ()),
    "show_log": ("dialogs", "show_log", ()),
    "models": ("dialogs", "models", ()),
    "train_lora": ("dialogs", "train_lora", ()),
    **{f"tool_{name}": ("window", "set_tool", (name,)) for name in TOOL_NAMES},
}


def action_owners(w: MenuWindow) -> dict[str, object]:
    """The controllers that own the menus' actions, by the names ACTIONS uses."""
    return {
        "window": w,
        "files": w.files,
        "canvas": w.canvas,
        "tool_options": w.tool_options,
        "candidates": w.candidates,
        "upscale": w.upscale,
        "select_object": w.select_object,
        "layers": w.layers_panel,
        "dialogs": Dialogs(w.window()),
    }


def _slot(owner: object, method: str, args: tuple[object, ...] | object) -> Callable[..., None]:
    if args is CHECKED:
        return lambda checked=False: getattr(owner, method)(checked)
    return lambda _checked=False: getattr(owner, method)(*args)


def connect_actions(w: MenuWindow) -> None:
    """Connect every action to the method of its owner that ACTIONS names (one place)."""
    a = w.actions
    owners = action_owners(w)
    for name, (owner, method, args) in ACTIONS.items():
        getattr(a, name).triggered.connect(_slot(owners[owner], method, args))
    a.toggle_mask.setChecked(True)
    a.tool_brush.setChecked(True)
    # '[' and ']' size the brush only while the chosen tool has one (greyed otherwise).
    for action in (a.brush_smaller, a.brush_bigger):
        action.setEnabled(w.tool_options.has_size)
        w.tool_options.size_applies.connect(action.setEnabled)
    w.layers_panel.add_context_actions(
        [a.rename_layer, a.control_layer, a.make_control, a.region_prompt, a.reference_layer]
    )
