"""Select Object without a model: OpenCV GrabCut seeded by a box or by clicks.

GrabCut fits two colour models (object, background) and cuts between them. A box says
"outside is background, inside probably the object"; clicks mark a small disc as surely
object (positive) or surely background (negative). With clicks and no box, the work area
is the clicks' surroundings and each positive click also marks the pixels of its colour
around it as probably object, so the object's colour model has enough samples.

Work happens on the box's crop (plus a margin of background), scaled down to at most
``WORK_SIDE`` pixels: GrabCut's cost grows with the pixels, and the cut scaled back up is
anti-aliased by the interpolation. The result keeps the object's connected pieces (the
largest and those near its size, or those under a positive click) and fills small holes
left by texture. OpenCV's random generator is seeded, so the same input gives the same
mask.
"""

from __future__ import annotations

import numpy as np

from engine.core.cvsafe import import_cv2
from engine.select.prompt import ObjectPrompt
from engine.select.wand import flood_region

ITERATIONS = 5
WORK_SIDE = 480  # longest side of the area GrabCut works on
BOX_MARGIN = 0.15  # background around a box, as a share of its longer side
CLICK_AREA = 0.4  # work area around clicks without a box, as a share of the picture's side
CLICK_RADIUS = 0.012  # radius of a click's sure disc, as a share of the work area's side
CLICK_TOLERANCE = 32  # colour tolerance of the "probably object" area around a click
CLICK_SMOOTH = 2.0  # sigma of the blur that keeps texture from breaking that area up
KEEP_PIECE = 0.15  # pieces at least this share of the largest one's area are kept
HOLE_SHARE = 0.02  # holes smaller than this share of the object's area are filled


def _work_area(prompt: ObjectPrompt, w: int, h: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the crop GrabCut sees."""
    if prompt.box is not None:
        bx, by, bw, bh = prompt.box
        pad = max(8, round(BOX_MARGIN * max(bw, bh)))
        xs = [bx, bx + bw]
        ys = [by, by + bh]
    else:
        pad = max(32, round(CLICK_AREA * min(w, h)))
        xs = [p[0] for p in prompt.points]
        ys = [p[1] for p in prompt.points]
    return (max(min(xs) - pad, 0), max(min(ys) - pad, 0),
            min(max(xs) + pad, w), min(max(ys) + pad, h))  # fmt: skip


def _seed_mask(
    crop: np.ndarray, prompt: ObjectPrompt, origin: tuple[int, int], scale: float
) -> np.ndarray:
    """GrabCut's starting labels on the (scaled) crop."""
    cv2 = import_cv2()
    h, w = crop.shape[:2]
    ox, oy = origin
    if prompt.box is not None:
        seeds = np.full((h, w), cv2.GC_BGD, np.uint8)
        bx, by, bw, bh = prompt.box
        x0, y0 = int((bx - ox) * scale), int((by - oy) * scale)
        x1, y1 = int(np.ceil((bx + bw - ox) * scale)), int(np.ceil((by + bh - oy) * scale))
        seeds[max(y0, 0) : y1, max(x0, 0) : x1] = cv2.GC_PR_FGD
    else:
        seeds = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    radius = max(2, round(CLICK_RADIUS * max(h, w)))
    if prompt.box is None:
        smooth = cv2.GaussianBlur(crop, (0, 0), CLICK_SMOOTH)
    for x, y in prompt.points:
        cx = min(max(int((x - ox) * scale), 0), w - 1)
        cy = min(max(int((y - oy) * scale), 0), h - 1)
        if prompt.box is None:
            near = flood_region(smooth, cx, cy, CLICK_TOLERANCE, contiguous=True)
            seeds[near & (seeds == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
        cv2.circle(seeds, (cx, cy), radius, int(cv2.GC_FGD), -1)
    for x, y in prompt.negatives:
        cx, cy = int((x - ox) * scale), int((y - oy) * scale)
        cv2.circle(seeds, (cx, cy), radius, int(cv2.GC_BGD), -1)
    return seeds


def _cells(points, origin: tuple[int, int], scale: float, shape: tuple[int, ...]) -> list:
    """Picture points -> (row, column) in the scaled crop, clamped inside it."""
    h, w = shape[:2]
    return [(min(max(int((y - origin[1]) * scale), 0), h - 1),
             min(max(int((x - origin[0]) * scale), 0), w - 1)) for x, y in points]  # fmt: skip


def _tidy(
    fg: np.ndarray, prompt: ObjectPrompt, origin: tuple[int, int], scale: float
) -> np.ndarray:
    """Keep the object's pieces and fill its small holes (texture makes both), but not a
    hole a negative click asked for."""
    cv2 = import_cv2()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), 8)
    if count <= 1:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = set((np.nonzero(areas >= KEEP_PIECE * areas.max())[0] + 1).tolist())
    clicked = {int(labels[r, c]) for r, c in _cells(prompt.points, origin, scale, fg.shape)}
    clicked -= {0}
    # Without a box, the clicks alone say which pieces are the object.
    keep = clicked if clicked and prompt.box is None else big | clicked
    kept = np.isin(labels, sorted(keep))
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~kept).astype(np.uint8), 4)
    wanted = {int(labels[r, c]) for r, c in _cells(prompt.negatives, origin, scale, fg.shape)}
    limit = HOLE_SHARE * kept.sum()
    h, w = fg.shape
    for label in range(1, count):
        x, y, bw, bh, area = stats[label]
        touches_edge = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not touches_edge and area < limit and label not in wanted:
            kept[labels == label] = True
    return kept


def grabcut_object(
    rgb: np.ndarray, prompt: ObjectPrompt, iterations: int = ITERATIONS
) -> np.ndarray:
    """The object ``prompt`` points at in ``rgb`` ((h, w, 3) uint8) as a uint8 mask the
    picture's size. The prompt must be checked (``checked_prompt``) first."""
    cv2 = import_cv2()
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = _work_area(prompt, w, h)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1, :3])
    scale = min(1.0, WORK_SIDE / max(crop.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    else:
        small = crop
    seeds = _seed_mask(small, prompt, (x0, y0), scale)
    out = np.zeros((h, w), np.uint8)
    if not ((seeds == cv2.GC_PR_FGD) | (seeds == cv2.GC_FGD)).any():
        return out
    if ((seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)).any():
        cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's shared generator
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(small, seeds, None, bgd, fgd, int(iterations), cv2.GC_INIT_WITH_MASK)
    fg = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    fg = _tidy(fg, prompt, (x0, y0), scale)
    cut = fg.astype(np.uint8) * 255
    if scale < 1.0:
        cut = cv2.resize(cut, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out[y0:y1, x0:x1] = cut
    return out
