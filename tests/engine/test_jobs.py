"""The shared job builder (engine.jobs): region choice, Auto mode, crops only."""

from __future__ import annotations

import numpy as np
import pytest

from engine.jobs import (
    CompositeFn,
    JobError,
    choose_mode,
    crop_rgba,
    frame_growth,
    image_composite,
    inputs_for,
    prepare_job,
)
from engine.request import Box, GenerationRequest

W, H = 600, 400
PARAMS = {
    "prompt": "a cat",
    "negative_prompt": "blurry",
    "mode": "auto",
    "steps": 7,
    "seed": 5,
    "model": "m",
    "n_samples": 3,
    "guidance": 5.5,
    "strength": 0.4,
    "scheduler": "DDIM",
}


def canvas(alpha: int = 255) -> np.ndarray:
    img = np.zeros((H, W, 4), np.uint8)
    img[..., 0] = np.arange(W, dtype=np.uint16)[None, :] % 256
    img[..., 3] = alpha
    return img


def composite_of(image: np.ndarray, calls: list[Box]) -> CompositeFn:
    def composite(box: Box) -> np.ndarray:
        calls.append(box)
        return image[box.y : box.bottom, box.x : box.right].copy()

    return composite


def test_mask_over_pixels_is_inpaint_with_crops_at_the_context_box() -> None:
    image, calls = canvas(), []
    mask = np.zeros((H, W), np.uint8)
    mask[100:140, 300:360] = 255
    job = prepare_job(PARAMS, W, H, composite_of(image, calls), mask=mask, native=512)
    req, inputs = job.request, job.inputs
    assert req.mode == "inpaint" and job.region_source == "mask"
    ctx = req.region
    assert ctx.x <= 300 and ctx.right >= 360 and ctx.y <= 100 and ctx.bottom >= 140
    assert calls == [ctx]  # only the context box was composited
    assert inputs.image.shape == (ctx.height, ctx.width, 4)
    assert np.array_equal(inputs.mask, mask[ctx.y : ctx.bottom, ctx.x : ctx.right])
    assert (req.prompt, req.negative_prompt, req.steps, req.seed, req.model) == (
        "a cat", "blurry", 7, 5, "m",
    )  # fmt: skip
    # Auto inpainting with a prompt adds content, at that mode's strength.
    assert (req.n_samples, req.guidance, req.strength, req.scheduler) == (3, 5.5, 1.0, "DDIM")
    assert req.inpaint_mode == "add"
    assert (req.canvas_width, req.canvas_height) == (W, H)
    refine = {**PARAMS, "inpaint_mode": "refine"}
    job = prepare_job(refine, W, H, composite_of(image, []), mask=mask, native=512)
    assert (job.request.inpaint_mode, job.request.strength) == ("refine", 0.4)
    removal = {**PARAMS, "prompt": ""}
    job = prepare_job(removal, W, H, composite_of(image, []), mask=mask, native=512)
    assert (job.request.inpaint_mode, job.request.strength) == ("remove", 0.3)


def test_auto_modes() -> None:
    opaque, empty = canvas(255)[:50, :50], canvas(0)[:50, :50]
    half = opaque.copy()
    half[:, 25:, 3] = 0
    mask = np.zeros((50, 50), np.uint8)
    mask[10:20, 10:20] = 255
    assert choose_mode("auto", empty, None) == "txt2img"
    assert choose_mode("auto", empty, mask) == "txt2img"
    assert choose_mode("auto", opaque, mask) == "inpaint"
    assert choose_mode("auto", opaque, None) == "img2img"
    flat = np.full((50, 50, 4), 255, np.uint8)  # the white start-up canvas
    assert choose_mode("auto", flat, None) == "txt2img"
    assert choose_mode("auto", flat, mask) == "inpaint"  # a mask still says where
    flat[20, 30, 1] -= 1  # one pixel differs: that is a picture to refine
    assert choose_mode("auto", flat, None) == "img2img"
    assert choose_mode("auto", half, None) == "outpaint"
    over_hole = mask.copy()
    over_hole[:, 30:40] = 255
    assert choose_mode("auto", half, over_hole) == "outpaint"
    assert choose_mode("img2img", empty, mask) == "img2img"


