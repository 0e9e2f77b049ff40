"""Read raster images as straight (non-premultiplied) RGBA8 numpy arrays: the one reader
the window, the project loader and the `overpaint` CLI share.

Every file goes through the same gate: only a few well-known formats are identified (so
Pillow never hands a file to an external program, as it would for EPS), the declared
size is checked against an explicit pixel limit *before* any pixel is decoded, and any
failure while decoding becomes one `ImageReadError` sentence. Mode conversions fix the
places where Pillow's own `convert("RGBA")` is lossy or wrong: 16-bit greyscale is
clipped by Pillow (values above 255 turn white), so it is scaled here instead; CMYK and
RGB with an embedded ICC profile (Adobe RGB, Display P3, a press CMYK) are converted
through that profile to sRGB, the space the canvas and the models work in.

No Qt here: engine/ stays importable without a QApplication.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from engine.core.errors import EngineError

log = logging.getLogger(__name__)

# 100 megapixels is a 10000x10000 image, 400 MB as RGBA8. The settings pass their own.
DEFAULT_MAX_PIXELS = 100_000_000

# Pillow formats we identify. Others (EPS runs Ghostscript, PSD, ICNS, ...) are refused.
READ_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "DIB", "TIFF", "GIF")
# For file dialogs.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")

_PILLOW_LIMIT_LOCK = threading.Lock()
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def picture_hash(pixels: np.ndarray) -> str:
    """sha256[:12] of the pixels (and their shape): the identity a request records for a
    picture that travels beside it (a control image, a region mask, a reference)."""
    arr = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(f"{arr.shape}|{arr.dtype}".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()[:12]


class ImageReadError(EngineError):
    """An image file could not be read; str() names the file and the reason."""


class ImageTooLargeError(ImageReadError):
    """The image's declared size is above the pixel limit (decoding never started)."""


def _os_error(exc: OSError, name: str) -> ImageReadError:
    """The user-facing sentence for an operating-system error while reading `name`."""
    if isinstance(exc, IsADirectoryError):
        return ImageReadError(f'"{name}" is a folder, not a file.')
    if isinstance(exc, FileNotFoundError):
        return ImageReadError(f'"{name}" does not exist; it may have been moved or deleted.')
    if isinstance(exc, PermissionError):
        return ImageReadError(f'"{name}" cannot be opened: permission denied.')
    return ImageReadError(f'"{name}" could not be read ({exc.strerror or exc}).')


def read_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an HxWx4 uint8 straight-alpha RGBA array, upright per EXIF.

    Raises ImageReadError (ImageTooLargeError above `max_pixels`) with a one-sentence message.
    """
    name = Path(path).name
    try:
        with open(path, "rb") as fp:
            if os.fstat(fp.fileno()).st_size == 0:
                raise ImageReadError(
                    f'"{name}" is empty (0 bytes), so there is no picture to open.'
                )
            return _decode(fp, name, max_pixels)
    except OSError as exc:
        log.warning("reading %s failed: %s", path, exc)
        raise _os_error(exc, name) from None


def decode_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Like read_image for bytes already in memory (clipboard, a member of a project zip)."""
    if not data:
        raise ImageReadError(f'"{name}" is empty (0 bytes), so there is no picture to open.')
    return _decode(io.BytesIO(data), name, max_pixels)


def _formats() -> list[str]:
    # Pillow versions differ in which of these exist (MPO was folded into JPEG).
    Image.init()
    return [f for f in READ_FORMATS if f in Image.OPEN]


