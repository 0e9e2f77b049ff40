"""Reference layers into a job: their pictures and the specs that record them.

The window hands `prepare_job` one LayerReference per visible reference layer: the
reference's settings and a callable that returns the layer's visible pixels (its own
bounds, not the job's crop: a reference is a picture of its own, whatever part of the
canvas is repainted). An empty reference takes no part. The pictures travel beside the
request in GenerationInputs.references; the request records each picture's hash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.core.images import picture_hash
from engine.reference.spec import ReferenceSpec


@dataclass(frozen=True)
class LayerReference:
    spec: ReferenceSpec  # kind, weight, step range (the picture hash is filled per job)
    picture: Callable[
        [], np.ndarray
    ]  # straight RGBA (or RGB) of the layer's pixels, its own bounds


def layer_references(
    sources: Sequence[LayerReference],
) -> tuple[tuple[ReferenceSpec, ...], tuple[np.ndarray, ...]]:
    """The specs (with their pictures' hashes) and pictures of the references that have
    pixels, in order."""
    specs: list[ReferenceSpec] = []
    pictures: list[np.ndarray] = []
    for source in sources:
        picture = np.ascontiguousarray(source.picture())
        if picture.ndim != 3 or picture.size == 0:
            continue
        if picture.shape[2] == 4 and not picture[..., 3].any():  # RGB counts as opaque
            continue
        specs.append(dataclasses.replace(source.spec, image_hash=picture_hash(picture)))
        pictures.append(picture)
    return tuple(specs), tuple(pictures)
