"""A raster layer: pixels plus the properties that say how they composite.

Public API (stable; other parts build on it):

- ``Layer(name="Layer", pixels=None, x=0, y=0, opacity=1.0, blend_mode="normal",
  visible=True, alpha_locked=False, metadata=None)``
- ``Layer.from_rgba(rgba, name=..., x=..., y=..., **props)``: from a straight-alpha RGBA
  uint8 (h, w, 4) array (what Pillow/PNG give).
- attributes: ``name: str``, ``x, y: int`` (offset of the layer's top-left on the canvas;
  may be negative, a layer may be larger than the canvas), ``opacity: float`` 0..1,
  ``blend_mode: str`` (a key of ``editor.model.blending.BLEND_MODES``), ``visible: bool``,
  ``alpha_locked: bool``, ``metadata: dict[str, str]`` (e.g. ``"parameters"``, the A1111
  text of the generation that made the layer, and ``"overpaint_request"`` its JSON),
  ``uid: int`` (unique per process, stable across undo, handy for views),
  ``control: ControlRole | None`` (set: a control layer, see editor.model.control_layers),
  ``region_prompt: RegionRole | None`` (set: a regional prompt over the layer's coverage),
  ``reference: ReferenceRole | None`` (set: a reference picture);
  ``guides_only()``: whether the layer is left out of the picture the model repaints.
- ``pixels``: the storage, a C-contiguous (h, w, 4) uint8 numpy array in
  ``QImage.Format_ARGB32_Premultiplied`` byte order (B, G, R, A, premultiplied).
  An empty layer has shape (0, 0, 4); painting grows it.
- ``bounds() -> QRect`` in canvas coordinates; ``width``, ``height``; ``is_empty()``.
- ``to_rgba(rect: QRect | None = None) -> np.ndarray``: straight-alpha RGBA copy of the layer
  (or of ``rect`` in canvas coords, transparent where the layer has no pixels).
- ``qimage() -> QImage``: a QImage sharing the pixels (for QPainter; do not keep it across
  edits that change the layer's size).
- ``copy() -> Layer``: a deep copy with a new uid.
- ``SAVED_ATTRIBUTES``: every attribute a layer keeps besides its pixels (``uid`` is per
  process); ``saved_attributes()`` returns them as ``Layer(...)`` keyword arguments.
  Copies, snapshots (save, autosave) and project files all carry exactly these, so an
  attribute added here cannot be dropped by one of them (tests walk ``vars(Layer())``).

Edit layers through ``Document`` methods so that every change is undoable and announced;
setting attributes directly is for building a document before it is shown (e.g. loading a
file), followed by ``Document.reset_history()``.
"""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

from editor.model.array_rects import crop, paste
from editor.model.blending import (
    BLEND_MODES,
    premultiplied_to_rgba,
    rgba_to_premultiplied,
    wrap_pixels,
)

if TYPE_CHECKING:
    from editor.model.control_role import ControlRole
    from editor.model.reference_role import ReferenceRole
    from editor.model.region_role import RegionRole

_uids = itertools.count(1)

SAVED_ATTRIBUTES = (
    "name",
    "x",
    "y",
    "opacity",
    "blend_mode",
    "visible",
    "alpha_locked",
    "metadata",
    "control",
    "region_prompt",
    "reference",
)


