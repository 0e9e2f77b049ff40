"""Region planning and compositing for inpaint/outpaint: pure numpy (+ Pillow resampling).

The flow for one masked job:

1. ``mask_bbox(mask)`` on the canvas mask (the editor may compute it on its own tiles).
2. ``plan_region(bbox, canvas_w, canvas_h, native)`` gives the context box to crop and the
   generation size. The editor crops the composite and the mask at ``plan.context``.
3. The engine resizes the crop to ``(gen_width, gen_height)`` (``resize_rgb``/``resize_mask``),
   generates, and turns the result into an RGBA patch with ``patch_from_generation``
   (resize back to the crop, alpha = ``feather_mask``); classical fill uses it too.
4. The patch is laid at ``(context.x, context.y)`` as a layer, or flattened with
   ``apply_patch``.

Every step works on the crop, never the canvas, so a job's cost follows the region.
The patch's alpha is the feathered mask and is exactly 0 outside it, so "over" blending
leaves those pixels bit-identical however many times a region is repainted: the VAE
round trip never reaches them.

Numbers (after docs/ARCHITECTURE.md, "Region rules": Krita AI Diffusion's context rule,
A1111's shift-inside clamp, InvokeAI/Krita's upscale of small regions to the native area):

- context padding around the mask bbox on every side:
  ``max(PAD_MIN, mean mask side / 2, min(longest canvas side / 16, native / 4))``.
  Krita's canvas-relative term is capped at native/4 so that a 256² mask costs the same
  on an 8192² canvas as on a 512² one (and is not drowned in context and blurred).
- the context is at least ``native / 2`` per side (so a tiny mask still gets surroundings
  and is then scaled UP at least ×2), pushed towards square until its aspect ratio is at
  most ``MAX_ASPECT``, rounded up to a multiple of 8, and shifted (never cut) inside the
  canvas; only a canvas smaller than the box cuts it.
- generation size: the context scaled to about ``native²`` pixels (up or down), each side a
  multiple of the model's latent multiple (8; 16 for the transformer families, whose x8
  latents are patched 2x2) within ``[max(64, native/4), 2*native]``.
- suggested feather: ``clamp(diagonal of the mask bbox / 10, FEATHER_MIN, FEATHER_MAX)``,
  never more than the padding, so the feathered alpha fades to 0 inside the patch and the
  patch border never shows a seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.request import Box

PAD_MIN = 32
MAX_ASPECT = 2.0
FEATHER_MIN = 4
FEATHER_MAX = 48
MULTIPLE = 8


@dataclass(frozen=True)
class RegionPlan:
    """Where to crop and at which size to generate for one masked region."""

    context: Box  # crop box on the canvas: the patch is laid at (context.x, context.y)
    gen_width: int  # generation size, multiples of the latent multiple, about native² pixels
    gen_height: int
    feather: int = FEATHER_MIN  # suggested feather radius in canvas pixels

    @property
    def scale(self) -> float:
        """Generation pixels per canvas pixel (geometric mean of both axes); > 1 = upscaled."""
        return math.sqrt(
            (self.gen_width * self.gen_height) / (self.context.width * self.context.height)
        )


def mask_bbox(mask: np.ndarray) -> Box | None:
    """The bounding box of ``mask > 0``, or None for an empty mask."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def pick_region(
    mask_box: Box | None, selection_box: Box | None, frame: Box | None
) -> tuple[Box, str] | None:
    """What to repaint: the mask's box, else the selection's, else the frame; with its source.

    The order the leading tools share: a painted mask always wins, a selection stands in
    for it, and the frame is only the fallback for "generate here".
    """
    for box, source in ((mask_box, "mask"), (selection_box, "selection"), (frame, "frame")):
        if box is not None and box.width > 0 and box.height > 0:
            return box, source
    return None


def _round_up(value: float, multiple: int = MULTIPLE) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _round_near(value: float, multiple: int = MULTIPLE) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def _place(center: float, size: int, limit: int) -> tuple[int, int]:
    """Start and size of a span of ``size`` centred at ``center``, shifted inside [0, limit)."""
    size = min(size, limit)
    start = int(round(center - size / 2))
    start = min(max(start, 0), limit - size)
    return start, size


