"""The mask and the selection: reading them, editing them (one undo step per call), and
the private state changes their undo commands call.

Both are (h, w) uint8 arrays the size of the canvas, 0 = outside, 255 = inside, values
between for soft edges. An object of its own, with its own arrays and signals, that needs
only an undo stack to push onto: ``MaskSelection(History(), w, h)`` works without a
Document. The Document holds one as ``doc.masks``, gives it new arrays when the canvas
changes size, forwards its signals and offers its public methods under the same names;
see ``editor.model.document`` for the public API summary.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QObject, QRect, QSize, Signal

from editor.model import commands as cmds
from editor.model import selection_ops
from editor.model.array_rects import bbox, crop
from editor.model.extent import NonzeroExtent
from editor.model.pixel_edit import PixelEdit, Surface
from editor.model.undo import History


class MaskSelection(QObject):
    mask_changed = Signal(QRect)
    selection_changed = Signal(QRect)

    def __init__(
        self, history: History, width: int, height: int, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.history = history
        self._mask = np.zeros((height, width), np.uint8)
        self._selection = np.zeros((height, width), np.uint8)
        self._extents = {
            "mask": NonzeroExtent(self._mask),
            "selection": NonzeroExtent(self._selection),
        }

    # ---------------------------------------------------------------- reading
    def size(self) -> QSize:
        """The canvas size, which is the arrays' size."""
        h, w = self._mask.shape
        return QSize(w, h)

    def rect(self) -> QRect:
        return QRect(0, 0, self.size().width(), self.size().height())

    @property
    def mask(self) -> np.ndarray:
        return self._mask

    @property
    def selection(self) -> np.ndarray:
        return self._selection

    def mask_bbox(self) -> QRect | None:
        return self._bbox("mask")

    def selection_bbox(self) -> QRect | None:
        return self._bbox("selection")

    def has_selection(self) -> bool:
        return self.selection_bbox() is not None

    def has_mask(self) -> bool:
        return self.mask_bbox() is not None

    # ---------------------------------------------------------------- editing: mask
    def set_mask(self, mask: np.ndarray, text: str = "Set mask") -> None:
        self._set_array("mask", mask, text)

    def clear_mask(self) -> None:
        self._set_array("mask", np.zeros_like(self._mask), "Clear mask")

    def invert_mask(self) -> None:
        self.history.push(cmds.InvertArrayCommand(self, "mask", "Invert mask"))

    def mask_from_selection(self) -> None:
        self._set_array("mask", self._selection.copy(), "Mask from selection")

    # ---------------------------------------------------------------- editing: selection
    def selection_from_mask(self) -> None:
        self._set_array("selection", self._mask.copy(), "Select from mask")

    def set_selection(
        self, selection: np.ndarray, text: str = "Select", mode: str = "replace"
    ) -> None:
        """Set the selection from an (h, w) uint8 array, combined by ``mode``:
        replace, add, subtract or intersect."""
        combined = selection_ops.combine(self._selection, selection, mode)
        self._set_array("selection", combined, text)

    def _select_shape(self, shape: np.ndarray, text: str, mode: str) -> None:
        """A selection tool's edit: a run of drags of one tool is one undo step."""
        combined = selection_ops.combine(self._selection, shape, mode)
        self._set_array("selection", combined, text, merging=True)

    def select_rect(self, rect: QRect, mode: str = "replace") -> None:
        self._select_shape(selection_ops.rect_mask(self.size(), rect), "Select rectangle", mode)

    def select_ellipse(self, rect: QRect, mode: str = "replace") -> None:
        self._select_shape(selection_ops.ellipse_mask(self.size(), rect), "Select ellipse", mode)

    def select_polygon(self, points: Iterable, mode: str = "replace") -> None:
        """Lasso: ``points`` is a sequence of (x, y) or QPointF in canvas coords."""
        self._select_shape(selection_ops.polygon_mask(self.size(), points), "Lasso select", mode)

    def select_all(self) -> None:
        self._set_array("selection", np.full_like(self._selection, 255), "Select all")

    def select_none(self) -> None:
        if self.has_selection():
            self._set_array("selection", np.zeros_like(self._selection), "Deselect")

    def invert_selection(self) -> None:
        self.history.push(cmds.InvertArrayCommand(self, "selection", "Invert selection"))

    def grow_selection(self, radius: int) -> None:
        self._set_array("selection", selection_ops.grow(self._selection, radius), "Grow selection")

    def shrink_selection(self, radius: int) -> None:
        self._set_array(
            "selection", selection_ops.shrink(self._selection, radius), "Shrink selection"
        )

    def feather_selection(self, radius: float) -> None:
        self._set_array(
            "selection", selection_ops.feather(self._selection, radius), "Feather selection"
        )

    # ---------------------------------------------------------------- tools: pixel edits
    def begin_mask_edit(self) -> PixelEdit:
        return PixelEdit(self._array_surface("mask"))

    # ================================================================ internals (commands)
    def _replace(self, mask: np.ndarray, selection: np.ndarray) -> None:
        """New arrays (the canvas changed size), unannounced until ``_announce``: the
        Document announces the new size first."""
        self._mask, self._selection = mask, selection
        for which, extent in self._extents.items():
            extent.reset(self._array(which))

    def _announce(self) -> None:
        self.mask_changed.emit(self.rect())
        self.selection_changed.emit(self.rect())

    def _array(self, which: str) -> np.ndarray:
        return self._mask if which == "mask" else self._selection

    def _array_surface(self, which: str) -> Surface:
        return Surface(
            array=lambda: self._array(which), notify=lambda r: self._array_changed(which, r)
        )

    def _array_changed(self, which: str, rect: QRect) -> None:
        self._extents[which].update(self._array(which), rect)
        (self.mask_changed if which == "mask" else self.selection_changed).emit(QRect(rect))

    def _bbox(self, which: str) -> QRect | None:
        box = self._extents[which].bbox(self._array(which))
        return QRect(box) if box is not None else None

    def _set_array(self, which: str, new: np.ndarray, text: str, merging: bool = False) -> None:
        """Replace the mask or selection as one undo step that keeps only the changed box
        (``merging``: joined with an edit of the same kind just before it)."""
        new = np.asarray(new)
        if new.dtype == bool:
            new = new.astype(np.uint8) * 255
        elif new.dtype != np.uint8:
            raise ValueError(f"{which} must be uint8 (0..255) or bool, got {new.dtype}")
        old = self._array(which)
        if new.shape != old.shape:
            raise ValueError(f"{which} must be {old.shape}, got {new.shape}")
        box = bbox(new != old)
        if box is None:
            return
        data = crop(new, box).copy()
        self.history.push(cmds.ArrayRegionCommand(self, which, box, data, text, merging))
