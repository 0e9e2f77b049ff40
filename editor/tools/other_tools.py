"""Fill bucket, colour picker and move-layer tools."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from editor.model.array_rects import bbox, crop
from editor.model.document import Document
from editor.tools.base import Tool
from editor.tools.brush import BrushSettings
from engine.select.wand import flood_region


class FillTool(Tool):
    """Click to fill the similar-coloured area under the pointer ("Fill").

    Samples the visible composite (``sample_merged``) or the current layer, fills with
    ``settings.color`` at ``settings.opacity`` on the current layer (or the mask when
    ``target == "mask"``), limited to the selection when there is one.
    """

    name = "fill"

    def __init__(self, document: Document, settings: BrushSettings | None = None) -> None:
        super().__init__(document)
        self.settings = settings if settings is not None else BrushSettings()
        self.tolerance = 32
        self.sample_merged = True
        self.contiguous = True
        self.target = "layer"  # or "mask"

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        self.fill(int(x), int(y))

    def fill(self, x: int, y: int) -> bool:
        doc = self.document
        self.refusal = ""
        if not doc.rect().contains(x, y):
            return False
        layer = None if self.target == "mask" else self._paintable_layer("fill")
        if self.target != "mask" and layer is None:
            return False
        if self.target == "mask":
            source = doc.mask[..., None]
        elif self.sample_merged:
            source = doc.composite_array()
        else:
            source = layer.to_rgba(doc.rect())
        region = flood_region(source, x, y, int(self.tolerance), self.contiguous)
        k = region.astype(np.float32) * float(self.settings.opacity)
        if doc.has_selection():
            k *= doc.selection.astype(np.float32) / 255.0
        box = bbox(k > 0)
        if box is None:
            return False
        if self.target == "mask":
            return doc.paint_coverage(box, crop(k, box), "Fill mask", (255, 255, 255), mask=True)
        return doc.paint_coverage(box, crop(k, box), "Fill", self.settings.color)


class ColorPickerTool(Tool):
    """Click/drag to pick a colour; sets the shared brush colour and calls ``on_pick``."""

    name = "picker"

    def __init__(self, document: Document, settings: BrushSettings | None = None) -> None:
        super().__init__(document)
        self.settings = settings if settings is not None else BrushSettings()
        self.sample_merged = True
        self.on_pick: list[Callable[[tuple[int, int, int, int]], None]] = []
        self.color: tuple[int, int, int, int] | None = None

    def pick(self, x: float, y: float) -> tuple[int, int, int, int] | None:
        doc = self.document
        xi, yi = int(x), int(y)
        if not doc.rect().contains(xi, yi):
            return None
        rgba = doc.sample_color(xi, yi, merged=self.sample_merged)
        if rgba[3] == 0:
            return None  # transparent: nothing to pick, keep the colour
        self.color = rgba
        self.settings.color = rgba[:3]
        for callback in self.on_pick:
            callback(rgba)
        return rgba

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        super().begin(x, y, pressure)
        self.pick(x, y)

    def move(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self.active:
            self.pick(x, y)


class MoveLayerTool(Tool):
    """Drag the current layer; the whole drag is one "Move layer" step."""

    name = "move"

    def __init__(self, document: Document) -> None:
        super().__init__(document)
        self._layer = None
        self._start = (0.0, 0.0)
        self._offset = (0, 0)

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        layer = self.document.current_layer
        if layer is None:
            return
        super().begin(x, y, pressure)
        self._layer = layer
        self._start = (x, y)
        self._offset = (layer.x, layer.y)

    def move(self, x: float, y: float, pressure: float = 1.0) -> None:
        if not self.active:
            return
        dx, dy = round(x - self._start[0]), round(y - self._start[1])
        # Live feedback without history; end() records one step from the start offset.
        self.document.stack.preview_offset(self._layer, self._offset[0] + dx, self._offset[1] + dy)

    def end(self) -> None:
        if not self.active:
            return
        super().end()
        layer, self._layer = self._layer, None
        final = (layer.x, layer.y)
        self.document.stack.preview_offset(layer, *self._offset)
        if final != self._offset:
            self.document.set_layer_offset(layer, *final)

    def cancel(self) -> None:
        if self.active and self._layer is not None:
            self.document.stack.preview_offset(self._layer, *self._offset)
        self._layer = None
        super().cancel()
