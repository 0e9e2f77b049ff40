"""Region layers into a job: which of them take part, and their masks at the crop.

The window hands `prepare_job` one LayerRegion per visible region layer: the region's
prompts and a callable that returns the layer's coverage (its alpha) for a box. Only the
context box is ever read, and a region with no coverage inside it does not take part (a
region in one corner says nothing about a repaint in another). The masks travel beside
the request in GenerationInputs.region_masks, the request records each mask's hash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.core.images import picture_hash
from engine.regions.spec import RegionSpec
from engine.request import Box


@dataclass(frozen=True)
class LayerRegion:
    spec: RegionSpec  # prompt and negative prompt (the mask hash is filled per job)
    crop: Callable[[Box], np.ndarray]  # HxW uint8 coverage in a box, 0 outside the layer


def layer_regions(
    sources: Sequence[LayerRegion], context: Box
) -> tuple[tuple[RegionSpec, ...], tuple[np.ndarray, ...]]:
    """The specs (with their masks' hashes) and masks (HxW uint8 at the context box's
    size, 255 = fully inside the region) of the regions with coverage inside `context`."""
    specs: list[RegionSpec] = []
    masks: list[np.ndarray] = []
    for source in sources:
        mask = coverage_in(source.crop, context)
        if mask is None:
            continue
        specs.append(dataclasses.replace(source.spec, mask_hash=picture_hash(mask)))
        masks.append(mask)
    return tuple(specs), tuple(masks)


def coverage_in(crop: Callable[[Box], np.ndarray], context: Box) -> np.ndarray | None:
    """A region's HxW uint8 coverage at `context` (what `crop` gives for it), or None when
    it covers nothing there."""
    mask = np.ascontiguousarray(crop(context), dtype=np.uint8)
    if mask.shape != (context.height, context.width) or not mask.any():
        return None
    return mask
