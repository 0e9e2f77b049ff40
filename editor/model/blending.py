"""Blend modes and layer compositing.

Pixels are stored as ``QImage.Format_ARGB32_Premultiplied``-compatible numpy arrays
(bytes B, G, R, A on little-endian machines, colour premultiplied by alpha), so QPainter
composites them directly, SIMD-fast and without a QGuiApplication (a QPainter on a QImage
needs no display). Qt's blend modes follow the W3C/SVG compositing formulas, which are the
ones OpenRaster's ``svg:*`` composite-ops name, so Krita shows the same picture.

``BLEND_MODES`` is the table other parts read: mode name -> (QPainter mode, ORA op, label).
"add" (svg:plus) is the exception: Krita renders it as a W3C-style separable Addition that
QPainter lacks, so ``blend_add`` composites it in numpy (cost still follows the rect).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter

from editor.model.array_rects import crop

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
    # Composited by blend_add (numpy), as Krita does; Plus is only the nearest Qt mode.
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


def wrap_gray(data: np.ndarray) -> QImage:
    """A Grayscale8 QImage sharing (not copying) a C-contiguous (h, w) uint8 array."""
    h, w = data.shape
    return QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)


def image_to_gray(image: QImage) -> np.ndarray:
    """Any QImage -> (h, w) uint8 grey levels (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_Grayscale8)
    return _image_array(img, 1)[..., 0]


def _image_array(img: QImage, channels: int = 4) -> np.ndarray:
    """Copy a QImage's rows (dropping line padding) into an (h, w, channels) array."""
    h, w = img.height(), img.width()
    if h == 0 or w == 0:
        return np.zeros((h, w, channels), np.uint8)
    buf = np.frombuffer(img.constBits(), np.uint8, count=h * img.bytesPerLine())
    rows = buf.reshape(h, img.bytesPerLine())[:, : w * channels]
    return rows.reshape(h, w, channels).copy()


def composite_layers(
    layers, rect: QRect, onto: QImage | None = None, at: QPoint | None = None
) -> QImage:
    """Composite ``layers`` (bottom to top) over transparency, for ``rect`` in canvas coords.

    Returns a premultiplied QImage of ``rect``'s size; cost follows the rect's area, since
    QPainter reads only the source sub-rectangle of each layer. With ``onto`` (premultiplied)
    the layers are drawn into it instead, over what it holds, with rect's top-left at ``at``
    (default 0, 0), and ``onto`` is returned.
    """
    origin = QPoint(0, 0) if at is None else QPoint(at)
    if onto is not None:
        out = onto
    else:
        out = QImage(max(rect.width(), 0), max(rect.height(), 0), PREMULTIPLIED)
        if not rect.isEmpty():
            out.fill(0)
    if rect.isEmpty():
        return out
    painter = QPainter(out)
    try:
        for layer in layers:
            if not layer.visible or layer.opacity <= 0.0 or layer.is_empty():
                continue
            src = layer.bounds().intersected(rect)
            if src.isEmpty():
                continue
            local = src.translated(-layer.x, -layer.y)
            pos = src.topLeft() - rect.topLeft() + origin
            if layer.blend_mode in NUMPY_MODES:
                painter.end()  # the numpy blend writes the image memory directly
                dst = _writable_view(out)[pos.y() : pos.y() + src.height(), pos.x() :]
                NUMPY_MODES[layer.blend_mode](
                    dst[:, : src.width()], crop(layer.pixels, local), layer.opacity
                )
                painter.begin(out)
            else:
                _draw(painter, pos, layer.pixels, local, layer.blend_mode, layer.opacity)
    finally:
        painter.end()
    return out


def blend_onto(dst: np.ndarray, src: np.ndarray, offset: QPoint, mode: str, opacity: float) -> None:
    """Draw premultiplied ``src`` onto premultiplied ``dst`` in place at ``offset`` (dst coords)."""
    src = np.ascontiguousarray(src)
    if mode in NUMPY_MODES:
        x, y = offset.x(), offset.y()
        NUMPY_MODES[mode](dst[y : y + src.shape[0], x : x + src.shape[1]], src, opacity)
        return
    target = wrap_pixels(dst)  # must outlive the painter
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
    painter.setCompositionMode(BLEND_MODES[mode][0])
    painter.setOpacity(opacity)
    painter.drawImage(pos, wrap_pixels(pixels), part)


def _writable_view(img: QImage) -> np.ndarray:
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.bits(), np.uint8, count=h * img.bytesPerLine())
    return buf.reshape(h, img.bytesPerLine())[:, : w * 4].reshape(h, w, 4)


def blend_add(dst: np.ndarray, src: np.ndarray, opacity: float) -> None:
    """ "Add" (svg:plus) the way Krita renders it, in place on premultiplied BGRA arrays.

    Krita treats svg:plus as its Addition blend mode, a separable W3C-style blend
    B(cb, cs) = min(1, cb + cs) composited by alpha; QPainter's Plus instead adds
    premultiplied colours, which differs wherever either layer is semi-transparent. In
    premultiplied terms: co = s(1 - ab) + d(1 - as) + min(as*ab, ab*s + as*d).
    """
    s = src.astype(np.float32) * np.float32(opacity / 255.0)
    d = dst.astype(np.float32) * np.float32(1.0 / 255.0)
    sa, da = s[..., 3:4], d[..., 3:4]
    rgb = s[..., :3] * (1 - da) + d[..., :3] * (1 - sa)
    rgb += np.minimum(sa * da, da * s[..., :3] + sa * d[..., :3])
    dst[..., :3] = np.rint(rgb * 255.0)
    dst[..., 3:4] = np.rint((sa + da - sa * da) * 255.0)


# Modes QPainter has no (matching) composition mode for: blended in numpy instead.
NUMPY_MODES = {"add": blend_add}