class Layer:
    def __init__(
        self,
        name: str = "Layer",
        pixels: np.ndarray | None = None,
        x: int = 0,
        y: int = 0,
        opacity: float = 1.0,
        blend_mode: str = "normal",
        visible: bool = True,
        alpha_locked: bool = False,
        metadata: dict[str, str] | None = None,
        control: ControlRole | None = None,
        region_prompt: RegionRole | None = None,
        reference: ReferenceRole | None = None,
    ) -> None:
        if blend_mode not in BLEND_MODES:
            raise ValueError(f"unknown blend mode {blend_mode!r}")
        self.uid = next(_uids)
        self.name = name
        if pixels is None:
            pixels = np.zeros((0, 0, 4), np.uint8)
        self.pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        self.x = int(x)
        self.y = int(y)
        self.opacity = float(min(max(opacity, 0.0), 1.0))
        self.blend_mode = blend_mode
        self.visible = bool(visible)
        self.alpha_locked = bool(alpha_locked)
        self.metadata: dict[str, str] = dict(metadata or {})
        # A control layer guides generations instead of being part of the picture.
        self.control = control
        self.region_prompt = region_prompt
        self.reference = reference

    def guides_only(self) -> bool:
        """Whether the layer steers generations instead of being part of the picture the
        model repaints (control and reference layers; region layers unless painted)."""
        return (
            self.control is not None
            or self.reference is not None
            or (self.region_prompt is not None and not self.region_prompt.painted)
        )

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, name: str = "Layer", **props: Any) -> Layer:
        """A layer from straight-alpha RGBA uint8 (h, w, 4); RGB (h, w, 3) reads as opaque."""
        rgba = np.asarray(rgba)
        if rgba.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGBA pixels, got {rgba.dtype}")
        if rgba.ndim == 3 and rgba.shape[2] == 3:
            alpha = np.full(rgba.shape[:2] + (1,), 255, np.uint8)
            rgba = np.concatenate([rgba, alpha], axis=2)
        if rgba.ndim != 3 or rgba.shape[2] != 4:
            raise ValueError(f"expected an (h, w, 4) RGBA array, got shape {rgba.shape}")
        return cls(name, rgba_to_premultiplied(rgba), **props)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def is_empty(self) -> bool:
        return self.pixels.shape[0] == 0 or self.pixels.shape[1] == 0

    def bounds(self) -> QRect:
        return QRect(self.x, self.y, self.width, self.height)

    def qimage(self) -> QImage:
        return wrap_pixels(self.pixels)

    def to_rgba(self, rect: QRect | None = None) -> np.ndarray:
        if rect is None:
            return premultiplied_to_rgba(self.pixels)
        out = np.zeros((max(rect.height(), 0), max(rect.width(), 0), 4), np.uint8)
        part = self.bounds().intersected(rect)
        if not part.isEmpty():
            crop(out, part.translated(-rect.x(), -rect.y()))[...] = premultiplied_to_rgba(
                self.region(part)
            )
        return out

    def region(self, rect: QRect) -> np.ndarray:
        """A writable view of the stored pixels under ``rect`` (canvas coords, inside bounds)."""
        return crop(self.pixels, rect.translated(-self.x, -self.y))

    def copy(self) -> Layer:
        return Layer(pixels=self.pixels.copy(), **self.saved_attributes())

    def saved_attributes(self) -> dict[str, Any]:
        """Every attribute but the pixels, as Layer(...) keywords; containers are copies."""
        return {name: copy.copy(getattr(self, name)) for name in SAVED_ATTRIBUTES}

    def properties(self) -> dict[str, Any]:
        """The compositing properties, as keyword arguments for Document.set_layer_properties."""
        return {
            "name": self.name,
            "opacity": self.opacity,
            "blend_mode": self.blend_mode,
            "visible": self.visible,
            "alpha_locked": self.alpha_locked,
        }

    def grow_to(self, rect: QRect) -> None:
        """Enlarge the storage (with transparent pixels) so that bounds() contains ``rect``."""
        want = self.bounds().united(rect) if not self.is_empty() else QRect(rect)
        if want == self.bounds():
            return
        grown = np.zeros((want.height(), want.width(), 4), np.uint8)
        if not self.is_empty():
            paste(grown, self.pixels, self.x - want.x(), self.y - want.y())
        self.pixels = grown
        self.x, self.y = want.x(), want.y()

    def crop_to(self, rect: QRect) -> None:
        """Cut the storage down to ``rect`` (canvas coords, inside bounds). Used to undo grow_to."""
        if rect.isEmpty():
            self.pixels = np.zeros((0, 0, 4), np.uint8)
        else:
            self.pixels = np.ascontiguousarray(self.region(rect))
        self.x, self.y = rect.x(), rect.y()

    def __repr__(self) -> str:
        return (
            f"Layer({self.name!r}, {self.width}x{self.height} at ({self.x}, {self.y}), "
            f"opacity={self.opacity:g}, {self.blend_mode}, visible={self.visible})"
        )
