"""Regional prompts on ComfyUI servers: the masks a job uploads and the workflow's plan.

The masks go up at the generation size (grey, 255 = the region) with one more for what
no region covers, where the root prompt alone applies; engine.comfy.workflow joins them
with the core nodes ConditioningSetMask and ConditioningCombine. The transformer families
are refused in one sentence, as in the local engine.
"""

from __future__ import annotations

import numpy as np

from engine.comfy.workflow import RegionPlan
from engine.region import resize_mask
from engine.regions.stage import check_family, checked_masks, hashed_specs, joined
from engine.request import GenerationInputs, GenerationRequest

ROOT = "region_root"


def region_pictures(
    request: GenerationRequest,
    inputs: GenerationInputs,
    model: tuple[str, str, bool],
    gen: tuple[int, int],
) -> tuple[GenerationRequest, dict[str, np.ndarray]]:
    """The request with each mask's hash recorded, and the masks to upload by name.
    `model` is (name, family, whether it is an SD 1.x/2.x/SDXL UNet)."""
    if not request.regions:
        return request, {}
    check_family(request, *model)
    masks = checked_masks(request, inputs)
    pictures = {f"region{i}": resize_mask(np.asarray(m), *gen) for i, m in enumerate(masks)}
    covered = np.max(np.stack([p >= 128 for p in pictures.values()]), axis=0)
    if not covered.all():
        pictures[ROOT] = np.where(covered, 0, 255).astype(np.uint8)
    return request.replace(regions=hashed_specs(request, masks)), pictures


def region_plans(
    request: GenerationRequest, names: dict[str, str]
) -> tuple[tuple[RegionPlan, ...], str | None]:
    """The workflow's regions (each prompt with the root's added) and the root's mask."""
    plans = tuple(
        RegionPlan(
            joined(r.prompt, request.prompt),
            joined(r.negative_prompt, request.negative_prompt),
            names[f"region{i}"],
        )
        for i, r in enumerate(request.regions)
    )
    return plans, names.get(ROOT)
