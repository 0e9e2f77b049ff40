"""Brush, eraser, mask brush and mask eraser: one stroke engine, four targets.

All four share one ``BrushSettings`` object (size, hardness, opacity, colour, spacing,
smoothing, pressure mapping), as the issue asks. A stroke:

- smooths the pointer path (exponential moving average; ``end()`` catches up to the last
  real point so the line ends where the pen lifted),
- places dabs every ``spacing * diameter`` pixels along it, interpolating pressure,
- writes each dab into its own dirty rectangle only (the PixelEdit saves the 64x64 tiles it
  touches for undo), limited to the selection when there is one,
- and is pushed as ONE undo command ("Brush stroke", "Eraser stroke", ...) by ``end()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect

from editor.model.array_rects import crop
from editor.model.document import Document
from editor.model.paint_ops import erase_premultiplied, paint_gray, paint_premultiplied
from editor.model.pixel_edit import PixelEdit
from editor.tools.base import Tool
from editor.tools.dab import stamp


@dataclass
class BrushSettings:
    size: float = 24.0  # diameter in canvas pixels
    hardness: float = 0.8  # 0 soft .. 1 hard edge
    opacity: float = 1.0  # stroke opacity cap, 0..1
    color: tuple[int, int, int] = (0, 0, 0)  # straight RGB
    spacing: float = 0.1  # distance between dabs, fraction of the diameter
    smoothing: float = 0.0  # 0 off .. 0.95 heavy
    pressure_size: bool = True
    pressure_opacity: bool = False
    min_size: float = 0.1  # size at zero pressure, fraction of size

    def dab_radius(self, pressure: float) -> float:
        scale = 1.0
        if self.pressure_size:
            scale = self.min_size + (1.0 - self.min_size) * min(max(pressure, 0.0), 1.0)
        return max(self.size * scale / 2.0, 0.5)

    def dab_alpha(self, pressure: float) -> float:
        return min(max(pressure, 0.0), 1.0) if self.pressure_opacity else 1.0


class BrushTool(Tool):
    """Paints the current layer with ``settings.color``."""

    name = "brush"
    stroke_text = "Brush stroke"
    shows_brush_outline = True

    def __init__(self, document: Document, settings: BrushSettings | None = None) -> None:
        super().__init__(document)
        self.settings = settings if settings is not None else BrushSettings()
        self._edit: PixelEdit | None = None
        self._coverage: np.ndarray | None = None
        self._origin = (0, 0)
        self._last: tuple[float, float, float] | None = None  # last dab point + pressure
        self._smoothed: tuple[float, float] | None = None
        self._raw: tuple[float, float, float] | None = None
        self._leftover = 0.0
        self._selection: np.ndarray | None = None

    # -- target hooks (overridden by eraser and mask tools) -------------------------------
    def _begin_edit(self) -> PixelEdit | None:
        layer = self._paintable_layer("paint")
        if layer is None:
            return None
        edit = self.document.begin_layer_edit(layer)
        self._layer = layer
        self._origin = (layer.x, layer.y)
        return edit

    def _blend(self, orig: np.ndarray, k: np.ndarray) -> np.ndarray:
        r, g, b = self.settings.color
        return paint_premultiplied(orig, k, (b, g, r), self._layer.alpha_locked)

    # -- gesture ---------------------------------------------------------------------------
    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self.active:
            self.cancel()
        self.refusal = ""
        self._edit = self._begin_edit()
        if self._edit is None:
            return
        super().begin(x, y, pressure)
        shape = self._edit.array.shape[:2]
        # calloc'd: pages cost memory only where the stroke goes.
        self._coverage = np.zeros(shape, np.float32)
        doc = self.document
        self._selection = doc.selection if doc.has_selection() else None
        self._leftover = 0.0
        self._smoothed = (x, y)
        self._raw = (x, y, pressure)
        self._last = (x, y, pressure)
        self._dab(x, y, pressure)
        self._edit.flush()

    def move(self, x: float, y: float, pressure: float = 1.0) -> None:
        if not self.active:
            return
        self._raw = (x, y, pressure)
        sx, sy = self._smoothed
        keep = min(max(self.settings.smoothing, 0.0), 0.95)
        sx, sy = sx + (x - sx) * (1.0 - keep), sy + (y - sy) * (1.0 - keep)
        self._smoothed = (sx, sy)
        self._segment(sx, sy, pressure)
        self._edit.flush()

    def end(self) -> None:
        if not self.active:
            return
        rx, ry, rp = self._raw
        self._segment(rx, ry, rp)
        edit, self._edit = self._edit, None
        self._coverage = None
        self._selection = None
        super().end()
        self.document.commit_edit(edit, self.stroke_text)

    def cancel(self) -> None:
        if self._edit is not None:
            self._edit.cancel()
        self._edit = None
        self._coverage = None
        super().cancel()

    # -- dabs ------------------------------------------------------------------------------
    def _segment(self, x: float, y: float, pressure: float) -> None:
        lx, ly, lp = self._last
        dist = math.hypot(x - lx, y - ly)
        if dist <= 1e-9:
            return
        travelled = 0.0
        while True:
            step = max(self.settings.spacing * 2.0 * self.settings.dab_radius(lp), 0.5)
            need = step - self._leftover
            if travelled + need > dist:
                self._leftover += dist - travelled
                break
            travelled += need
            self._leftover = 0.0
            t = travelled / dist
            p = lp + (pressure - lp) * t
            self._dab(lx + (x - lx) * t, ly + (y - ly) * t, p)
        self._last = (x, y, pressure)

    def _dab(self, x: float, y: float, pressure: float) -> None:
        s = self.settings
        left, top, alpha = stamp(x, y, s.dab_radius(pressure), s.hardness)
        ox, oy = self._origin
        h, w = alpha.shape
        # Dabs are clipped to the canvas: only what can be seen is painted.
        on_canvas = QRect(left, top, w, h).intersected(self.document.rect())
        rect = self._edit.touch(on_canvas.translated(-ox, -oy))
        if rect.isEmpty():
            return
        ys = slice(rect.y(), rect.y() + rect.height())
        xs = slice(rect.x(), rect.x() + rect.width())
        sub = alpha[rect.y() + oy - top :, rect.x() + ox - left :][: rect.height(), : rect.width()]
        cov = self._coverage[ys, xs]
        np.maximum(cov, sub * s.dab_alpha(pressure), out=cov)
        k = cov * s.opacity
        if self._selection is not None:
            sel = crop(self._selection, rect.translated(ox, oy))
            k = k * (sel.astype(np.float32) / 255.0)
        self._edit.array[ys, xs] = self._blend(self._edit.original[ys, xs], k)
        self._edit.changed(rect, defer=True)


class EraserTool(BrushTool):
    name = "eraser"
    stroke_text = "Eraser stroke"

    def _begin_edit(self) -> PixelEdit | None:
        layer = self.document.current_layer
        if layer is not None and layer.alpha_locked:
            self.refusal = (
                f'The layer "{layer.name}" has its alpha locked, so nothing can be erased.'
            )
            return None
        return super()._begin_edit()

    def _blend(self, orig: np.ndarray, k: np.ndarray) -> np.ndarray:
        return erase_premultiplied(orig, k)


class MaskBrushTool(BrushTool):
    name = "mask-brush"
    stroke_text = "Paint mask"
    _value = 255.0

    def _begin_edit(self) -> PixelEdit | None:
        self._origin = (0, 0)
        return self.document.begin_mask_edit()

    def _blend(self, orig: np.ndarray, k: np.ndarray) -> np.ndarray:
        return paint_gray(orig, k, self._value)


class MaskEraserTool(MaskBrushTool):
    name = "mask-eraser"
    stroke_text = "Erase mask"
    _value = 0.0