def plan_region(
    bbox: Box,
    canvas_width: int,
    canvas_height: int,
    native: int = 512,
    context: str = "auto",
    multiple: int = MULTIPLE,
) -> RegionPlan:
    """Plan the context box and generation size for a mask with bounding box ``bbox``.

    ``context`` chooses how much surrounds the mask: "auto" (the rule above), "mask" (the
    mask box with just room for the feather), "whole" (the whole canvas) or a number of
    pixels on every side. ``multiple``: the model's latent multiple (generation sides).
    """
    pad_override = context_padding(context)
    if canvas_width <= 0 or canvas_height <= 0:
        raise ValueError(f"canvas size must be positive, got {canvas_width}x{canvas_height}")
    if bbox.width <= 0 or bbox.height <= 0:
        raise ValueError(f"mask box must not be empty, got {bbox}")
    # A box reaching outside the canvas (outpaint drawn past the edge) is planned on its
    # part inside the canvas: the editor grows the canvas first when it wants more.
    x0, y0 = max(bbox.x, 0), max(bbox.y, 0)
    x1, y1 = min(bbox.right, canvas_width), min(bbox.bottom, canvas_height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"mask box {bbox} lies outside the {canvas_width}x{canvas_height} canvas")
    bw, bh = x1 - x0, y1 - y0

    diag = math.hypot(bw, bh)
    if context == "whole":
        box = Box(0, 0, canvas_width, canvas_height)
        pad = float(max(canvas_width, canvas_height))
    else:
        if pad_override is None:
            longest = max(canvas_width, canvas_height)
            pad = max(PAD_MIN, (bw + bh) / 4, min(longest / 16, native / 4))
            w = max(bw + 2 * pad, native / 2)
            h = max(bh + 2 * pad, native / 2)
            # Towards square: a long thin stroke keeps context across its short side.
            w = max(w, h / MAX_ASPECT)
            h = max(h, w / MAX_ASPECT)
        else:
            # "mask": room for the feather (which is never more than the padding) only.
            pad = pad_override if pad_override >= 0 else _feather_for(diag, math.inf)
            w, h = bw + 2 * pad, bh + 2 * pad
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x, w = _place(cx, _round_up(w), canvas_width)
        y, h = _place(cy, _round_up(h), canvas_height)
        box = Box(x, y, w, h)
    w, h = box.width, box.height

    scale = native / math.sqrt(w * h)
    lo = max(_round_up(64, multiple), _round_near(native / 4, multiple))
    hi = _round_near(2 * native, multiple)
    gen_w = min(max(_round_near(w * scale, multiple), lo), hi)
    gen_h = min(max(_round_near(h * scale, multiple), lo), hi)

    # The feather must fade to 0 before the patch edge; the shifted box may leave less room
    # on one side, but only where it meets the canvas border (nothing to blend there).
    return RegionPlan(box, gen_w, gen_h, _feather_for(diag, pad))


def _feather_for(diag: float, pad: float) -> int:
    return int(min(max(diag / 10, FEATHER_MIN), FEATHER_MAX, pad))


CONTEXT_CHOICES = ("auto", "mask", "whole")


def context_padding(context: str) -> int | None:
    """None for "auto"/"whole", -1 for "mask", else the padding in pixels; ValueError for
    anything else (the CLI turns it into a usage error)."""
    if context in ("auto", "whole"):
        return None
    if context == "mask":
        return -1
    try:
        pad = int(context)
    except ValueError:
        raise ValueError(
            f"context must be auto, mask, whole or a number of pixels, not {context!r}"
        ) from None
    if pad < 0:
        raise ValueError(f"context padding must not be negative, not {pad}")
    return pad


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown (pixels > 0) or shrunk (< 0) by that many pixels (square structuring
    element). Grown pixels are fully set; a shrunk mask keeps its values where it remains.
    Only the mask's box (grown) is scanned, so the cost follows the mask, not the canvas.
    """
    m = np.asarray(mask)
    bbox = mask_bbox(m)
    out = m.copy()
    if pixels == 0 or bbox is None:
        return out
    r = abs(int(pixels))
    # The box grown by r: its edge is either empty or the canvas border.
    y0, x0 = max(bbox.y - r, 0), max(bbox.x - r, 0)
    y1, x1 = min(bbox.bottom + r, m.shape[0]), min(bbox.right + r, m.shape[1])
    window = m[y0:y1, x0:x1]
    counts = _box_sum((window > 0).astype(np.int64), r)
    if pixels > 0:
        out[y0:y1, x0:x1] = np.where(counts > 0, 255, window)
    else:
        # A pixel stays when its whole window was set. Replicated edges: a mask reaching
        # the canvas border keeps touching it.
        out[y0:y1, x0:x1] = np.where(counts == (2 * r + 1) ** 2, window, 0)
    return out


def _row_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sums over windows of 2r+1 along each row (int64 cumsum: exact; edges replicated).

    Replicated edges: a crop edge is either far enough from the mask to be all zeros or the
    canvas border, where a mask reaching it must stay fully opaque.
    """
    if r <= 0:
        return a
    padded = np.concatenate([np.repeat(a[:, :1], r + 1, 1), a, np.repeat(a[:, -1:], r, 1)], 1)
    padded[:, 0] = 0
    c = np.cumsum(padded, axis=1, dtype=np.int64)
    return c[:, 2 * r + 1 :] - c[:, : -2 * r - 1]


