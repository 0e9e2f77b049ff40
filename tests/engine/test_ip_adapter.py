"""Reference pictures through IP-Adapter on the real local Engine: a tiny random adapter
and CLIP vision encoder, saved as files and loaded through diffusers' load_ip_adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.control.spec import ControlSpec
from engine.core.errors import EngineError, InvalidRequestError
from engine.core.images import picture_hash
from engine.reference.adapters import adapter_shape, find_adapters, find_encoders
from engine.reference.spec import ReferenceSpec
from engine.regions.spec import RegionSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.lora_files import build_tiny_lora
from tests.tiny_controls import build_tiny_controlnet
from tests.tiny_ip_adapter import (
    build_foreign_adapter,
    build_tiny_adapter,
    build_tiny_encoder,
    build_tiny_ip_models,
)

SIZE = 64


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_ip_models(tiny_model_dir, tmp_path_factory.mktemp("ip_models"))


@pytest.fixture(scope="module")
def engine(models: Path):
    from engine.local.engine import Engine

    return Engine([models])


def _picture(rgb: tuple[int, int, int], square: tuple[int, int, int] | None = None) -> np.ndarray:
    picture = np.zeros((40, 48, 4), np.uint8)
    picture[..., :3] = rgb
    picture[..., 3] = 255
    if square is not None:
        picture[10:30, 12:36, :3] = square
    return picture


RED, BLUE = _picture((230, 20, 20)), _picture((20, 30, 220), (250, 250, 40))


def _request(model: Path, *specs: ReferenceSpec, **changes) -> GenerationRequest:
    base = GenerationRequest(
        mode="txt2img", prompt="a field", negative_prompt="blur", steps=3, width=SIZE,
        height=SIZE, seed=7, model=str(model), precision="fp32", references=specs,
    )  # fmt: skip
    return base.replace(**changes)


def _run(engine, request: GenerationRequest, *pictures: np.ndarray, masks=None) -> np.ndarray:
    masks = masks if masks is not None else (None,) * len(pictures)
    inputs = GenerationInputs(references=pictures, reference_masks=masks)
    return engine.run(request, inputs)[0].rgba.astype(int)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b).mean())


def test_the_adapter_and_encoder_are_found_and_read_from_their_shapes(
    models: Path, tiny_model_dir: Path
) -> None:
    (adapter,) = find_adapters([models])
    assert adapter.name == "tiny-ip-adapter.safetensors"
    assert [p.name for p in find_encoders([models])] == ["tiny-image-encoder"]
    shape = adapter_shape(adapter)
    assert shape.embeds == 16 and not shape.hidden
    assert shape.widths == ((64, 32), (64, 32), (64, 32), (64, 32), (64, 32))[: len(shape.widths)]


def test_the_reference_steers_and_the_stock_unet_comes_back(engine, tiny_model_dir: Path) -> None:
    plain = _request(tiny_model_dir)
    before = _run(engine, plain)
    red = _run(engine, _request(tiny_model_dir, ReferenceSpec()), RED)
    again = _run(engine, _request(tiny_model_dir, ReferenceSpec()), RED)
    blue = _run(engine, _request(tiny_model_dir, ReferenceSpec()), BLUE)
    after = _run(engine, plain)
    assert _diff(red, before) > 3.0
    assert _diff(red, blue) > 3.0  # the picture, not just the adapter, steers
    assert np.array_equal(red, again)
    assert np.array_equal(before, after)


def test_weight_0_and_an_unreached_range_are_no_reference(engine, tiny_model_dir: Path) -> None:
    plain = _run(engine, _request(tiny_model_dir))
    zero = _run(engine, _request(tiny_model_dir, ReferenceSpec(weight=0.0)), RED)
    assert np.array_equal(zero, plain)
    # 3 steps: the last starts at 2/3 of them, so a range from 0.9 is never reached.
    unreached = _run(engine, _request(tiny_model_dir, ReferenceSpec(start=0.9)), RED)
    assert np.array_equal(unreached, plain)
    # Acting on the later steps only still changes the picture, less than all steps do.
    plain4 = _run(engine, _request(tiny_model_dir, steps=4))
    late = _run(engine, _request(tiny_model_dir, ReferenceSpec(start=0.5), steps=4), RED)
    full = _run(engine, _request(tiny_model_dir, ReferenceSpec(), steps=4), RED)
    assert 0 < _diff(late, plain4) < _diff(full, plain4)


def test_style_composition_and_reference_differ(engine, tiny_model_dir: Path) -> None:
    plain = _run(engine, _request(tiny_model_dir))
    out = {
        kind: _run(engine, _request(tiny_model_dir, ReferenceSpec(kind)), RED)
        for kind in ("reference", "style", "composition")
    }
    for kind, pixels in out.items():
        assert _diff(pixels, plain) > 1.0, kind
    assert _diff(out["style"], out["reference"]) > 1.0
    assert _diff(out["composition"], out["reference"]) > 1.0
    assert _diff(out["style"], out["composition"]) > 1.0


def test_each_picture_is_encoded_once(engine, tiny_model_dir: Path) -> None:
    picture = _picture((40, 200, 90))
    loads = engine._references.encoder_loads
    _run(engine, _request(tiny_model_dir, ReferenceSpec()), picture)
    assert engine._references.encoder_loads == loads + 1
    _run(engine, _request(tiny_model_dir, ReferenceSpec("style", 0.5), seed=3), picture)
    assert engine._references.encoder_loads == loads + 1


def test_two_references_and_the_results_record(engine, tiny_model_dir: Path) -> None:
    specs = (ReferenceSpec(), ReferenceSpec("style", 0.6, 0.0, 0.5))
    result = engine.run(
        _request(tiny_model_dir, *specs),
        GenerationInputs(references=(RED, BLUE), reference_masks=(None, None)),
    )[0]
    one = _run(engine, _request(tiny_model_dir, specs[0]), RED)
    assert _diff(result.rgba, one) > 1.0
    recorded = result.request.references
    assert [r.image_hash for r in recorded] == [picture_hash(RED), picture_hash(BLUE)]
    assert {r.model for r in recorded} == {"tiny-ip-adapter"}
    assert "Reference 1: " in result.parameters and "Kind: style" in result.parameters


def test_inpaint_with_a_reference_keeps_pixels_outside_the_mask(
    engine, tiny_model_dir: Path
) -> None:
    from engine.generation_settings import GenerationSettings
    from engine.jobs import image_composite, prepare_job
    from engine.reference.jobs import LayerReference
    from engine.region import apply_patch

    picture = np.full((SIZE, SIZE, 4), 120, np.uint8)
    picture[..., 3] = 255
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, 16:48] = 255
    settings = GenerationSettings(
        prompt="a field", steps=3, seed=5, model=str(tiny_model_dir), mode="inpaint"
    )
    job = prepare_job(
        settings, SIZE, SIZE, image_composite(picture), mask=mask, native=SIZE,
        references=[LayerReference(ReferenceSpec(), lambda: RED)], precision="fp32",
    )  # fmt: skip
    assert job.request.references[0].image_hash == picture_hash(RED)
    result = engine.run(job.request, job.inputs)[0]
    painted = apply_patch(picture, result.rgba, result.x, result.y)
    far = np.ones((SIZE, SIZE), bool)
    far[8:56, 8:56] = False  # the mask grown and feathered stays inside this
    assert np.array_equal(painted[far], picture[far])
    without = job.request.replace(references=())
    plain = engine.run(without, GenerationInputs(job.inputs.image, job.inputs.mask))[0]
    assert _diff(result.rgba, plain.rgba) > 0.5


def test_an_adapter_for_another_family_is_one_sentence(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from engine.local.engine import Engine

    build_foreign_adapter(tmp_path / "ipadapter" / "ip-adapter_sdxl.safetensors")
    build_tiny_encoder(tmp_path)
    engine = Engine([tmp_path])
    with pytest.raises(InvalidRequestError) as found:
        _run(engine, _request(tiny_model_dir, ReferenceSpec()), RED)
    assert str(found.value).startswith("Reference layers need an IP-Adapter for ")
    assert "(the installed ones are for SDXL)" in str(found.value)
    named = ReferenceSpec(model="ip-adapter_sdxl")
    with pytest.raises(InvalidRequestError) as named_error:
        _run(engine, _request(tiny_model_dir, named), RED)
    assert str(named_error.value) == (
        f"The IP-Adapter ip-adapter_sdxl is made for SDXL models, so it cannot steer "
        f"{tiny_model_dir.name} (sd1); pick an adapter for its family."
    )


def test_bad_requests_are_one_sentence(engine, tiny_model_dir: Path) -> None:
    request = _request(tiny_model_dir, ReferenceSpec(image_hash=picture_hash(RED)))
    with pytest.raises(InvalidRequestError, match="^Reference picture 1 is missing; give it again"):
        engine.run(request, GenerationInputs())
    with pytest.raises(InvalidRequestError, match="is not the one the request was made with"):
        _run(engine, request, BLUE)
    grey = np.zeros((8, 8), np.uint8)
    with pytest.raises(EngineError, match="is not an RGB or RGBA picture"):
        _run(engine, _request(tiny_model_dir, ReferenceSpec()), grey)


def test_transformer_families_refuse_adapter_references(tiny_modern_dir) -> None:
    from engine.local.engine import Engine

    folder = tiny_modern_dir("flux")
    request = _request(folder, ReferenceSpec(), negative_prompt="", guidance=1.0)
    with pytest.raises(InvalidRequestError, match="need an IP-Adapter, which works with SD 1.x"):
        Engine().run(request, GenerationInputs(references=(RED,), reference_masks=(None,)))


@pytest.mark.parametrize(
    ("kind", "instant_style"),
    [
        ("style", {"up": {"block_0": [0.0, 1.0, 0.0]}}),
        ("composition", {"down": {"block_2": [0.0, 1.0]}}),
        ("reference", 1.0),
    ],
)
def test_kinds_scale_the_blocks_instantstyle_names_on_an_sdxl_layout(
    kind: str, instant_style: object
) -> None:
    # An SDXL-shaped UNet (the block layout, tiny widths): each kind's scales are what
    # diffusers' set_ip_adapter_scale gives for InstantStyle's dictionaries.
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

    from engine.reference.ip_adapter import kind_factors
    from tests.tiny_ip_adapter import adapter_tensors

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64, 64), layers_per_block=2, cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 3), attention_head_dim=2, norm_num_groups=32,
        sample_size=16,
    )  # fmt: skip
    tensors = adapter_tensors(dict(unet.config), list(unet.attn_processors), embeds=16)
    state = {"image_proj": {}, "ip_adapter": {}}
    for key, value in tensors.items():
        part, rest = key.split(".", 1)
        state[part][rest] = value
    unet._load_ip_adapter_weights([state], low_cpu_mem_usage=False)
    names = [n for n, p in unet.attn_processors.items() if isinstance(p, IPAdapterAttnProcessor2_0)]
    assert len(names) == 2 * 2 + 2 * 3 + 3 * 3 + 2 * 3 + 1 * 3  # attentions x transformer depth

    class Pipe:  # set_ip_adapter_scale needs only the UNet
        unet_name = "unet"

    Pipe.unet = unet
    from diffusers.loaders.ip_adapter import IPAdapterMixin

    IPAdapterMixin.set_ip_adapter_scale(Pipe(), instant_style)
    expected = {n: float(unet.attn_processors[n].scale[0]) for n in names}
    assert kind_factors(names, kind) == expected
    assert 0 < sum(expected.values()) < len(names) or kind == "reference"


def test_a_plus_adapter_reads_the_encoders_hidden_states(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from engine.local.engine import Engine

    path = build_tiny_adapter(tiny_model_dir, tmp_path, "tiny-ip-adapter-plus", plus=True)
    build_tiny_encoder(tmp_path)
    assert adapter_shape(path).hidden and adapter_shape(path).embeds == 32
    engine = Engine([tmp_path])
    plain = _run(engine, _request(tiny_model_dir))
    red = _run(engine, _request(tiny_model_dir, ReferenceSpec()), RED)
    blue = _run(engine, _request(tiny_model_dir, ReferenceSpec()), BLUE)
    assert _diff(red, plain) > 1.0 and _diff(red, blue) > 1.0
    zero = _run(engine, _request(tiny_model_dir, ReferenceSpec(weight=0)), RED)
    assert np.array_equal(zero, plain)


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("img2img", {"options": (("live", True),)}),
        ("outpaint", {}),
        ("txt2img", {"controls": (ControlSpec("scribble", "tiny_scribble"),)}),
        ("txt2img", {"loras": (("stripes", 0.8),)}),
    ],
)
def test_references_in_live_outpaint_and_with_controls_and_loras(
    tiny_model_dir: Path, tmp_path: Path, mode: str, extra: dict
) -> None:
    from engine.local.engine import Engine

    build_tiny_ip_models(tiny_model_dir, tmp_path)
    build_tiny_controlnet(tiny_model_dir, tmp_path / "controlnet" / "tiny_scribble")
    build_tiny_lora(tiny_model_dir, tmp_path / "loras" / "stripes.safetensors")
    engine = Engine([tmp_path])
    image = mask = None
    if mode != "txt2img":
        image = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
        image[..., 3] = 255
    if mode == "outpaint":
        image[:, 48:, 3] = 0
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[:, 40:] = 255
    controls = (np.full((SIZE, SIZE, 3), 255, np.uint8),) if "controls" in extra else ()
    request = _request(tiny_model_dir, mode=mode, strength=0.9, **extra)
    plain = engine.run(request, GenerationInputs(image, mask, controls))[0].rgba
    for _ in range(2):  # the second job finds the adapter loaded and the picture encoded
        inputs = GenerationInputs(image, mask, controls, references=(RED,), reference_masks=(None,))
        steered = engine.run(request.replace(references=(ReferenceSpec(),)), inputs)[0]
        assert _diff(steered.rgba, plain) > 0.2
    again = engine.run(request, GenerationInputs(image, mask, controls))[0].rgba
    assert np.array_equal(again, plain)


def test_without_any_adapter_the_job_is_refused_before_the_model_loads(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from engine.local.engine import Engine

    engine = Engine([tmp_path])
    with pytest.raises(InvalidRequestError) as found:
        _run(engine, _request(tiny_model_dir, ReferenceSpec()), RED)
    assert str(found.value) == (
        f"Reference layers need an IP-Adapter for {tiny_model_dir.name} (sd1) and none is "
        "installed; install one from the Models dialog or hide the reference layers."
    )
    assert engine.loaded_pipeline() is None


def test_references_and_regional_prompts_steer_together(engine, tiny_model_dir: Path) -> None:
    left = np.zeros((SIZE, SIZE), np.uint8)
    left[:, : SIZE // 2] = 255
    full = np.full((SIZE, SIZE), 255, np.uint8)

    def run(regions, masks, *specs: ReferenceSpec, **changes) -> np.ndarray:
        request = _request(tiny_model_dir, *specs, regions=regions, **changes)
        pictures = (RED,) * len(specs)
        inputs = GenerationInputs(
            region_masks=masks, references=pictures, reference_masks=(None,) * len(pictures)
        )
        return engine.run(request, inputs)[0].rgba.astype(int)

    two = (RegionSpec("a red circle"), RegionSpec("a blue square"))
    regions = run(two, (left, 255 - left))
    both = run(two, (left, 255 - left), ReferenceSpec())
    assert _diff(both, regions) > 1.0
    assert _diff(both, run((), (), ReferenceSpec())) > 0.3  # the regions still steer
    assert np.array_equal(run(two, (left, 255 - left), ReferenceSpec(weight=0)), regions)
    # A region over everything is its own prompt, with the reference as without regions.
    over_all = run((RegionSpec("a red circle", "blur"),), (full,), ReferenceSpec(), prompt="",
                   negative_prompt="")  # fmt: skip
    plain = run((), (), ReferenceSpec(), prompt="a red circle", negative_prompt="blur")
    assert np.abs(over_all - plain).max() <= 1
    # Two pictures (the adapter's per-picture, masked path) likewise.
    specs = (ReferenceSpec(), ReferenceSpec("style", 0.7))
    over_all = run((RegionSpec("a red circle", "blur"),), (full,), *specs, prompt="",
                   negative_prompt="")  # fmt: skip
    plain = run((), (), *specs, prompt="a red circle", negative_prompt="blur")
    assert np.abs(over_all - plain).max() <= 1
    assert _diff(run(two, (left, 255 - left), *specs), both) > 0.3
