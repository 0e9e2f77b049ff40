"""A reference limited to a region leaves the pixels outside it as they are without it.

IP-Adapter's masked attention (diffusers' IPAdapterMaskProcessor) adds a regional
reference's picture tokens inside its region only, but the UNet's self-attention and
convolutions carry their effect everywhere: on the demo model (128 px, 20 steps, a tiny
random adapter at weight 0.2) a reference limited to the left half moved the right
quarter's pixels by 91 levels on average, against 123 for the same reference on the
whole picture; it moved the circle there to the middle. So on the local engine a sample
with a regional reference runs twice, with the same seed, scheduler and other stages:

1. without the regional references, exactly as the job without them runs (a reference
   without a region still applies: it is part of "without"), keeping the latents after
   every step (`Trajectory.record`);
2. with all of them, the latents outside the regional references' union (every latent
   cell it touches is inside) put back to the kept ones after every step
   (`Trajectory.pin`): the inside is denoised against the surroundings it is laid into.

Both are finished as their own jobs would be (colour match, outpaint seam), and the
second is laid over the first through the union faded in over one latent cell inside its
edge (engine.region.feather_inside, then region.over as the paste-back): outside the
union the picture is bit for bit the job without the regional references, in every mode.
The decoder still spreads the second run 10 to 22 levels past the union's edge though
its latents there are the first's; that is what the band hides.

Measured against two alternatives on the same jobs (left third or half of the demo
model's picture): repainting the union as an inpaint of the picture made without the
regional references, and pinning the band gradually (soft inpainting's step rule). All
three gave the same pixels to within a few levels inside the band and the same look
across the edge, and cost the same (one more pass of every step). This one is kept as
the smallest and the only one that needs no mode of its own: a repaint needs an inpaint
pipeline, a strength, and for img2img or inpaint jobs a starting picture (the first
result's, not the user's). A band of two cells instead of one smeared whatever the
reference erased at the edge across it. Cost: 1.7x the same job with a whole-picture
reference (demo model, 128 px, 20 steps, 2 busy CPU cores), as the run without the
regional references skips the adapter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import region
from engine.request import GenerationInputs, GenerationRequest
from engine.soft_inpaint import latent_mask

# The band (in latent cells: 8 pixels at generation size) over which a regional
# reference's pixels fade in inside its region's edge (two smeared the edge; see above).
BAND_CELLS = 1


def is_regional(mask: np.ndarray | None) -> bool:
    """Whether a reference's mask limits it (None or all 255 cover everything)."""
    return mask is not None and bool((np.asarray(mask) < 255).any())


def runs_per_sample(request: GenerationRequest, inputs: GenerationInputs) -> int:
    """How many times the local engine samples each picture of a job: twice when a
    reference is limited to a region (see above), else once. Its progress counts every
    run, so a job's step total is n_samples x this x the steps of one run."""
    if request.mode == "edit" or not request.references:
        return 1
    masks = tuple(inputs.reference_masks) + (None,) * len(request.references)
    return 2 if any(is_regional(masks[i]) for i in range(len(request.references))) else 1


@dataclass(frozen=True, eq=False)
class RegionalReferences:
    """A job whose references include regional ones: the job without them and where
    they act."""

    request: GenerationRequest  # the job without the regional references
    inputs: GenerationInputs
    union: np.ndarray  # HxW uint8 at the crop's size: where any regional reference acts

    @classmethod
    def split(
        cls, request: GenerationRequest, inputs: GenerationInputs, crop: tuple[int, int]
    ) -> RegionalReferences | None:
        """None when no reference is limited to a region (or in Edit, which has none);
        `crop`: the job's crop size, which the masks are taken to."""
        if runs_per_sample(request, inputs) == 1:
            return None
        masks = tuple(inputs.reference_masks) + (None,) * len(request.references)
        regional = [is_regional(masks[i]) for i in range(len(request.references))]
        keep = [i for i, r in enumerate(regional) if not r]
        without = request.replace(references=tuple(request.references[i] for i in keep))
        without_inputs = dataclasses.replace(
            inputs,
            references=tuple(inputs.references[i] for i in keep),
            reference_masks=tuple(masks[i] for i in keep),
        )
        limits = [np.asarray(m, np.uint8) for m, r in zip(masks, regional, strict=False) if r]
        union = np.maximum.reduce([region.resize_mask(m, *crop) for m in limits])
        return cls(without, without_inputs, union)

    def trajectory(self, gen: tuple[int, int], scale: int = 8) -> Trajectory:
        """The step-end callbacks for one sample generated at `gen` (latents 1/`scale`)."""
        width, height = gen
        at_gen = region.resize_mask(self.union, width, height)
        return Trajectory(latent_mask(at_gen, height // scale, width // scale) > 0)

    def combine(self, without: np.ndarray, steered: np.ndarray, band: int) -> np.ndarray:
        """The finished crop-size RGB of the second run laid over the first's inside the
        union, fading in over `band` pixels inside its edge; the first's exactly outside."""
        alpha = region.feather_inside(self.union, band)
        top = np.dstack([np.asarray(steered)[..., :3], alpha])
        return region.over(np.ascontiguousarray(np.asarray(without)[..., :3]), top)[..., :3]


def band(crop: tuple[int, int], gen: tuple[int, int], scale: int = 8) -> int:
    """The fade-in band in crop pixels, for a crop generated at `gen` (latents 1/`scale`)."""
    return max(1, round(BAND_CELLS * scale * crop[0] / gen[0]))


class Trajectory:
    """One sample's latents step by step: kept from the run without the regional
    references, then put back outside their union in the run with them."""

    def __init__(self, free: np.ndarray) -> None:
        self.free = np.ascontiguousarray(free)  # latent cells the regional references touch
        self.kept: list[Any] = []

    def record(self, inner: Callable) -> Callable:
        """A step-end callback that keeps each step's latents, then calls `inner`."""
        self.kept.clear()

        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            latents = kwargs.get("latents")
            if latents is not None:
                self.kept.append(latents.detach().clone())
            return inner(pipe, step, timestep, kwargs)

        return on_step_end

    def pin(self, inner: Callable) -> Callable:
        """A step-end callback that puts the kept latents back outside the union."""
        # torch: loaded already, a job is running
        import torch

        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            latents = kwargs.get("latents")
            if latents is not None and step < len(self.kept):
                free = torch.from_numpy(self.free).to(latents.device)[None, None]
                kwargs["latents"] = torch.where(free, latents, self.kept[step].to(latents.dtype))
            return inner(pipe, step, timestep, kwargs)

        return on_step_end