def _box_sum(a: np.ndarray, r: int) -> np.ndarray:
    """2-D (2r+1)² window sums; rows then columns, each as contiguous row passes (numpy's
    cumsum down columns is ~20x slower)."""
    return np.ascontiguousarray(_row_sums(np.ascontiguousarray(_row_sums(a, r).T), r).T)


def feather_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """A soft mask that keeps ``mask`` and fades out to 0 over ``radius`` pixels around it.

    Unlike a plain blur, every painted pixel (any value > 0) becomes fully opaque: the user
    asked for it to change. The fade lies outside, where the generated pixels are the
    model's copy of the original and blend in without a seam. Values are exactly 0 farther
    than ``radius`` pixels (Chebyshev distance) from the mask.
    """
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    m = m.astype(np.uint8, copy=False)
    if radius <= 0:
        return m.copy()
    bbox = mask_bbox(m)
    if bbox is None:
        return np.zeros_like(m)
    # Only the mask's box grown by the radius can change; replicating that window's edge is
    # the same as replicating the crop's (zeros, or the crop edge itself).
    y0, x0 = max(bbox.y - radius, 0), max(bbox.x - radius, 0)
    y1, x1 = min(bbox.bottom + radius, m.shape[0]), min(bbox.right + radius, m.shape[1])
    out = np.zeros_like(m)
    out[y0:y1, x0:x1] = _feather_window(m[y0:y1, x0:x1], radius)
    return out


