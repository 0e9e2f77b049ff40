"""Instruction editing (mode "edit") in the local engine: which pipeline edits, with which
pictures, and the checks that refuse an edit in one sentence.

An Edit's prompt is the instruction. The picture to edit is `inputs.image` (a selection's
context crop, or the whole picture); `inputs.mask` is the selection, if any; the extra
pictures are `inputs.references` (the multi-reference models' inputs, each at its own
size; a reference's kind, weight and step range are IP-Adapter settings an Edit does not
use).

Each family has an edit pipeline and, where diffusers has one, an edit-inpaint pipeline
(`EDIT_PIPELINES`). With a selection, the inpaint pipeline repaints inside the selection
when it takes that many references; otherwise the edit pipeline repaints the whole crop.
Either way the result is pasted back through the feathered selection (engine.base.JobPlan
-> engine.region.patch_from_generation), so every pixel outside the selection stays
bit-identical and the inside gets the soft-mask paste-back of inpainting.

Sizes: the engine's planned generation size is the size (Kontext is told its area and not
to pick a preferred size of its own: engine.local.families.call_args). Qwen-Image-Edit's
pipelines show the model the picture at a fixed 1024² area, as they were trained, and the
Edit-inpaint one generates at that area too; the result is resized to the crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from engine.core.errors import InvalidRequestError
from engine.model_families import EDIT_MODELS
from engine.models import MODERN_FAMILIES, ModelInfo
from engine.reference.stage import reference_picture
from engine.region import over, resize_mask, resize_rgb
from engine.request import GenerationInputs, GenerationRequest

# FLUX.2's image processor refuses pictures under 64 px a side, so smaller references are
# scaled up to that.
MIN_REFERENCE_SIDE = 64


@dataclass(frozen=True)
class EditPipelines:
    """A family's edit pipeline and how many references it takes (in a list of pictures
    after the edited one), and its edit-inpaint pipeline (None: none in diffusers) with
    the number it takes (as `image_reference`)."""

    edit: str
    edit_references: int
    inpaint: str | None = None
    inpaint_references: int = 0


EDIT_PIPELINES: dict[str, EditPipelines] = {
    # Kontext sees one picture; its inpaint pipeline takes one reference (image_reference),
    # which then stands in for the picture as the model's context.
    "flux-kontext": EditPipelines("FluxKontextPipeline", 0, "FluxKontextInpaintPipeline", 1),
    "qwen-image-edit": EditPipelines("QwenImageEditPipeline", 0, "QwenImageEditInpaintPipeline"),
    # Edit Plus reads a list of pictures; diffusers has no Edit Plus inpaint pipeline.
    "qwen-image-edit-plus": EditPipelines("QwenImageEditPlusPipeline", 2),
    # Klein reads a list of pictures; its inpaint pipeline one reference.
    "flux2-klein": EditPipelines("Flux2KleinPipeline", 3, "Flux2KleinInpaintPipeline", 1),
}


@dataclass(frozen=True, eq=False)
class EditStage:
    """One edit job's pipeline and pictures, checked (see `EditStage.make`)."""

    pipeline: str  # the diffusers class name
    inpaint: bool  # the edit-inpaint pipeline, repainting inside the selection
    references: tuple[np.ndarray, ...]  # RGB uint8, each at its own size

    @classmethod
    def make(
        cls, request: GenerationRequest, inputs: GenerationInputs, info: ModelInfo
    ) -> EditStage:
        """The pipeline and pictures for an edit of `request` on `info`'s model, or
        InvalidRequestError in one sentence: a model that cannot edit, no picture, a
        reference picture missing or not the recorded one, more references than the
        model takes."""
        pipelines = EDIT_PIPELINES.get(info.family)
        if pipelines is None:
            raise InvalidRequestError(
                f"{info.name} cannot edit by instruction; pick a {EDIT_MODELS} model."
            )
        if inputs.image is None:
            raise InvalidRequestError("Edit needs a picture to edit.")
        references = _checked_references(request, inputs)
        masked = inputs.mask is not None
        if masked and not np.asarray(inputs.mask).any():
            raise InvalidRequestError(
                "The selection is empty; select the part to edit, or select nothing to edit "
                "the whole picture."
            )
        n = len(references)
        if masked and pipelines.inpaint is not None and n <= pipelines.inpaint_references:
            return cls(pipelines.inpaint, True, references)
        if n <= pipelines.edit_references:
            return cls(pipelines.edit, False, references)
        label = MODERN_FAMILIES[info.family].label
        if not masked and n <= pipelines.inpaint_references:
            raise InvalidRequestError(
                f"{label} takes a reference picture only when it edits a selection; select "
                "the area to change, or hide the reference layers."
            )
        most = max(pipelines.edit_references, pipelines.inpaint_references)
        if most == 0:
            raise InvalidRequestError(
                f"{label} takes no reference pictures besides the one it edits; hide the "
                "reference layers, or pick a FLUX.2 Klein or Qwen-Image-Edit Plus model."
            )
        raise InvalidRequestError(
            f"{label} takes at most {most} reference picture{'s' if most > 1 else ''}, not "
            f"{n}; hide {n - most} of the reference layers."
        )

    def add_args(
        self,
        call_args: dict[str, Any],
        mask: np.ndarray | None,
        gen: tuple[int, int],
        strength: float,
    ) -> None:
        """Put the selection (the inpaint pipelines), the strength and the references into
        the pipeline call's arguments, which hold the picture to edit as "image" at the
        generation size `gen`. A reference larger than that area is scaled down to it:
        Kontext, told to keep sizes, would otherwise read a big photo at its full size."""
        refs = [Image.fromarray(_at_most(ref, gen[0] * gen[1])) for ref in self.references]
        if self.inpaint:
            assert mask is not None
            call_args["mask_image"] = Image.fromarray(resize_mask(mask, *gen))
            call_args["strength"] = float(strength)
            if refs:
                call_args["image_reference"] = refs[0]
        elif refs:
            call_args["image"] = [call_args["image"], *refs]


def _at_most(picture: np.ndarray, area: int) -> np.ndarray:
    h, w = picture.shape[:2]
    if w * h <= area:
        return picture
    scale = math.sqrt(area / (w * h))
    return resize_rgb(
        picture,
        max(MIN_REFERENCE_SIDE, round(w * scale)),
        max(MIN_REFERENCE_SIDE, round(h * scale)),
    )


def _checked_references(
    request: GenerationRequest, inputs: GenerationInputs
) -> tuple[np.ndarray, ...]:
    """The reference pictures as RGB (transparent parts over white), each checked against
    the hash its spec records."""
    pictures: list[np.ndarray] = []
    for i, spec in enumerate(request.references):
        picture = reference_picture(i, spec, inputs.references)
        if picture.shape[2] == 4:
            white = np.full((*picture.shape[:2], 3), 255, np.uint8)
            picture = over(white, picture)[..., :3]
        short = min(picture.shape[:2])
        if short < MIN_REFERENCE_SIDE:  # scaled up, its shape kept
            scale = MIN_REFERENCE_SIDE / short
            w, h = (math.ceil(picture.shape[1] * scale), math.ceil(picture.shape[0] * scale))
            picture = resize_rgb(np.ascontiguousarray(picture), w, h)
        pictures.append(np.ascontiguousarray(picture))
    return tuple(pictures)
