"""PNG metadata: A1111 `parameters` read back by an independent parser, request round trip."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sd_parsers import ParserManager
from sd_parsers.data import Generators

from engine.metadata import (
    file_hash,
    format_parameters,
    parse_parameters,
    quote,
    read_parameters,
    read_request,
    request_from_parameters,
    save_png,
)
from engine.request import Box, GenerationRequest

PROMPTS = [
    ("a red fox in the snow", ""),
    ("castle, at dusk, (detailed:1.2)", "blurry, lowres: bad"),
    ("line one\nline two, with comma", "ugly\nsecond line"),
    ("Ünïcødé 猫 🐱 café: naïve", "négatif, 悪い"),
    ("", "only a negative"),
]


def _pixels(h: int = 24, w: int = 32, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (h, w, channels), dtype=np.uint8)


@pytest.mark.parametrize(("prompt", "negative"), PROMPTS)
def test_sd_parsers_reads_back_parameters(tmp_path: Path, prompt: str, negative: str):
    req = GenerationRequest(
        mode="inpaint",
        prompt=prompt,
        negative_prompt=negative,
        steps=23,
        guidance=7.5,
        scheduler="DPM++ 2M Karras",
        model="my, model: v2",
    )
    params = format_parameters(req, 1234567, "my, model: v2", "0123456789abcdef", 640, 448)
    out = tmp_path / "out.png"
    save_png(out, _pixels(), params, req)

    info = ParserManager().parse(out)
    assert info is not None
    assert info.generator == Generators.AUTOMATIC1111
    assert info.full_prompt == prompt.strip()
    assert info.full_negative_prompt == negative
    (sampler,) = info.samplers
    assert sampler.name == "DPM++ 2M Karras"
    assert sampler.parameters["seed"] == "1234567"
    assert sampler.parameters["steps"] == "23"
    assert sampler.parameters["cfg_scale"] == "7.5"
    assert info.metadata["Size"] == "640x448"
    assert sampler.model is not None and sampler.model.hash == "0123456789"


def test_parameters_layout_follows_a1111():
    req = GenerationRequest(mode="txt2img", prompt="a cat", seed=5, guidance=7.0)
    text = format_parameters(req, 1234, "sd15", None, 512, 512)
    lines = text.split("\n")
    assert lines[0] == "a cat"
    assert len(lines) == 2  # no Negative prompt line when it is empty
    assert lines[1].startswith("Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, ")
    assert "Size: 512x512" in lines[1] and "Model: sd15" in lines[1]
    assert "Denoising strength" not in lines[1] and "Model hash" not in lines[1]

    inp = req.replace(mode="inpaint", negative_prompt="dark", strength=0.6, mask_blur=8)
    text = format_parameters(inp, 1, "sd15", "abcdef0123456789", 512, 512, {"Watermark": "on"})
    assert text.split("\n")[1] == "Negative prompt: dark"
    assert "Denoising strength: 0.6, Mask blur: 8" in text
    assert "Model hash: abcdef0123," in text
    assert "Watermark: on" in text


def test_quote_only_values_that_need_it():
    assert quote("Euler a") == "Euler a"
    assert quote("a, b") == '"a, b"'
    assert quote("x:y") == '"x:y"'
    assert quote("two\nlines") == '"two\\nlines"'
    assert quote(7.0) == "7" and quote(0.75) == "0.75"


def test_request_round_trips_through_png(tmp_path: Path):
    req = GenerationRequest(
        mode="outpaint",
        prompt="sky: blue, clouds\nnext",
        negative_prompt="ü",
        seed=99,
        region=Box(8, 16, 256, 128),
        loras=(("style", 0.8),),
        options=(("fill", "telea"),),
    )
    out = tmp_path / "r.png"
    save_png(out, _pixels(channels=4), "p", req)
    assert read_request(out) == req
    assert read_parameters(out) == "p"
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im), _pixels(channels=4))


def test_plain_png_has_no_metadata_and_missing_file_raises(tmp_path: Path):
    plain = tmp_path / "plain.png"
    Image.fromarray(_pixels()).save(plain)
    assert read_request(plain) is None
    assert read_parameters(plain) is None
    with pytest.raises(OSError):
        read_request(tmp_path / "missing.png")


def test_malformed_request_chunk_reads_as_none(tmp_path: Path):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("overpaint_request", "{not json")
    bad = tmp_path / "bad.png"
    Image.fromarray(_pixels()).save(bad, pnginfo=info)
    assert read_request(bad) is None


def test_save_is_atomic_and_failed_save_keeps_old_file(tmp_path: Path):
    out = tmp_path / "keep.png"
    save_png(out, _pixels(), "first", None)
    before = out.read_bytes()
    with pytest.raises(ValueError):
        save_png(out, np.zeros((4, 4, 5), np.uint8), "second", None)
    with pytest.raises(ValueError):
        save_png(out, np.zeros((4, 4), np.float32), "second", None)
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]  # no temporary left behind
    save_png(out, _pixels(8, 8), "third", None)
    assert read_parameters(out) == "third"
    assert sorted(os.listdir(tmp_path)) == ["keep.png"]


def test_file_hash_is_sha256_prefix(tmp_path: Path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"abc")
    assert file_hash(f) == "ba7816bf8f"


@pytest.mark.parametrize(("prompt", "negative"), PROMPTS)
def test_parameters_parse_back_into_a_request(prompt: str, negative: str):
    req = GenerationRequest(
        mode="img2img",
        prompt=prompt,
        negative_prompt=negative,
        seed=77,
        steps=12,
        guidance=5.5,
        strength=0.4,
        scheduler="DDIM",
    )
    text = format_parameters(req, 4242, "m: x", None, 640, 384, {"Note": "a, b: c"})
    back = request_from_parameters(text)
    assert back is not None
    assert (back.prompt, back.negative_prompt) == (prompt, negative)
    assert (back.seed, back.steps, back.guidance, back.strength) == (4242, 12, 5.5, 0.4)
    assert (back.scheduler, back.width, back.height, back.model) == ("DDIM", 640, 384, "m: x")
    assert back.mode == "img2img"
    assert parse_parameters(text)[2]["Note"] == "a, b: c"


def test_a1111_text_from_another_tool_becomes_a_request():
    text = (
        "masterpiece, a lighthouse\n"
        "Negative prompt: fog, rain\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 42, "
        'Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned, Lora hashes: "a: 1, b: 2", '
        "Version: v1.9.4"
    )
    req = request_from_parameters(text)
    assert req is not None
    assert req.prompt == "masterpiece, a lighthouse" and req.negative_prompt == "fog, rain"
    assert (req.steps, req.seed, req.guidance) == (30, 42, 6.5)
    assert req.scheduler == "DPM++ 2M Karras"
    assert (req.width, req.height, req.mode, req.model) == (512, 768, "txt2img", "v1-5-pruned")
    assert request_from_parameters("just a caption, no settings") is None
    assert request_from_parameters("p\nSteps: many, Seed: 1, Sampler: x") is None


def test_controls_parse_back_from_their_parameters_text():
    from engine.control.spec import ControlSpec

    controls = (
        ControlSpec("scribble", "overpaint-demo-scribble", 0.8, 0.1, 0.9),
        ControlSpec("canny", "", 1.2, low_threshold=50, high_threshold=150),
        ControlSpec("depth", "control_v11f1p_sd15_depth", prepared=True),
    )
    req = GenerationRequest(mode="txt2img", prompt="a red square", seed=3, controls=controls)
    back = request_from_parameters(format_parameters(req, 3, "demo", None, 128, 128))
    assert back is not None and back.controls == controls
    # A1111's extension names preprocessors, e.g. "scribble_hed"; unknown kinds are left out.
    text = (
        "a house\nSteps: 20, Seed: 1, "
        'ControlNet 0: "Module: scribble_hed, Model: control_v11p_sd15_scribble [d4ba51ff], '
        'Weight: 1, Guidance Start: 0, Guidance End: 1", '
        'ControlNet 1: "Module: tile_resample, Model: control_v11f1e_sd15_tile, Weight: 1"'
    )
    parsed = request_from_parameters(text)
    assert parsed is not None
    assert [(c.kind, c.model) for c in parsed.controls] == [
        ("scribble", "control_v11p_sd15_scribble [d4ba51ff]")
    ]