def test_selection_used_when_no_mask_and_frame_after_that() -> None:
    image = canvas()
    sel = np.zeros((H, W), np.uint8)
    sel[0:30, 0:30] = 255
    job = prepare_job(PARAMS, W, H, composite_of(image, []), selection=sel, native=256)
    assert job.region_source == "selection" and job.request.mode == "inpaint"
    frame = Box(400, 300, 100, 80)
    job = prepare_job(PARAMS, W, H, composite_of(canvas(0), []), frame=frame, native=256)
    assert job.region_source == "frame" and job.request.mode == "txt2img"
    ctx = job.request.region
    m = job.inputs.mask
    # The frame itself is repainted, its surroundings are context only.
    assert m[frame.y - ctx.y + 5, frame.x - ctx.x + 5] == 255
    assert m[:, : max(frame.x - ctx.x, 0)].sum() == 0


def test_whole_canvas_without_region_is_img2img_or_txt2img() -> None:
    job = prepare_job(PARAMS, W, H, composite_of(canvas(), []), native=512)
    assert job.region_source == "canvas" and job.request.mode == "img2img"
    assert job.inputs.mask is None
    job = prepare_job(PARAMS, W, H, composite_of(canvas(0), []), native=512)
    assert job.request.mode == "txt2img" and job.inputs.image is None


def test_forced_inpaint_without_mask_is_refused_with_a_sentence() -> None:
    with pytest.raises(JobError, match="paint over"):
        prepare_job({**PARAMS, "mode": "inpaint"}, W, H, composite_of(canvas(), []))


def test_frame_outside_the_canvas_is_refused_with_a_sentence() -> None:
    with pytest.raises(JobError, match="outside the canvas"):
        prepare_job(PARAMS, W, H, composite_of(canvas(), []), frame=Box(W + 10, 0, 50, 50))


def test_feather_is_the_plans_unless_overridden() -> None:
    mask = np.zeros((H, W), np.uint8)
    mask[100:200, 100:300] = 255
    job = prepare_job(PARAMS, W, H, image_composite(canvas()), mask=mask, native=512)
    # Diagonal of a 200x100 box / 10, as engine.region.plan_region suggests.
    assert job.request.mask_blur == 22
    job = prepare_job({**PARAMS, "feather": 3}, W, H, image_composite(canvas()), mask=mask)
    assert job.request.mask_blur == 3


def test_crops_pad_outside_with_transparency_and_rgb_becomes_opaque() -> None:
    rgb = np.full((4, 6, 3), 9, np.uint8)
    crop = image_composite(rgb)(Box(-2, 2, 4, 4))
    assert crop.shape == (4, 4, 4)
    assert (crop[:2, 2:] == (9, 9, 9, 255)).all()  # inside the picture, opaque
    assert not crop[:, :2].any() and not crop[2:].any()  # outside: transparent
    assert crop_rgba(np.ones((3, 3), np.uint8), Box(1, 1, 3, 3)).sum() == 4


def test_inputs_for_a_recorded_request_are_the_crops_the_builder_made() -> None:
    image = canvas()
    mask = np.zeros((H, W), np.uint8)
    mask[50:90, 420:500] = 255
    job = prepare_job(PARAMS, W, H, image_composite(image), mask=mask, native=256)
    again = inputs_for(GenerationRequest.from_json(job.request.to_json()), image, mask)
    assert np.array_equal(again.image, job.inputs.image)
    assert np.array_equal(again.mask, job.inputs.mask)
    assert inputs_for(job.request, None, None).image is None


def test_frame_growth_names_each_side_past_the_canvas() -> None:
    assert frame_growth(Box(-10, 5, 50, 50), 100, 40) == (10, 0, 0, 15)
    assert frame_growth(Box(0, 0, 100, 40), 100, 40) == (0, 0, 0, 0)


def test_frame_over_empty_canvas_repaints_only_the_empty_part() -> None:
    # A frame half over the picture, half over a transparent band (a canvas grown for
    # outpainting): the picture under the frame is context, not repainted.
    image = canvas()
    image[:, 500:, 3] = 0
    frame = Box(400, 100, 200, 150)
    job = prepare_job(PARAMS, W, H, image_composite(image), frame=frame, native=256)
    assert job.region_source == "frame" and job.request.mode == "outpaint"
    ctx, m = job.request.region, job.inputs.mask
    x0, y0 = frame.x - ctx.x, frame.y - ctx.y
    assert (m[y0 : y0 + 150, x0 + 100 : x0 + 200] == 255).all()  # the empty part
    assert not m[:, : 500 - ctx.x].any()  # the picture, frame part included
    assert not m[:y0].any() and not m[y0 + 150 :].any()  # empty canvas outside the frame
