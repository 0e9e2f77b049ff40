"""Regional prompts through the real local Engine on the tiny SD model: masked
cross-attention (engine.regions.attention) in every mode, its checks, and its exactness
where the answer is known (a region over everything is its own prompt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.control.spec import ControlSpec
from engine.core.errors import InvalidRequestError
from engine.core.images import picture_hash
from engine.regions.spec import RegionSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.lora_files import build_tiny_lora
from tests.tiny_controls import build_tiny_controlnet

SIZE = 64


@pytest.fixture(scope="module")
def extra_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with a tiny ControlNet and a tiny LoRA for the tiny model."""
    root = tmp_path_factory.mktemp("region_models")
    (root / "controlnet").mkdir()
    build_tiny_controlnet(tiny_model_dir, root / "controlnet" / "tiny_scribble")
    (root / "loras").mkdir()
    build_tiny_lora(tiny_model_dir, root / "loras" / "stripes.safetensors")
    return root


@pytest.fixture(scope="module")
def engine(extra_dir: Path):
    from engine.local.engine import Engine

    return Engine([extra_dir])


def _halves() -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((SIZE, SIZE), np.uint8)
    left[:, : SIZE // 2] = 255
    return left, 255 - left


def _request(model: Path, **changes) -> GenerationRequest:
    base = GenerationRequest(
        mode="txt2img", prompt="a field", negative_prompt="blur", steps=3, width=SIZE,
        height=SIZE, seed=7, model=str(model), precision="fp32",
    )  # fmt: skip
    return base.replace(**changes)


def _two_regions() -> tuple[tuple[RegionSpec, ...], tuple[np.ndarray, ...]]:
    masks = _halves()
    specs = (RegionSpec("a red circle", "green"), RegionSpec("a blue square"))
    return specs, masks


def _pixels(engine, request: GenerationRequest, inputs: GenerationInputs) -> np.ndarray:
    return engine.run(request, inputs)[0].rgba


def test_a_region_over_everything_is_its_own_prompt(engine, tiny_model_dir: Path) -> None:
    # The root's tokens are read nowhere, the region's everywhere: plain attention over
    # the region's prompt (root added: the root is empty here).
    full = np.full((SIZE, SIZE), 255, np.uint8)
    request = _request(tiny_model_dir, prompt="", negative_prompt="")
    regional = request.replace(regions=(RegionSpec("a red circle", "blur"),))
    got = _pixels(engine, regional, GenerationInputs(region_masks=(full,)))
    plain = _pixels(engine, request.replace(prompt="a red circle", negative_prompt="blur"), None)
    assert np.abs(got.astype(int) - plain).max() <= 1


def test_regions_steer_repeat_and_leave_other_jobs_alone(engine, tiny_model_dir: Path) -> None:
    request = _request(tiny_model_dir)
    before = _pixels(engine, request, GenerationInputs())
    specs, masks = _two_regions()
    regional = request.replace(regions=specs)
    first = _pixels(engine, regional, GenerationInputs(region_masks=masks))
    again = _pixels(engine, regional, GenerationInputs(region_masks=masks))
    after = _pixels(engine, request, GenerationInputs())
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - before).mean() > 1.0
    assert np.array_equal(before, after)  # the stock processors came back


def test_swapping_the_masks_changes_the_picture(engine, tiny_model_dir: Path) -> None:
    specs, (left, right) = _two_regions()
    request = _request(tiny_model_dir, regions=specs)
    one = _pixels(engine, request, GenerationInputs(region_masks=(left, right)))
    request = request.replace(regions=tuple(RegionSpec(s.prompt, s.negative_prompt) for s in specs))
    other = _pixels(engine, request, GenerationInputs(region_masks=(right, left)))
    assert np.abs(one.astype(int) - other).mean() > 1.0


def _picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    img[..., 3] = 255
    return img


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("img2img", {}),
        ("inpaint", {}),
        ("inpaint", {"soft_edges": False}),
        ("outpaint", {}),
        ("img2img", {"options": (("live", True),)}),
        ("txt2img", {"controls": (ControlSpec("scribble", "tiny_scribble"),)}),
        ("txt2img", {"loras": (("stripes", 0.8),)}),
    ],
)
def test_regions_in_every_mode(engine, tiny_model_dir: Path, mode: str, extra: dict) -> None:
    image = _picture() if mode != "txt2img" else None
    mask = None
    if mode in ("inpaint", "outpaint"):
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[8:56, 8:56] = 255
        if mode == "outpaint":
            image[:, 48:, 3] = 0
    controls = (np.full((SIZE, SIZE, 3), 255, np.uint8),) if "controls" in extra else ()
    request = _request(tiny_model_dir, mode=mode, strength=0.9, **extra)
    plain = _pixels(engine, request, GenerationInputs(image, mask, controls))
    specs, masks = _two_regions()
    inputs = GenerationInputs(image, mask, controls, region_masks=masks)
    result = engine.run(request.replace(regions=specs), inputs)[0]
    assert np.abs(result.rgba.astype(int) - plain).mean() > 0.2
    assert [r.mask_hash for r in result.request.regions] == [picture_hash(m) for m in masks]
    if mask is not None:  # far outside the repaint mask (and its feather) nothing moves
        assert (result.rgba[:2, :2, 3] == 0).all()


def test_missing_or_other_masks_are_one_sentence(engine, tiny_model_dir: Path) -> None:
    specs, (left, right) = _two_regions()
    request = _request(tiny_model_dir, regions=specs)
    with pytest.raises(InvalidRequestError, match=r"^Region 2 \('a blue square'\) has no mask"):
        engine.run(request, GenerationInputs(region_masks=(left,)))
    recorded = request.replace(regions=(RegionSpec("a red circle", "", picture_hash(left)),))
    with pytest.raises(InvalidRequestError, match="recorded with another mask"):
        engine.run(recorded, GenerationInputs(region_masks=(right,)))
    with pytest.raises(InvalidRequestError, match="needs a prompt of its own"):
        engine.run(
            request.replace(regions=(RegionSpec(" "),)), GenerationInputs(region_masks=(left,))
        )


def test_transformer_families_refuse_regions(tiny_modern_dir) -> None:
    from engine.local.engine import Engine

    model = tiny_modern_dir("flux")
    request = _request(model, regions=(RegionSpec("a red circle"),), negative_prompt="")
    with pytest.raises(InvalidRequestError) as err:
        Engine().run(request, GenerationInputs(region_masks=(_halves()[0],)))
    text = str(err.value)
    assert text.startswith("Regional prompts work with SD 1.x, SD 2.x and SDXL models;")
    assert text.endswith("or pick another model.") and "\n" not in text


def test_sdxl_regions_steer_and_repeat(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from engine.local.engine import Engine
    from tests.tiny_xl import build_tiny_xl_folder

    model = build_tiny_xl_folder(tmp_path_factory.mktemp("xl") / "tiny-xl", tiny_model_dir)
    engine = Engine()
    request = _request(model)
    plain = _pixels(engine, request, GenerationInputs())
    assert engine.info is not None and engine.info.family == "sdxl"
    specs, (left, right) = _two_regions()
    regional = request.replace(regions=specs)
    one = _pixels(engine, regional, GenerationInputs(region_masks=(left, right)))
    again = _pixels(engine, regional, GenerationInputs(region_masks=(left, right)))
    swapped = _pixels(engine, regional, GenerationInputs(region_masks=(right, left)))
    assert np.array_equal(one, again)
    assert np.abs(one.astype(int) - plain).mean() > 0.2
    assert np.abs(one.astype(int) - swapped).mean() > 0.2
