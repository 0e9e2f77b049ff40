"""What every tool looks like to the canvas view.

The view maps pointer events to canvas coordinates (floats, canvas pixels) and calls
``begin(x, y, pressure)``, ``move(x, y, pressure)`` for each motion while the button is
held, and ``end()`` on release; ``cancel()`` (Esc) drops the gesture. A whole gesture is one
undo step, pushed by ``end()``. ``pressure`` is 0..1 (QTabletEvent.pressure(); 1 for mice).
When a gesture cannot do anything (no layer, a hidden one), ``refusal`` says why.
"""

from __future__ import annotations

from editor.model.document import Document
from editor.model.layer import Layer


class Tool:
    name = "tool"
    #: True when the view should show the brush outline at the current size.
    shows_brush_outline = False

    def __init__(self, document: Document) -> None:
        self.document = document
        self.active = False
        #: Why the last gesture did nothing, as one sentence for the status bar ("" if it
        #: worked), e.g. painting on a hidden layer.
        self.refusal = ""

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        self.active = True

    def move(self, x: float, y: float, pressure: float = 1.0) -> None:
        pass

    def end(self) -> None:
        self.active = False

    def cancel(self) -> None:
        self.active = False

    def _paintable_layer(self, verb: str) -> Layer | None:
        """The current layer if it can take paint; else None, with ``refusal`` saying why."""
        layer = self.document.current_layer
        if layer is None:
            self.refusal = f"There is no layer to {verb} on: add one first."
        elif not layer.visible:
            self.refusal = f'The layer "{layer.name}" is hidden: show it to {verb} on it.'
        else:
            return layer
        return None
