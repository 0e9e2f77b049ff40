"""The document: canvas size, layers, mask, selection, generation frame, undo history.

Window-free (QtCore signals; QtGui only for QImage/QPainter, which work without a
QGuiApplication), so io, the CLI and tests use it headless. Not thread-safe: use it from
one thread (the GUI thread); hand the engine copies (``composite_array``, ``mask`` crops).

Public API (stable; add, don't rename):

Coordinates are canvas pixels; rectangles are ``QRect``; the generation region is an
``engine.request.Box``. Layers are ordered bottom to top (index 0 is the bottom layer).

Signals
    ``changed(QRect)``            composite pixels changed inside the rect (views repaint it)
    ``layers_changed()``          layer list changed (add/delete/reorder/merge/flatten)
    ``layer_properties_changed(object)``  a Layer's name/opacity/blend/visibility/lock/offset
    ``current_layer_changed(object)``     the active Layer (or None)
    ``mask_changed(QRect)``, ``selection_changed(QRect)``
    ``size_changed(QSize)``       canvas size changed (also emits changed(full rect))
    ``frame_changed(object)``     generation frame (Box or None)
    ``history.changed()``, ``history.clean_changed(bool)``  undo state / unsaved changes

Reading
    ``width``, ``height``, ``size() -> QSize``, ``rect() -> QRect``
    ``layers`` (tuple), ``current_layer``, ``current_index``, ``index_of(layer)``,
    ``contains(layer)``
    ``composite(rect=None) -> QImage`` (premultiplied ARGB32, rect's size)
    ``composite_array(rect=None) -> np.ndarray`` straight RGBA uint8 (h, w, 4)
    ``sample_color(x, y, merged=True) -> (r, g, b, a)``
    ``mask`` / ``selection``: (h, w) uint8 arrays, 0..255 (read them; edit via methods)
    ``mask_bbox()``, ``selection_bbox()`` -> QRect | None; ``has_selection()``
    ``generation_frame`` -> Box | None; ``generation_region() -> Box | None``
    ``history`` (editor.model.undo.History): undo()/redo()/undo_text()/redo_text()/
    undo_bytes()/undo_limit_mb/set_clean()/is_clean()/texts()/macro(text) (a ``with``
    block whose pushes become one step)

Editing (each call is ONE named undo step)
    layers: ``add_layer``, ``insert_layer``, ``duplicate_layer``, ``delete_layer``,
    ``move_layer`` and ``restack_layer`` (reorder), ``merge_down``, ``flatten``,
    ``set_layer_properties``, ``set_layer_offset``, ``accept_patch`` (a generated RGBA
    patch as a new layer)
    canvas: ``resize_canvas(w, h, dx, dy)``, ``expand_canvas(left, top, right, bottom)``
    mask: ``set_mask`` (uint8 or bool array), ``clear_mask``, ``invert_mask``,
    ``mask_from_selection``, ``selection_from_mask``
    selection: ``select_rect``, ``select_ellipse``, ``select_polygon``, ``select_all``,
    ``select_none``, ``invert_selection``, ``grow_selection``, ``shrink_selection``,
    ``feather_selection``, ``set_selection``, ``clear_selected`` (erase selected pixels),
    ``fill_selected(color)``; image: ``scale_image(w, h)`` (resamples everything)
    frame: ``set_generation_frame(box | None)``
    pixels: ``paint_coverage(box, k, text, color)`` (paint or erase a coverage array)
    tools: ``begin_layer_edit(layer)``, ``begin_mask_edit()`` -> PixelEdit; finish with
    ``commit_edit(edit, text)`` (or ``edit.cancel()``).

Where it lives: the document holds three parts, each an object with its own state that
works without a Document, and shares one undo stack among them:
    ``doc.stack``   ``editor.model.layer_stack.LayerStack``: layers, current layer, composite
    ``doc.masks``   ``editor.model.mask_selection.MaskSelection``: mask and selection arrays
    ``doc.history`` ``editor.model.undo.History``: the undo stack
This module keeps what spans them (canvas size, frame, generation region, painting a layer
or the mask, clear/fill selected). The parts' public methods are reachable on the document
under the names above, listed once in ``Document`` (``doc.add_layer`` is
``doc.stack.add_layer``), and their signals are forwarded to the document's.

Building a document from a file (editor-io): ``Document(w, h)``, ``insert_layer(...)`` for
each layer (or ``add_layer(rgba=...)``), then ``reset_history()`` so the loaded state is
clean and not undoable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, QSize, Signal

from editor.model import commands as cmds
from editor.model.array_rects import crop, rect_to_box
from editor.model.layer import Layer
from editor.model.layer_stack import LayerStack
from editor.model.mask_selection import MaskSelection
from editor.model.paint_ops import erase_premultiplied, paint_gray, paint_premultiplied
from editor.model.pixel_edit import PixelEdit
from editor.model.scaling import ScaleImageCommand
from editor.model.undo import DEFAULT_UNDO_LIMIT_MB, History
from engine.region import pick_region
from engine.request import Box

MAX_CANVAS_SIDE = 32768


class _Part:
    """A public name of the document that one of its parts owns: reading it on the document
    reads it on the part (a property's value, or the part's bound method)."""

    def __init__(self, part: str) -> None:
        self._part = part
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, doc: Any, owner: type | None = None) -> Any:
        if doc is None:
            return self
        return getattr(getattr(doc, self._part), self._name)


class Document(QObject):
    changed = Signal(QRect)
    layers_changed = Signal()
    layer_properties_changed = Signal(object)
    current_layer_changed = Signal(object)
    mask_changed = Signal(QRect)
    selection_changed = Signal(QRect)
    size_changed = Signal(QSize)
    frame_changed = Signal(object)

    # The parts' public API on the document, one place for all of it.
    # Layers (doc.stack):
    layers = _Part("stack")
    current_layer = _Part("stack")
    current_index = _Part("stack")
    index_of = _Part("stack")
    contains = _Part("stack")
    set_current_layer = _Part("stack")
    composite = _Part("stack")
    composite_array = _Part("stack")
    add_layer = _Part("stack")
    insert_layer = _Part("stack")
    duplicate_layer = _Part("stack")
    delete_layer = _Part("stack")
    move_layer = _Part("stack")
    restack_layer = _Part("stack")
    set_layer_properties = _Part("stack")
    set_layer_offset = _Part("stack")
    merge_down = _Part("stack")
    flatten = _Part("stack")
    accept_patch = _Part("stack")
    begin_layer_edit = _Part("stack")
    # Mask and selection (doc.masks):
    mask = _Part("masks")
    selection = _Part("masks")
    mask_bbox = _Part("masks")
    selection_bbox = _Part("masks")
    has_mask = _Part("masks")
    has_selection = _Part("masks")
    set_mask = _Part("masks")
    clear_mask = _Part("masks")
    invert_mask = _Part("masks")
    mask_from_selection = _Part("masks")
    selection_from_mask = _Part("masks")
    set_selection = _Part("masks")
    select_rect = _Part("masks")
    select_ellipse = _Part("masks")
    select_polygon = _Part("masks")
    select_all = _Part("masks")
    select_none = _Part("masks")
    invert_selection = _Part("masks")
    grow_selection = _Part("masks")
    shrink_selection = _Part("masks")
    feather_selection = _Part("masks")
    begin_mask_edit = _Part("masks")
    # Undo (doc.history):
    undo = _Part("history")
    redo = _Part("history")
    undo_bytes = _Part("history")

    def __init__(
        self,
        width: int = 1024,
        height: int = 1024,
        undo_limit_mb: float = DEFAULT_UNDO_LIMIT_MB,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        _check_size(width, height)
        self._width, self._height = int(width), int(height)
        self._frame: Box | None = None
        self.history = History(undo_limit_mb, self)
        self.stack = LayerStack(self.history, self.rect, self)
        self.masks = MaskSelection(self.history, self._width, self._height, self)
        for part_signal, signal in (
            (self.stack.changed, self.changed),
            (self.stack.layers_changed, self.layers_changed),
            (self.stack.layer_properties_changed, self.layer_properties_changed),
            (self.stack.current_layer_changed, self.current_layer_changed),
            (self.masks.mask_changed, self.mask_changed),
            (self.masks.selection_changed, self.selection_changed),
        ):
            part_signal.connect(signal)

    # ---------------------------------------------------------------- reading: canvas
    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    def size(self) -> QSize:
        return QSize(self._width, self._height)

    def rect(self) -> QRect:
        return QRect(0, 0, self._width, self._height)

    def sample_color(self, x: int, y: int, merged: bool = True) -> tuple[int, int, int, int]:
        """Straight RGBA at a canvas pixel: of the composite, or of the current layer."""
        r = QRect(int(x), int(y), 1, 1)
        current = self.stack.current_layer
        if merged:
            px = self.stack.composite_array(r)[0, 0]
        elif current is not None:
            px = current.to_rgba(r)[0, 0]
        else:
            px = np.zeros(4, np.uint8)
        return int(px[0]), int(px[1]), int(px[2]), int(px[3])

    # ---------------------------------------------------------------- reading: frame
    @property
    def generation_frame(self) -> Box | None:
        return self._frame

    def generation_region(self) -> Box | None:
        """What to generate: the mask's bbox, else the selection's, else the frame, else None."""
        picked = self.generation_target()
        return picked[0] if picked else None

    def generation_target(self) -> tuple[Box, str] | None:
        """generation_region with where it came from: "mask", "selection" or "frame"."""
        boxes = [
            None if r is None else rect_to_box(r) for r in (self.mask_bbox(), self.selection_bbox())
        ]
        return pick_region(*boxes, self._frame)

    # ---------------------------------------------------------------- editing: canvas
    def resize_canvas(self, width: int, height: int, dx: int = 0, dy: int = 0) -> None:
        """New canvas size; the old content lands at (dx, dy). Layer pixels are never cut."""
        _check_size(width, height)
        if (width, height, dx, dy) == (self._width, self._height, 0, 0):
            return
        self.history.push(
            cmds.CanvasResizeCommand(
                self, int(width), int(height), int(dx), int(dy), "Resize canvas"
            )
        )

    def expand_canvas(self, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0) -> None:
        """Grow (or, with negative values, shrink) the canvas on each side (outpainting)."""
        w, h = self._width + left + right, self._height + top + bottom
        _check_size(w, h)
        if (left, top, right, bottom) != (0, 0, 0, 0):
            self.history.push(cmds.CanvasResizeCommand(self, w, h, left, top, "Expand canvas"))

    def scale_image(self, width: int, height: int) -> None:
        """Resample the whole image (layers, mask, selection, frame) to a new canvas size."""
        _check_size(width, height)
        if (width, height) != (self._width, self._height):
            self.history.push(ScaleImageCommand(self, int(width), int(height)))

    # ---------------------------------------------------------------- editing: frame
    def set_generation_frame(self, frame: Box | QRect | None) -> None:
        if isinstance(frame, QRect):
            frame = rect_to_box(frame)
        if frame != self._frame:
            self.history.push(cmds.FrameCommand(self, frame))

    # ---------------------------------------------------------------- tools: pixel edits
    def commit_edit(self, edit: PixelEdit, text: str) -> bool:
        """Finish a gesture: push its command (already applied). False if nothing changed."""
        command = edit.command(text)
        if command is None:
            return False
        self.history.push(command, applied=True)
        return True

    def paint_coverage(
        self,
        box: QRect,
        k: np.ndarray,
        text: str,
        color: tuple[int, int, int] | None = None,
        layer: Layer | None = None,
        mask: bool = False,
    ) -> bool:
        """Paint a straight RGB ``color`` (None: erase) at coverage ``k`` over canvas ``box``.

        ``k`` is float32 0..1 of ``box``'s size. Works on ``layer`` (default: the current
        one), or on the mask with ``mask=True`` (any colour paints it, None erases). One
        undo step named ``text``; False, and no step, when no pixel changed (erasing an
        alpha-locked layer changes none).
        """
        area = box.intersected(self.rect())
        if area.isEmpty():
            return False
        k = crop(k, area.translated(-box.x(), -box.y()))
        if mask:
            edit, ox, oy = self.begin_mask_edit(), 0, 0
        else:
            layer = self.stack.layer_or_current(layer)
            if layer.alpha_locked and color is None:
                return False
            edit = self.begin_layer_edit(layer)
            ox, oy = layer.x, layer.y  # after the edit grew the layer to the canvas
        rect = edit.touch(area.translated(-ox, -oy))
        original = crop(edit.original, rect)
        if mask:
            painted = paint_gray(original, k, 0.0 if color is None else 255.0)
        elif color is None:
            painted = erase_premultiplied(original, k)
        else:
            r, g, b = color
            painted = paint_premultiplied(original, k, (b, g, r), layer.alpha_locked)
        crop(edit.array, rect)[...] = painted
        edit.changed(rect)
        return self.commit_edit(edit, text)

    # ---------------------------------------------------------------- editing: selected pixels
    def clear_selected(self, layer: Layer | None = None) -> bool:
        """Erase the selected pixels of a layer (all of it without a selection): "Clear".

        False (and no undo step) when nothing changed, e.g. on an alpha-locked layer.
        """
        return self._paint_selected(layer, None, 1.0, "Clear")

    def fill_selected(
        self, color: tuple[int, int, int], opacity: float = 1.0, layer: Layer | None = None
    ) -> bool:
        """Fill the selection (the canvas without one) with a straight RGB colour."""
        return self._paint_selected(layer, color, opacity, "Fill selection")

    def _paint_selected(
        self, layer: Layer | None, color: tuple[int, int, int] | None, opacity: float, text: str
    ) -> bool:
        box = self.masks.selection_bbox()
        if box is not None:
            k = crop(self.masks.selection, box).astype(np.float32) / 255.0
        else:
            box = self.rect()
            k = np.ones((box.height(), box.width()), np.float32)
        k *= float(min(max(opacity, 0.0), 1.0))
        return self.paint_coverage(box, k, text, color, layer=layer)

    # ---------------------------------------------------------------- history
    def reset_history(self) -> None:
        """Forget all undo steps and mark the current state as saved (after loading).

        Also forgets cached composites, in case layers were set up by direct attribute writes.
        """
        self.stack.reset_cache()
        self.history.clear()

    # ================================================================ internals (commands)
    def _resize(
        self, size: tuple[int, int], dx: int, dy: int, arrays: dict[str, np.ndarray]
    ) -> None:
        self._width, self._height = size
        self.stack._shift(dx, dy)
        self.masks._replace(arrays["mask"], arrays["selection"])
        if self._frame is not None:
            f = self._frame
            self._frame = Box(f.x + dx, f.y + dy, f.width, f.height)
            self.frame_changed.emit(self._frame)
        self.size_changed.emit(self.size())
        self.masks._announce()
        self.changed.emit(self.rect())

    def _set_frame(self, frame: Box | None) -> None:
        self._frame = frame
        self.frame_changed.emit(frame)


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_CANVAS_SIDE and 0 < height <= MAX_CANVAS_SIDE):
        raise ValueError(
            f"canvas size {width}x{height} is outside 1..{MAX_CANVAS_SIDE} pixels per side"
        )
