"""Tile planning and feathered blending (engine.upscale.tiles): pure numpy, no model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.upscale.tiles import axis_starts, paste_feathered, plan_tiles, ramp, tile_alpha
from tests.bench.upscale import seam_ratio


@given(length=st.integers(1, 3000), tile=st.integers(8, 600), overlap=st.integers(0, 200))
def test_tiles_cover_the_axis_with_the_overlap_asked_and_stay_inside(
    length: int, tile: int, overlap: int
) -> None:
    starts = axis_starts(length, min(tile, length), overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert starts == sorted(set(starts))
    for a, b in zip(starts, starts[1:], strict=False):
        assert a + size - b >= min(overlap, size - 1)  # shared pixels
        assert b > a


def test_plan_in_raster_order_with_ramp_widths_from_the_neighbours() -> None:
    plan = plan_tiles(300, 200, 128, 32)
    specs = list(plan)
    assert len(specs) == len(plan) == len(plan.xs) * len(plan.ys)
    assert [s.box.x for s in specs[: len(plan.xs)]] == list(plan.xs)
    assert specs[0].left == 0 and specs[0].top == 0
    second = specs[1]
    assert second.left == plan.xs[0] + 128 - plan.xs[1] >= 32
    assert specs[len(plan.xs)].top == plan.ys[0] + 128 - plan.ys[1] >= 32
    cols, rows = plan.borders()
    assert all(0 < c < 300 for c in cols) and all(0 < r < 200 for r in rows)
    assert plan.xs[1] in cols and 128 in cols


def test_small_picture_is_one_tile() -> None:
    plan = plan_tiles(40, 30, 128, 32)
    assert [s.box for s in plan] == [s.box for s in plan][:1]
    (spec,) = list(plan)
    assert (spec.box.width, spec.box.height, spec.left, spec.top) == (40, 30, 0, 0)
    assert plan.borders() == ([], [])


def test_ramp_is_monotonic_and_symmetric() -> None:
    r = ramp(16)
    assert np.all(np.diff(r) > 0) and 0 < r[0] < 0.05 and 0.95 < r[-1] < 1
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-6)
    a = tile_alpha(10, 6, 4, 2)
    assert a.shape == (6, 10) and a[5, 9] == 1.0 and a[0, 0] < 0.02


@pytest.mark.parametrize("channels", [3, 4])
def test_tiles_of_the_same_picture_blend_back_to_it(channels: int) -> None:
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (190, 260, channels), dtype=np.uint8)
    out = np.zeros_like(picture)
    for spec in plan_tiles(260, 190, 64, 16):
        b = spec.box
        paste_feathered(out, picture[b.y : b.bottom, b.x : b.right], spec)
    assert np.array_equal(out, picture)


def _shifted_tiles(feathered: bool) -> tuple[np.ndarray, object]:
    """A smooth ramp whose tiles each come back a little brighter or darker (what a
    refine does), laid back feathered or hard."""
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    picture = np.dstack([xx * 0.5 + 40, yy * 0.4 + 60, (xx + yy) * 0.2 + 30]).astype(np.uint8)
    plan = plan_tiles(256, 256, 96, 32)
    out = np.zeros_like(picture)
    rng = np.random.default_rng(1)
    for spec in plan:
        b = spec.box
        shift = rng.uniform(-12, 12)
        tile = np.clip(picture[b.y : b.bottom, b.x : b.right] + shift, 0, 255).astype(np.uint8)
        if feathered:
            paste_feathered(out, tile, spec)
        else:
            out[b.y : b.bottom, b.x : b.right] = tile
    return out, plan


def test_feathered_blend_hides_seams_that_a_hard_paste_shows() -> None:
    feathered, plan = _shifted_tiles(True)
    hard, _ = _shifted_tiles(False)
    assert seam_ratio(hard, plan) > 2.0  # the measure sees seams when there are some
    assert seam_ratio(feathered, plan) <= 1.2


def test_paste_checks_the_tile_size() -> None:
    (spec,) = list(plan_tiles(8, 8, 8, 0))
    with pytest.raises(ValueError):
        paste_feathered(np.zeros((8, 8, 3), np.uint8), np.zeros((4, 8, 3), np.uint8), spec)


def test_scaled_tiles_stay_edge_to_edge_with_exact_overlaps() -> None:
    plan = plan_tiles(250, 130, 64, 16)
    pairs = list(plan.scaled(4.0 * 333 / 250, 4.0 * 173 / 130))
    out_boxes = [o.box for _s, o in pairs]
    assert max(b.right for b in out_boxes) == round(250 * 4.0 * 333 / 250)
    for (_s, a), (_t, b) in zip(pairs, pairs[1:], strict=False):
        if a.box.y == b.box.y:
            assert b.left == a.box.right - b.box.x > 0
