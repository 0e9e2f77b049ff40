"""FLUX.1, SD 3.5, Qwen-Image and Z-Image ControlNets (engine.control.transformers) on
tiny FluxControlNetModel, SD3ControlNetModel, QwenImageControlNetModel and
ZImageControlNetModel built at test time from the tiny transformers: the control picture
steers txt2img, img2img and inpaint, weight 0 is the picture of no control, a rerun repeats
it, and ControlNets of another family, inpaint controls and families without such
ControlNets are one sentence each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.control.spec import ControlSpec
from engine.core.errors import InvalidRequestError, ModelError
from engine.local.engine import Engine
from engine.region import apply_patch
from engine.request import GenerationInputs, GenerationRequest
from tests.tiny_modern_extras import (
    build_flux_controlnet,
    build_qwen_controlnet,
    build_sd3_controlnet,
    build_zimage_controlnet,
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


@pytest.fixture(scope="module")
def flux_controlnet(
    tiny_modern_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("controlnet") / "flux-canny-tiny"
    return build_flux_controlnet(tiny_modern_dir("flux") / "transformer", path)


@pytest.fixture(scope="module")
def sd3_folder(
    tiny_modern_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny SD 3.5 model with a transformer of two blocks: SD 3 adds a ControlNet's
    residuals only to blocks that keep a text stream, which a one-block transformer's
    last block does not."""
    import shutil

    import torch
    from diffusers import SD3Transformer2DModel

    folder = tmp_path_factory.mktemp("sd3") / "tiny-sd3"
    shutil.copytree(tiny_modern_dir("sd3"), folder)
    config = dict(SD3Transformer2DModel.load_config(folder / "transformer"))
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    torch.manual_seed(1)
    SD3Transformer2DModel(**{**config, "num_layers": 2}).save_pretrained(folder / "transformer")
    return folder


@pytest.fixture(scope="module")
def sd3_controlnet(sd3_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("controlnet") / "sd3-canny-tiny"
    return build_sd3_controlnet(sd3_folder / "transformer", path)


@pytest.fixture(scope="module")
def qwen_controlnet(tiny_modern_dir: Callable[[str], Path], flux_controlnet: Path) -> Path:
    # Beside the FLUX one, in the module's own temporary folder.
    path = flux_controlnet.parent / "qwen-canny-tiny"
    return build_qwen_controlnet(tiny_modern_dir("qwen-image") / "transformer", path)


@pytest.fixture(scope="module")
def zimage_controlnet(tiny_modern_dir: Callable[[str], Path], flux_controlnet: Path) -> Path:
    path = flux_controlnet.parent / "zimage-canny-tiny"
    return build_zimage_controlnet(tiny_modern_dir("z-image") / "transformer", path)


@pytest.fixture(params=("flux", "sd3", "qwen-image", "z-image"))
def family_net(
    request: pytest.FixtureRequest,
    tiny_modern_dir: Callable[[str], Path],
    flux_controlnet: Path,
    sd3_controlnet: Path,
    sd3_folder: Path,
    qwen_controlnet: Path,
    zimage_controlnet: Path,
) -> tuple[Path, Path]:
    """(model folder, its ControlNet)."""
    if request.param == "flux":
        return tiny_modern_dir("flux"), flux_controlnet
    if request.param == "qwen-image":
        return tiny_modern_dir("qwen-image"), qwen_controlnet
    if request.param == "z-image":
        return tiny_modern_dir("z-image"), zimage_controlnet
    return sd3_folder, sd3_controlnet


def _square(side: int = 64, lo: int = 16, hi: int = 48) -> np.ndarray:
    img = np.zeros((side, side, 3), np.uint8)
    img[lo:hi, lo:hi] = 255
    return img


def _request(folder: Callable[[str], Path] | Path, family: str = "flux") -> GenerationRequest:
    model = folder(family) if callable(folder) else folder
    return GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(model), steps=3,
        guidance=3.5, width=64, height=64, seed=3, watermark=False,
    )  # fmt: skip


def _controlled(
    base: GenerationRequest, net: Path, weight: float = 1.0, **spec
) -> GenerationRequest:
    return base.replace(controls=(ControlSpec("canny", model=str(net), weight=weight, **spec),))


