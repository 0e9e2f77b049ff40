"""Reference layers outside Edit on ComfyUI servers: FLUX.1 Redux through core nodes.

IP-Adapter, which the local engine uses on SD 1.x and SDXL, is not a core ComfyUI node,
so a server runs references only for the FLUX.1 families, through ComfyUI's core Redux
nodes as its own example workflow wires them: `CLIPVisionLoader` (a SigLIP vision model,
sigclip_vision_patch14_384) and `StyleModelLoader` (flux1-redux-dev) once; per picture
`LoadImage` → `CLIPVisionEncode` (crop "center") → `StyleModelApply` on the positive
prompt (strength = the reference's weight, strength_type "multiply"), before the
sampler. Each picture appends its 729 image tokens to the prompt's T5 tokens.

What Redux cannot do is one sentence before anything is uploaded: core Redux has no
Style/Composition split (the local IP-Adapter's InstantStyle blocks), no step range and no
masked form, so a reference of another kind, a part of the steps or a region is refused.
A weight of 0 adds no node at all, so it gives the same pixels as no reference (a zero
strength would still append zero tokens, which change the attention).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.comfy.server_models import SD_FAMILIES, file_base, pick_file
from engine.core.errors import InvalidRequestError, ModelError
from engine.reference.spec import check_reference
from engine.request import GenerationRequest

# The families Redux was made for (FLUX.1's T5 token space).
REDUX_FAMILIES = ("flux", "flux-fill", "flux-kontext")
REDUX_NODES = ("CLIPVisionLoader", "CLIPVisionEncode", "StyleModelLoader", "StyleModelApply")
# The files ComfyUI's Redux example names, and the folders they go in.
STYLE_MODEL_EXAMPLE = "flux1-redux-dev.safetensors"
CLIP_VISION_EXAMPLE = "sigclip_vision_patch14_384.safetensors"


@dataclass(frozen=True)
class ReduxPlan:
    """The server's Redux files and each reference's uploaded picture with its weight."""

    style_model: str
    clip_vision: str
    pictures: tuple[tuple[str, float], ...]  # (uploaded name, weight), in request order


def reference_refusal(family: str, label: str) -> str | None:
    """Why reference layers outside Edit cannot run with a `family` model on a server, in
    one sentence; None for the FLUX.1 families, which take them through Redux."""
    if family in REDUX_FAMILIES:
        return None
    if family in SD_FAMILIES:  # IP-Adapter runs them in the local engine
        return (
            "IP-Adapter is not a core ComfyUI node, so reference layers cannot be used on "
            "ComfyUI servers; hide them, pick a FLUX.1 model (which takes them through "
            "Redux), or run the job on this computer."
        )
    return (
        f"On ComfyUI servers reference layers steer only FLUX.1 models (through Redux), not "
        f"{label} models; hide them or pick a FLUX.1 model."
    )


def check_redux_request(request: GenerationRequest) -> None:
    """InvalidRequestError, in one sentence, for a reference core Redux cannot honour."""
    for i, spec in enumerate(request.references):
        n = i + 1
        problem = check_reference(spec)
        if problem:
            raise InvalidRequestError(problem)
        if spec.kind != "reference":
            raise InvalidRequestError(
                f"Reference {n} is of kind {spec.kind.capitalize()}, but FLUX.1 Redux on "
                "ComfyUI servers takes the whole reference, not its style or layout alone; "
                "set its kind to Reference."
            )
        if spec.start > 0.0 or spec.end < 1.0:
            raise InvalidRequestError(
                f"Reference {n} acts on part of the steps ({spec.start:g} to {spec.end:g}), "
                "but FLUX.1 Redux on ComfyUI servers acts on all of them; set its range to "
                "0 to 1."
            )
        if spec.mask_hash:
            raise InvalidRequestError(
                f"Reference {n} is limited to a region, but ComfyUI's core nodes have no "
                "masked Redux; let it act on the whole picture or hide it."
            )


def _named(offered: Sequence[str], pattern: str) -> list[str]:
    return [o for o in offered if re.search(pattern, file_base(o))]


def pick_redux_files(
    request: GenerationRequest, style_models: Sequence[str], clip_visions: Sequence[str],
    server: str,
) -> tuple[str, str]:  # fmt: skip
    """(style model, CLIP vision model) on the server for Redux: the one the references
    name, else the first whose name says Redux; the SigLIP vision model Redux reads.
    ModelError, in one sentence naming the file and its folder, when one is missing."""
    named = {spec.model for spec in request.references if spec.model}
    if len(named) > 1:
        raise InvalidRequestError(
            "The reference layers name different Redux models; give them all the same one."
        )
    if named:
        style = pick_file(named.pop(), style_models, "style model", server)
    elif redux := _named(style_models, r"redux"):
        style = redux[0]
    else:
        raise ModelError(
            f"The ComfyUI server at {server} has no FLUX.1 Redux model for reference layers; "
            f"put {STYLE_MODEL_EXAMPLE} in its models/style_models folder."
        )
    vision = _named(clip_visions, r"sig[._ -]?clip|siglip")
    if not vision:
        raise ModelError(
            f"The ComfyUI server at {server} has no SigLIP vision model for FLUX.1 Redux; put "
            f"{CLIP_VISION_EXAMPLE} in its models/clip_vision folder."
        )
    return style, vision[0]


def apply_redux(node: Callable[..., list[Any]], positive: list[Any], plan: ReduxPlan) -> list[Any]:
    """The positive conditioning with each weighted picture's Redux tokens appended."""
    used = [(i, name, weight) for i, (name, weight) in enumerate(plan.pictures) if weight > 0]
    if not used:
        return positive
    vision = node("clip_vision", "CLIPVisionLoader", clip_name=plan.clip_vision)
    style = node("style_model", "StyleModelLoader", style_model_name=plan.style_model)
    for i, name, weight in used:
        picture = node(f"redux_image{i}", "LoadImage", image=name)
        encoded = node(f"redux_vision{i}", "CLIPVisionEncode", clip_vision=vision,
                       image=picture, crop="center")  # fmt: skip
        positive = node(f"redux{i}", "StyleModelApply", conditioning=positive,
                        style_model=style, clip_vision_output=encoded,
                        strength=float(weight), strength_type="multiply")  # fmt: skip
    return positive
