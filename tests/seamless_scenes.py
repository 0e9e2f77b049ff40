"""The pictures and error measures of the seamless-inpainting issue, shared by its tests
and benchmark (P10): 512x384, a disc mask of radius 100 over a smaller red disc and the
background around it."""

from __future__ import annotations

import numpy as np

from engine.core.cvsafe import import_cv2

H, W = 384, 512
MASK_RADIUS = 100
DISC_RADIUS = 60
RED = (220, 30, 30)


def _distance_sq() -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (yy - H // 2) ** 2 + (xx - W // 2) ** 2


def disc_mask(radius: int = MASK_RADIUS) -> np.ndarray:
    return np.where(_distance_sq() <= radius**2, 255, 0).astype(np.uint8)


def disc_picture(
    background: tuple[int, int, int] | str, disc: tuple[int, int, int] | None = RED
) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA picture with the disc, RGB true background). `background` is a colour or
    "ramp" (a horizontal colour ramp)."""
    truth = np.zeros((H, W, 3), np.uint8)
    if background == "ramp":
        t = np.linspace(0.0, 1.0, W)[None, :]
        truth[..., 0] = np.rint(30 + 200 * t)
        truth[..., 1] = np.rint(180 - 100 * t)
        truth[..., 2] = 120
    else:
        truth[...] = background
    picture = truth.copy()
    if disc is not None:
        picture[_distance_sq() <= DISC_RADIUS**2] = disc
    return np.dstack([picture, np.full((H, W), 255, np.uint8)]), truth


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance to the mask edge in pixels: positive inside the mask, negative outside."""
    cv2 = import_cv2()
    inside = (mask > 0).astype(np.uint8)
    return cv2.distanceTransform(inside, cv2.DIST_L2, 5) - cv2.distanceTransform(
        1 - inside, cv2.DIST_L2, 5
    )


def band_mask(mask: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels whose signed distance to the mask edge lies in [low, high]."""
    d = signed_distance(mask)
    return (d >= low) & (d <= high)


def removal_error(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean |result - truth| (RGB) over the mask, and over the band 4-24 px inside its edge."""
    diff = np.abs(result[..., :3].astype(np.int32) - truth.astype(np.int32)).mean(axis=2)
    inside = mask > 0
    band = band_mask(mask, 4, 24) & inside
    return float(diff[inside].mean()), float(diff[band].mean()) if band.any() else 0.0
