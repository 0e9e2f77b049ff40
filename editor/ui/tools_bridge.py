"""Feeds canvas pointer events into the editor-model's tool controllers (editor/tools).

The controllers own what a gesture does to the document (one undo step per gesture);
this bridge picks the active one, keeps the shared BrushSettings in step with the tool
options dock, handles Alt+click colour picking while painting, modifier keys for
selection modes (named in the tool options and the status bar while they are held),
and the outline of a selection being dragged.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import QMainWindow

from editor.model.document import Document
from editor.tools.base import Tool
from editor.tools.brush import (
    BrushSettings,
    BrushTool,
    EraserTool,
    MaskBrushTool,
    MaskEraserTool,
)
from editor.tools.object_tools import MagicWandTool, SelectObjectTool
from editor.tools.other_tools import ColorPickerTool, FillTool, MoveLayerTool
from editor.tools.selection_tools import (
    EllipseSelectTool,
    FrameTool,
    LassoSelectTool,
    RectSelectTool,
)
from editor.ui.canvas_view import CanvasView
from editor.ui.tool_options import ToolOptions

log = logging.getLogger(__name__)

PAINT_TOOLS = ("brush", "eraser", "mask", "mask_eraser")
SELECTION_TOOLS = ("select_rect", "select_ellipse", "lasso", "wand", "select_object", "frame")
TOOL_NAMES = (*PAINT_TOOLS, "move", "picker", "fill", *SELECTION_TOOLS)
Mod = Qt.KeyboardModifier


# The selection tools whose drags combine with the current selection (the frame does not).
COMBINING_TOOLS = ("select_rect", "select_ellipse", "lasso", "wand", "select_object")
MODIFIER_KEYS = {
    Qt.Key.Key_Shift: Mod.ShiftModifier,
    Qt.Key.Key_Alt: Mod.AltModifier,
    Qt.Key.Key_Control: Mod.ControlModifier,
}
_KEY_EVENTS = (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
_STATUS_PREFIX = "Selection: "


def selection_mode(modifiers: Qt.KeyboardModifier, chosen: str = "replace") -> str:
    """Krita's keys: Shift adds, Alt subtracts, Shift+Alt intersects. Ctrl stands in for
    Alt (GIMP's subtract), since many window managers take Alt+drag to move windows.
    Without a key, the mode chosen in the tool options."""
    shift = bool(modifiers & Mod.ShiftModifier)
    cut = bool(modifiers & (Mod.AltModifier | Mod.ControlModifier))
    if shift and cut:
        return "intersect"
    return "add" if shift else "subtract" if cut else chosen


def _key_names(modifiers: Qt.KeyboardModifier) -> str:
    names = (("Shift", Mod.ShiftModifier), ("Ctrl", Mod.ControlModifier),
             ("Alt", Mod.AltModifier))  # fmt: skip
    return "+".join(name for name, flag in names if modifiers & flag)


class ToolsBridge(QObject):
    def __init__(
        self, canvas: CanvasView, options: ToolOptions, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.options = options
        self.brush_settings = BrushSettings()
        self.document: Document | None = None
        self.name = "brush"
        self._tools: dict[str, Tool] = {}
        self._gesture: Tool | None = None
        self._held = Mod.NoModifier
        options.changed.connect(self._options_changed)
        options.selection_group.buttonClicked.connect(lambda _b: self._show_selection_mode())
        canvas.tool = self
        self._options_changed()

    def set_document(self, document: Document) -> None:
        self.cancel()
        self.document = document
        s = self.brush_settings
        picker = ColorPickerTool(document, s)
        picker.on_pick.append(self._picked)
        self._tools = {
            "brush": BrushTool(document, s),
            "eraser": EraserTool(document, s),
            "mask": MaskBrushTool(document, s),
            "mask_eraser": MaskEraserTool(document, s),
            "move": MoveLayerTool(document),
            "picker": picker,
            "fill": FillTool(document, s),
            "select_rect": RectSelectTool(document),
            "select_ellipse": EllipseSelectTool(document),
            "lasso": LassoSelectTool(document),
            "wand": MagicWandTool(document),
            "select_object": SelectObjectTool(document),
            "frame": FrameTool(document),
        }
        self.set_tool(self.name)

    def tool(self, name: str | None = None) -> Tool | None:
        return self._tools.get(name or self.name)

    def set_tool(self, name: str) -> None:
        if name not in TOOL_NAMES:
            raise ValueError(f"unknown tool {name!r}")
        self.cancel()
        self.name = name
        self.canvas.show_brush_outline = name in PAINT_TOOLS
        self.canvas.update()
        self.options.show_tool(name)
        self.options.set_selection_tool(name in COMBINING_TOOLS)
        self._watch_modifiers(name in COMBINING_TOOLS)
        self._show_selection_mode()

    def _watch_modifiers(self, on: bool) -> None:
        """Modifier keys go to whichever widget has focus, so a selection tool watches them
        application-wide; only then: an application event filter costs every event of
        every widget (about 0.1 ms per brush dab)."""
        app = QCoreApplication.instance()
        if app is None:
            return
        if on:
            app.installEventFilter(self)  # installed once however often this runs
            self._held = QGuiApplication.queryKeyboardModifiers() & (
                Mod.ShiftModifier | Mod.AltModifier | Mod.ControlModifier
            )
        else:
            app.removeEventFilter(self)
            self._held = Mod.NoModifier

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in _KEY_EVENTS:
            flag = MODIFIER_KEYS.get(event.key())  # type: ignore[attr-defined]
            if flag is not None:
                # Platforms differ on whether a modifier key's own event carries it.
                held = event.modifiers() & (  # type: ignore[attr-defined]
                    Mod.ShiftModifier | Mod.AltModifier | Mod.ControlModifier
                )
                held = held | flag if kind == QEvent.Type.KeyPress else held & ~flag
                self._set_held(held)
        elif kind == QEvent.Type.ApplicationDeactivate:
            self._set_held(Mod.NoModifier)  # a key released elsewhere never reaches us
        elif kind == QEvent.Type.MouseButtonPress:
            # A key released while a modal dialog was up (Ctrl of a Ctrl+Q answered with
            # Cancel) never reached us either; a click carries the keys really held.
            self._set_held(
                event.modifiers()  # type: ignore[attr-defined]
                & (Mod.ShiftModifier | Mod.AltModifier | Mod.ControlModifier)
            )
        return False

    def _set_held(self, held: Qt.KeyboardModifier) -> None:
        if held != self._held:
            self._held = held
            self._show_selection_mode()

    def _show_selection_mode(self) -> None:
        """Name the operation a drag would do now, in the tool options and, while keys
        change it, in the status bar."""
        chosen = self.options.selection_mode
        held = self._held if self.name in COMBINING_TOOLS else Mod.NoModifier
        mode = selection_mode(held, chosen)
        keys = _key_names(held) if mode != chosen else ""
        self.options.show_selection_mode(mode, keys)
        window = self.parent()
        if not isinstance(window, QMainWindow):
            return
        bar = window.statusBar()
        if keys:
            bar.showMessage(f"{_STATUS_PREFIX}{mode.capitalize()} ({keys} held)")
        elif bar.currentMessage().startswith(_STATUS_PREFIX):
            bar.clearMessage()

    def busy(self) -> bool:
        """True during a gesture (undo waits until the stroke is finished)."""
        return self._gesture is not None

    def cancel(self) -> bool:
        """Drop the gesture in progress (Esc); True if there was one."""
        tool, self._gesture = self._gesture, None
        if tool is None:
            return False
        tool.cancel()
        self.canvas.set_tool_outline(None)
        return True

    def _options_changed(self) -> None:
        s = self.brush_settings
        o = self.options
        s.size = float(o.size)
        s.hardness = o.hardness
        s.opacity = o.opacity
        s.spacing = o.spacing
        s.smoothing = o.smoothing
        s.pressure_size = o.pressure_size_check.isChecked()
        s.pressure_opacity = o.pressure_opacity_check.isChecked()
        fg = o.foreground
        s.color = (fg.red(), fg.green(), fg.blue())
        self.canvas.set_brush_size(o.size)

    def _picked(self, rgba: tuple[int, int, int, int]) -> None:
        self.options.set_foreground(QColor(*rgba[:3]))

    # PointerTool protocol (called by the canvas view) ----------------------------------
    def press(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        if self.document is None:
            return
        name = self.name
        if name in ("brush", "fill") and modifiers & Mod.AltModifier:
            name = "picker"  # Alt+click picks a colour while painting
        tool = self._tools[name]
        if name in SELECTION_TOOLS and hasattr(tool, "mode"):
            tool.mode = selection_mode(modifiers, self.options.selection_mode)
        self._gesture = tool
        tool.begin(pos.x(), pos.y(), pressure)
        self._show_outline(tool)

    def move(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        tool = self._gesture
        if tool is not None:
            tool.move(pos.x(), pos.y(), pressure)
            self._show_outline(tool)

    def release(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        tool, self._gesture = self._gesture, None
        if tool is None:
            return
        tool.move(pos.x(), pos.y(), pressure)
        self.canvas.set_tool_outline(None)
        try:
            tool.end()
        except ValueError as e:  # e.g. a refused edit; the document is unchanged
            log.info("tool %s refused: %s", tool.name, e)
        window = self.parent()
        if tool.refusal and isinstance(window, QMainWindow):
            window.statusBar().showMessage(tool.refusal, 8000)

    def _show_outline(self, tool: Tool) -> None:
        outline = getattr(tool, "outline", None)
        if outline is not None and tool.active:
            self.canvas.set_tool_outline(outline())
