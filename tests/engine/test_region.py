"""Region planning and compositing: geometry rules and bit-exactness outside the mask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.jobs import image_composite, prepare_job
from engine.region import (
    apply_patch,
    feather_mask,
    mask_bbox,
    over,
    patch_from_generation,
    pick_region,
    plan_region,
    resize_mask,
    resize_rgb,
)
from engine.request import Box

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rect_mask(h: int, w: int, box: Box) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[box.y : box.bottom, box.x : box.right] = 255
    return m


def test_mask_bbox_finds_extent_and_none_for_empty():
    m = np.zeros((40, 60), np.uint8)
    assert mask_bbox(m) is None
    m[5, 7] = 1
    m[20, 30] = 255
    assert mask_bbox(m) == Box(7, 5, 24, 16)


def test_small_region_context_is_the_same_on_huge_and_small_canvas():
    bbox = Box(128, 128, 256, 256)
    big = plan_region(bbox, 8192, 8192)
    small = plan_region(bbox, 512, 512)
    assert (big.context.width, big.context.height) == (small.context.width, small.context.height)
    assert (big.gen_width, big.gen_height) == (small.gen_width, small.gen_height) == (512, 512)


def test_tiny_region_is_scaled_up_to_native_area():
    plan = plan_region(Box(1000, 1000, 20, 20), 4096, 4096, native=512)
    assert plan.context.width < 512 and plan.context.height < 512
    assert plan.gen_width * plan.gen_height >= 0.9 * 512 * 512
    assert plan.scale > 1.5
    sdxl = plan_region(Box(1000, 1000, 20, 20), 4096, 4096, native=1024)
    assert sdxl.gen_width * sdxl.gen_height >= 0.9 * 1024 * 1024


def test_large_region_is_scaled_down_to_native_area():
    plan = plan_region(Box(100, 100, 3000, 2000), 4000, 3000, native=512)
    assert plan.scale < 0.3
    assert 0.85 * 512 * 512 <= plan.gen_width * plan.gen_height <= 1.15 * 512 * 512


def test_box_at_canvas_corner_is_shifted_not_cut():
    plan = plan_region(Box(0, 0, 40, 40), 2000, 2000)
    ctx = plan.context
    assert (ctx.x, ctx.y) == (0, 0)
    # The same size as for a mask in the middle of the canvas: shifted, not cut.
    mid = plan_region(Box(900, 900, 40, 40), 2000, 2000).context
    assert (ctx.width, ctx.height) == (mid.width, mid.height)
    far = plan_region(Box(1960, 1960, 40, 40), 2000, 2000).context
    assert (far.right, far.bottom) == (2000, 2000)
    assert (far.width, far.height) == (mid.width, mid.height)


def test_thin_stroke_context_is_pushed_towards_square():
    plan = plan_region(Box(100, 1000, 1200, 10), 4000, 4000)
    assert plan.context.width / plan.context.height <= 2.0 + 1e-9


def test_canvas_smaller_than_box_gives_whole_canvas():
    plan = plan_region(Box(2, 3, 10, 10), 30, 20)
    assert plan.context == Box(0, 0, 30, 20)
    assert plan.gen_width % 8 == 0 and plan.gen_height % 8 == 0


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        plan_region(Box(0, 0, 0, 5), 100, 100)
    with pytest.raises(ValueError):
        plan_region(Box(200, 200, 5, 5), 100, 100)


@FAST
@given(
    cw=st.integers(16, 5000),
    ch=st.integers(16, 5000),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
    fw=st.floats(0, 1),
    fh=st.floats(0, 1),
    native=st.sampled_from([512, 768, 1024]),
)
def test_plan_properties(cw, ch, fx, fy, fw, fh, native):
    x = int(fx * (cw - 1))
    y = int(fy * (ch - 1))
    w = max(1, int(fw * (cw - x)))
    h = max(1, int(fh * (ch - y)))
    bbox = Box(x, y, w, h)
    plan = plan_region(bbox, cw, ch, native)
    c = plan.context
    # Inside the canvas and containing the mask.
    assert 0 <= c.x and 0 <= c.y and c.right <= cw and c.bottom <= ch
    assert c.x <= bbox.x and c.y <= bbox.y and c.right >= bbox.right and c.bottom >= bbox.bottom
    # Multiples of 8 (the context too, unless the canvas cut it).
    assert plan.gen_width % 8 == 0 and plan.gen_height % 8 == 0
    assert c.width % 8 == 0 or c.width == cw
    assert c.height % 8 == 0 or c.height == ch
    # About the native area unless the canvas shape is extreme.
    if max(c.width, c.height) <= 2 * min(c.width, c.height):
        area = plan.gen_width * plan.gen_height
        assert 0.8 * native * native <= area <= 1.2 * native * native
        if c.width * c.height < native * native * 0.8:
            assert plan.scale > 1.0  # small regions are scaled UP
    # The feather fits in the padding wherever the box is not at the canvas border.
    if c.x > 0:
        assert bbox.x - c.x >= plan.feather
    if c.right < cw:
        assert c.right - bbox.right >= plan.feather


def test_feather_keeps_mask_and_fades_to_zero_within_radius():
    m = _rect_mask(60, 60, Box(20, 20, 10, 10))
    f = feather_mask(m, 8)
    assert f.dtype == np.uint8 and f.shape == m.shape
    assert (f[m > 0] == 255).all()
    row = f[25]
    assert row[19] > row[15] > row[13] > 0  # monotone fade outward
    assert (row[:12] == 0).all() and (row[38:] == 0).all()  # farther than 8 px: exactly 0
    assert (feather_mask(m, 0) == m).all()


def test_feather_keeps_soft_mask_values():
    m = np.zeros((30, 30), np.uint8)
    m[10:20, 10:20] = 100
    f = feather_mask(m, 4)
    assert (f[10:20, 10:20] >= 100).all()
    assert f[0, 0] == 0


def test_over_matches_reference_formula():
    rng = np.random.default_rng(3)
    dst = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    src = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    out = over(dst, src).astype(np.float64)
    sa, da = src[..., 3:] / 255.0, dst[..., 3:] / 255.0
    oa = sa + da * (1 - sa)
    rgb = np.where(
        oa > 0, (src[..., :3] * sa + dst[..., :3] * da * (1 - sa)) / np.maximum(oa, 1e-9), 0
    )
    ref_rgb = np.where(src[..., 3:] == 0, dst[..., :3], rgb)
    assert np.abs(out[..., :3] - ref_rgb)[oa[..., 0] > 0.01].max() <= 1.0
    assert np.abs(out[..., 3] - oa[..., 0] * 255).max() <= 1.0


def test_apply_patch_clips_at_canvas_edges_and_leaves_rest_untouched():
    canvas = np.full((20, 20, 4), 50, np.uint8)
    patch = np.zeros((10, 10, 4), np.uint8)
    patch[..., :3] = 200
    patch[..., 3] = 255
    out = apply_patch(canvas, patch, 15, -5)
    assert (out[0:5, 15:20, :3] == 200).all()
    out[0:5, 15:20] = 50
    assert (out == 50).all()
    assert (canvas == 50).all()  # not in place by default
    rgb_canvas = np.full((20, 20, 3), 7, np.uint8)
    apply_patch(rgb_canvas, patch, -100, -100, inplace=True)
    assert (rgb_canvas == 7).all()
    apply_patch(rgb_canvas, patch, 0, 0, inplace=True)
    assert (rgb_canvas[:10, :10] == 200).all() and (rgb_canvas[10:] == 7).all()


def test_outpaint_patch_makes_transparent_area_opaque():
    original = np.zeros((16, 16, 4), np.uint8)  # fully transparent canvas crop
    generated = np.full((8, 8, 3), 90, np.uint8)  # at "model size", resized back
    patch = patch_from_generation(generated, 16, 16, np.full((16, 16), 255, np.uint8), 4)
    out = apply_patch(original, patch, 0, 0)
    assert (out[..., 3] == 255).all() and (out[..., :3] == 90).all()


def test_patch_without_a_mask_is_the_opaque_generation_at_crop_size():
    generated = np.random.default_rng(3).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    patch = patch_from_generation(generated, 40, 24)
    assert patch.shape == (24, 40, 4) and (patch[..., 3] == 255).all()
    assert np.array_equal(patch[..., :3], generated)
    with pytest.raises(ValueError, match="mask"):
        patch_from_generation(generated, 40, 24, np.ones((10, 10), np.uint8), 2)


def test_resize_helpers_change_size_and_keep_identity_exact():
    img = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    up = resize_rgb(img, 80, 48)
    assert up.shape == (48, 80, 3)
    assert (resize_rgb(img, 40, 24) == img).all()
    m = _rect_mask(24, 40, Box(10, 5, 10, 10))
    assert resize_mask(m, 20, 12).shape == (12, 20)


def _fake_inpaint(canvas: np.ndarray, mask: np.ndarray, rng: np.random.Generator, native: int):
    """One full inpaint round trip through the production code (engine.jobs builds the job,
    engine.region.patch_from_generation makes the patch as Engine.run does), with a
    'generator' that changes every pixel it gets.

    Returns the new canvas, the canvas-sized feathered mask this round used, and its radius.
    """
    h, w = canvas.shape[:2]
    params = {"mode": "inpaint", "prompt": "x"}
    job = prepare_job(params, w, h, image_composite(canvas), mask=mask, native=native)
    c = job.request.region
    plan = plan_region(mask_bbox(mask), w, h, native)
    gen_in = resize_rgb(job.inputs.image[..., :3], plan.gen_width, plan.gen_height)
    # Like a VAE round trip: the whole generated image drifts, not only the masked part.
    noise = rng.integers(-3, 4, gen_in.shape)
    generated = np.clip(gen_in.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    radius = job.request.mask_blur
    patch = patch_from_generation(generated, c.width, c.height, job.inputs.mask, radius)
    assert patch.shape[:2] == (c.height, c.width)
    full_feather = np.zeros((h, w), np.uint8)
    full_feather[c.y : c.bottom, c.x : c.right] = patch[..., 3]
    return apply_patch(canvas, patch, c.x, c.y), full_feather, radius


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Chebyshev dilation by r pixels, written independently of engine.region."""
    out = mask > 0
    h, w = out.shape
    for _ in range(r):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        out = grown
    return out