def _feather_window(m: np.ndarray, radius: int) -> np.ndarray:
    grow = (radius + 1) // 2
    blur = radius - grow
    # Dilate by `grow`, then two box blurs of half-width blur/2 each (≈ a Gaussian whose
    # support is `blur` <= `grow`): pixels inside the mask see only dilated pixels, so they
    # stay 255 and the fade starts at the mask edge. All in integers: zero stays zero.
    on = (m > 0).astype(np.int64)
    dilated = (_box_sum(on, grow) > 0).astype(np.int64)
    r1 = blur // 2
    r2 = blur - r1
    total = _box_sum(_box_sum(dilated, r1), r2)
    k = ((2 * r1 + 1) * (2 * r2 + 1)) ** 2
    out = (total * 255 + k // 2) // k
    return np.maximum(out.astype(np.uint8), m)


def feather_inside(mask: np.ndarray, radius: int) -> np.ndarray:
    """A soft mask that is exactly 0 wherever ``mask`` is 0 and fades in over about
    ``radius`` pixels inside its edge: for a selection, which is a limit.

    Krita's composite mask: the selection shrunk by half the blend width, then blurred by
    it. The shrink and the blur reach are equal at most, so no pixel outside the selection
    gets any of the generation. Where the selection is thinner than the blend, the blend
    is halved until its core still reaches full strength. Soft selection values are kept
    as a ceiling; the crop's border counts as inside (a selection reaching the canvas edge
    keeps full strength there, as in ``feather_mask``).
    """
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    m = m.astype(np.uint8, copy=False)
    bbox = mask_bbox(m)
    if radius <= 0 or bbox is None:
        return m.copy()
    # A one-pixel margin of zeros around the mask (or the crop's edge) makes the
    # replicated window edges of _box_sum mean "outside" there.
    y0, x0 = max(bbox.y - 1, 0), max(bbox.x - 1, 0)
    y1, x1 = min(bbox.bottom + 1, m.shape[0]), min(bbox.right + 1, m.shape[1])
    window = m[y0:y1, x0:x1]
    on = (window > 0).astype(np.int64)
    r = int(radius)
    while r > 1 and not (_box_sum(on, r) == (2 * r + 1) ** 2).any():
        r //= 2
    shrink = (r + 1) // 2
    blur = r - shrink
    core = (_box_sum(on, shrink) == (2 * shrink + 1) ** 2).astype(np.int64)
    r1 = blur // 2
    r2 = blur - r1
    total = _box_sum(_box_sum(core, r1), r2)
    k = ((2 * r1 + 1) * (2 * r2 + 1)) ** 2
    soft = ((total * 255 + k // 2) // k).astype(np.uint8)
    out = np.zeros_like(m)
    out[y0:y1, x0:x1] = np.minimum(soft, window)
    return out


def repaint_alpha(mask: np.ndarray, radius: int, inside: bool = False) -> np.ndarray:
    """The graded repaint mask: ``feather_inside`` for a selection, else ``feather_mask``."""
    return feather_inside(mask, radius) if inside else feather_mask(mask, radius)


def over(dst_rgba: np.ndarray, src_rgba: np.ndarray) -> np.ndarray:
    """Porter-Duff "over" of same-sized uint8 arrays (src RGBA, dst RGB or RGBA; straight alpha).

    Returns RGBA. Where src alpha is 0 the result is dst (bit-exact), where it is 255 it is
    src; only the partly transparent pixels (the feather band) are blended in float.
    """
    dst = np.asarray(dst_rgba)
    src = np.asarray(src_rgba)
    out = np.empty(dst.shape[:2] + (4,), np.uint8)
    out[..., : dst.shape[2]] = dst
    if dst.shape[2] == 3:
        out[..., 3] = 255
    a = src[..., 3]
    full = a == 255
    out[full] = src[full]
    part = (a > 0) & ~full
    if part.any():
        s = src[part].astype(np.float32)
        d = out[part].astype(np.float32)
        sa = s[:, 3:] / 255.0
        da = d[:, 3:] / 255.0
        out_a = sa + da * (1.0 - sa)
        rgb = (s[:, :3] * sa + d[:, :3] * da * (1.0 - sa)) / np.maximum(out_a, 1e-6)
        blended = np.concatenate([rgb, out_a * 255.0], axis=1)
        out[part] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def apply_patch(
    canvas_rgba: np.ndarray, patch_rgba: np.ndarray, x: int, y: int, *, inplace: bool = False
) -> np.ndarray:
    """Flatten ``patch_rgba`` onto ``canvas_rgba`` at (x, y) with "over" blending.

    Only the patch rectangle (clipped to the canvas) is computed. Returns a new array unless
    ``inplace``; pixels under patch alpha 0 stay bit-identical.
    """
    canvas = canvas_rgba if inplace else canvas_rgba.copy()
    ph, pw = patch_rgba.shape[:2]
    ch, cw = canvas.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + pw, cw), min(y + ph, ch)
    if x1 <= x0 or y1 <= y0:
        return canvas
    src = patch_rgba[y0 - y : y1 - y, x0 - x : x1 - x]
    dst = canvas[y0:y1, x0:x1]
    blended = over(dst, src)
    canvas[y0:y1, x0:x1] = blended[..., : canvas.shape[2]]
    return canvas


def resize_rgb(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGB or RGBA uint8 array with Lanczos; a same-size call returns a copy."""
    if img.shape[1] == width and img.shape[0] == height:
        return img.copy()
    return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.LANCZOS))


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a uint8 mask bilinearly (no Lanczos ringing at the mask edge)."""
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask.copy()
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.BILINEAR))


def patch_from_generation(
    generated_rgb: np.ndarray,
    width: int,
    height: int,
    mask: np.ndarray | None = None,
    feather: int = 0,
    inside: bool = False,
) -> np.ndarray:
    """Turn a generation at model size into the RGBA patch for its ``width`` x ``height``
    context crop: the one compositing step every engine job (diffusion and fill) uses.

    The colour is ``generated_rgb`` resized back to the crop with Lanczos (a copy when the
    size already matches); the alpha is ``feather_mask(mask, feather)``, exactly 0 outside
    the feathered mask, or opaque everywhere without a mask (a whole-crop generation).
    ``inside``: the mask is a selection, feathered inside its edge (``feather_inside``).
    """
    back = resize_rgb(np.ascontiguousarray(generated_rgb[..., :3]), width, height)
    if mask is None:
        return np.dstack([back, np.full((height, width), 255, np.uint8)])
    feathered = repaint_alpha(mask, feather, inside)
    if feathered.shape != (height, width):
        raise ValueError(f"the mask is {feathered.shape[::-1]}, the crop {(width, height)}")
    # Laid "over" the original the patch reproduces it bit-exactly where the alpha is 0;
    # over transparent canvas it brings its own opacity (outpainting fills empty canvas).
    return np.dstack([back, feathered])
