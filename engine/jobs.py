"""Building a job (GenerationRequest + GenerationInputs) from a picture, a mask and settings.

The one job builder: the window feeds it from its Document, `overpaint img2img|inpaint|
fill` from files, and `overpaint rerun` crops its inputs with `inputs_for`. Because they
share the region plan (context box, generation size, feather), the same request gives
the same pixels whichever way it was made.

It is free of Qt and of the Document class: it receives the canvas size, the full
mask/selection arrays (cheap to scan), an optional generation frame, and a callable that
returns the visible composite for a box, so only the context crop is ever composited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.control.jobs import LayerControl, layer_controls
from engine.core.errors import InvalidRequestError
from engine.generation_settings import GenerationSettings
from engine.inpaint_modes import check_mode, default_strength, detect_mode
from engine.reference.jobs import LayerReference, layer_references
from engine.region import context_padding, grow_mask, mask_bbox, pick_region, plan_region
from engine.regions.jobs import LayerRegion, layer_regions
from engine.request import Box, GenerationInputs, GenerationRequest

CompositeFn = Callable[[Box], np.ndarray]  # straight RGBA crop of the visible composite

DEFAULT_STRENGTH = 0.75
# Classical fill needs no model; its region is planned as for an SD1 model's 512 px.
FILL_NATIVE = 512


class JobError(InvalidRequestError):
    """The picture cannot make the requested job; str() is one sentence for the user."""


@dataclass(frozen=True)
class PreparedJob:
    request: GenerationRequest
    inputs: GenerationInputs
    region_source: str  # "mask", "selection", "frame" or "canvas"


Settings = GenerationSettings | Mapping[str, Any]  # a mapping is read by from_dict


def build_request(mode: str, settings: Settings, **fields: Any) -> GenerationRequest:
    """A request from the generation `settings` (prompt, seeds, steps, model, LoRAs...);
    `fields` sets the rest (region, size, options, ...)."""
    s = GenerationSettings.coerce(settings)
    return GenerationRequest(
        mode=mode,  # type: ignore[arg-type]
        prompt=s.prompt,
        negative_prompt=s.negative_prompt,
        seed=s.seed,
        steps=s.steps,
        guidance=s.guidance,
        strength=_strength(s),
        scheduler=s.scheduler,
        shift=s.shift,
        model=s.model,
        n_samples=s.n_samples,
        loras=s.loras,
        **fields,
    )


def _strength(settings: GenerationSettings) -> float:
    return DEFAULT_STRENGTH if settings.strength is None else settings.strength


def crop_rgba(image: np.ndarray, box: Box) -> np.ndarray:
    """A copy of ``image`` inside ``box``; parts of the box outside the image are zeros
    (transparent for RGBA: the strip an outpaint fills)."""
    h, w = image.shape[:2]
    out = np.zeros((box.height, box.width, *image.shape[2:]), image.dtype)
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.right, w), min(box.bottom, h)
    if x1 > x0 and y1 > y0:
        out[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = image[y0:y1, x0:x1]
    return out


def image_composite(image: np.ndarray) -> CompositeFn:
    """The composite callable for a flat picture (a file read by the CLI)."""
    rgba = np.asarray(image)
    if rgba.shape[2] == 3:
        rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
    return lambda box: crop_rgba(rgba, box)


def frame_growth(frame: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels the canvas must grow by to hold ``frame``."""
    return (
        max(0, -frame.x),
        max(0, -frame.y),
        max(0, frame.right - width),
        max(0, frame.bottom - height),
    )


def _region(
    width: int,
    height: int,
    mask: np.ndarray | None,
    selection: np.ndarray | None,
    frame: Box | None,
) -> tuple[Box, str, np.ndarray | None]:
    """The box to repaint, what it came from, and the full-canvas repaint mask (or None)."""
    picked = pick_region(
        mask_bbox(mask) if mask is not None else None,
        mask_bbox(selection) if selection is not None else None,
        frame,
    )
    box, source = picked or (Box(0, 0, width, height), "canvas")
    return box, source, {"mask": mask, "selection": selection}.get(source)


