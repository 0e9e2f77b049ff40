"""Undo commands for document structure: layers, properties, canvas size, frame, arrays.

Pixel-level commands (strokes, fills) are ``editor.model.pixel_edit.PixelSwapCommand``.
Commands call the private ``_``-methods of the part they edit (``LayerStack``,
``MaskSelection``, the ``Document`` for canvas size and frame), which change state and emit
signals; they never touch views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRect

from editor.model.array_rects import bbox, crop, paste
from editor.model.layer import Layer
from editor.model.undo import Command

if TYPE_CHECKING:
    from editor.model.document import Document
    from editor.model.layer_stack import LayerStack
    from editor.model.mask_selection import MaskSelection
    from engine.request import Box


class InsertLayerCommand(Command):
    def __init__(
        self, stack: LayerStack, layer: Layer, index: int, text: str = "Add layer"
    ) -> None:
        self.stack, self.layer, self.index, self.text = stack, layer, index, text
        self._previous_current: Layer | None = stack.current_layer

    def redo(self) -> None:
        self.stack._insert(self.index, self.layer)
        self.stack._set_current(self.layer)

    def undo(self) -> None:
        self.stack._remove(self.layer)
        self.stack._set_current(self._previous_current)

    def nbytes(self) -> int:
        # A layer on the canvas costs the history nothing extra; an undone one does.
        return 0 if self.stack.contains(self.layer) else self.layer.pixels.nbytes


class RemoveLayerCommand(Command):
    def __init__(self, stack: LayerStack, layer: Layer, text: str = "Delete layer") -> None:
        self.stack, self.layer, self.text = stack, layer, text
        self.index = stack.index_of(layer)

    def redo(self) -> None:
        self.stack._remove(self.layer)
        below = self.stack.layers[max(self.index - 1, 0)] if self.stack.layers else None
        self.stack._set_current(below)

    def undo(self) -> None:
        self.stack._insert(self.index, self.layer)
        self.stack._set_current(self.layer)

    def nbytes(self) -> int:
        return 0 if self.stack.contains(self.layer) else self.layer.pixels.nbytes


class ReorderLayerCommand(Command):
    def __init__(
        self, stack: LayerStack, layer: Layer, to_index: int, text: str | None = None
    ) -> None:
        self.stack, self.layer, self.to_index = stack, layer, to_index
        self.from_index = stack.index_of(layer)
        # Not "Move layer": that is the Move tool's step, which shifts the pixels.
        self.text = text or "Reorder layer"

    def redo(self) -> None:
        self.stack._reorder(self.layer, self.to_index)

    def undo(self) -> None:
        self.stack._reorder(self.layer, self.from_index)


_PROPERTY_TEXT = {
    "name": "Rename layer",
    "opacity": "Layer opacity",
    "blend_mode": "Layer blend mode",
    "visible": "Layer visibility",
    "alpha_locked": "Lock layer alpha",
    "offset": "Move layer",
}


class LayerPropertiesCommand(Command):
    """Set any of name/opacity/blend_mode/visible/alpha_locked and the offset (x, y)."""

    def __init__(self, stack: LayerStack, layer: Layer, new: dict[str, Any]) -> None:
        self.stack, self.layer = stack, layer
        self.new = dict(new)
        self.old = {key: getattr(layer, key) for key in new}
        keys = sorted({"offset" if k in ("x", "y") else k for k in new})
        if len(keys) == 1:
            self.text = _PROPERTY_TEXT[keys[0]]
            if keys == ["visible"]:
                self.text = "Show layer" if new["visible"] else "Hide layer"
            elif keys == ["alpha_locked"]:
                self.text = "Lock layer alpha" if new["alpha_locked"] else "Unlock layer alpha"
        else:
            self.text = "Layer properties"

    def redo(self) -> None:
        self.stack._set_properties(self.layer, self.new)

    def undo(self) -> None:
        self.stack._set_properties(self.layer, self.old)

    def merge(self, other: Command) -> bool:
        # Dragging the opacity slider of one layer makes one step, not hundreds. Moves are
        # not merged: each drag of the move tool is its own step.
        if (
            isinstance(other, LayerPropertiesCommand)
            and other.layer is self.layer
            and set(other.new) == set(self.new)
            and set(self.new) == {"opacity"}
        ):
            self.new = other.new
            return True
        return False


class ReplaceLayersCommand(Command):
    """Swap the whole layer list (merge down, flatten): the removed layers stay for undo."""

    def __init__(
        self, stack: LayerStack, new_layers: list[Layer], current: Layer | None, text: str
    ):
        self.stack, self.text = stack, text
        self.old_layers = list(stack.layers)
        self.old_current = stack.current_layer
        self.new_layers = list(new_layers)
        self.new_current = current

    def redo(self) -> None:
        self.stack._replace_layers(self.new_layers, self.new_current)

    def undo(self) -> None:
        self.stack._replace_layers(self.old_layers, self.old_current)

    def nbytes(self) -> int:
        held = {id(layer): layer for layer in self.old_layers + self.new_layers}
        live = {id(layer) for layer in self.stack.layers}
        # Layers on screen are not extra memory; count those only this command keeps alive.
        return sum(layer.pixels.nbytes for key, layer in held.items() if key not in live)


class ArrayRegionCommand(Command):
    """Replace a rectangle of the mask or selection; stores only that rectangle (swapped).

    With ``merging``, a run of such edits of the same kind (``text``) is one step, as in
    Krita: a dozen rectangle drags fill one History row, and undo returns to the
    selection before the first.
    """

    def __init__(
        self,
        masks: MaskSelection,
        which: str,
        rect: QRect,
        new: np.ndarray,
        text: str,
        merging: bool = False,
    ):
        self.masks, self.which, self.rect, self.text = masks, which, QRect(rect), text
        self.data = np.ascontiguousarray(new)
        self.merging = merging

    def _swap(self) -> None:
        view = crop(self.masks._array(self.which), self.rect)
        old = view.copy()
        view[...] = self.data
        self.data = old
        self.masks._array_changed(self.which, self.rect)

    def redo(self) -> None:
        self._swap()

    def undo(self) -> None:
        self._swap()

    def nbytes(self) -> int:
        return self.data.nbytes

    def merge(self, other: Command) -> bool:
        if not (
            self.merging
            and isinstance(other, ArrayRegionCommand)
            and other.merging
            and (other.which, other.text) == (self.which, self.text)
        ):
            return False
        # Both are done, so each holds the pixels from before it: rebuild the state
        # before self over both rectangles, newest first so self's older pixels win.
        union = self.rect.united(other.rect)
        before = crop(self.masks._array(self.which), union).copy()
        for cmd in (other, self):
            paste(before, cmd.data, cmd.rect.x() - union.x(), cmd.rect.y() - union.y())
        self.rect, self.data = union, before
        return True


class InvertArrayCommand(Command):
    """Invert the mask or selection: its own inverse, so it stores nothing."""

    def __init__(self, masks: MaskSelection, which: str, text: str) -> None:
        self.masks, self.which, self.text = masks, which, text

    def _flip(self) -> None:
        arr = self.masks._array(self.which)
        np.subtract(255, arr, out=arr)
        self.masks._array_changed(self.which, self.masks.rect())

    def redo(self) -> None:
        self._flip()

    def undo(self) -> None:
        self._flip()


class CanvasResizeCommand(Command):
    """New canvas size with the old content placed at (dx, dy).

    Layers keep all their pixels (only offsets shift), so undo is exact and cheap; the mask
    and selection are re-cut, keeping the old ones' non-empty parts for undo.
    """

    def __init__(self, doc: Document, width: int, height: int, dx: int, dy: int, text: str):
        self.doc, self.text = doc, text
        self.old_size = (doc.width, doc.height)
        self.new_size = (width, height)
        self.dx, self.dy = dx, dy
        self.old_frame = doc.generation_frame
        self.saved: dict[str, tuple[QRect, np.ndarray] | None] = {}
        for which in ("mask", "selection"):
            arr = doc.masks._array(which)
            box = bbox(arr)
            self.saved[which] = None if box is None else (box, crop(arr, box).copy())

    def redo(self) -> None:
        self.doc._resize(
            self.new_size, self.dx, self.dy, self._arrays(self.new_size, self.dx, self.dy)
        )

    def undo(self) -> None:
        self.doc._resize(self.old_size, -self.dx, -self.dy, self._arrays(self.old_size, 0, 0))

    def _arrays(self, size: tuple[int, int], dx: int, dy: int) -> dict[str, np.ndarray]:
        """Mask and selection at ``size``, the saved parts placed shifted by (dx, dy)."""
        out = {}
        for which, saved in self.saved.items():
            arr = np.zeros((size[1], size[0]), np.uint8)
            if saved is not None:
                box, data = saved
                paste(arr, data, box.x() + dx, box.y() + dy)
            out[which] = arr
        return out

    def nbytes(self) -> int:
        return sum(s[1].nbytes for s in self.saved.values() if s is not None)


class FrameCommand(Command):
    def __init__(self, doc: Document, frame: Box | None) -> None:
        self.doc, self.new, self.old = doc, frame, doc.generation_frame
        self.text = "Set generation frame" if frame is not None else "Clear generation frame"

    def redo(self) -> None:
        self.doc._set_frame(self.new)

    def undo(self) -> None:
        self.doc._set_frame(self.old)
