"""Controls (ControlNet, T2I-Adapter) through the real Engine with tiny random-weight
control models, loaded offline from diffusers folders and from original-layout single
files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.control.spec import ControlSpec, control_image_hash
from engine.core.errors import InvalidRequestError, ModelError
from engine.request import GenerationInputs, GenerationRequest
from tests.tiny_controls import (
    adapter_single_file,
    build_tiny_adapter,
    build_tiny_controlnet,
    controlnet_single_file,
)

SIZE = 128


@pytest.fixture(scope="module")
def controls_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/controlnet with a ControlNet and an adapter, each as folder and single file;
    models/configs holds the ControlNet's config, as resources/model_configs does."""
    root = tmp_path_factory.mktemp("controls")
    folder = root / "controlnet"
    folder.mkdir()
    cn = build_tiny_controlnet(tiny_model_dir, folder / "tiny_scribble")
    controlnet_single_file(cn, folder / "control_tiny_canny.safetensors", root / "configs")
    adapter = build_tiny_adapter(folder / "t2iadapter_lineart_tiny")
    adapter_single_file(adapter, folder / "t2iadapter_depth_tiny.safetensors")
    return root


@pytest.fixture(scope="module")
def engine(controls_dir: Path):
    from engine.local.engine import Engine

    return Engine([controls_dir], config_root=controls_dir / "configs")


def _sketch() -> np.ndarray:
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    img[30:100, 30:100] = 255
    img[40:90, 40:90] = 0
    return img


def _request(model: Path, *controls: ControlSpec, **changes) -> GenerationRequest:
    base = GenerationRequest(
        mode="txt2img", prompt="a shape", steps=4, width=SIZE, height=SIZE, seed=5,
        model=str(model), controls=controls,
    )  # fmt: skip
    return base.replace(**changes)


def _run(engine, request: GenerationRequest, *images, image=None, mask=None) -> np.ndarray:
    inputs = GenerationInputs(image=image, mask=mask, controls=tuple(images))
    return engine.run(request, inputs)[0].rgba


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("scribble", "tiny_scribble"),  # ControlNet folder
        ("canny", "control_tiny_canny"),  # ControlNet single file, original layout
        ("lineart", "t2iadapter_lineart_tiny"),  # adapter folder
        ("depth", "t2iadapter_depth_tiny"),  # adapter single file, original layout
    ],
)
def test_control_steers_repeats_and_weight_zero_is_none(
    engine, tiny_model_dir: Path, kind: str, model: str
) -> None:
    plain = _run(engine, _request(tiny_model_dir))
    request = _request(tiny_model_dir, ControlSpec(kind))  # the installed one for the kind
    first = engine.run(request, GenerationInputs(controls=(_sketch(),)))[0]
    again = _run(engine, request, _sketch())
    other = _sketch()[::-1, ::-1].copy()
    other[:, :64] = 0
    moved = _run(engine, request, other)
    zero = _run(engine, _request(tiny_model_dir, ControlSpec(kind, weight=0.0)), _sketch())
    loaded_after_zero = engine._controls.loaded()

    assert loaded_after_zero == []  # a zero-weight control is not even loaded
    assert np.abs(first.rgba.astype(int) - plain).mean() > 1.0
    assert np.array_equal(first.rgba, again)
    assert np.abs(moved.astype(int) - first.rgba).mean() > 0.5
    assert np.array_equal(zero, plain)
    recorded = first.request.controls[0]
    assert recorded.model == model
    assert recorded.image_hash == control_image_hash(_sketch())
    assert f'ControlNet 0: "Module: {kind}, Model: {model}, Weight: 1' in first.parameters


def test_a_cpu_control_job_runs_its_controlnet_in_the_unets_precision_and_repeats(
    engine, tiny_model_dir: Path, one_torch_thread: None
) -> None:
    """engine.core.precision: a ControlNet runs in the UNet's dtype, bf16 included (in fp32
    beside a bf16 UNet the demo scribble's P26 cases flipped just the same)."""
    request = _request(tiny_model_dir, ControlSpec("scribble", model="tiny_scribble"))
    inputs = GenerationInputs(controls=(_sketch(),))
    bf16 = engine.run(request.replace(precision="bf16"), inputs)[0]
    (controlnet,) = engine._controls._models.values()
    assert bf16.request.precision == "bf16"
    assert {p.dtype for p in engine._base.unet.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in controlnet.parameters()} == {torch.bfloat16}
    assert controlnet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    # The recorded request repeats the pixels, after a reload too.
    engine.unload()
    assert np.array_equal(engine.run(bf16.request, inputs)[0].rgba, bf16.rgba)

    fp32 = engine.run(request.replace(precision="fp32"), inputs)[0]
    (controlnet,) = engine._controls._models.values()
    assert {p.dtype for p in controlnet.parameters()} == {torch.float32}
    assert fp32.request.precision == "fp32" and not np.array_equal(fp32.rgba, bf16.rgba)
    assert np.array_equal(engine.run(fp32.request, inputs)[0].rgba, fp32.rgba)


def test_single_files_give_the_folders_pixels(engine, tiny_model_dir: Path) -> None:
    for folder, single in (
        ("tiny_scribble", "control_tiny_canny"),
        ("t2iadapter_lineart_tiny", "t2iadapter_depth_tiny"),
    ):
        a = _run(engine, _request(tiny_model_dir, ControlSpec("scribble", model=folder)), _sketch())
        b = _run(engine, _request(tiny_model_dir, ControlSpec("scribble", model=single)), _sketch())
        assert np.array_equal(a, b)


