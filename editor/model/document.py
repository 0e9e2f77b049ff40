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
    ``history`` (editor.model.history.History): undo()/redo()/undo_text()/redo_text()/
    undo_bytes()/undo_limit_mb/set_clean()/is_clean()/texts()/macro(text) (a ``with``
    block whose pushes become one step)

Editing (each call is ONE named undo step)
    layers: ``add_layer``, ``insert_layer``, ``duplicate_layer``, ``delete_layer``,
    ``move_layer`` (reorder), ``merge_down``, ``flatten``, ``set_layer_properties``,
    ``set_layer_offset``, ``accept_patch`` (a generated RGBA patch as a new layer)
    canvas: ``resize_canvas(w, h, dx, dy)``, ``expand_canvas(left, top, right, bottom)``
    mask: ``set_mask`` (uint8 or bool array), ``clear_mask``, ``invert_mask``,
    ``mask_from_selection``, ``selection_from_mask``
    selection: ``select_rect``, ``select_ellipse``, ``select_polygon``, ``select_all``,
    ``select_none``, ``invert_selection``, ``grow_selection``, ``shrink_selection``,
    ``feather_selection``, ``set_selection``, ``clear_selected`` (erase selected pixels),
    ``fill_selected(color)``; image: ``scale_image(w, h)`` (resamples everything)
    frame: ``set_generation_frame(box | None)``
    tools: ``begin_layer_edit(layer)``, ``begin_mask_edit()`` -> PixelEdit; finish with
    ``commit_edit(edit, text)`` (or ``edit.cancel()``).

Building a document from a file (editor-io): ``Document(w, h)``, ``insert_layer(...)`` for
each layer (or ``add_layer(rgba=...)``), then ``reset_history()`` so the loaded state is
clean and not undoable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, QSize, Signal
from PySide6.QtGui import QImage

from editor.model import commands as cmds
from editor.model import selection_ops
from editor.model.blending import BLEND_MODES, blend_onto, composite_layers, image_to_rgba
from editor.model.extent import NonzeroExtent
from editor.model.history import DEFAULT_UNDO_LIMIT_MB, History
from editor.model.layer import Layer
from editor.model.paint_ops import erase_premultiplied, paint_premultiplied
from editor.model.pixel_edit import PixelEdit, Surface
from editor.model.stack_cache import BelowCache, composite_with_cache
from engine.region import pick_region
from engine.request import Box

MAX_CANVAS_SIDE = 32768
# Cache the composite below the current layer only when it saves drawing 2+ layers.
MIN_CACHED_BELOW = 2
_VISUAL = frozenset({"opacity", "blend_mode", "visible", "x", "y"})


