"""Soft inpainting's schedule, latent blend and colour match, and the inpaint modes' pre-fills."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler

from engine.inpaint_modes import INPAINT_MODES, default_strength, detect_mode, prefill
from engine.soft_inpaint import DifferentialBlend, color_match, latent_mask, step_threshold


def test_a_pixel_is_free_for_the_last_share_of_steps_equal_to_its_mask_value():
    total = 10
    for value, free_steps in ((1.0, 10), (0.3, 3), (0.1, 1), (0.05, 0), (0.0, 0)):
        free = sum(1 for i in range(total) if value >= step_threshold(i, total))
        assert free == free_steps, value


def test_latent_mask_keeps_grading():
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:32] = 255
    lm = latent_mask(mask, 8, 8)
    assert lm.shape == (8, 8) and lm.dtype == np.float32
    assert lm.max() == 1.0 and lm[0, 0] == 0.0
    half = np.zeros((16, 16), np.uint8)
    half[:, :4] = 255  # half of the first 8-px column
    assert latent_mask(half, 2, 2)[0, 0] == pytest.approx(0.5)


class _Pipe:
    """What DifferentialBlend reads from a pipeline: its scheduler and step count."""

    def __init__(self, steps: int) -> None:
        self.scheduler = EulerDiscreteScheduler(num_train_timesteps=1000)
        self.scheduler.set_timesteps(steps)
        self.num_timesteps = steps


def test_blend_pins_each_pixel_until_its_share_of_the_schedule_and_restores_the_rest():
    steps = 10
    pipe = _Pipe(steps)
    original = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    mask = np.zeros((4, 4), np.float32)
    mask[0, 0], mask[1, 1], mask[2, 2] = 1.0, 0.3, 0.0
    blend = DifferentialBlend(original, mask, seed=3)
    generated = torch.full_like(original, 42.0)

    mid = blend.blend(pipe, 2, generated)  # threshold 0.8
    assert torch.equal(mid[..., 0, 0], generated[..., 0, 0])
    assert not torch.equal(mid[..., 1, 1], generated[..., 1, 1])
    noised = pipe.scheduler.add_noise(original, blend.noise, pipe.scheduler.timesteps[3:4])
    assert torch.allclose(mid[..., 1, 1], noised[..., 1, 1])

    late = blend.blend(pipe, 7, generated)  # threshold 0.3: the 0.3 pixel is free
    assert torch.equal(late[..., 1, 1], generated[..., 1, 1])

    last = blend.blend(pipe, steps - 1, generated)
    assert torch.equal(last[..., 2, 2], original[..., 2, 2])  # unmasked: the original exactly
    assert torch.equal(last[..., 1, 1], generated[..., 1, 1])


def test_color_match_removes_a_colour_drift_measured_around_the_mask():
    rng = np.random.default_rng(0)
    original = np.clip(rng.normal(120, 20, (96, 96, 3)), 0, 255).astype(np.uint8)
    drifted = np.clip(original.astype(int) + (12, -9, 6), 0, 255).astype(np.uint8)
    mask = np.zeros((96, 96), np.uint8)
    mask[32:64, 32:64] = 255
    fixed = color_match(drifted, original, mask)
    before = np.abs(drifted.astype(int) - original).mean()
    after = np.abs(fixed.astype(int) - original).mean()
    assert before > 8 and after < 1.5


def test_color_match_leaves_the_patch_alone_without_a_ring_to_measure():
    original = np.full((32, 32, 3), 100, np.uint8)
    generated = np.full((32, 32, 3), 140, np.uint8)
    whole = np.full((32, 32), 255, np.uint8)
    assert np.array_equal(color_match(generated, original, whole), generated)


def _disc_picture(background=(40, 90, 200), disc=(220, 30, 30)) -> tuple[np.ndarray, np.ndarray]:
    h, w = 96, 128
    yy, xx = np.mgrid[:h, :w]
    inside = (yy - 48) ** 2 + (xx - 64) ** 2 <= 20**2
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[...] = (*background, 255)
    rgba[inside] = (*disc, 255)
    mask = ((yy - 48) ** 2 + (xx - 64) ** 2 <= 30**2).astype(np.uint8) * 255
    return rgba, mask


def test_auto_picks_the_mode_from_mask_pixels_and_prompt():
    rgba, mask = _disc_picture()
    assert detect_mode(rgba, mask, "") == "remove"
    assert detect_mode(rgba, mask, "a green square") == "add"
    assert detect_mode(rgba, np.full_like(mask, 255), "a beach") == "replace-background"
    empty = rgba.copy()
    empty[:, :10, 3] = 0
    edge = np.zeros_like(mask)
    edge[:, :20] = 255
    assert detect_mode(empty, edge, "a beach") == "expand"


@pytest.mark.parametrize("mode", [m for m in INPAINT_MODES if m != "auto"])
def test_prefill_changes_only_the_hole(mode):
    rgba, mask = _disc_picture()
    rgb = prefill(mode, rgba, mask)
    outside = mask == 0
    assert np.array_equal(rgb[outside], rgba[..., :3][outside])


def test_remove_prefill_continues_a_flat_background_exactly():
    rgba, mask = _disc_picture()
    rgb = prefill("remove", rgba, mask)
    assert np.abs(rgb[mask > 0].astype(int) - (40, 90, 200)).max() <= 1


def test_each_mode_has_its_default_strength_and_refine_keeps_the_users():
    assert default_strength("remove", 0.8) < 0.5
    assert default_strength("add", 0.5) == 1.0
    assert default_strength("refine", 0.42) == 0.42


def test_color_match_keeps_new_content_when_the_ring_is_flat():
    # A flat original ring and a slightly noisy generated one once scaled the whole
    # patch's contrast by 0.5, washing a new yellow square out towards the background.
    rng = np.random.default_rng(1)
    original = np.full((96, 96, 3), (30, 70, 220), np.uint8)
    generated = np.clip(original + rng.normal(0, 2.5, original.shape), 0, 255).astype(np.uint8)
    generated[40:56, 40:56] = (245, 220, 30)
    mask = np.zeros((96, 96), np.uint8)
    mask[32:64, 32:64] = 255
    fixed = color_match(generated, original, mask)
    assert np.abs(fixed[40:56, 40:56].astype(int) - (245, 220, 30)).max() <= 3
