"""Sampling the flow-matching families (FLUX, SD 3.5, Qwen-Image, Z-Image, Chroma): the
sampler and its sigma shift, and soft inpainting on their latents.

Samplers. Their pipelines pass sigma lists of their own and re-noise with `scale_noise`,
which only diffusers' flow-matching schedulers take, so the choice is the Euler
flow-matching sampler under Forge's and ComfyUI's schedules (engine.schedulers
FLOW_SCHEDULERS), built per sample from the model's own scheduler config. The shift
(GenerationRequest.shift, 0: the model's own) moves the sigmas towards noise:
sigma' = s·sigma / (1 + (s − 1)·sigma); a set shift replaces the model's resolution-dependent
("dynamic") one. "Euler a", every request's default, means the model's own Euler here: an
ancestral flow sampler would draw its noise outside the job's seeded generator.

Soft inpainting. The UNet path's DifferentialBlend (engine.soft_inpaint) needs the clean
latents at the pipeline's own scaling and layout; these families normalise (shift factor,
per-channel mean/std) and pack (FLUX's 2x2 patches) in ways of their own. Their inpaint
pipelines all re-noise the picture's latents after each step themselves, as
`scheduler.scale_noise(image_latents, next_t, noise)`, to paste them back under the
pipeline's binary mask. `FlowBlend` records that call on the sample's scheduler and, after
each step, puts the graded mask's schedule on top: a latent whose mask value m is below the
step's threshold takes the re-noised picture, so the threshold rule is the UNet path's, in
the pipeline's own layout, whatever it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.core.errors import InvalidRequestError
from engine.request import GenerationRequest
from engine.schedulers import FLOW_SCHEDULER_NAMES, FLOW_SCHEDULERS, canonical_name
from engine.soft_inpaint import SoftInpaintJob, latent_mask, step_threshold

MAX_SHIFT = 20.0


def flow_sampler_name(name: str) -> str:
    """The flow-matching sampler a request's scheduler name stands for; one sentence when
    the name is a UNet-only sampler."""
    known = canonical_name(name)
    if known == "Euler a":  # the request default: the model's own Euler (module docstring)
        return "Euler"
    if known not in FLOW_SCHEDULERS:
        raise InvalidRequestError(
            f"{known} does not run on flow-matching models (FLUX, SD 3.5, Qwen-Image, "
            f"Z-Image, Chroma); choose one of: {', '.join(FLOW_SCHEDULER_NAMES)}."
        )
    return known


def check_shift(shift: float) -> None:
    if not 0.0 <= float(shift) <= MAX_SHIFT:
        raise InvalidRequestError(
            f"Shift must be between 0 (the model's own) and {MAX_SHIFT:g}, not {shift:g}."
        )


@dataclass(frozen=True)
class FlowSampler:
    """A flow-matching sampler: its schedule's name and the shift (0: the model's own)."""

    name: str
    shift: float = 0.0

    @classmethod
    def of(cls, request: GenerationRequest) -> FlowSampler:
        check_shift(request.shift)
        return cls(flow_sampler_name(request.scheduler), float(request.shift))

    def make(self, base_config: Any) -> Any:
        """A fresh scheduler (one per sample: FlowBlend hooks into it)."""
        from diffusers import FlowMatchEulerDiscreteScheduler  # ~2 s: only when a job runs

        config = dict(base_config)
        for switch in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"):
            config[switch] = False
        config.update(FLOW_SCHEDULERS[self.name])
        if self.shift > 0:
            config.update(shift=self.shift, use_dynamic_shifting=False)
        return FlowMatchEulerDiscreteScheduler.from_config(config)


def parameters(request: GenerationRequest) -> dict[str, str]:
    """What the A1111 `parameters` text adds for a flow-matching job (Forge's `Shift`)."""
    return {"Shift": f"{request.shift:g}"} if request.shift > 0 else {}


class FlowBlend:
    """Differential diffusion for one sample of a flow-matching inpaint pipeline.

    `gen_mask`: the feathered repaint mask at generation size (uint8, 255 = repaint).
    `wrap(inner)` must be called once the sample's scheduler is on the pipeline: it starts
    recording that scheduler's re-noised picture latents.
    """

    def __init__(self, pipe: Any, gen_mask: np.ndarray) -> None:
        self.pipe = pipe
        self.gen_mask = gen_mask
        self._calls: list[tuple[Any, Any]] = []  # (picture latents, their re-noised form)
        self._masks: dict[tuple[int, ...], Any] = {}

    def _record(self, scheduler: Any) -> None:
        scale_noise = scheduler.scale_noise

        def recording(sample: Any, timestep: Any, noise: Any = None) -> Any:
            out = scale_noise(sample, timestep, noise)
            self._calls.append((sample, out))
            del self._calls[:-2]  # the pipeline's latest call is the one a step needs
            return out

        # An attribute on this sample's own scheduler (FlowSampler.make builds one per
        # sample): the pipelines' re-noising is the one place their latents' layout shows.
        scheduler.scale_noise = recording

    def _mask(self, latents: Any) -> Any:
        """The graded mask in the latents' layout: (B, C, h, w), or packed (B, seq, C)."""
        import torch  # ~1.2 s to import: only when a job runs

        key = tuple(latents.shape)
        if key not in self._masks:
            height, width = self.gen_mask.shape
            if latents.ndim == 3:  # packed patches, row by row: find the patch grid
                seq = latents.shape[1]
                grid = next(
                    ((height // s, width // s) for s in (16, 8, 32, 64)
                     if (height // s) * (width // s) == seq),
                    None,
                )  # fmt: skip
                if grid is None:
                    raise ValueError(f"no patch grid for {seq} latents of a {width}x{height} job")
                m = latent_mask(self.gen_mask, *grid).reshape(1, seq, 1)
            else:
                m = latent_mask(self.gen_mask, *latents.shape[-2:])[None, None]
            self._masks[key] = torch.from_numpy(np.ascontiguousarray(m))
        return self._masks[key].to(device=latents.device, dtype=latents.dtype)

    def blend(self, step_index: int, latents: Any) -> Any:
        pictures = [c for c in self._calls if tuple(c[0].shape) == tuple(latents.shape)]
        if not pictures:  # no re-noising in this layout yet (a 1-step job): the pipeline's
            return latents  # own binary paste-back stands
        picture, renoised = pictures[-1]
        total = int(getattr(self.pipe, "num_timesteps", 0) or 0)
        mask = self._mask(latents)
        free = (mask >= step_threshold(step_index, total)).to(latents.dtype)
        # After the last step the picture's latents themselves, noise-free.
        pinned = renoised if step_index + 1 < total else picture
        return latents * free + pinned.to(latents.dtype) * (1 - free)

    def wrap(self, inner: Any | None) -> Any:
        self._calls.clear()
        self._record(self.pipe.scheduler)

        def on_step_end(pipe: Any, step_index: int, timestep: Any, kwargs: dict) -> dict:
            latents = kwargs.get("latents")
            if latents is not None:
                kwargs["latents"] = self.blend(step_index, latents)
            return inner(pipe, step_index, timestep, kwargs) if inner is not None else kwargs

        return on_step_end


def step_blend(soft: SoftInpaintJob | None, pipe: Any) -> FlowBlend | None:
    """The per-sample blend of a flow-matching inpaint job (None with hard edges)."""
    if soft is None or not soft.soft:
        return None
    return FlowBlend(pipe, soft.gen_mask)
