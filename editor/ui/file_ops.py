"""File and clipboard operations behind the window's menus, without widgets.

Each function takes the document/paths and raises editor.io.errors.FileError (or
ValueError) with a sentence the window shows; nothing here opens dialogs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QRect, QRectF
from PySide6.QtGui import QImage

from editor.io.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, read_image, too_large_error
from editor.model.blending import image_to_rgba
from editor.model.document import Document
from editor.ui.canvas_view import rgba_array_to_qimage
from editor.ui.settings import DEFAULT_NEW_IMAGE_SIZE

ORA_SUFFIX = ".ora"
OPEN_SUFFIXES = (ORA_SUFFIX, *IMAGE_SUFFIXES)
OPEN_FILTER = (
    "Images and projects ("
    + " ".join(f"*{s}" for s in OPEN_SUFFIXES)
    + ");;OpenRaster projects (*.ora);;All files (*)"
)
SAVE_FILTER = "OpenRaster project (*.ora)"
# The picture a new window (and File > Close) starts with: white, ready to paint on.
DEFAULT_SIZE = DEFAULT_NEW_IMAGE_SIZE
BLANK_FILL = (255, 255, 255, 255)
EXPORT_FILTER = "PNG image (*.png)"
# Our copies carry where on the canvas they came from, so Ctrl+V puts them back there.
ORIGIN_FORMAT = "application/x-overpaint-origin"


def can_open(path: Path) -> bool:
    return path.suffix.lower() in OPEN_SUFFIXES


def new_document(width: int, height: int, fill: tuple[int, int, int, int] | None) -> Document:
    """A clean document with one layer (filled with `fill`, or transparent)."""
    doc = Document(width, height)
    if fill is None:
        doc.add_layer("Background")
    else:
        rgba = np.empty((height, width, 4), np.uint8)
        rgba[...] = fill
        doc.add_layer("Background", rgba=rgba)
    doc.reset_history()
    return doc


def import_layer(doc: Document, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Add an image file as a new layer at the top-left (one undo step)."""
    rgba = read_image(path, max_pixels)
    doc.add_layer(path.stem or "Imported", rgba=rgba, text="Import layer")


def selection_crop_rect(doc: Document) -> QRect:
    box = doc.selection_bbox()
    return box if box is not None else doc.rect()


def copy_image(doc: Document, merged: bool) -> QImage | None:
    """The selection (or everything) of the current layer, or of the composite."""
    rect = selection_crop_rect(doc)
    if merged:
        rgba = doc.composite_array(rect)
    elif doc.current_layer is not None:
        rgba = doc.current_layer.to_rgba(rect)
    else:
        return None
    if doc.has_selection():
        sel = doc.selection[rect.y() : rect.bottom() + 1, rect.x() : rect.right() + 1]
        rgba = rgba.copy()
        rgba[..., 3] = (rgba[..., 3].astype(np.uint16) * sel // 255).astype(np.uint8)
    return rgba_array_to_qimage(rgba)


def copy_mime(doc: Document, merged: bool) -> QMimeData | None:
    """Clipboard data for Edit > Copy: the image, and the canvas point it came from."""
    image = copy_image(doc, merged)
    if image is None or image.isNull():
        return None
    mime = QMimeData()
    mime.setImageData(image)
    origin = selection_crop_rect(doc).topLeft()
    mime.setData(ORIGIN_FORMAT, f"{origin.x()},{origin.y()}".encode("ascii"))
    return mime


def copied_origin(mime: QMimeData) -> QPoint | None:
    """Where an Overpaint copy came from (None: an image from elsewhere)."""
    if not mime.hasFormat(ORIGIN_FORMAT):
        return None
    try:
        x, y = (int(v) for v in bytes(mime.data(ORIGIN_FORMAT).data()).decode("ascii").split(","))
    except (UnicodeDecodeError, ValueError):
        return None
    return QPoint(x, y)


def paste_position(
    doc: Document, size: tuple[int, int], origin: QPoint | None, view: QRectF
) -> tuple[int, int]:
    """Where a pasted image of `size` (w, h) goes, as painting apps do: back where it was
    copied from when that is on the canvas, else centred in the visible part of the
    canvas (`view`, in canvas coordinates)."""
    w, h = size
    if origin is not None and QRect(origin.x(), origin.y(), w, h).intersects(doc.rect()):
        return origin.x(), origin.y()
    visible = view.intersected(QRectF(doc.rect()))
    centre = (visible if not visible.isEmpty() else QRectF(doc.rect())).center()
    return round(centre.x() - w / 2), round(centre.y() - h / 2)


def image_from_mime(mime: QMimeData, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """Straight RGBA from clipboard image data, or from a copied image file URL.

    Raises ImageTooLargeError above `max_pixels`, the same limit opening a file has.
    """
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            if image.width() * image.height() > max_pixels:
                size = (image.width(), image.height())
                raise too_large_error("The pasted image", size, max_pixels)
            return image_to_rgba(image)
    for url in mime.urls() if mime.hasUrls() else ():
        path = Path(url.toLocalFile())
        if url.isLocalFile() and path.suffix.lower() in IMAGE_SUFFIXES:
            return read_image(path, max_pixels)
    return None


def paste_layer(doc: Document, rgba: np.ndarray, at: tuple[int, int] = (0, 0)) -> None:
    """Paste as a new layer with its top-left corner `at` (see paste_position)."""
    doc.add_layer("Pasted", rgba=rgba, x=at[0], y=at[1], text="Paste")


def dropped_paths(mime: QMimeData) -> list[Path]:
    if not mime.hasUrls():
        return []
    return [
        Path(u.toLocalFile())
        for u in mime.urls()
        if u.isLocalFile() and can_open(Path(u.toLocalFile()))
    ]
