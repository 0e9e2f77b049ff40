"""Classical fills with OpenCV: object removal without a model, and outpaint pre-fill.

Both take the region's crop, never the whole canvas, and leave every pixel outside the
hole bit-identical.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from engine.core.cvsafe import import_cv2

log = logging.getLogger(__name__)

METHODS = ("telea", "ns")
# Neighbourhood OpenCV looks at around each hole pixel; 5 px smooths noise without
# smearing edges the way larger radii do.
INPAINT_RADIUS = 5
# Outpaint pre-fill only sets the colours diffusion starts from, so big holes are filled
# on a smaller copy (Telea costs ~1.3 s for a 512x1024 hole at full size here).
PREFILL_MAX_HOLE_PIXELS = 160 * 160
PREFILL_GRAY = 127


def canonical_method(method: str) -> str:
    """ "Telea", "navier-stokes", "NS", ... -> one of METHODS; ValueError for others."""
    key = method.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = {"navierstokes": "ns"}.get(key, key)
    if key not in METHODS:
        raise ValueError(f"unknown fill method {method!r}; use one of {', '.join(METHODS)}")
    return key


def _flag(method: str) -> int:
    cv2 = import_cv2()
    return {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[canonical_method(method)]


def classical_fill(image_rgb: np.ndarray, mask: np.ndarray, method: str = "telea") -> np.ndarray:
    """Fill ``mask > 0`` from the surrounding pixels (OpenCV Telea or Navier-Stokes).

    ``image_rgb`` is HxWx3 (or HxWx4: the filled pixels become opaque). Pixels outside the
    mask come back bit-identical. A mask covering the whole image has nothing to fill from
    and gives mid-grey there.
    """
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] not in (3, 4):
        raise ValueError(
            f"expected HxWx3 or HxWx4 uint8 pixels, got {image_rgb.dtype} {image_rgb.shape}"
        )
    if mask.shape[:2] != image_rgb.shape[:2]:
        raise ValueError(
            f"mask size {mask.shape[:2]} differs from image size {image_rgb.shape[:2]}"
        )
    flag = _flag(method)
    hole = _hole(mask)
    out = image_rgb.copy()
    if not hole.any():
        return out
    if hole.all():
        out[..., :3] = PREFILL_GRAY
    else:
        cv2 = import_cv2()
        rgb = np.ascontiguousarray(image_rgb[..., :3])
        filled = cv2.inpaint(rgb, hole.astype(np.uint8) * 255, INPAINT_RADIUS, flag)
        # OpenCV leaves known pixels alone today; the copy makes that a guarantee.
        out[..., :3][hole] = filled[hole]
    if out.shape[2] == 4:
        out[..., 3][hole] = 255
    return out


def _hole(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    return m > 0


def prefill_transparent(image_rgba: np.ndarray) -> np.ndarray:
    """An opaque RGB copy whose transparent areas are filled from the surrounding colours.

    Used before outpainting, so diffusion starts from plausible colours rather than black.
    Alpha-0 pixels are filled (Telea, on a reduced copy when the hole is large, then
    blurred so no streaks lead the model); partly transparent pixels are laid over that
    fill; opaque pixels are kept bit-identical.
    """
    if image_rgba.dtype != np.uint8 or image_rgba.ndim != 3 or image_rgba.shape[2] != 4:
        raise ValueError(f"expected HxWx4 uint8 pixels, got {image_rgba.dtype} {image_rgba.shape}")
    rgb = np.ascontiguousarray(image_rgba[..., :3])
    alpha = image_rgba[..., 3]
    hole = alpha == 0
    if not hole.any():
        return rgb.copy()
    if hole.all():
        return np.full_like(rgb, PREFILL_GRAY)

    cv2 = import_cv2()
    h, w = hole.shape
    n_hole = int(hole.sum())
    factor = max(1.0, math.sqrt(n_hole / PREFILL_MAX_HOLE_PIXELS))
    if factor > 1.0:
        sw, sh = max(1, round(w / factor)), max(1, round(h / factor))
        small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
        # A small pixel counts as known only if all of it was known: no transparent
        # colour (often black) bleeds into the fill.
        known = cv2.resize((~hole).astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        small_hole = (known < 0.999).astype(np.uint8) * 255
        if small_hole.all():
            small_filled = np.full_like(small, int(rgb[~hole].mean()))
        else:
            small_filled = cv2.inpaint(small, small_hole, INPAINT_RADIUS, cv2.INPAINT_TELEA)
        fill = cv2.resize(small_filled, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        fill = cv2.inpaint(rgb, hole.astype(np.uint8) * 255, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    k = 2 * max(1, round(min(h, w) / 64)) + 1
    fill = cv2.GaussianBlur(fill, (k, k), 0)

    a = alpha[..., None].astype(np.float32) / 255.0
    blended = np.rint(rgb * a + fill * (1.0 - a)).astype(np.uint8)
    return np.where(alpha[..., None] == 255, rgb, blended)
