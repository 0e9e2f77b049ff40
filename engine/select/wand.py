"""The magic wand: the pixels of a similar colour to the clicked one.

A pixel is similar when every channel is within ``tolerance`` of the seed pixel's (the
criterion of OpenCV's ``floodFill`` with ``FLOODFILL_FIXED_RANGE``, and of GIMP's wand on
its "max of channels" setting). Contiguous keeps those 4-connected to the seed; global
keeps all of them. The anti-aliased edge only adds partial coverage on the pixels just
outside the region, so the fully selected pixels are always exactly the flood fill.
"""

from __future__ import annotations

import numpy as np

from engine.core.cvsafe import import_cv2

# Sigma of the 3x3 blur that makes the anti-aliased fringe: one pixel of soft edge.
EDGE_SIGMA = 0.7


def flood_region(
    image: np.ndarray, x: int, y: int, tolerance: int, contiguous: bool = True
) -> np.ndarray:
    """Boolean (h, w): pixels whose every channel is within ``tolerance`` of image[y, x],
    and (if ``contiguous``) 4-connected to it."""
    pixels = image if image.ndim == 3 else image[..., None]
    seed = pixels[y, x].astype(np.int16)
    similar = (np.abs(pixels.astype(np.int16) - seed).max(axis=-1) <= tolerance).astype(np.uint8)
    if not contiguous:
        return similar.astype(bool)
    cv2 = import_cv2()
    _, labels = cv2.connectedComponents(similar, connectivity=4)
    return labels == labels[y, x]


def magic_wand(
    image: np.ndarray,
    x: int,
    y: int,
    tolerance: int = 32,
    contiguous: bool = True,
    antialias: bool = True,
) -> np.ndarray:
    """The wand's selection as a uint8 mask: 255 on the flood region; with ``antialias``,
    partial values on the neighbouring pixels outside it."""
    h, w = image.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"the point {x},{y} is outside the {w}x{h} picture")
    region = flood_region(image, int(x), int(y), int(tolerance), contiguous)
    mask = region.astype(np.uint8) * 255
    if not antialias:
        return mask
    cv2 = import_cv2()
    soft = cv2.GaussianBlur(mask, (3, 3), sigmaX=EDGE_SIGMA, borderType=cv2.BORDER_REPLICATE)
    return np.where(region, np.uint8(255), np.minimum(soft, 254)).astype(np.uint8)
