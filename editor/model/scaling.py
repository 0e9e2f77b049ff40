"""Scale the whole image: every layer, the mask, the selection and the frame.

Unlike canvas resize this changes every pixel, so its undo keeps the previous layers
themselves (the history counts their bytes against the cap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSize, Qt

from editor.model.blending import image_to_gray, image_to_pixels, wrap_gray
from editor.model.layer import Layer
from editor.model.undo import Command
from engine.request import Box

if TYPE_CHECKING:
    from editor.model.document import Document

_SMOOTH = Qt.TransformationMode.SmoothTransformation
_IGNORE = Qt.AspectRatioMode.IgnoreAspectRatio


def scale_layer(layer: Layer, sx: float, sy: float) -> Layer:
    """A resampled copy: premultiplied pixels, so edges do not pick up dark fringes."""
    out = layer.copy()
    out.uid = layer.uid
    out.x, out.y = round(layer.x * sx), round(layer.y * sy)
    if not layer.is_empty():
        size = QSize(max(round(layer.width * sx), 1), max(round(layer.height * sy), 1))
        out.pixels = image_to_pixels(layer.qimage().scaled(size, _IGNORE, _SMOOTH))
    return out


def scale_gray(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """A (h, w) uint8 mask or selection resampled smoothly to (height, width)."""
    src = wrap_gray(np.ascontiguousarray(arr))
    return image_to_gray(src.scaled(QSize(width, height), _IGNORE, _SMOOTH))


class ScaleImageCommand(Command):
    text = "Scale image"

    def __init__(self, doc: Document, width: int, height: int) -> None:
        self.doc = doc
        sx, sy = width / doc.width, height / doc.height
        self.old = _State.capture(doc)
        frame = doc.generation_frame
        if frame is not None:
            frame = Box(
                round(frame.x * sx),
                round(frame.y * sy),
                max(round(frame.width * sx), 1),
                max(round(frame.height * sy), 1),
            )
        layers = [scale_layer(layer, sx, sy) for layer in doc.layers]
        current = doc.current_layer
        new_current = layers[doc.index_of(current)] if current is not None else None
        self.new = _State(
            (width, height),
            layers,
            new_current,
            scale_gray(doc.mask, width, height),
            scale_gray(doc.selection, width, height),
            frame,
        )

    def redo(self) -> None:
        self.new.restore(self.doc)

    def undo(self) -> None:
        self.old.restore(self.doc)

    def nbytes(self) -> int:
        live = {id(layer) for layer in self.doc.layers}
        total = 0
        for state in (self.old, self.new):
            total += state.mask.nbytes + state.selection.nbytes
            total += sum(la.pixels.nbytes for la in state.layers if id(la) not in live)
        return total


class _State:
    def __init__(
        self,
        size: tuple[int, int],
        layers: list[Layer],
        current: Layer | None,
        mask: np.ndarray,
        selection: np.ndarray,
        frame: Box | None,
    ) -> None:
        self.size, self.layers, self.current = size, layers, current
        self.mask, self.selection, self.frame = mask, selection, frame

    @classmethod
    def capture(cls, doc: Document) -> _State:
        return cls(
            (doc.width, doc.height),
            list(doc.layers),
            doc.current_layer,
            doc.mask.copy(),
            doc.selection.copy(),
            doc.generation_frame,
        )

    def restore(self, doc: Document) -> None:
        doc.stack._replace_layers(self.layers, self.current)
        doc._resize(self.size, 0, 0, {"mask": self.mask.copy(), "selection": self.selection.copy()})
        doc._set_frame(self.frame)
