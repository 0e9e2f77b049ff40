"""Every menu/shortcut action of the main window, created in one place.

Keeping the key bindings in one table makes them easy to review and to test: the
tests press the keys and check that the action fired. Shortcuts follow Krita's where
Krita has the command (Ctrl+W close, Del clear, Shift+Backspace fill with the
foreground colour, Ctrl+Alt+I scale image, Ctrl+Alt+C canvas size, Ctrl+] / Ctrl+[ raise /
lower the layer, with Shift to the top / bottom, F2 rename the layer).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

StandardKey = QKeySequence.StandardKey

# name -> (menu text, shortcuts, checkable)
ACTION_TABLE: dict[str, tuple[str, tuple[str | QKeySequence.StandardKey, ...], bool]] = {
    "new": ("&New…", (StandardKey.New,), False),
    "open": ("&Open…", ("Ctrl+O",), False),
    "import_layer": ("&Import as Layer…", ("Ctrl+Shift+I",), False),
    "save": ("&Save", ("Ctrl+S",), False),
    "save_as": ("Save &As…", ("Ctrl+Shift+S",), False),
    "export": ("&Export PNG…", ("Ctrl+Shift+E",), False),
    "close": ("&Close", ("Ctrl+W",), False),
    "quit": ("&Quit", ("Ctrl+Q",), False),
    "copy": ("&Copy", ("Ctrl+C",), False),
    "copy_merged": ("Copy &Merged", ("Ctrl+Shift+C",), False),
    "paste": ("&Paste as New Layer", ("Ctrl+V",), False),
    "clear": ("C&lear", ("Del",), False),
    "fill_foreground": ("&Fill with Foreground Colour", ("Shift+Backspace",), False),
    "select_all": ("Select &All", ("Ctrl+A",), False),
    "select_none": ("Select &None", ("Ctrl+Shift+A",), False),
    "invert_selection": ("&Invert Selection", ("Ctrl+I",), False),
    "grow_selection": ("&Grow Selection…", (), False),
    "shrink_selection": ("S&hrink Selection…", (), False),
    "feather_selection": ("&Feather Selection…", (), False),
    "selection_from_mask": ("Select from &Mask", (), False),
    "canvas_size": ("Canvas &Size…", ("Ctrl+Alt+C",), False),
    "scale_image": ("Scale &Image…", ("Ctrl+Alt+I",), False),
    "upscale": ("&Upscale…", ("Ctrl+Alt+U",), False),
    "remove_background": ("Remove &Background…", (), False),
    "clear_mask": ("C&lear Mask", ("Shift+Del",), False),
    "invert_mask": ("In&vert Mask", (), False),
    "mask_from_selection": ("Mask from &Selection", (), False),
    "toggle_mask": ("Show &Mask", ("Alt+M",), True),
    "settings": ("Se&ttings…", ("Ctrl+,",), False),
    "zoom_in": ("Zoom &In", ("Ctrl++", "Ctrl+="), False),
    "zoom_out": ("Zoom &Out", ("Ctrl+-",), False),
    "fit": ("&Fit to Window", ("Ctrl+0",), False),
    "actual_size": ("&100%", ("Ctrl+1",), False),
    "reset_layout": ("&Reset Layout", (), False),
    "tool_brush": ("&Brush", ("B",), True),
    "tool_eraser": ("&Eraser", ("E",), True),
    "tool_mask": ("&Mask Brush", ("M",), True),
    "tool_mask_eraser": ("Mask E&raser", ("Shift+M",), True),
    "tool_move": ("Mo&ve Layer", ("V",), True),
    "tool_picker": ("Colour &Picker", ("I",), True),
    "tool_fill": ("&Fill", ("G",), True),
    "tool_select_rect": ("&Rectangle Select", ("R",), True),
    "tool_select_ellipse": ("E&llipse Select", ("J",), True),
    "tool_lasso": ("&Lasso Select", ("L",), True),
    "tool_wand": ("Magic &Wand", ("W",), True),
    "tool_select_object": ("Select &Object", ("O",), True),
    "tool_frame": ("Generation F&rame", ("F",), True),
    "brush_smaller": ("Brush &Smaller", ("[",), False),
    "brush_bigger": ("Brush &Bigger", ("]",), False),
    "swap_colors": ("S&wap Colours", ("X",), False),
    "add_layer": ("&New Layer", ("Ctrl+Shift+N",), False),
    "duplicate_layer": ("&Duplicate Layer", ("Ctrl+J",), False),
    "delete_layer": ("De&lete Layer", (), False),
    "rename_layer": ("Ren&ame Layer…", ("F2",), False),
    "raise_layer": ("&Raise Layer", ("Ctrl+]",), False),
    "lower_layer": ("L&ower Layer", ("Ctrl+[",), False),
    "layer_to_top": ("Layer to To&p", ("Ctrl+Shift+]",), False),
    "layer_to_bottom": ("Layer to &Bottom", ("Ctrl+Shift+[",), False),
    "merge_down": ("&Merge Down", ("Ctrl+E",), False),
    "flatten": ("&Flatten Image", (), False),
    "control_layer": ("Con&trol Layer…", (), False),
    "make_control": ("Make Control from La&yer…", (), False),
    "region_prompt": ("Re&gion Prompt…", (), False),
    "reference_layer": ("R&eference Layer…", (), False),
    "generate": ("&Generate", ("Ctrl+Return", "Ctrl+Enter"), False),
    "cancel": ("&Cancel", ("Esc",), False),
    "clear_frame": ("Clear Generation &Frame", (), False),
    "accept_candidate": ("&Accept Result", (), False),
    "discard_candidate": ("&Discard Result", (), False),
    "discard_all": ("Discard &All Results", (), False),
    "models": ("&Models…", (), False),
    "train_lora": ("&Train LoRA…", (), False),
    "user_guide": ("&User Guide", ("F1",), False),
    "shortcuts": ("&Keyboard Shortcuts", ("Ctrl+/",), False),
    "show_log": ("Show &Log File", (), False),
    "about": ("&About Overpaint", (), False),
}


@dataclass
class Actions:
    """Attribute access to the actions by name: actions.save, actions.tool_brush, ..."""

    by_name: dict[str, QAction]

    def __getattr__(self, name: str) -> QAction:
        try:
            return self.__dict__["by_name"][name]
        except KeyError:
            raise AttributeError(name) from None


def create_actions(parent: QWidget) -> Actions:
    actions: dict[str, QAction] = {}
    for name, (text, keys, checkable) in ACTION_TABLE.items():
        action = QAction(text, parent)
        action.setObjectName(f"action_{name}")
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        if keys:
            shortcut = QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({shortcut})")
        parent.addAction(action)  # shortcuts work even when the menu bar is hidden
        actions[name] = action
    return Actions(actions)