def _decode(fp: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    with warnings.catch_warnings():
        # Our own limit decides about size, and Pillow's warnings about damaged tags
        # would only reach the terminal; the outcome is the array or one ImageReadError.
        warnings.simplefilter("ignore")
        return _decode_quietly(fp, name, max_pixels)


@contextlib.contextmanager
def _pillow_allows(max_pixels: int) -> Iterator[None]:
    """Lift Pillow's own bomb limit (about 179 MP) while opening, when ours is higher.

    Our limit is checked on the declared size right after; without this, a user who
    raised the limit in Settings would still be refused by Pillow.
    """
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        if saved is not None and max_pixels > saved:
            Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode_quietly(fp: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    try:
        with _pillow_allows(max_pixels):
            im = Image.open(fp, formats=_formats())
    except Image.DecompressionBombError:
        raise too_large_error(f'"{name}"', None, max_pixels) from None
    except UnidentifiedImageError:
        raise ImageReadError(
            f'"{name}" is not an image Overpaint can open (PNG, JPEG, WebP, BMP, TIFF or GIF), '
            "or it is damaged."
        ) from None
    except Exception as exc:  # malformed headers raise many exception types
        log.warning("identifying %s failed: %r", name, exc)
        raise ImageReadError(f'"{name}" is damaged and could not be opened.') from None
    with im:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise ImageReadError(
                f'"{name}" has a size of {width}x{height} pixels, so it holds no picture.'
            )
        if width * height > max_pixels:
            raise too_large_error(f'"{name}"', (width, height), max_pixels)
        try:
            im.load()
            im = _upright(im, name)
            return to_rgba8(im)
        except ImageReadError:
            raise
        except MemoryError:
            raise ImageReadError(
                f'"{name}" is too large to open with the memory available.'
            ) from None
        except Exception as exc:  # truncated/corrupt data: OSError, SyntaxError, ...
            log.warning("decoding %s failed: %r", name, exc)
            raise ImageReadError(
                f'"{name}" is damaged or incomplete (for example cut off while downloading) '
                "and could not be read."
            ) from None


def too_large_error(
    subject: str, size: tuple[int, int] | None, max_pixels: int
) -> ImageTooLargeError:
    """The refusal of an image above the pixel limit; `subject` starts the sentence."""
    limit = f"{max_pixels / 1_000_000:g} megapixels"
    what = f"{size[0]}x{size[1]} pixels" if size else "larger than Overpaint can safely open"
    return ImageTooLargeError(
        f"{subject} is {what}, above the limit of {limit}; "
        "raise the image size limit in Settings if you trust it."
    )


def _upright(im: Image.Image, name: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception as exc:  # a broken EXIF block must not block the picture
        log.info("ignoring unreadable EXIF orientation in %s: %r", name, exc)
        return im


def to_rgba8(im: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to an HxWx4 uint8 straight-alpha array."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        grey = _scale_16bit(np.asarray(im))
        alpha = np.full(grey.shape, 255, np.uint8)
        transparent = im.info.get("transparency")
        if isinstance(transparent, int):
            alpha[np.asarray(im) == transparent] = 0
        return np.ascontiguousarray(np.stack([grey, grey, grey, alpha], axis=-1))
    if mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float64))
        # Float images are conventionally 0..1; anything larger is taken as 0..255.
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        grey = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey, grey, grey, np.full_like(grey, 255)], -1))
    if mode == "CMYK":
        im = _cmyk_to_rgb(im)
    elif mode in ("RGB", "RGBA"):
        im = _rgb_to_srgb(im)
    elif mode == "LAB":
        im = ImageCms.applyTransform(
            im,
            ImageCms.buildTransform(
                ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
            ),
        )
    return np.array(im.convert("RGBA"), dtype=np.uint8, copy=True)


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """0..65535 to 0..255 with rounding (v/257), so 257*k maps to exactly k."""
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    converted = _through_profile(im, "RGB")
    return converted if converted is not None else im.convert("RGB")


def _rgb_to_srgb(im: Image.Image) -> Image.Image:
    """RGB(A) tagged with a non-sRGB profile (Adobe RGB, Display P3, ...) to sRGB numbers."""
    if im.mode == "RGBA":
        rgb = _through_profile(im.convert("RGB"), "RGB")
        if rgb is None:
            return im
        rgb.putalpha(im.getchannel("A"))
        return rgb
    converted = _through_profile(im, "RGB")
    return converted if converted is not None else im


def _through_profile(im: Image.Image, mode: str) -> Image.Image | None:
    """`im` converted from its embedded ICC profile to sRGB, or None (no usable profile)."""
    data = im.info.get("icc_profile")
    if not data:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(data))
        if im.mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(source).lower():
            return None  # already sRGB: skip a transform that could only add rounding
        return ImageCms.profileToProfile(
            im, source, ImageCms.createProfile("sRGB"), outputMode=mode
        )
    except Exception as exc:  # a damaged profile: the numbers are still a picture
        log.info("ignoring unusable ICC profile (%s): %r", im.mode, exc)
        return None
