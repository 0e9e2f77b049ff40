"""Region and reference layers into a job (engine.regions.jobs, engine.reference.jobs):
masks cropped at the context box with their hashes, pictures at their own size, and
what takes no part."""

from __future__ import annotations

import numpy as np

from engine.core.images import picture_hash
from engine.jobs import image_composite, prepare_job
from engine.reference.jobs import LayerReference
from engine.reference.spec import ReferenceSpec
from engine.regions.jobs import LayerRegion
from engine.regions.spec import RegionSpec
from engine.request import Box

W, H = 600, 400
PARAMS = {"prompt": "a garden", "model": "m", "steps": 3}


def picture() -> np.ndarray:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 1] = np.arange(W, dtype=np.uint16)[None, :] % 256
    rgba[..., 3] = 255
    return rgba


def coverage(y0: int, y1: int, x0: int, x1: int):
    """A region source whose layer covers [y0:y1, x0:x1] of the canvas, and the calls."""
    full = np.zeros((H, W), np.uint8)
    full[y0:y1, x0:x1] = 255
    boxes: list[Box] = []

    def crop(box: Box) -> np.ndarray:
        boxes.append(box)
        return image_composite(np.dstack([full] * 4))(box)[..., 3]

    return full, crop, boxes


def test_regions_are_cropped_at_the_context_box_with_their_hashes() -> None:
    mask = np.zeros((H, W), np.uint8)
    mask[150:200, 100:160] = 255  # a small inpaint near the left
    near, near_crop, near_boxes = coverage(120, 260, 60, 200)
    _far, far_crop, _ = coverage(0, 40, 560, 600)  # a corner the job never reaches
    sources = [
        LayerRegion(RegionSpec("a red rose", "wilted"), near_crop),
        LayerRegion(RegionSpec("a blue sky"), far_crop),
    ]
    job = prepare_job(PARAMS, W, H, image_composite(picture()), mask=mask, regions=sources)
    ctx = job.request.region
    assert ctx.right < 560 and near_boxes == [ctx]  # only the context box was read
    expected = near[ctx.y : ctx.bottom, ctx.x : ctx.right]
    (spec,) = job.request.regions
    (got,) = job.inputs.region_masks
    assert np.array_equal(got, expected) and got.dtype == np.uint8
    assert spec == RegionSpec("a red rose", "wilted", picture_hash(expected))


def test_references_are_whole_pictures_and_empty_ones_take_no_part() -> None:
    ref = np.zeros((30, 50, 4), np.uint8)
    ref[..., 0], ref[..., 3] = 200, 255
    empty = np.zeros((30, 50, 4), np.uint8)
    sources = [
        LayerReference(ReferenceSpec("style", 0.6, 0.1, 0.9), lambda: ref),
        LayerReference(ReferenceSpec(), lambda: empty),
    ]
    job = prepare_job(PARAMS, W, H, image_composite(picture()), references=sources)
    assert job.request.references == (
        ReferenceSpec("style", 0.6, 0.1, 0.9, image_hash=picture_hash(ref)),
    )
    assert len(job.inputs.references) == 1 and np.array_equal(job.inputs.references[0], ref)
    assert job.inputs.reference_masks == ()  # none limited to a region (the stage pads)


def test_an_rgb_reference_picture_counts_as_opaque() -> None:
    rgb = np.full((12, 20, 3), 90, np.uint8)
    job = prepare_job(
        PARAMS,
        W,
        H,
        image_composite(picture()),
        references=[LayerReference(ReferenceSpec(), lambda: rgb)],
    )
    assert job.request.references == (ReferenceSpec(image_hash=picture_hash(rgb)),)
    assert np.array_equal(job.inputs.references[0], rgb)


def test_classical_fill_takes_no_regions_or_references() -> None:
    mask = np.zeros((H, W), np.uint8)
    mask[150:200, 100:160] = 255
    _full, crop, _ = coverage(0, H, 0, W)
    ref = np.full((8, 8, 4), 255, np.uint8)
    job = prepare_job(
        {**PARAMS, "mode": "fill"},
        W,
        H,
        image_composite(picture()),
        mask=mask,
        regions=[LayerRegion(RegionSpec("x"), crop)],
        references=[LayerReference(ReferenceSpec(), lambda: ref)],
    )
    assert job.request.regions == () and job.request.references == ()
    assert job.inputs.region_masks == () and job.inputs.references == ()