@st.composite
def _canvas_and_masks(draw):
    w = draw(st.integers(8, 160))
    h = draw(st.integers(8, 160))
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(1, 3))
    masks = []
    for _ in range(n):
        x = draw(st.integers(0, w - 1))
        y = draw(st.integers(0, h - 1))
        mw = draw(st.integers(1, w - x))
        mh = draw(st.integers(1, h - y))
        kind = draw(st.sampled_from(["rect", "speckle"]))
        m = np.zeros((h, w), np.uint8)
        if kind == "rect":
            m[y : y + mh, x : x + mw] = draw(st.sampled_from([255, 128, 1]))
        else:
            r = np.random.default_rng(seed + len(masks))
            m[y : y + mh, x : x + mw] = (r.random((mh, mw)) < 0.2) * 255
            m[y, x] = 255  # never empty
        masks.append(m)
    return w, h, seed, masks


@FAST
@given(data=_canvas_and_masks(), native=st.sampled_from([64, 128]), repeats=st.integers(1, 4))
def test_pixels_outside_feathered_masks_stay_bit_identical(data, native, repeats):
    w, h, seed, masks = data
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    original[..., 3] = rng.choice(np.array([0, 255, 77], np.uint8), (h, w))
    canvas = original.copy()
    touched = np.zeros((h, w), bool)
    for _ in range(repeats):
        for mask in masks:
            canvas, feathered, radius = _fake_inpaint(canvas, mask, rng, native)
            touched |= feathered > 0
            assert (feathered[mask > 0] == 255).all()  # the whole mask is repainted
            assert not (feathered[~_dilate(mask, radius)]).any()  # and little else
    assert np.array_equal(canvas[~touched], original[~touched])


def test_repeated_inpaint_on_big_canvas_touches_only_the_region():
    rng = np.random.default_rng(11)
    canvas = rng.integers(0, 256, (1200, 1500, 4), dtype=np.uint8)
    original = canvas.copy()
    mask = _rect_mask(1200, 1500, Box(700, 500, 60, 40))
    for _ in range(5):
        canvas, feathered, _ = _fake_inpaint(canvas, mask, rng, 512)
    outside = feathered == 0
    assert np.array_equal(canvas[outside], original[outside])
    assert not np.array_equal(canvas[mask > 0], original[mask > 0])


def test_pick_region_prefers_mask_then_selection_then_a_non_empty_frame() -> None:
    m, s, f = Box(1, 2, 3, 4), Box(5, 6, 7, 8), Box(0, 0, 64, 64)
    assert pick_region(m, s, f) == (m, "mask")
    assert pick_region(None, s, f) == (s, "selection")
    assert pick_region(None, None, f) == (f, "frame")
    assert pick_region(None, None, Box(3, 3, 0, 10)) is None
    assert pick_region(None, None, None) is None