def choose_mode(requested: str, crop_rgba: np.ndarray, mask_crop: np.ndarray | None) -> str:
    """Auto: empty region -> txt2img; transparent part -> outpaint; mask -> inpaint;
    no mask -> img2img, unless the region is one flat colour (the white start-up canvas,
    a fill): nothing is painted there to refine, so txt2img. Any other requested mode is
    used as is."""
    if requested != "auto":
        return requested
    alpha = crop_rgba[..., 3]
    if not alpha.any():
        return "txt2img"
    if mask_crop is not None:
        painted = mask_crop > 0
        if (alpha[painted] == 0).any():
            return "outpaint"
        return "inpaint"
    if (alpha == 0).any():
        return "outpaint"
    if (crop_rgba == crop_rgba[0, 0]).all():
        return "txt2img"
    return "img2img"


def prepare_job(
    params: Settings,
    canvas_width: int,
    canvas_height: int,
    composite: CompositeFn,
    mask: np.ndarray | None = None,
    selection: np.ndarray | None = None,
    frame: Box | None = None,
    native: int = 512,
    options: Mapping[str, Any] | None = None,
    watermark: bool = True,
    controls: Sequence[LayerControl] = (),
    precision: str = "auto",
    regions: Sequence[LayerRegion] = (),
    references: Sequence[LayerReference] = (),
) -> PreparedJob:
    """Build the request for a job on the picture's region (see module docstring).

    Inpainting settings come from `params` too (see `inpaint_settings`): the mask (or
    selection) is grown first, the region is planned with the chosen context, the feather
    is the plan's (about a tenth of the mask's diagonal) unless `feather` is set, and an
    "auto" inpaint mode is resolved here, with its default strength. `controls` are the
    window's visible control layers (see engine.control.jobs), `regions` its region
    layers (engine.regions.jobs) and `references` its reference layers
    (engine.reference.jobs). `precision` is the CPU precision ("auto", "fp32" or "bf16";
    engine.core.precision) the request asks for.
    """
    if canvas_width <= 0 or canvas_height <= 0:
        raise JobError("The canvas is empty; open or create an image first.")
    params = GenerationSettings.coerce(params)
    settings = inpaint_settings(params)
    if settings["grow"]:
        mask = None if mask is None else grow_mask(mask, settings["grow"])
        selection = None if selection is None else grow_mask(selection, settings["grow"])
    box, source, repaint = _region(canvas_width, canvas_height, mask, selection, frame)
    try:
        plan = plan_region(box, canvas_width, canvas_height, native, settings["context"])
    except ValueError:
        raise JobError(
            "The generation frame lies outside the canvas; draw it over the picture, or "
            "grow the canvas first (Image > Canvas Size)."
        ) from None
    ctx = plan.context
    crop = composite(ctx)
    mask_crop = None
    if repaint is not None:
        mask_crop = np.ascontiguousarray(repaint[ctx.y : ctx.bottom, ctx.x : ctx.right])
    elif source == "frame":
        # A frame without a mask repaints exactly the frame inside its context.
        mask_crop = np.zeros((ctx.height, ctx.width), np.uint8)
        fx0, fy0 = max(box.x - ctx.x, 0), max(box.y - ctx.y, 0)
        mask_crop[fy0 : box.bottom - ctx.y, fx0 : box.right - ctx.x] = 255
    mode = choose_mode(params.mode, crop, mask_crop)
    if mode == "outpaint" and source == "frame" and mask_crop is not None:
        # A frame over empty canvas extends the picture: only the empty part is new. The
        # picture under the frame is context, reached only by the feather's blend.
        empty = (crop[..., 3] == 0) & (mask_crop > 0)
        if empty.any():
            mask_crop = np.where(empty, 255, 0).astype(np.uint8)
    if mode in ("inpaint", "fill") and (mask_crop is None or not mask_crop.any()):
        raise JobError(f"{mode.capitalize()} needs a mask; paint over the area to change first.")
    image = None if mode == "txt2img" and source == "canvas" else crop
    feather = settings.pop("feather")
    if mode in ("inpaint", "outpaint"):
        params = _resolve_inpaint_mode(params, settings, crop, mask_crop)
    if not settings["soft_edges"]:
        feather = 0
    request = build_request(
        mode,
        params,
        **settings,
        width=ctx.width,
        height=ctx.height,
        region=ctx,
        canvas_width=canvas_width,
        canvas_height=canvas_height,
        mask_blur=plan.feather if feather is None else int(feather),
        feather_inside=source == "selection",
        watermark=watermark,
        # Classical fill loads no model, so it computes in no model precision.
        precision="auto" if mode == "fill" else precision,
        options=tuple(sorted((options or {}).items())),
    )
    specs, control_images = layer_controls(controls, ctx, mode)
    if specs:  # the window's control layers with pixels in the context box
        request = request.replace(controls=specs)
    region_specs, region_masks = layer_regions(regions, ctx) if mode != "fill" else ((), ())
    try:  # an Edit's references are pictures of their own, never limited to a region
        reference_specs, pictures, reference_masks = layer_references(
            references if mode != "fill" else (), ctx if mode != "edit" else None
        )
    except InvalidRequestError as e:
        raise JobError(str(e)) from None
    if region_specs or reference_specs:
        request = request.replace(regions=region_specs, references=reference_specs)
    inputs = GenerationInputs(
        image=image,
        mask=mask_crop,
        controls=control_images,
        region_masks=region_masks,
        references=pictures,
        reference_masks=reference_masks,
    )
    return PreparedJob(request, inputs, source)


