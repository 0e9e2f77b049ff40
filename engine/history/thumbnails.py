"""Small thumbnails for history entries: WebP (PNG where Pillow lacks WebP), ≤ 192 px.

192 px is twice the Generations grid's 96 px icons, so they stay sharp on a 2x screen;
a bigger thumbnail would only be scaled down, and each extra pixel costs encoding time
on every job (benchmark P17).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

THUMBNAIL_SIZE = 192
_WEBP = features.check("webp")


def make_thumbnail(pixels: np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """Encoded thumbnail of HxWx3/4 uint8 pixels, the longer side at most ``size``.

    Fast settings on purpose (box reduction, WebP method 0): this runs once per sample
    and counts against the recording budget (benchmark P17).
    """
    arr = np.ascontiguousarray(pixels)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"expected HxWx3/4 uint8 pixels, got {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    if arr.shape[2] == 4 and int(arr[..., 3].min()) == 255:
        # Opaque: read it as RGB straight from the RGBA bytes (no conversion pass);
        # Pillow also reduces RGB several times faster than RGBA.
        image = Image.frombuffer("RGB", (w, h), arr, "raw", "RGBX", 0, 1)
    else:
        image = Image.fromarray(arr, "RGBA" if arr.shape[2] == 4 else "RGB")
    # A box reduction by a whole factor: a fraction of the cost of a resampling
    # thumbnail, and the same look at this size.
    factor = -(-max(h, w) // size)
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