def test_the_control_picture_steers_the_picture(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], family_net: tuple[str, Path]
) -> None:
    model, net = family_net
    base = _request(model)
    plain = engine.run(base)[0]
    square = GenerationInputs(controls=(_square(),))
    res = engine.run(_controlled(base, net), square)[0]
    assert np.abs(res.rgba.astype(int) - plain.rgba).mean() > 1
    assert f"Model: {net}" in res.parameters and "Module: canny" in res.parameters
    other = engine.run(_controlled(base, net), GenerationInputs(controls=(_square(64, 4, 30),)))[0]
    assert not np.array_equal(other.rgba, res.rgba)
    # A rerun of the recorded request with the same control picture repeats it.
    again = engine.run(GenerationRequest.from_json(res.request.to_json()), square)[0]
    assert np.array_equal(again.rgba, res.rgba)
    # Weight 0 is recorded and changes nothing; so does a range the steps never reach.
    zero = engine.run(_controlled(base, net, 0.0), square)[0]
    assert np.array_equal(zero.rgba, plain.rgba) and "Weight: 0" in zero.parameters
    late = engine.run(_controlled(base, net, start=0.99, end=1.0), square)[0]
    assert np.array_equal(late.rgba, plain.rgba)


def test_img2img_and_inpaint_with_a_control(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], family_net: tuple[str, Path]
) -> None:
    model, net = family_net
    rng = np.random.default_rng(2)
    picture = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    picture[..., 3] = 255
    mask = np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 255
    base = _request(model).replace(steps=4, strength=0.9)
    for mode, inputs in (
        ("img2img", GenerationInputs(picture, controls=(_square(),))),
        ("inpaint", GenerationInputs(picture, mask, controls=(_square(),))),
    ):
        req = base.replace(mode=mode)
        plain = engine.run(req, GenerationInputs(inputs.image, inputs.mask))[0]
        res = engine.run(_controlled(req, net), inputs)[0]
        assert not np.array_equal(res.rgba, plain.rgba), mode
        if mode == "inpaint":
            out = apply_patch(picture, res.rgba, res.x, res.y)
            beyond = res.rgba[..., 3] == 0
            assert beyond.sum() > 0 and np.array_equal(out[beyond], picture[beyond])


def test_controls_that_cannot_run_are_one_sentence(
    engine: Engine,
    tiny_modern_dir: Callable[[str], Path],
    tiny_model_dir: Path,
    flux_controlnet: Path,
    tmp_path: Path,
) -> None:
    square = GenerationInputs(controls=(_square(),))
    # An SD ControlNet (ControlNetModel folder) on FLUX.
    from diffusers import ControlNetModel, UNet2DConditionModel

    sd_net = tmp_path / "sd-canny"
    ControlNetModel.from_unet(
        UNet2DConditionModel.from_pretrained(tiny_model_dir / "unet")
    ).save_pretrained(sd_net)
    with pytest.raises(
        ModelError,
        match=r"^The control model sd-canny is for SD 1\.x, SD 2\.x or SDXL, not for the FLUX\.1 model tiny-flux; pick a FLUX\.1 ControlNet\.$",
    ):
        engine.run(_controlled(_request(tiny_modern_dir), sd_net), square)
    # The FLUX ControlNet on an SD model.
    sd = GenerationRequest(mode="txt2img", model=str(tiny_model_dir), steps=2, width=64, height=64)
    with pytest.raises(
        ModelError, match=r"^The control model flux-canny-tiny is a FLUX\.1 ControlNet"
    ):
        Engine().run(_controlled(sd, flux_controlnet), square)
    # An inpaint control, and families whose transformer is not FLUX.1's own.
    inpaint = _request(tiny_modern_dir).replace(controls=(ControlSpec("inpaint"),))
    with pytest.raises(InvalidRequestError, match="^An inpaint control does not work with FLUX.1"):
        engine.run(inpaint, GenerationInputs(controls=(None,)))
    with pytest.raises(InvalidRequestError, match="^Control layers do not work with Chroma"):
        engine.run(_controlled(_request(tiny_modern_dir, "chroma"), flux_controlnet), square)
    # A FLUX ControlNet on Qwen-Image.
    with pytest.raises(ModelError, match=r"^The control model flux-canny-tiny is for FLUX\.1, "):
        engine.run(_controlled(_request(tiny_modern_dir, "qwen-image"), flux_controlnet), square)
    # A FLUX ControlNet on SD 3.5.
    with pytest.raises(
        ModelError,
        match=r"^The control model flux-canny-tiny is for FLUX\.1, "
        r"not for the SD 3\.5 model tiny-sd3; pick an SD 3\.5 ControlNet\.$",
    ):
        engine.run(_controlled(_request(tiny_modern_dir, "sd3"), flux_controlnet), square)