class Document(QObject):
    changed = Signal(QRect)
    layers_changed = Signal()
    layer_properties_changed = Signal(object)
    current_layer_changed = Signal(object)
    mask_changed = Signal(QRect)
    selection_changed = Signal(QRect)
    size_changed = Signal(QSize)
    frame_changed = Signal(object)

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
        self._layers: list[Layer] = []
        self._current: Layer | None = None
        self._mask = np.zeros((self._height, self._width), np.uint8)
        self._selection = np.zeros((self._height, self._width), np.uint8)
        self._extents = {
            "mask": NonzeroExtent(self._mask),
            "selection": NonzeroExtent(self._selection),
        }
        self._frame: Box | None = None
        self.history = History(undo_limit_mb, self)
        self._below = BelowCache()

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

    # ---------------------------------------------------------------- reading: layers
    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(self._layers)

    @property
    def current_layer(self) -> Layer | None:
        return self._current

    @property
    def current_index(self) -> int:
        return self.index_of(self._current) if self._current is not None else -1

    def index_of(self, layer: Layer) -> int:
        for i, candidate in enumerate(self._layers):
            if candidate is layer:
                return i
        raise ValueError(f"{layer!r} is not in this document")

    def contains(self, layer: Layer) -> bool:
        return any(candidate is layer for candidate in self._layers)

    def set_current_layer(self, layer: Layer | int | None) -> None:
        """Choose the active layer (not an undo step)."""
        if isinstance(layer, int):
            layer = self._layers[layer]
        if layer is not None:
            self.index_of(layer)
        self._set_current(layer)

    # ---------------------------------------------------------------- reading: pixels
    def composite(self, rect: QRect | None = None) -> QImage:
        """Visible layers composited over transparency, for ``rect`` (clipped to the canvas)."""
        rect = self.rect() if rect is None else rect.intersected(self.rect())
        index = self.current_index
        if index >= MIN_CACHED_BELOW and not rect.isEmpty():
            return composite_with_cache(self._below, self._layers, index, self.rect(), rect)
        return composite_layers(self._layers, rect)

    def composite_array(self, rect: QRect | None = None) -> np.ndarray:
        """Straight-alpha RGBA uint8 (h, w, 4) of the composite, for the engine and export.

        Unlike composite(), ``rect`` may reach outside the canvas: that part is transparent
        (an outpainting context box).
        """
        rect = self.rect() if rect is None else QRect(rect)
        out = np.zeros((max(rect.height(), 0), max(rect.width(), 0), 4), np.uint8)
        inside = rect.intersected(self.rect())
        if not inside.isEmpty():
            ox, oy = inside.x() - rect.x(), inside.y() - rect.y()
            out[oy : oy + inside.height(), ox : ox + inside.width()] = image_to_rgba(
                self.composite(inside)
            )
        return out

    def sample_color(self, x: int, y: int, merged: bool = True) -> tuple[int, int, int, int]:
        """Straight RGBA at a canvas pixel: of the composite, or of the current layer."""
        r = QRect(int(x), int(y), 1, 1)
        if merged:
            px = self.composite_array(r)[0, 0]
        elif self._current is not None:
            px = self._current.to_rgba(r)[0, 0]
        else:
            px = np.zeros(4, np.uint8)
        return int(px[0]), int(px[1]), int(px[2]), int(px[3])

    # ---------------------------------------------------------------- reading: mask etc.
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

    @property
    def generation_frame(self) -> Box | None:
        return self._frame

    def generation_region(self) -> Box | None:
        """What to generate: the mask's bbox, else the selection's, else the frame, else None."""
        boxes = [
            None if r is None else Box(r.x(), r.y(), r.width(), r.height())
            for r in (self.mask_bbox(), self.selection_bbox())
        ]
        picked = pick_region(*boxes, self._frame)
        return picked[0] if picked else None

    # ---------------------------------------------------------------- editing: layers
    def add_layer(
        self,
        name: str | None = None,
        rgba: np.ndarray | None = None,
        x: int = 0,
        y: int = 0,
        index: int | None = None,
        text: str = "Add layer",
        **props: Any,
    ) -> Layer:
        """A new layer (empty, or from straight RGBA) above the current one (or at ``index``)."""
        name = name or self._unique_name("Layer")
        if rgba is None:
            layer = Layer(name, x=x, y=y, **props)
        else:
            layer = Layer.from_rgba(rgba, name, x=x, y=y, **props)
        return self.insert_layer(layer, index, text)

    def insert_layer(
        self, layer: Layer, index: int | None = None, text: str = "Add layer"
    ) -> Layer:
        """Insert a ready Layer (e.g. loaded from a file). ``index`` None: above the current."""
        if index is None:
            index = self.current_index + 1 if self._current is not None else len(self._layers)
        index = min(max(int(index), 0), len(self._layers))
        self.history.push(cmds.InsertLayerCommand(self, layer, index, text))
        return layer

    def duplicate_layer(self, layer: Layer | None = None) -> Layer:
        layer = self._layer_or_current(layer)
        twin = layer.copy()
        twin.name = f"{layer.name} copy"
        self.history.push(
            cmds.InsertLayerCommand(self, twin, self.index_of(layer) + 1, "Duplicate layer")
        )
        return twin

    def delete_layer(self, layer: Layer | None = None) -> None:
        layer = self._layer_or_current(layer)
        self.history.push(cmds.RemoveLayerCommand(self, layer))

    def move_layer(self, layer: Layer, index: int) -> None:
        """Reorder: put ``layer`` at ``index`` (0 = bottom)."""
        index = min(max(int(index), 0), len(self._layers) - 1)
        if index != self.index_of(layer):
            self.history.push(cmds.ReorderLayerCommand(self, layer, index))

    def set_layer_properties(self, layer: Layer, **props: Any) -> None:
        """Any of name, opacity, blend_mode, visible, alpha_locked, x, y: one undo step."""
        allowed = {"name", "opacity", "blend_mode", "visible", "alpha_locked", "x", "y"}
        unknown = set(props) - allowed
        if unknown:
            raise TypeError(f"unknown layer properties: {sorted(unknown)}")
        if "blend_mode" in props and props["blend_mode"] not in BLEND_MODES:
            raise ValueError(f"unknown blend mode {props['blend_mode']!r}")
        if "opacity" in props:
            props["opacity"] = float(min(max(props["opacity"], 0.0), 1.0))
        new = {k: v for k, v in props.items() if getattr(layer, k) != v}
        if new:
            self.history.push(cmds.LayerPropertiesCommand(self, layer, new))

    def set_layer_offset(self, layer: Layer, x: int, y: int) -> None:
        self.set_layer_properties(layer, x=int(x), y=int(y))

    def merge_down(self, layer: Layer | None = None) -> Layer:
        """Merge ``layer`` into the one below; the result keeps the lower layer's properties.

        Exact when the lower layer is normal at full opacity over nothing (as in most
        editors, blend modes relative to layers further below cannot be kept).
        """
        upper = self._layer_or_current(layer)
        i = self.index_of(upper)
        if i == 0:
            raise ValueError("there is no layer below to merge into")
        lower = self._layers[i - 1]
        merged = lower.copy()
        merged.uid = lower.uid
        if upper.visible and not upper.is_empty():
            merged.grow_to(upper.bounds())
            blend_onto(
                merged.pixels,
                upper.pixels,
                upper.bounds().topLeft() - merged.bounds().topLeft(),
                upper.blend_mode,
                upper.opacity,
            )
        new_layers = self._layers[: i - 1] + [merged] + self._layers[i + 1 :]
        self.history.push(cmds.ReplaceLayersCommand(self, new_layers, merged, "Merge down"))
        return merged

    def flatten(self) -> Layer:
        """All visible layers into one normal, opaque-composite layer the size of the canvas."""
        flat = Layer.from_rgba(self.composite_array(), "Background")
        self.history.push(cmds.ReplaceLayersCommand(self, [flat], flat, "Flatten image"))
        return flat

    def accept_patch(
        self,
        rgba: np.ndarray,
        x: int,
        y: int,
        name: str = "Generated",
        metadata: dict[str, str] | None = None,
        index: int | None = None,
    ) -> Layer:
        """A generated straight-RGBA patch as a new layer at canvas (x, y): "Accept result"."""
        layer = Layer.from_rgba(rgba, name, x=x, y=y, metadata=metadata)
        return self.insert_layer(layer, index, "Accept result")

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

    # ---------------------------------------------------------------- editing: mask/selection
    def set_mask(self, mask: np.ndarray, text: str = "Set mask") -> None:
        self._set_array("mask", mask, text)

    def clear_mask(self) -> None:
        self._set_array("mask", np.zeros_like(self._mask), "Clear mask")

    def invert_mask(self) -> None:
        self.history.push(cmds.InvertArrayCommand(self, "mask", "Invert mask"))

    def mask_from_selection(self) -> None:
        self._set_array("mask", self._selection.copy(), "Mask from selection")

    def selection_from_mask(self) -> None:
        self._set_array("selection", self._mask.copy(), "Select from mask")

    def set_selection(
        self, selection: np.ndarray, text: str = "Select", mode: str = "replace"
    ) -> None:
        """Set the selection from an (h, w) uint8 array, combined by ``mode``:
        replace, add, subtract or intersect."""
        combined = selection_ops.combine(self._selection, selection, mode)
        self._set_array("selection", combined, text)

    def select_rect(self, rect: QRect, mode: str = "replace") -> None:
        self.set_selection(selection_ops.rect_mask(self.size(), rect), "Select rectangle", mode)

    def select_ellipse(self, rect: QRect, mode: str = "replace") -> None:
        self.set_selection(selection_ops.ellipse_mask(self.size(), rect), "Select ellipse", mode)

    def select_polygon(self, points, mode: str = "replace") -> None:
        """Lasso: ``points`` is a sequence of (x, y) or QPointF in canvas coords."""
        self.set_selection(selection_ops.polygon_mask(self.size(), points), "Lasso select", mode)

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

    def clear_selected(self, layer: Layer | None = None) -> bool:
        """Erase the selected pixels of a layer (all of it without a selection): "Clear"."""
        return self._paint_selected(layer, None, 1.0, "Clear")

    def fill_selected(
        self, color: tuple[int, int, int], opacity: float = 1.0, layer: Layer | None = None
    ) -> bool:
        """Fill the selection (the canvas without one) with a straight RGB colour."""
        return self._paint_selected(layer, color, opacity, "Fill selection")

    def scale_image(self, width: int, height: int) -> None:
        """Resample the whole image (layers, mask, selection, frame) to a new canvas size."""
        from editor.model.scaling import ScaleImageCommand

        _check_size(width, height)
        if (width, height) != (self._width, self._height):
            self.history.push(ScaleImageCommand(self, int(width), int(height)))

    # ---------------------------------------------------------------- editing: frame
    def set_generation_frame(self, frame: Box | QRect | None) -> None:
        if isinstance(frame, QRect):
            frame = Box(frame.x(), frame.y(), frame.width(), frame.height())
        if frame != self._frame:
            self.history.push(cmds.FrameCommand(self, frame))

    # ---------------------------------------------------------------- tools: pixel edits
    def begin_layer_edit(self, layer: Layer | None = None) -> PixelEdit:
        """Start a gesture on a layer. The layer grows to cover the canvas first (undone
        with the gesture), so painting works anywhere on the canvas after a move."""
        layer = self._layer_or_current(layer)
        old = layer.bounds()
        new = self.rect().united(old) if not layer.is_empty() else self.rect()

        def grow() -> None:
            if layer.bounds() != new:
                layer.grow_to(new)

        def shrink() -> None:
            if layer.bounds() != old:
                layer.crop_to(old)

        surface = Surface(
            array=lambda: layer.pixels,
            notify=self._layer_pixels_changed(layer),
            origin=lambda: (layer.x, layer.y),
            before=grow,
            after_undo=shrink,
        )
        return PixelEdit(surface)

    def begin_mask_edit(self) -> PixelEdit:
        return PixelEdit(self._array_surface("mask"))

    def begin_selection_edit(self) -> PixelEdit:
        return PixelEdit(self._array_surface("selection"))

    def commit_edit(self, edit: PixelEdit, text: str) -> bool:
        """Finish a gesture: push its command (already applied). False if nothing changed."""
        command = edit.command(text)
        if command is None:
            return False
        self.history.push(command, applied=True)
        return True

    # ---------------------------------------------------------------- history helpers
    def undo(self) -> bool:
        return self.history.undo()

    def redo(self) -> bool:
        return self.history.redo()

    def undo_bytes(self) -> int:
        return self.history.undo_bytes()

    def reset_history(self) -> None:
        """Forget all undo steps and mark the current state as saved (after loading).

        Also forgets cached composites, in case layers were set up by direct attribute writes.
        """
        self._below.reset()
        self.history.clear()

    # ================================================================ internals (commands)
    def _layer_or_current(self, layer: Layer | None) -> Layer:
        layer = layer if layer is not None else self._current
        if layer is None:
            raise ValueError("there is no layer to work on")
        self.index_of(layer)
        return layer

    def _unique_name(self, base: str) -> str:
        names = {layer.name for layer in self._layers}
        n = len(self._layers) + 1
        while f"{base} {n}" in names:
            n += 1
        return f"{base} {n}"

    def _visible_rect(self, layer: Layer) -> QRect:
        return layer.bounds().intersected(self.rect())

    def _emit_layer_area(self, layer: Layer) -> None:
        area = self._visible_rect(layer)
        if not area.isEmpty():
            self.changed.emit(area)

    def _layer_pixels_changed(self, layer: Layer):
        def notify(rect: QRect) -> None:
            area = rect.intersected(self.rect())
            if not area.isEmpty() and layer.visible:
                self._invalidate_below(layer, area)
                self.changed.emit(area)

        return notify

    def _insert(self, index: int, layer: Layer) -> None:
        self._below.reset()
        self._layers.insert(index, layer)
        self.layers_changed.emit()
        self._emit_layer_area(layer)

    def _remove(self, layer: Layer) -> None:
        self._below.reset()
        index = self.index_of(layer)
        self._layers.pop(index)
        if layer is self._current:
            # Before any signal: handlers composite, which needs a current layer in the stack.
            self._set_current(self._layers[max(index - 1, 0)] if self._layers else None)
        self.layers_changed.emit()
        self._emit_layer_area(layer)

    def _reorder(self, layer: Layer, index: int) -> None:
        self._below.reset()
        self._layers.pop(self.index_of(layer))
        self._layers.insert(index, layer)
        self.layers_changed.emit()
        self._emit_layer_area(layer)

    def _replace_layers(self, layers: list[Layer], current: Layer | None) -> None:
        before = [self._visible_rect(layer) for layer in self._layers]
        self._below.reset()
        self._layers = list(layers)
        self._set_current(current)
        self.layers_changed.emit()
        area = QRect()
        for r in before + [self._visible_rect(layer) for layer in self._layers]:
            area = area.united(r)
        if not area.isEmpty():
            self.changed.emit(area)

    def _set_current(self, layer: Layer | None) -> None:
        if layer is not None and all(layer is not c for c in self._layers):
            layer = None
        if layer is not self._current:
            self._below.reset()
            self._current = layer
            self.current_layer_changed.emit(layer)

    def _set_properties(self, layer: Layer, values: dict[str, Any]) -> None:
        # Renaming or locking changes no pixel; a hidden layer's opacity or place neither.
        shows = (layer.visible or "visible" in values) and bool(values.keys() & _VISUAL)
        before = self._visible_rect(layer)
        for key, value in values.items():
            setattr(layer, key, value)
        area = before.united(self._visible_rect(layer)) if shows else QRect()
        self._invalidate_below(layer, area)
        self.layer_properties_changed.emit(layer)
        if not area.isEmpty():
            self.changed.emit(area)

    def _invalidate_below(self, layer: Layer, area: QRect) -> None:
        """A layer changed inside ``area``: drop what the below-current cache holds there."""
        current = self.current_index
        if current >= MIN_CACHED_BELOW and any(c is layer for c in self._layers[:current]):
            self._below.invalidate(area)

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

    def _set_array(self, which: str, new: np.ndarray, text: str) -> None:
        new = np.asarray(new)
        if new.dtype == bool:
            new = new.astype(np.uint8) * 255
        elif new.dtype != np.uint8:
            raise ValueError(f"{which} must be uint8 (0..255) or bool, got {new.dtype}")
        old = self._array(which)
        if new.shape != old.shape:
            raise ValueError(f"{which} must be {old.shape}, got {new.shape}")
        box = selection_ops.bbox(new != old)
        if box is None:
            return
        data = selection_ops.crop(new, box).copy()
        self.history.push(cmds.ArrayRegionCommand(self, which, box, data, text))

    def _resize(
        self, size: tuple[int, int], dx: int, dy: int, arrays: dict[str, np.ndarray]
    ) -> None:
        self._width, self._height = size
        self._below.reset()
        for layer in self._layers:
            layer.x += dx
            layer.y += dy
        self._mask = arrays["mask"]
        self._selection = arrays["selection"]
        if self._frame is not None:
            f = self._frame
            self._frame = Box(f.x + dx, f.y + dy, f.width, f.height)
            self.frame_changed.emit(self._frame)
        for which, extent in self._extents.items():
            extent.reset(self._array(which))
        self.size_changed.emit(self.size())
        self.mask_changed.emit(self.rect())
        self.selection_changed.emit(self.rect())
        self.changed.emit(self.rect())

    def _paint_selected(
        self, layer: Layer | None, color: tuple[int, int, int] | None, opacity: float, text: str
    ) -> bool:
        layer = self._layer_or_current(layer)
        box = self.selection_bbox() if self.has_selection() else self.rect()
        if box is None or layer.alpha_locked and color is None:
            return False
        if self.has_selection():
            k = selection_ops.crop(self._selection, box).astype(np.float32) / 255.0
        else:
            k = np.ones((box.height(), box.width()), np.float32)
        k *= float(min(max(opacity, 0.0), 1.0))
        edit = self.begin_layer_edit(layer)
        rect = edit.touch(box.translated(-layer.x, -layer.y))
        ys = slice(rect.y(), rect.y() + rect.height())
        xs = slice(rect.x(), rect.x() + rect.width())
        if color is None:
            edit.array[ys, xs] = erase_premultiplied(edit.original[ys, xs], k)
        else:
            r, g, b = color
            edit.array[ys, xs] = paint_premultiplied(
                edit.original[ys, xs], k, (b, g, r), layer.alpha_locked
            )
        edit.changed(rect)
        return self.commit_edit(edit, text)

    def _set_frame(self, frame: Box | None) -> None:
        self._frame = frame
        self.frame_changed.emit(frame)


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_CANVAS_SIDE and 0 < height <= MAX_CANVAS_SIDE):
        raise ValueError(
            f"canvas size {width}x{height} is outside 1..{MAX_CANVAS_SIDE} pixels per side"
        )