def inpaint_settings(params: GenerationSettings) -> dict[str, Any]:
    """The inpainting settings in generation `params`, checked: inpaint_mode, grow (px),
    context, feather (px, None: automatic), color_match, soft_edges. Bad values raise
    JobError."""
    try:
        check_mode(params.inpaint_mode)
        context_padding(params.context)
    except ValueError as e:
        raise JobError(str(e).capitalize() + ".") from None
    feather = params.feather
    return {
        "inpaint_mode": params.inpaint_mode,
        "grow": params.grow,
        "context": params.context,
        "feather": None if feather is None else max(0, feather),
        "color_match": params.color_match,
        "soft_edges": params.soft_edges,
    }


def _resolve_inpaint_mode(
    params: GenerationSettings, settings: dict[str, Any], crop: np.ndarray, mask: np.ndarray | None
) -> GenerationSettings:
    """Settle "auto" on a concrete inpaint mode (recorded in `settings`) and return the
    params with the strength to use: the picked mode's default for auto, else the user's
    (the panel sets a mode's default when the mode is chosen, the CLI when --strength is
    not given)."""
    if mask is None:  # a transparent region without a mask: extend the picture
        mask = np.where(crop[..., 3] == 0, 255, 0).astype(np.uint8)
    if settings["inpaint_mode"] != "auto":
        if params.strength is None:
            strength = default_strength(settings["inpaint_mode"], DEFAULT_STRENGTH)
            return replace(params, strength=strength)
        return params
    picked = detect_mode(crop, mask, params.prompt)
    settings["inpaint_mode"] = picked
    return replace(params, strength=default_strength(picked, _strength(params)))


def inputs_for(
    request: GenerationRequest, image: np.ndarray | None, mask: np.ndarray | None
) -> GenerationInputs:
    """The inputs a recorded request was run with, from the whole picture and mask:
    both cropped at ``request.region``, the mask grown as recorded (what `overpaint
    rerun` replays)."""
    if image is None:
        return GenerationInputs()
    if mask is not None and request.grow:
        mask = grow_mask(mask, request.grow)
    box = request.region
    if box is None:
        return GenerationInputs(image=image, mask=mask)
    return GenerationInputs(
        image=crop_rgba(image, box), mask=None if mask is None else crop_rgba(mask, box)
    )


def prepare_edit_job(
    params: Settings,
    canvas_width: int,
    canvas_height: int,
    composite: CompositeFn,
    selection: np.ndarray | None = None,
    references: Sequence[LayerReference] = (),
    native: int = 1024,
    options: Mapping[str, Any] | None = None,
    watermark: bool = True,
    precision: str = "auto",
) -> PreparedJob:
    """An instruction edit (mode "edit"): `params.prompt` is the instruction.

    `selection` (the full-canvas HxW uint8 selection, 255 = selected; None or empty: the
    whole picture) is what is edited: its context crop goes to the model, and only the
    selection changes (feathered inside its edge, so pixels outside stay bit-identical).
    `references` are the visible reference layers: the extra input pictures of the
    multi-reference models (ModelInfo.max_references says how many a model takes).
    `native` is the model's native size (ModelInfo.native_size). The strength is 1.0 (the
    selection repainted from noise with the picture as the model's context) unless
    `params.strength` sets one; the edit-inpaint pipelines use it.
    """
    params = GenerationSettings.coerce(params)
    strength = 1.0 if params.strength is None else params.strength
    if selection is not None and not np.asarray(selection).any():
        selection = None
    return prepare_job(
        replace(params, mode="edit", strength=strength),
        canvas_width,
        canvas_height,
        composite,
        selection=selection,
        native=native,
        options=options,
        watermark=watermark,
        precision=precision,
        references=references,
    )
