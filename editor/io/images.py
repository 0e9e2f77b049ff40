"""Open raster images for the editor: engine.core.images' reader with the editor's error types.

The reading itself (format gate, pixel limit, 16-bit/CMYK/ICC conversions) lives in
`engine.core.images`, so the window, the project loader and the `overpaint` CLI decode every
file the same way. Here its errors become `editor.io.errors.FileError`s, the type every
editor caller catches, with the same one-sentence messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from editor.io.errors import FileError, ImageTooLargeError
from engine.core import images as _engine
from engine.core.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, READ_FORMATS, to_rgba8

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "READ_FORMATS",
    "decode_image",
    "read_image",
    "to_rgba8",
    "too_large_error",
]

T = TypeVar("T")


def _as_file_error(read: Callable[[], T]) -> T:
    try:
        return read()
    except _engine.ImageTooLargeError as e:
        raise ImageTooLargeError(str(e)) from None
    except _engine.ImageReadError as e:
        raise FileError(str(e)) from None


def read_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An HxWx4 uint8 straight-alpha RGBA array, upright per EXIF (see engine.core.images).

    Raises FileError (ImageTooLargeError above `max_pixels`) with a one-sentence message.
    """
    return _as_file_error(lambda: _engine.read_image(path, max_pixels))


def decode_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Like read_image for bytes already in memory (clipboard, a member of a project zip)."""
    return _as_file_error(lambda: _engine.decode_image(data, name, max_pixels))


def too_large_error(
    subject: str, size: tuple[int, int] | None, max_pixels: int
) -> ImageTooLargeError:
    """The refusal of an image above the pixel limit; `subject` starts the sentence."""
    return ImageTooLargeError(str(_engine.too_large_error(subject, size, max_pixels)))
