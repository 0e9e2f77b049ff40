"""Reference layers into a job: their pictures, the regions they are limited to, and the
specs that record them.

The window hands `prepare_job` one LayerReference per visible reference layer: the
reference's settings and a callable that returns the layer's visible pixels (its own
bounds, not the job's crop: a reference is a picture of its own, whatever part of the
canvas is repainted). An empty reference takes no part. The pictures travel beside the
request in GenerationInputs.references; the request records each picture's hash.

A reference limited to a region also brings that region's coverage, read at the context
box as a region layer's is (engine.regions.jobs); it travels in
GenerationInputs.reference_masks and the spec records its hash. A region that covers
nothing of the box is refused: the reference would silently do nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.core.errors import InvalidRequestError
from engine.core.images import picture_hash
from engine.reference.spec import ReferenceSpec
from engine.regions.jobs import coverage_in
from engine.request import Box


@dataclass(frozen=True)
class LayerReference:
    spec: ReferenceSpec  # kind, weight, step range (the hashes are filled per job)
    picture: Callable[
        [], np.ndarray
    ]  # straight RGBA (or RGB) of the layer's pixels, its own bounds
    # HxW uint8 coverage (255 = inside) of the region it is limited to, in a box (0
    # outside it); None: the whole picture.
    region: Callable[[Box], np.ndarray] | None = None
    # How a sentence names the reference and its region ('reference layer "Cat"').
    name: str = "a reference"
    region_name: str = "its region"


def layer_references(
    sources: Sequence[LayerReference], context: Box | None = None
) -> tuple[tuple[ReferenceSpec, ...], tuple[np.ndarray, ...], tuple[np.ndarray | None, ...]]:
    """The specs (with their pictures' and masks' hashes), pictures and region masks
    (None: the whole picture; HxW uint8 at `context`'s size) of the references that have
    pixels, in order; the masks are () when none is limited (the reference stage pads them
    with None). Without a `context` (an Edit's extra pictures) regions are not read.
    InvalidRequestError (one sentence) for a region with no coverage in `context`."""
    specs: list[ReferenceSpec] = []
    pictures: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for source in sources:
        picture = np.ascontiguousarray(source.picture())
        if picture.ndim != 3 or picture.size == 0:
            continue
        if picture.shape[2] == 4 and not picture[..., 3].any():  # RGB counts as opaque
            continue
        spec = dataclasses.replace(source.spec, image_hash=picture_hash(picture), mask_hash="")
        mask = None
        if source.region is not None and context is not None:
            mask = _region_mask(source, context)
            spec = dataclasses.replace(spec, mask_hash=picture_hash(mask))
        specs.append(spec)
        pictures.append(picture)
        masks.append(mask)
    limited = tuple(masks) if any(m is not None for m in masks) else ()
    return tuple(specs), tuple(pictures), limited


def _region_mask(source: LayerReference, context: Box) -> np.ndarray:
    assert source.region is not None
    mask = coverage_in(source.region, context)
    if mask is None:
        raise InvalidRequestError(
            f"The {source.region_name} that {source.name} is limited to covers nothing of "
            "the area being generated; extend the region there, or let the reference "
            "cover the whole picture."
        )
    return mask
