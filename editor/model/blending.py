"""Blend modes and layer compositing.

Pixels are stored as ``QImage.Format_ARGB32_Premultiplied``-compatible numpy arrays
(bytes B, G, R, A on little-endian machines, colour premultiplied by alpha), so QPainter
composites them directly, SIMD-fast and without a QGuiApplication (a QPainter on a QImage
needs no display). Qt's blend modes follow the W3C/SVG compositing formulas, which are the
ones OpenRaster's ``svg:*`` composite-ops name, so Krita shows the same picture.

``BLEND_MODES`` is the table other parts read: mode name -> (QPainter mode, ORA op).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter

CM = QPainter.CompositionMode
PREMULTIPLIED = QImage.Format.Format_ARGB32_Premultiplied

# name -> (QPainter composition mode, OpenRaster composite-op, label for menus)
BLEND_MODES: dict[str, tuple[QPainter.CompositionMode, str, str]] = {
    "normal": (CM.CompositionMode_SourceOver, "svg:src-over", "Normal"),
    "multiply": (CM.CompositionMode_Multiply, "svg:multiply", "Multiply"),
    "screen": (CM.CompositionMode_Screen, "svg:screen", "Screen"),
    "overlay": (CM.CompositionMode_Overlay, "svg:overlay", "Overlay"),
    "darken": (CM.CompositionMode_Darken, "svg:darken", "Darken"),
    "lighten": (CM.CompositionMode_Lighten, "svg:lighten", "Lighten"),
    "add": (CM.CompositionMode_Plus, "svg:plus", "Add"),
    "color-dodge": (CM.CompositionMode_ColorDodge, "svg:color-dodge", "Color dodge"),
    "color-burn": (CM.CompositionMode_ColorBurn, "svg:color-burn", "Color burn"),
    "hard-light": (CM.CompositionMode_HardLight, "svg:hard-light", "Hard light"),
    "soft-light": (CM.CompositionMode_SoftLight, "svg:soft-light", "Soft light"),
    "difference": (CM.CompositionMode_Difference, "svg:difference", "Difference"),
    "exclusion": (CM.CompositionMode_Exclusion, "svg:exclusion", "Exclusion"),
}

_ORA_TO_MODE = {ora: name for name, (_, ora, _) in BLEND_MODES.items()}
# Other spellings seen in files written by other programs.
_ORA_TO_MODE.update({"svg:add": "add", "krita:add": "add", "svg:normal": "normal"})


def blend_mode_to_ora(mode: str) -> str:
    """The OpenRaster composite-op for a blend mode name ("multiply" -> "svg:multiply")."""
    return BLEND_MODES[mode][1]


def blend_mode_from_ora(op: str | None) -> str:
    """The blend mode for an OpenRaster composite-op; unknown or missing ops read as normal."""
    return _ORA_TO_MODE.get((op or "").strip().lower(), "normal")


def blend_mode_label(mode: str) -> str:
    return BLEND_MODES[mode][2]


def wrap_pixels(data: np.ndarray) -> QImage:
    """A QImage sharing (not copying) a C-contiguous (h, w, 4) premultiplied BGRA array.

    PySide keeps a reference to the array for the QImage's lifetime.
    """
    h, w = data.shape[:2]
    return QImage(data.data, w, h, w * 4, PREMULTIPLIED)


def rgba_to_premultiplied(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA uint8 (h, w, 4) -> premultiplied BGRA storage (a new array)."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    if h == 0 or w == 0:
        return np.zeros((h, w, 4), np.uint8)
    src = QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888)
    return image_to_pixels(src.convertToFormat(PREMULTIPLIED))


def premultiplied_to_rgba(pixels: np.ndarray) -> np.ndarray:
    """Premultiplied BGRA storage (h, w, 4) -> straight-alpha RGBA uint8 (a new array)."""
    pixels = np.ascontiguousarray(pixels)
    h, w = pixels.shape[:2]
    if h == 0 or w == 0:
        return np.zeros((h, w, 4), np.uint8)
    return image_to_rgba(wrap_pixels(pixels))


def image_to_pixels(image: QImage) -> np.ndarray:
    """Any QImage -> premultiplied BGRA storage array (a copy)."""
    img = image.convertToFormat(PREMULTIPLIED)
    return _image_array(img)


def image_to_rgba(image: QImage) -> np.ndarray:
    """Any QImage -> straight-alpha RGBA uint8 array (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return _image_array(img)


def rgba_to_image(rgba: np.ndarray) -> QImage:
    """Straight-alpha RGBA uint8 (h, w, 4) -> a QImage (Format_ARGB32_Premultiplied, own copy)."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    src = QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888)
    return src.convertToFormat(PREMULTIPLIED)


def _image_array(img: QImage) -> np.ndarray:
    h, w = img.height(), img.width()
    if h == 0 or w == 0:
        return np.zeros((h, w, 4), np.uint8)
    buf = np.frombuffer(img.constBits(), np.uint8, count=h * img.bytesPerLine())
    return buf.reshape(h, img.bytesPerLine())[:, : w * 4].reshape(h, w, 4).copy()


def composite_layers(layers, rect: QRect) -> QImage:
    """Composite ``layers`` (bottom to top) over transparency, for ``rect`` in canvas coords.

    Returns a premultiplied QImage of ``rect``'s size; cost follows the rect's area, since
    QPainter reads only the source sub-rectangle of each layer.
    """
    out = QImage(max(rect.width(), 0), max(rect.height(), 0), PREMULTIPLIED)
    if rect.isEmpty():
        return out
    out.fill(0)
    painter = QPainter(out)
    try:
        for layer in layers:
            if not layer.visible or layer.opacity <= 0.0 or layer.is_empty():
                continue
            src = layer.bounds().intersected(rect)
            if src.isEmpty():
                continue
            local = src.translated(-layer.x, -layer.y)
            _draw(
                painter,
                src.topLeft() - rect.topLeft(),
                layer.pixels,
                local,
                layer.blend_mode,
                layer.opacity,
            )
    finally:
        painter.end()
    return out


def blend_onto(dst: np.ndarray, src: np.ndarray, offset: QPoint, mode: str, opacity: float) -> None:
    """Draw premultiplied ``src`` onto premultiplied ``dst`` in place at ``offset`` (dst coords)."""
    target = wrap_pixels(dst)
    src = np.ascontiguousarray(src)
    painter = QPainter(target)
    try:
        whole = QRect(0, 0, src.shape[1], src.shape[0])
        _draw(painter, offset, src, whole, mode, opacity)
    finally:
        painter.end()


def _draw(
    painter: QPainter, pos: QPoint, pixels: np.ndarray, part: QRect, mode: str, opacity: float
) -> None:
    """Draw ``part`` (pixel coords of ``pixels``) at ``pos`` with a blend mode and opacity."""
    if mode == "add" and opacity < 1.0:
        # svg:plus adds the opacity-scaled source (Porter-Duff "plus"); QPainter would
        # instead fade between the backdrop and the clamped sum, which differs where the
        # sum clips. So scale a copy of the drawn part first.
        sub = pixels[part.y() : part.y() + part.height(), part.x() : part.x() + part.width()]
        pixels = np.rint(sub * np.float32(opacity)).astype(np.uint8)
        part = QRect(0, 0, part.width(), part.height())
        opacity = 1.0
    painter.setCompositionMode(BLEND_MODES[mode][0])
    painter.setOpacity(opacity)
    painter.drawImage(pos, wrap_pixels(pixels), part)
