"""Feeds canvas pointer events into the editor-model's tool controllers.

The controllers (editor/tools) own what a gesture does to the document; this bridge only
picks the active one, keeps its settings in step with the tool options dock, and sizes
the brush outline on the canvas.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QPointF, Qt

from editor.ui.canvas_view import CanvasView
from editor.ui.tool_options import ToolOptions

log = logging.getLogger(__name__)


class ToolsBridge(QObject):
    def __init__(
        self, canvas: CanvasView, options: ToolOptions, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.options = options
        self.document = None
        self.name = "brush"
        self._active = None
        self._in_gesture = False
        options.changed.connect(self._options_changed)
        canvas.tool = self
        self._options_changed()

    def set_document(self, document) -> None:  # noqa: ANN001
        self.document = document
        self._in_gesture = False
        self._active = None
        self.set_tool(self.name)

    def set_tool(self, name: str) -> None:
        self.name = name
        self._active = None
        self.canvas.show_brush_outline = name in ("brush", "eraser", "mask", "mask_eraser")
        self.canvas.update()

    def busy(self) -> bool:
        """True during a gesture (undo waits until the stroke is finished)."""
        return self._in_gesture

    def _options_changed(self) -> None:
        self.canvas.set_brush_size(self.options.size)

    # PointerTool protocol -------------------------------------------------------------
    def press(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        self._in_gesture = self._active is not None

    def move(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        pass

    def release(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        self._in_gesture = False
