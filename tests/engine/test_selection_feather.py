"""A selection is a limit: its feather lies inside its edge (Krita's composite mask), so
nothing outside the selection changes; a painted mask keeps its outward feather.

Pure region math and the job builder: no model. The selections are the editor's own
shapes (antialiased rectangle, ellipse, lasso), as the window hands them to the engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRect, QSize

from editor.model import selection_ops
from engine import region
from engine.jobs import image_composite, prepare_job
from engine.request import GenerationRequest
from engine.soft_inpaint import SoftInpaintJob

W, H = 320, 240
PARAMS = {"prompt": "a large red circle, blue background", "seed": 1, "steps": 2}


def _shapes() -> dict[str, np.ndarray]:
    size = QSize(W, H)
    lasso = [QPointF(60, 50), QPointF(250, 70), QPointF(230, 200), QPointF(120, 180),
             QPointF(90, 120)]  # fmt: skip
    return {
        "rectangle": selection_ops.rect_mask(size, QRect(80, 60, 150, 110)),
        "ellipse": selection_ops.ellipse_mask(size, QRect(70, 40, 170, 150)),
        "lasso": selection_ops.polygon_mask(size, lasso),
    }


def _white() -> np.ndarray:
    return np.full((H, W, 4), 255, np.uint8)


def _red(h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w, 3), np.uint8)
    out[..., 0] = 255
    return out


@pytest.mark.parametrize("shape", ["rectangle", "ellipse", "lasso"])
def test_a_selection_keeps_every_pixel_outside_it(shape: str) -> None:
    selection = _shapes()[shape]
    picture = _white()
    job = prepare_job(PARAMS, W, H, image_composite(picture), selection=selection, native=128)
    req, mask = job.request, job.inputs.mask
    assert job.region_source == "selection" and req.feather_inside
    assert req.mask_blur >= 8  # the automatic feather: the fade has room to show
    ctx = req.region
    # The worst case: the model paints solid red over the whole crop.
    patch = region.patch_from_generation(
        _red(ctx.height, ctx.width), ctx.width, ctx.height, mask, req.mask_blur, inside=True
    )
    out = region.apply_patch(picture, patch, ctx.x, ctx.y)
    outside = selection == 0
    assert np.array_equal(out[outside], picture[outside])
    # Deep inside, the generation shows at full strength; the fade lies in a band inside.
    deep = region.grow_mask(selection, -req.mask_blur - 1) == 255
    assert deep.any() and (out[deep] == (255, 0, 0, 255)).all()
    alpha = np.zeros((H, W), np.uint8)
    alpha[ctx.y : ctx.bottom, ctx.x : ctx.right] = patch[..., 3]
    band = (selection == 255) & ~deep
    assert 0 < alpha[band].min() or (alpha[band] == 0).mean() < 0.2
    assert (alpha[band] < 255).mean() > 0.5  # graded, not a hard cut at the edge


def test_the_soft_inpaint_mask_of_a_selection_stays_inside_it() -> None:
    selection = _shapes()["ellipse"]
    job = prepare_job(PARAMS, W, H, image_composite(_white()), selection=selection, native=128)
    ctx = job.request.region
    soft = SoftInpaintJob.plan(
        job.request, job.inputs.image, job.inputs.mask, (job.request.region.width, ctx.height)
    )
    crop_sel = selection[ctx.y : ctx.bottom, ctx.x : ctx.right]
    assert soft.feathered[crop_sel == 0].max() == 0  # the model is never freed outside
    assert soft.feathered.max() == 255


def test_a_painted_mask_keeps_its_outward_feather() -> None:
    mask = _shapes()["ellipse"]
    job = prepare_job(PARAMS, W, H, image_composite(_white()), mask=mask, native=128)
    req = job.request
    assert job.region_source == "mask" and not req.feather_inside
    ctx = req.region
    patch = region.patch_from_generation(
        _red(ctx.height, ctx.width), ctx.width, ctx.height, job.inputs.mask, req.mask_blur
    )
    alpha = np.zeros((H, W), np.uint8)
    alpha[ctx.y : ctx.bottom, ctx.x : ctx.right] = patch[..., 3]
    assert (alpha[mask > 0] == 255).all()
    ring = (region.grow_mask(mask, req.mask_blur // 2) > 0) & (mask == 0)
    assert (alpha[ring] > 0).all()  # the mask's softness reaches out, as before


def test_feather_inside_is_zero_outside_and_fades_in_over_the_radius() -> None:
    m = np.zeros((80, 80), np.uint8)
    m[20:60, 20:60] = 255
    f = region.feather_inside(m, 12)
    assert f.dtype == np.uint8 and f.shape == m.shape
    assert (f[m == 0] == 0).all()
    row = f[40]
    assert 0 < row[20] < row[24] < row[28] < row[31] <= 255  # monotone fade inward
    assert (row[33:47] == 255).all()  # beyond the radius: full strength
    assert np.array_equal(region.feather_inside(m, 0), m)


def test_feather_inside_keeps_a_thin_selection_and_its_soft_values() -> None:
    thin = np.zeros((60, 60), np.uint8)
    thin[28:34, 5:55] = 255  # 6 px tall, far thinner than the feather
    f = region.feather_inside(thin, 48)
    assert (f[thin == 0] == 0).all()
    assert f.max() == 255  # its core still gets the generation at full strength
    soft = np.zeros((40, 40), np.uint8)
    soft[5:35, 5:35] = 100
    g = region.feather_inside(soft, 4)
    assert g.max() == 100 and (g[soft == 0] == 0).all()


def test_a_selection_touching_the_canvas_border_keeps_full_strength_there() -> None:
    everything = np.full((H, W), 255, np.uint8)
    job = prepare_job(PARAMS, W, H, image_composite(_white()), selection=everything, native=128)
    assert job.request.feather_inside
    alpha = region.feather_inside(job.inputs.mask, job.request.mask_blur)
    assert (alpha == 255).all()  # no fade where there is nothing outside to blend with


def test_the_flag_is_recorded_so_a_rerun_repaints_the_same_pixels() -> None:
    selection = _shapes()["lasso"]
    job = prepare_job(PARAMS, W, H, image_composite(_white()), selection=selection, native=128)
    again = GenerationRequest.from_json(job.request.to_json())
    assert again.feather_inside and again == job.request
    assert not GenerationRequest.from_json('{"mode": "inpaint"}').feather_inside
