"""The layer stack: the layers bottom to top, the current layer, their composite, and
editing them (one undo step per call).

An object of its own with its own state and signals. It needs only an undo stack to push
onto and the canvas rectangle (a callable, since the canvas can change size), so it works
without a Document: ``LayerStack(History(), lambda: QRect(0, 0, w, h))``. The Document
holds one as ``doc.stack``, forwards its signals and offers its public methods under the
same names; see ``editor.model.document`` for the public API summary. The ``_``-methods
at the end are the state changes its undo commands (``editor.model.commands``) call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage

from editor.model import commands as cmds
from editor.model.array_rects import crop
from editor.model.blending import BLEND_MODES, blend_onto, composite_layers, image_to_rgba
from editor.model.layer import Layer
from editor.model.layer_roles import follow_region_rename
from editor.model.pixel_edit import PixelEdit, Surface
from editor.model.stack_cache import BelowCache, composite_with_cache
from editor.model.undo import History

# Cache the composite below the current layer only when it saves drawing 2+ layers.
MIN_CACHED_BELOW = 2
# Properties whose change alters the composite (renaming or locking changes no pixel).
_VISUAL = frozenset({"opacity", "blend_mode", "visible", "x", "y"})
_PROPERTIES = frozenset({"name", "opacity", "blend_mode", "visible", "alpha_locked", "x", "y"})


class LayerStack(QObject):
    changed = Signal(QRect)  # composite pixels changed inside the rect
    layers_changed = Signal()
    layer_properties_changed = Signal(object)
    current_layer_changed = Signal(object)

    def __init__(
        self, history: History, canvas: Callable[[], QRect], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.history = history
        self._canvas = canvas
        self._layers: list[Layer] = []
        self._current: Layer | None = None
        self._below = BelowCache()

    # ---------------------------------------------------------------- reading
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
        canvas = self._canvas()
        rect = canvas if rect is None else rect.intersected(canvas)
        index = self.current_index
        if index >= MIN_CACHED_BELOW and not rect.isEmpty():
            return composite_with_cache(self._below, self._layers, index, canvas, rect)
        return composite_layers(self._layers, rect)

    def composite_array(self, rect: QRect | None = None) -> np.ndarray:
        """Straight-alpha RGBA uint8 (h, w, 4) of the composite, for the engine and export.

        Unlike composite(), ``rect`` may reach outside the canvas: that part is transparent
        (an outpainting context box).
        """
        canvas = self._canvas()
        rect = canvas if rect is None else QRect(rect)
        out = np.zeros((max(rect.height(), 0), max(rect.width(), 0), 4), np.uint8)
        inside = rect.intersected(canvas)
        if not inside.isEmpty():
            crop(out, inside.translated(-rect.x(), -rect.y()))[...] = image_to_rgba(
                self.composite(inside)
            )
        return out

    # ---------------------------------------------------------------- editing
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
        layer = self.layer_or_current(layer)
        twin = layer.copy()
        twin.name = f"{layer.name} copy"
        self.history.push(
            cmds.InsertLayerCommand(self, twin, self.index_of(layer) + 1, "Duplicate layer")
        )
        return twin

    def delete_layer(self, layer: Layer | None = None) -> None:
        layer = self.layer_or_current(layer)
        self.history.push(cmds.RemoveLayerCommand(self, layer))

    def move_layer(self, layer: Layer, index: int, text: str | None = None) -> bool:
        """Reorder: put ``layer`` at ``index`` (0 = bottom); False if it is there already.
        The undo step is ``text``, else "Reorder layer" (a drag in the Layers list)."""
        index = min(max(int(index), 0), len(self._layers) - 1)
        if index == self.index_of(layer):
            return False
        self.history.push(cmds.ReorderLayerCommand(self, layer, index, text))
        return True

    def restack_layer(self, where: str, layer: Layer | None = None) -> bool:
        """Layer > Raise / Lower / To Top / To Bottom: ``where`` is "up", "down", "top" or
        "bottom"; ``layer`` defaults to the current one. False where it cannot go further."""
        layer = self.layer_or_current(layer)
        index = self.index_of(layer)
        to, text = {
            "up": (index + 1, "Raise layer"),
            "down": (index - 1, "Lower layer"),
            "top": (len(self._layers) - 1, "Layer to top"),
            "bottom": (0, "Layer to bottom"),
        }[where]
        return self.move_layer(layer, to, text)

    def set_layer_properties(self, layer: Layer, **props: Any) -> None:
        """Any of name, opacity, blend_mode, visible, alpha_locked, x, y: one undo step."""
        unknown = set(props) - _PROPERTIES
        if unknown:
            raise TypeError(f"unknown layer properties: {sorted(unknown)}")
        if "blend_mode" in props and props["blend_mode"] not in BLEND_MODES:
            raise ValueError(f"unknown blend mode {props['blend_mode']!r}")
        if "opacity" in props:
            props["opacity"] = float(min(max(props["opacity"], 0.0), 1.0))
        new = {k: v for k, v in props.items() if getattr(layer, k) != v}
        if not new:
            return
        command = cmds.LayerPropertiesCommand(self, layer, new)
        if "name" not in new or layer.region_prompt is None:
            self.history.push(command)  # alone, so that opacity drags still merge
            return
        # References limited to a region layer name it; they follow its rename, in one step.
        with self.history.macro(command.text):
            self.history.push(command)
            follow_region_rename(self, layer, command.old["name"], command.text)

    def set_layer_offset(self, layer: Layer, x: int, y: int) -> None:
        self.set_layer_properties(layer, x=int(x), y=int(y))

    def merge_down(self, layer: Layer | None = None) -> Layer:
        """Merge ``layer`` into the one below; the result keeps the lower layer's properties.

        Exact when the lower layer is normal at full opacity over nothing (as in most
        editors, blend modes relative to layers further below cannot be kept).
        """
        upper = self.layer_or_current(layer)
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

    def preview_offset(self, layer: Layer, x: int, y: int) -> None:
        """Show ``layer`` at (x, y) without an undo step: a drag's live feedback. The drag
        puts the layer back and records its move with ``set_layer_offset`` at the end."""
        self._set_properties(layer, {"x": int(x), "y": int(y)})

    # ---------------------------------------------------------------- tools: pixel edits
    def begin_layer_edit(self, layer: Layer | None = None) -> PixelEdit:
        """Start a gesture on a layer. The layer grows to cover the canvas first (undone
        with the gesture), so painting works anywhere on the canvas after a move."""
        layer = self.layer_or_current(layer)
        old = layer.bounds()
        new = self._canvas().united(old) if not layer.is_empty() else self._canvas()

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

    def layer_or_current(self, layer: Layer | None) -> Layer:
        """``layer``, or the current one when None; ValueError if there is none or
        ``layer`` is not in this stack."""
        layer = layer if layer is not None else self._current
        if layer is None:
            raise ValueError("there is no layer to work on")
        self.index_of(layer)
        return layer

    def reset_cache(self) -> None:
        """Forget the cached composite (after layers were set up by direct attribute writes)."""
        self._below.reset()

    # ================================================================ internals (commands)
    def _shift(self, dx: int, dy: int) -> None:
        """Move every layer by (dx, dy), unannounced: the canvas grew on the left or top,
        and the Document announces the whole new canvas."""
        self._below.reset()
        for layer in self._layers:
            layer.x += dx
            layer.y += dy

    def _unique_name(self, base: str) -> str:
        names = {layer.name for layer in self._layers}
        n = len(self._layers) + 1
        while f"{base} {n}" in names:
            n += 1
        return f"{base} {n}"

    def _visible_rect(self, layer: Layer) -> QRect:
        return layer.bounds().intersected(self._canvas())

    def _emit_layer_area(self, layer: Layer) -> None:
        area = self._visible_rect(layer)
        if not area.isEmpty():
            self.changed.emit(area)

    def _layer_pixels_changed(self, layer: Layer) -> Callable[[QRect], None]:
        def notify(rect: QRect) -> None:
            area = rect.intersected(self._canvas())
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
        # A hidden layer's opacity or place changes no pixel either.
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
