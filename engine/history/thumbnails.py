"""Small thumbnails for history entries: WebP (PNG where Pillow lacks WebP), ≤ 256 px."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

THUMBNAIL_SIZE = 256
_WEBP = features.check("webp")


def make_thumbnail(pixels: np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """Encoded thumbnail of HxWx3/4 uint8 pixels, the longer side at most ``size``.

    Fast settings on purpose (box reduction, WebP method 0): this runs once per sample
    and counts against the recording budget (benchmark P17).
    """
    arr = np.ascontiguousarray(pixels)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"expected HxWx3/4 uint8 pixels, got {arr.dtype} {arr.shape}")
    image = Image.fromarray(arr, "RGBA" if arr.shape[2] == 4 else "RGB")
    if image.mode == "RGBA" and int(arr[..., 3].min()) == 255:
        # Opaque: drop alpha first; Pillow reduces RGB several times faster than RGBA.
        image = image.convert("RGB")
    # A box reduction by a whole factor: a fraction of the cost of a resampling
    # thumbnail, and the same look at this size.
    factor = -(-max(arr.shape[:2]) // size)
    if factor > 1:
        image = image.reduce(factor)
    out = io.BytesIO()
    if _WEBP:
        image.save(out, format="WEBP", quality=80, method=0)
    else:
        image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def decode_thumbnail(data: bytes) -> np.ndarray:
    """RGBA8 pixels of a stored thumbnail."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))
