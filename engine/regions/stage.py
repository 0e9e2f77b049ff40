"""A job's regional prompts, ready for the local engine's UNet.

`RegionStage.build` checks the request's regions against their masks, encodes one prompt
pair per segment (the root prompt alone, then each region's prompt with the root's added,
as Krita does: "a red circle" under a root "green background" reads "a red circle, green
background"), lays them end to end, and pools the masks to the latent grid. The engine
swaps those embeddings into its call arguments and runs the sampling inside `attached`,
where the UNet's cross-attention is masked (engine.regions.attention).

SD 1.x, SD 2.x and SDXL get regions. The transformer families (FLUX, SD 3.5, Qwen-Image,
Z-Image, Chroma) are refused in one sentence: their text and picture tokens share one
joint attention, which this masking does not cover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engine.core.errors import InvalidRequestError
from engine.core.images import picture_hash
from engine.models import ModelInfo
from engine.regions.spec import RegionSpec, check_region
from engine.request import GenerationInputs, GenerationRequest

# prompt, negative prompt -> the pipeline's keyword arguments carrying their embeddings
Encode = Callable[[str, str], dict[str, Any]]
EMBED_KEYS = ("prompt_embeds", "negative_prompt_embeds")


def joined(region: str, root: str) -> str:
    """A region's text with the root's added (either may be empty)."""
    return ", ".join(t for t in (region.strip(), root.strip()) if t)


def checked_masks(request: GenerationRequest, inputs: GenerationInputs) -> tuple[Any, ...]:
    """The region masks, checked against the request: one per region, HxW, and the one
    each was recorded with. InvalidRequestError says which is missing or different."""
    masks = tuple(inputs.region_masks)
    for i, spec in enumerate(request.regions):
        problem = check_region(spec)
        if problem:
            raise InvalidRequestError(problem)
        if i >= len(masks) or masks[i] is None:
            raise InvalidRequestError(
                f"Region {i + 1} ({spec.prompt!r}) has no mask; give its mask picture again "
                "(--region-mask)."
            )
        if masks[i].ndim != 2:
            raise InvalidRequestError(
                f"The mask of region {i + 1} must be one channel (HxW), not {masks[i].shape}."
            )
        if spec.mask_hash and picture_hash(masks[i]) != spec.mask_hash:
            raise InvalidRequestError(
                f"Region {i + 1} ({spec.prompt!r}) was recorded with another mask (hash "
                f"{spec.mask_hash}); give the mask it was made with."
            )
    return masks[: len(request.regions)]


def check_family(request: GenerationRequest, name: str, family: str, unet: bool) -> None:
    """One sentence when the model (`unet`: an SD 1.x/2.x/SDXL UNet) cannot take the
    request's regions."""
    if request.regions and not unet:
        raise InvalidRequestError(
            f"Regional prompts work with SD 1.x, SD 2.x and SDXL models; {name} "
            f"({family}) cannot use them, so remove the region layers or pick another model."
        )


def hashed_specs(request: GenerationRequest, masks: Sequence[Any]) -> tuple[RegionSpec, ...]:
    """The request's regions with each mask's hash filled in (what a result records)."""
    return tuple(
        r if r.mask_hash else dataclasses.replace(r, mask_hash=picture_hash(m))
        for r, m in zip(request.regions, masks, strict=True)
    )


class RegionStage:
    """One job's region embeddings and latent masks."""

    def __init__(self, specs: tuple[RegionSpec, ...], args: dict[str, Any], layout: Any) -> None:
        self.specs = specs  # what the result's request records: each mask's hash filled in
        self.args = args  # prompt_embeds and negative_prompt_embeds, all segments
        self.layout = layout  # engine.regions.attention.RegionLayout

    @classmethod
    def build(
        cls,
        request: GenerationRequest,
        inputs: GenerationInputs,
        info: ModelInfo,
        gen: tuple[int, int],
        encode: Encode,
        latent_scale: int = 8,
    ) -> RegionStage | None:
        """None without regions. `encode` gives one prompt pair's embeddings (the engine's
        own encoding, with its cache and long-prompt handling); `gen` is the generation
        size and `latent_scale` the VAE's pixels per latent cell."""
        if not request.regions:
            return None
        check_family(request, info.name, info.family, not info.is_modern)
        masks = checked_masks(request, inputs)
        # torch and diffusers: seconds to import, only when a job has regions
        import torch

        from engine.regions import attention

        pairs = [(request.prompt, request.negative_prompt)]
        pairs += [
            (joined(r.prompt, request.prompt), joined(r.negative_prompt, request.negative_prompt))
            for r in request.regions
        ]
        segments = [encode(p, n) for p, n in pairs]
        args = {k: torch.cat([s[k] for s in segments], dim=1) for k in EMBED_KEYS}
        lengths = [int(s["prompt_embeds"].shape[1]) for s in segments]
        layout = attention.RegionLayout(lengths, attention.latent_masks(masks, gen, latent_scale))
        return cls(hashed_specs(request, masks), args, layout)

    @contextmanager
    def attached(self, models: Sequence[Any]) -> Iterator[None]:
        """The models' cross-attention is masked by region while inside the block."""
        from engine.regions import attention  # diffusers: ~2 s, already loaded by build

        with attention.attached(models, self.layout):
            yield