def test_several_controls_and_step_ranges(engine, tiny_model_dir: Path) -> None:
    cn = ControlSpec("scribble", model="tiny_scribble")
    ad = ControlSpec("lineart", model="t2iadapter_lineart_tiny", weight=0.8)
    only_cn = _run(engine, _request(tiny_model_dir, cn), _sketch())
    both = _run(engine, _request(tiny_model_dir, cn, ad), _sketch(), _sketch())
    late = ControlSpec("scribble", model="tiny_scribble", start=0.5, end=1.0)
    ranged = _run(engine, _request(tiny_model_dir, late), _sketch())
    plain = _run(engine, _request(tiny_model_dir))
    assert np.abs(both.astype(int) - only_cn).mean() > 0.5
    assert not np.array_equal(ranged, only_cn)
    assert not np.array_equal(ranged, plain)


def test_img2img_and_soft_inpaint_with_a_control(engine, tiny_model_dir: Path) -> None:
    picture = np.full((SIZE, SIZE, 4), 255, np.uint8)
    picture[..., :3] = np.linspace(40, 220, SIZE, dtype=np.uint8)[None, :, None]
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[32:96, 32:96] = 255
    spec = ControlSpec("scribble", model="tiny_scribble")
    for mode, m in (("img2img", None), ("inpaint", mask)):
        request = _request(tiny_model_dir, mode=mode, strength=0.8, mask_blur=8, controls=())
        plain = _run(engine, request, image=picture, mask=m)
        guided = _run(engine, request.replace(controls=(spec,)), _sketch(), image=picture, mask=m)
        assert np.abs(guided.astype(int) - plain).mean() > 0.5
        if m is not None:  # the soft-inpainting path still keeps every unmasked pixel
            assert (guided[..., 3][:16] == 0).all() and (guided[..., 3][48:80, 48:80] > 0).all()
    # The controls ride on the shared UNet: from_pipe sharing holds, nothing is left patched.
    assert engine.pipeline_for("inpaint").unet is engine.pipeline_for("txt2img").unet
    assert "forward" not in engine.pipeline_for("txt2img").unet.__dict__


def test_inpaint_control_uses_picture_and_mask(engine, tiny_model_dir: Path) -> None:
    picture = np.full((SIZE, SIZE, 4), 255, np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[40:90, 40:90] = 255
    request = _request(tiny_model_dir, mode="inpaint", strength=1.0, mask_blur=4)
    with_control = request.replace(controls=(ControlSpec("inpaint", model="tiny_scribble"),))
    plain = _run(engine, request, image=picture, mask=mask)
    guided = engine.run(with_control, GenerationInputs(picture, mask, (None,)))[0]
    assert np.abs(guided.rgba.astype(int) - plain).mean() > 0.2
    assert "Module: inpaint" in guided.parameters


def test_control_models_stay_loaded_and_are_freed(engine, tiny_model_dir: Path) -> None:
    spec = ControlSpec("scribble", model="tiny_scribble")
    _run(engine, _request(tiny_model_dir, spec), _sketch())
    loaded = engine._controls.loaded()
    assert [p.name for p in loaded] == ["tiny_scribble"]
    _run(engine, _request(tiny_model_dir, spec), _sketch())
    assert engine._controls.loaded() == loaded
    _run(engine, _request(tiny_model_dir))
    assert engine._controls.loaded() == []


def test_missing_or_different_control_image_is_refused(engine, tiny_model_dir: Path) -> None:
    spec = ControlSpec("scribble", model="tiny_scribble", image_hash="0123456789ab")
    with pytest.raises(InvalidRequestError, match="control image is missing"):
        engine.run(_request(tiny_model_dir, spec), GenerationInputs())
    with pytest.raises(InvalidRequestError, match="another control image"):
        engine.run(_request(tiny_model_dir, spec), GenerationInputs(controls=(_sketch(),)))


def test_no_model_for_kind_and_misfit_are_one_sentence(
    engine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from diffusers import ControlNetModel

    with pytest.raises(ModelError, match="No pose control model is installed for tiny-sd"):
        _run(engine, _request(tiny_model_dir, ControlSpec("pose")), _sketch())
    # A ControlNet for a UNet with another text width and other blocks.
    ControlNetModel(
        block_out_channels=(32, 32), cross_attention_dim=48, norm_num_groups=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), layers_per_block=1,
        attention_head_dim=2,
    ).save_pretrained(str(tmp_path / "wide"))  # fmt: skip
    spec = ControlSpec("scribble", model=str(tmp_path / "wide"))
    with pytest.raises(ModelError) as info:
        _run(engine, _request(tiny_model_dir, spec), _sketch())
    text = str(info.value)
    assert "wide (cross-attention width 48 and blocks 32/32)" in text
    assert "tiny-sd (cross-attention width 32 and blocks 32/64)" in text
    assert text.count(".") == 1 and "\n" not in text


def test_request_json_round_trips_controls(tiny_model_dir: Path) -> None:
    spec = ControlSpec("canny", "m", 0.5, 0.1, 0.9, "abc", 50, 150)
    request = _request(tiny_model_dir, spec)
    assert GenerationRequest.from_json(request.to_json()) == request
    old = request.to_json().replace(', "controls": [', ', "ignored": [')
    assert GenerationRequest.from_json(old).controls == ()
