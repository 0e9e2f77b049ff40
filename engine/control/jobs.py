"""Control layers into a job: which of them take part, and their images at the crop.

The window hands `prepare_job` one LayerControl per visible control layer: the control's
settings and a callable that returns the layer's pixels for a box. Only the context box
is ever read, and a layer with nothing drawn inside it does not take part (a scribble in
one corner does not steer a generation in another). The images travel raw: the
preprocessors run in the engine's worker thread (engine.control.run), never here, so
building a job on the UI thread stays cheap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.control.spec import ControlSpec
from engine.request import Box

# Modes whose job has a repaint mask, which ControlNet-inpaint needs.
_MASKED_MODES = ("inpaint", "outpaint")


@dataclass(frozen=True)
class LayerControl:
    spec: ControlSpec  # kind, weight, start, end, prepared (the image hash is filled later)
    crop: Callable[[Box], np.ndarray]  # straight RGBA of the layer in a box, transparent outside


def layer_controls(
    sources: Sequence[LayerControl], context: Box, mode: str
) -> tuple[tuple[ControlSpec, ...], tuple[np.ndarray | None, ...]]:
    """The specs and images (RGBA at the context box's size) of the control layers with
    pixels inside `context`. An inpaint control needs no image of its own (it is made from
    the job's picture and mask), so it takes part only in masked jobs."""
    specs: list[ControlSpec] = []
    images: list[np.ndarray | None] = []
    for source in sources:
        image = np.ascontiguousarray(source.crop(context))
        if image.ndim != 3 or not image[..., 3].any():
            continue
        spec = dataclasses.replace(source.spec, image_hash="")
        if spec.kind == "inpaint":
            if mode not in _MASKED_MODES:
                continue
            specs.append(spec)
            images.append(None)
            continue
        specs.append(spec)
        images.append(image)
    return tuple(specs), tuple(images)
