"""The flow-matching families' samplers and soft inpainting (engine.local.flow_sampling),
on tiny random-weight models built at test time: schedules and the shift change the
pixels and are recorded, a rerun from the PNG replays them, the UNet-only samplers are
refused in one sentence, and soft inpainting grades the mask's edge on every family's own
latent layout while pixels beyond the feather stay bit-identical."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.core.errors import InvalidRequestError
from engine.local.engine import Engine
from engine.local.flow_sampling import FlowBlend
from engine.metadata import read_request, request_from_parameters
from engine.region import apply_patch
from engine.request import GenerationInputs, GenerationRequest
from engine.soft_inpaint import latent_mask
from tests.engine.test_modern_families import RUN_FAMILIES

INPAINT_FAMILIES = RUN_FAMILIES


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


def _flux(folder: Callable[[str], Path], **changes: object) -> GenerationRequest:
    return GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(folder("flux")), steps=4,
        guidance=3.5, width=64, height=64, seed=3, watermark=False,
    ).replace(**changes)  # fmt: skip


def _ramp(side: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side]
    rgb = np.dstack([xx * 2, yy * 2, 255 - xx, np.full_like(xx, 255)])
    return rgb.astype(np.uint8)


def _square_mask(side: int = 128) -> np.ndarray:
    mask = np.zeros((side, side), np.uint8)
    mask[32:96, 32:96] = 255
    return mask


def test_schedules_and_shift_change_pixels_and_are_recorded(
    engine: Engine, tiny_modern_dir: Callable[[str], Path]
) -> None:
    own = engine.run(_flux(tiny_modern_dir, scheduler="Euler"))[0]
    # "Euler a", every request's default, is the model's own Euler on these models, and
    # the result records what ran.
    default = engine.run(_flux(tiny_modern_dir))[0]
    assert np.array_equal(default.rgba, own.rgba)
    assert default.request.scheduler == "Euler" and "Sampler: Euler," in default.parameters
    seen = [own.rgba]
    for scheduler, shift in (("Euler", 6.0), ("Euler Karras", 0.0), ("Euler Beta", 0.0)):
        res = engine.run(_flux(tiny_modern_dir, scheduler=scheduler, shift=shift))[0]
        assert not any(np.array_equal(res.rgba, other) for other in seen), (scheduler, shift)
        seen.append(res.rgba)
        assert res.request.scheduler == scheduler and res.request.shift == shift
        assert f"Sampler: {scheduler}," in res.parameters
        assert ("Shift: 6" in res.parameters) == (shift > 0)
        again = engine.run(GenerationRequest.from_json(res.request.to_json()))[0]
        assert np.array_equal(again.rgba, res.rgba)


def test_cli_rerun_replays_the_schedule_and_shift(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    out, again = tmp_path / "out.png", tmp_path / "again.png"
    args = ["txt2img", "--prompt", "a red square", "--model", str(tiny_modern_dir("z-image"))]
    args += ["--steps", "3", "--width", "64", "--height", "64", "--seed", "5", "--no-history"]
    args += ["--scheduler", "Euler Exponential", "--shift", "4.5", "--out", str(out)]
    assert main(args) == 0
    recorded = read_request(out)
    assert recorded is not None
    assert (recorded.scheduler, recorded.shift) == ("Euler Exponential", 4.5)
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(out)))


def test_forge_parameters_give_the_schedule_shift_and_distilled_guidance() -> None:
    text = (
        "a lighthouse\nSteps: 20, Sampler: Euler, Schedule type: Beta, CFG scale: 1, "
        "Distilled CFG Scale: 3.5, Shift: 3, Seed: 7, Size: 896x1152, Model: flux1-dev"
    )
    req = request_from_parameters(text)
    assert req is not None
    assert (req.scheduler, req.shift, req.guidance) == ("Euler Beta", 3.0, 3.5)


def test_unet_samplers_and_flow_samplers_are_refused_across_in_one_sentence(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tiny_model_dir: Path
) -> None:
    with pytest.raises(InvalidRequestError, match=r"^DPM\+\+ 2M does not run on flow-matching"):
        engine.run(_flux(tiny_modern_dir, scheduler="DPM++ 2M"))
    with pytest.raises(InvalidRequestError, match="^Shift must be between 0"):
        engine.run(_flux(tiny_modern_dir, shift=-1.0))
    unet = GenerationRequest(mode="txt2img", model=str(tiny_model_dir), steps=2, width=64,
                             height=64, scheduler="Euler Beta")  # fmt: skip
    with pytest.raises(InvalidRequestError, match="^Euler Beta is a sampler for flow-matching"):
        Engine().run(unet)


@pytest.mark.parametrize("family", INPAINT_FAMILIES)
def test_soft_inpaint_keeps_pixels_beyond_the_feather_and_blends_inside(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], family: str
) -> None:
    picture, mask = _ramp(), _square_mask()
    req = GenerationRequest(
        mode="inpaint", prompt="a red square", model=str(tiny_modern_dir(family)), steps=6,
        strength=1.0, seed=1, mask_blur=16, inpaint_mode="refine", watermark=False,
    )  # fmt: skip
    soft = engine.run(req, GenerationInputs(picture, mask))[0]
    hard = engine.run(req.replace(soft_edges=False), GenerationInputs(picture, mask))[0]
    for res in (soft, hard):
        out = apply_patch(picture, res.rgba, 0, 0)
        beyond = res.rgba[..., 3] == 0
        assert beyond.sum() > 0.4 * beyond.size
        assert np.array_equal(out[beyond], picture[beyond])
    alpha = soft.rgba[..., 3]
    assert ((alpha > 0) & (alpha < 255)).sum() > 1000  # a graded edge ...
    assert set(np.unique(hard.rgba[..., 3])) == {0, 255}  # ... where hard edges have none
    assert not np.array_equal(soft.rgba[48:80, 48:80], hard.rgba[48:80, 48:80])
    assert "Soft inpainting: on" in soft.parameters


def test_colour_match_moves_the_repainted_colours(
    engine: Engine, tiny_modern_dir: Callable[[str], Path]
) -> None:
    req = GenerationRequest(
        mode="inpaint", prompt="a red square", model=str(tiny_modern_dir("sd3")), steps=4,
        strength=1.0, seed=2, mask_blur=8, inpaint_mode="refine", watermark=False,
    )  # fmt: skip
    inputs = GenerationInputs(_ramp(), _square_mask())
    matched = engine.run(req, inputs)[0]
    plain = engine.run(req.replace(color_match=False), inputs)[0]
    assert np.array_equal(matched.rgba[..., 3], plain.rgba[..., 3])
    inside = matched.rgba[..., 3] == 255
    assert np.abs(matched.rgba[inside, :3].astype(int) - plain.rgba[inside, :3]).mean() > 1
    assert "Color match: on" in matched.parameters


@pytest.mark.parametrize("family", ("flux", "sd3", "flux2-klein", "z-image"))
def test_the_blend_pins_the_low_mask_edge_to_the_picture(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], family: str
) -> None:
    """The pipeline itself, with and without FlowBlend under the same binary support, in
    FLUX's and FLUX.2 Klein's packed latents and SD 3.5's and Z-Image's plain ones: latents
    whose mask value lies below the last step's threshold (1/8 at 8 steps) end as the
    picture's own latents exactly, which the binary mask alone repaints; latents at 1 are
    free either way."""
    import torch

    req = GenerationRequest(mode="inpaint", model=str(tiny_modern_dir(family)), steps=8)
    engine.load(req)
    pipe = engine.pipeline_for("inpaint")
    side = 256
    yy, xx = np.mgrid[0:side, 0:side]
    # A plateau down the middle, falling off to 0 over 85 px either side.
    graded = np.clip((120 - np.abs(xx - side / 2)) * 3, 0, 255).astype(np.uint8)
    args = dict(
        prompt="a red square", image=Image.fromarray(_ramp(side)[..., :3]), width=side,
        height=side, mask_image=Image.fromarray(np.where(graded > 0, 255, 0).astype(np.uint8)),
        strength=1.0, num_inference_steps=8, output_type="latent",
    )  # fmt: skip
    outs = {}
    for use_blend in (False, True, None):  # None: nothing repainted, the picture's latents
        if use_blend is None:
            args["mask_image"] = Image.fromarray(np.zeros_like(graded))
        pipe.scheduler = type(pipe.scheduler).from_config(engine._scheduler_config)
        callback = FlowBlend(pipe, graded).wrap(None) if use_blend else None
        gen = torch.Generator().manual_seed(4)
        out = pipe(**args, generator=gen, callback_on_step_end=callback).images
        outs[use_blend] = out.float().numpy()[0]
    packed = outs[None].ndim == 2  # FLUX: (patches, channels)
    grid = side // 16 if packed else side // 8
    m = latent_mask(graded, grid, grid)
    m = m.reshape(-1, 1) if packed else m[None]
    picture = outs[None]
    low = np.broadcast_to((m > 0) & (m < 1 / 8), picture.shape)
    high = np.broadcast_to(m == 1, picture.shape)
    assert low.sum() > 0 and high.sum() > 0
    assert np.array_equal(outs[True][low], picture[low])
    assert not np.allclose(outs[False][low], picture[low])
    assert not np.allclose(outs[True][high], picture[high])
