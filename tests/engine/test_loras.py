"""LoRAs from the command line and the prompt: files, families, weights, trigger words,
A1111 metadata (`<lora:name:w>` and `Lora hashes`) and rerun, with tiny peft LoRAs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.core.errors import ModelError
from engine.core.paths import user_models_dir
from engine.lora.library import (
    discover_loras,
    inspect_lora,
    parse_lora_arg,
    split_prompt_loras,
    with_prompt_loras,
)
from engine.metadata import read_parameters, read_request
from engine.models import inspect_model
from engine.request import GenerationRequest
from tests.lora_files import build_tiny_lora, write_header_only_lora


@pytest.fixture(scope="session")
def tiny_lora_file(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    metadata = {"ss_tag_frequency": json.dumps({"10_set": {"stripes": 9, "red hat": 4, "x": 1}})}
    folder = tmp_path_factory.mktemp("loras")
    return build_tiny_lora(tiny_model_dir, folder / "stripes.safetensors", metadata=metadata)


@pytest.fixture
def installed_lora(tiny_lora_file: Path) -> Path:
    target = user_models_dir() / "loras" / "stripes.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(tiny_lora_file.read_bytes())
    return target


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _txt2img(model: Path, out: Path, *extra: str, prompt: str = "a red square") -> list[str]:
    return [
        "txt2img", "--prompt", prompt, "--model", str(model), "--steps", "3", "--width", "64",
        "--height", "64", "--seed", "5", "--no-watermark", "--no-history", "--out", str(out),
        *extra,
    ]  # fmt: skip


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_prompt_tags_and_lora_arguments() -> None:
    assert split_prompt_loras("a cat <lora:ink:0.6>, night <lora:Soft Light>") == (
        "a cat, night",
        (("ink", 0.6), ("Soft Light", 1.0)),
    )
    assert split_prompt_loras("no tags: <b>") == ("no tags: <b>", ())
    request = GenerationRequest(mode="txt2img", prompt="x <lora:a:-1.5>", loras=(("a", 1.0),))
    assert with_prompt_loras(request).loras == (("a", -1.5),)
    assert with_prompt_loras(request).prompt == "x"
    assert parse_lora_arg("ink:0.5") == ("ink", 0.5)
    assert parse_lora_arg("ink") == ("ink", 1.0)
    for bad in ("ink:3", ":0.5"):
        with pytest.raises(ValueError):
            parse_lora_arg(bad)


def test_lora_files_family_trigger_words_and_refusals(
    tiny_lora_file: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    info = inspect_lora(tiny_lora_file)
    assert (info.name, info.context_dim) == ("stripes", 32)
    assert info.trigger_words == ("stripes", "red hat", "x")
    assert inspect_lora(write_header_only_lora(tmp_path / "xl.safetensors", 2048)).family_label == (
        "SDXL"
    )
    peft_sd2 = write_header_only_lora(tmp_path / "v2.safetensors", 1024, kohya=False)
    assert inspect_lora(peft_sd2).family_label == "SD 2.x"
    spec = tmp_path / "spec.safetensors"
    from safetensors.torch import load_file, save_file

    save_file(
        load_file(str(peft_sd2)), str(spec), {"modelspec.trigger_phrase": "inkwash, bold lines"}
    )
    assert inspect_lora(spec).trigger_words == ("inkwash", "bold lines")
    with pytest.raises(ModelError, match="not a LoRA: it holds no LoRA weights"):
        inspect_lora(next((tiny_model_dir / "unet").glob("*.safetensors")))
    pickle = tmp_path / "old.ckpt"
    pickle.write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="pickles"):
        inspect_lora(pickle)

    folder = user_models_dir() / "loras"
    for path in (tiny_lora_file, tmp_path / "xl.safetensors"):
        (folder / path.name).parent.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "junk.safetensors").write_bytes(b"not a file")
    model = inspect_model(tiny_model_dir)
    assert [i.name for i in discover_loras()] == ["stripes", "xl"]
    assert [i.name for i in discover_loras(model=model)] == ["stripes"]


def test_cli_lora_weights_tags_metadata_and_rerun(
    tiny_model_dir: Path, installed_lora: Path, tmp_path: Path
) -> None:
    plain, zero, styled = (tmp_path / f"{n}.png" for n in ("plain", "zero", "styled"))
    assert main(_txt2img(tiny_model_dir, plain)) == 0
    assert main(_txt2img(tiny_model_dir, zero, "--lora", "stripes:0")) == 0
    assert np.array_equal(_pixels(zero), _pixels(plain))  # weight 0 = no LoRA
    assert main(_txt2img(tiny_model_dir, styled, "--lora", f"{installed_lora}:0.8")) == 0
    assert not np.array_equal(_pixels(styled), _pixels(plain))

    # The parameters text reads as AUTOMATIC1111 writes it.
    text = read_parameters(styled)
    assert text.splitlines()[0] == "a red square <lora:stripes:0.8>"
    with open(installed_lora, "rb") as f:
        header = int.from_bytes(f.read(8), "little")
        f.seek(8 + header)
        expected = hashlib.sha256(f.read()).hexdigest()[:12]
    assert f'Lora hashes: "stripes: {expected}"' in text
    assert read_request(styled).loras == ((str(installed_lora.resolve()), 0.8),)

    # The same LoRA as a prompt tag gives the same pixels, and rerun replays both.
    tagged = tmp_path / "tagged.png"
    assert main(_txt2img(tiny_model_dir, tagged, prompt="a red square <lora:stripes:0.8>")) == 0
    assert np.array_equal(_pixels(tagged), _pixels(styled))
    assert read_parameters(tagged).splitlines()[0] == "a red square <lora:stripes:0.8>"
    for source in (styled, tagged):
        again = tmp_path / f"again-{source.name}"
        assert main(["rerun", str(source), "--out", str(again)]) == 0
        assert np.array_equal(_pixels(again), _pixels(styled))


def test_cli_refuses_a_lora_of_another_family_or_not_a_lora(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xl = write_header_only_lora(tmp_path / "xl-style.safetensors", 2048)
    out = tmp_path / "out.png"
    assert main(_txt2img(tiny_model_dir, out, "--lora", f"{xl}:1")) == 1
    line = _error_line(capsys)
    assert re.search(r"LoRA xl-style does not fit the model .*: the LoRA is for SDXL", line)
    weights = next((tiny_model_dir / "vae").glob("*.safetensors"))
    assert main(_txt2img(tiny_model_dir, out, "--lora", str(weights))) == 1
    assert "is not a LoRA" in _error_line(capsys)
    assert main(_txt2img(tiny_model_dir, out, "--lora", "missing:1")) == 1
    assert "LoRA 'missing' was not found" in _error_line(capsys)
    # The same check holds for a tag in the prompt, even at weight 0.
    tag = f"a cat <lora:{xl.stem}:0>"
    (user_models_dir() / "loras").mkdir(parents=True)
    (user_models_dir() / "loras" / xl.name).write_bytes(xl.read_bytes())
    assert main(_txt2img(tiny_model_dir, out, prompt=tag)) == 1
    assert "does not fit" in _error_line(capsys)
    assert not out.exists()
