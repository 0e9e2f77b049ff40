"""Soft inpainting (differential diffusion) and colour matching for repainted regions.

Differential diffusion keeps the feathered mask graded instead of binarising it, the way
diffusers' inpaint pipeline does: after every denoising step each latent pixel whose mask
value m is below the step's threshold is put back to the original, re-noised to the next
step's noise level. The threshold falls from 1 to 0 over the schedule, so a pixel with
m = 0.3 is only free for the last 30 % of the steps: the edge of the mask changes a
little, its centre a lot, and the two meet without a seam. After the last step the
unmasked latents (m = 0) are the original's exactly. This is InvokeAI's `InpaintExt` /
ComfyUI's `DifferentialDiffusion` rule, run from diffusers' `callback_on_step_end` so it
works on top of any SD1/SD2/SDXL inpaint pipeline (4- or 9-channel UNet).

Colour matching then removes the small colour drift every model and VAE has: the Lab
mean/std of the generated pixels in a ring just outside the mask are matched to the
original's there, and the same transform is applied to the patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import region
from engine.core.cvsafe import import_cv2
from engine.inpaint_modes import detect_mode, prefill
from engine.outpaint_seam import COARSE_SIGMA, MIN_REACH, continue_edge
from engine.request import GenerationRequest

# A ring this wide (pixels) just outside the feathered mask is what colour matching
# compares: near enough to see the same things as the masked part, far enough to exist.
COLOR_RING = 24
# Fewer ring pixels than this give statistics too noisy to trust: no correction then.
MIN_RING_PIXELS = 64
# Lab standard deviation below which a ring counts as flat (L runs 0-100).
MIN_RING_STD = 2.0
# `remove` keeps the classical fill's colours and layout at scales above this many
# generation pixels (Gaussian sigma) and takes only the finer grain from the model: a
# model that cannot draw the surroundings (the demo model on a colour ramp) then cannot
# bend them either. Measured on a ramp behind a r=100 disc (demo model, strength 0.35):
# sigma 0.5 / 0.75 / 1.0 gave mean errors 2.2 / 2.8 / 3.4 against 13.3 without it.
REMOVE_DETAIL_SIGMA = 0.75


def step_threshold(step_index: int, total_steps: int) -> float:
    """Mask value a latent pixel needs to keep the output of step `step_index` (0-based).

    Falls from 1 for the first step to 1/N for the last: a pixel with mask value m keeps
    the output of the last floor(m·N) steps and is pinned to the original before that.
    """
    if total_steps <= 0:
        return 0.0
    return (total_steps - step_index) / total_steps


def latent_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """The graded uint8 mask (255 = repaint) scaled to the latent grid, float32 in [0, 1].

    Area averaging keeps the grading: a latent cell half covered by the mask gets 0.5, and a
    cell touched by any painted pixel is > 0, so the pipeline's binary support covers it.
    """
    cv2 = import_cv2()
    m = np.asarray(mask, np.float32) / 255.0
    if m.shape != (height, width):
        m = cv2.resize(m, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(m, 0.0, 1.0).astype(np.float32)


class DifferentialBlend:
    """A `callback_on_step_end` that pins latents outside the schedule's free area.

    original: the clean latents of the input image (1x4xhxw, the pipeline's scaling).
    mask: latent_mask() of the feathered repaint mask (hxw float in [0, 1]).
    Call `wrap(inner)` to chain another callback (progress, cancel) after the blend.
    """

    def __init__(self, original: Any, mask: np.ndarray, seed: int) -> None:
        import torch  # ~1.2 s to import: only when a job runs

        self.original = original
        self.mask = torch.from_numpy(np.ascontiguousarray(mask))[None, None].to(
            device=original.device, dtype=original.dtype
        )
        generator = torch.Generator(device="cpu").manual_seed(int(seed) ^ 0x5EED)
        self.noise = torch.randn(original.shape, generator=generator, dtype=torch.float32).to(
            device=original.device, dtype=original.dtype
        )

    def blend(self, pipe: Any, step_index: int, latents: Any) -> Any:
        import torch  # ~1.2 s to import: only when a job runs

        total = int(getattr(pipe, "num_timesteps", 0) or 0)
        free = (self.mask >= step_threshold(step_index, total)).to(latents.dtype)
        if step_index + 1 < total:
            timesteps = pipe.scheduler.timesteps
            next_t = timesteps[len(timesteps) - total + step_index + 1]
            pinned = pipe.scheduler.add_noise(
                self.original, self.noise, torch.as_tensor([next_t]).reshape(1)
            )
        else:  # after the last step the pinned latents are the original, noise-free
            pinned = self.original
        return latents * free + pinned.to(latents.dtype) * (1 - free)

    def wrap(self, inner: Any | None) -> Any:
        def on_step_end(pipe: Any, step_index: int, timestep: Any, kwargs: dict) -> dict:
            latents = kwargs.get("latents")
            if latents is not None:
                kwargs["latents"] = self.blend(pipe, step_index, latents)
            return inner(pipe, step_index, timestep, kwargs) if inner is not None else kwargs

        return on_step_end


def encode_latents(pipe: Any, rgb: np.ndarray) -> Any:
    """Clean latents of an RGB uint8 image at the pipeline's scaling (distribution mean,
    so the same image always gives the same latents)."""
    import torch  # ~1.2 s to import: only when a job runs

    vae = pipe.vae
    # With CPU offload the VAE's weights sit on the CPU until a hook moves them.
    device = getattr(pipe, "_execution_device", vae.device)
    x = torch.from_numpy(np.array(rgb, np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.inference_mode():
        latents = vae.encode(x.to(device=device, dtype=vae.dtype)).latent_dist.mean
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (latents - shift) * vae.config.scaling_factor


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels within `width` px outside the (already feathered) mask."""
    cv2 = import_cv2()
    support = (mask > 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return (cv2.dilate(support, kernel) > 0) & (support == 0)


def color_match(
    generated: np.ndarray, original: np.ndarray, mask: np.ndarray, ring: int = COLOR_RING
) -> np.ndarray:
    """`generated` (RGB uint8) with its colours moved to agree with `original` around the mask.

    The Lab mean and standard deviation of the generated pixels in the ring outside `mask`
    are mapped onto the original's there; the same per-channel affine transform is applied
    to the whole image (the caller composites it through the mask). Without enough ring
    pixels (a mask covering the crop) the image is returned unchanged.
    """
    cv2 = import_cv2()
    band = _ring(mask, ring)
    if int(band.sum()) < MIN_RING_PIXELS:
        return generated
    # Float Lab: the 8-bit conversion alone moves colours by up to ~3 levels.
    gen_lab = cv2.cvtColor(np.asarray(generated, np.float32) / 255, cv2.COLOR_RGB2LAB)
    org_lab = cv2.cvtColor(np.asarray(original, np.float32) / 255, cv2.COLOR_RGB2LAB)
    g, o = gen_lab[band], org_lab[band]
    g_mean, g_std = g.mean(axis=0), g.std(axis=0)
    o_mean, o_std = o.mean(axis=0), o.std(axis=0)
    # A flat ring says nothing about contrast (its std is noise): shift only then. A
    # contrast change from a textured ring stays mild, so new content keeps its colours.
    textured = (g_std > MIN_RING_STD) & (o_std > MIN_RING_STD)
    scale = np.where(textured, np.clip(o_std / np.maximum(g_std, 1e-6), 0.8, 1.25), 1.0)
    out = ((gen_lab - g_mean) * scale + o_mean).astype(np.float32)
    rgb = cv2.cvtColor(out, cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def keep_fill_colours(generated: np.ndarray, fill: np.ndarray, sigma: float) -> np.ndarray:
    """`generated` with its low frequencies (above `sigma` px) replaced by `fill`'s."""
    cv2 = import_cv2()
    diff = np.asarray(fill, np.float32) - np.asarray(generated, np.float32)
    out = generated + cv2.GaussianBlur(diff, (0, 0), sigma)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class SoftInpaintJob:
    """What one inpaint/outpaint job needs around the pipeline call: the mode's pre-fill,
    the graded mask at generation size, the step blend and the finish after decoding."""

    mode: str  # the concrete inpaint mode (auto resolved)
    original_rgb: np.ndarray  # crop-size RGB of the input, transparent parts pre-filled
    init_rgb: np.ndarray  # crop-size picture diffusion starts from
    feathered: np.ndarray  # crop-size graded mask (255 = repaint)
    gen_mask: np.ndarray  # the same at generation size
    soft: bool
    color_match: bool
    reach: int = MIN_REACH  # expand: how far the strip is joined to the picture (crop px)

    @classmethod
    def plan(
        cls,
        request: GenerationRequest,
        original: np.ndarray,
        mask: np.ndarray,
        gen_size: tuple[int, int],
    ) -> SoftInpaintJob:
        mode = request.inpaint_mode
        if mode == "auto":
            mode = detect_mode(original, mask, request.prompt)
        init_rgb = prefill(mode, original, mask)
        feather = request.mask_blur if request.soft_edges else 0
        feathered = region.repaint_alpha(mask, feather, request.feather_inside)
        original_rgb = prefill("refine", original, mask)
        return cls(
            mode,
            original_rgb,
            init_rgb,
            feathered,
            region.resize_mask(feathered, *gen_size),
            request.soft_edges,
            request.color_match,
            # The blend reaches twice the feather into the new part (engine.outpaint_seam).
            max(MIN_REACH, 2 * feather),
        )

    @property
    def support_mask(self) -> np.ndarray:
        """The pipeline's own (binary) mask: every pixel the graded mask touches."""
        return np.where(self.gen_mask > 0, 255, 0).astype(np.uint8)

    def step_blend(self, pipe: Any, seed: int) -> DifferentialBlend | None:
        """The per-step blend for one sample (None with hard edges)."""
        if not self.soft:
            return None
        height, width = self.gen_mask.shape
        latents = encode_latents(pipe, region.resize_rgb(self.init_rgb, width, height))
        return DifferentialBlend(latents, latent_mask(self.gen_mask, *latents.shape[-2:]), seed)

    def finish(self, generated: np.ndarray) -> np.ndarray:
        """The decoded sample (already at crop size) after colour correction."""
        if self.mode == "remove":
            scale = self.feathered.shape[0] / self.gen_mask.shape[0]
            return keep_fill_colours(generated, self.init_rgb, REMOVE_DETAIL_SIGMA * scale)
        if self.color_match:
            generated = color_match(generated, self.original_rgb, self.feathered)
        if self.mode == "expand":
            sigma = COARSE_SIGMA * self.feathered.shape[0] / self.gen_mask.shape[0]
            hole = self.feathered == 255
            generated = continue_edge(generated, self.original_rgb, hole, self.reach, sigma)
        return generated
