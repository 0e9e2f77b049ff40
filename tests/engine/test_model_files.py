"""Model files the way ComfyUI and Forge users keep them, told apart without torch: a
transformer family's split files (diffusion_models/, text_encoders/, vae/), single files
holding every part, GGUF transformers; what is missing and what is not a model, each in
one sentence (engine.model_files, engine.models)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.core.errors import ModelError
from engine.models import discover_models, inspect_model, resolve_model
from tests.tiny_split import (
    write_bfl_transformer,
    write_gguf,
    write_single_file,
    write_sparse_transformer,
    write_split,
)

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("flux", "sd3", "z-image", "qwen-image", "chroma")
PART_KINDS = {
    "flux": ["transformer", "clip_l", "t5xxl", "vae16"],
    "sd3": ["transformer", "clip_l", "clip_g", "t5xxl", "vae16"],
    "z-image": ["transformer", "qwen3", "vae16"],
    "qwen-image": ["transformer", "qwen2.5-vl", "vae-qwen"],
    "chroma": ["transformer", "t5xxl", "vae16"],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_comfyui_models_folder_lists_split_and_single_file_models(
    family: str, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    models = tmp_path / "ComfyUI" / "models"
    transformer = write_split(tiny_modern_dir(family), family, models, f"{family}-dev")
    single = write_single_file(
        tiny_modern_dir(family), family, models / "checkpoints" / f"{family}-aio.safetensors"
    )
    found = {info.name: info for info in discover_models([models])}
    split, aio = found[f"{family}-dev"], found[f"{family}-aio"]
    assert (split.family, split.kind, split.path) == (family, "split", transformer)
    assert [p.kind for p in split.parts] == PART_KINDS[family]
    assert split.parts[1].path.parent == models / "text_encoders"
    assert (aio.family, aio.kind) == (family, "single-file")
    assert [p.kind for p in aio.parts] == PART_KINDS[family]
    assert {p.path for p in aio.parts} == {single}
    assert aio.parts[0].prefix == "model.diffusion_model."
    # No text encoder or VAE passes for a model of its own.
    assert set(found) == {f"{family}-dev", f"{family}-aio", "Overpaint demo (shapes)"}
    assert resolve_model(f"{family}-dev", [models]).parts == split.parts


def test_forge_folder_names_and_guidance(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """Forge keeps transformers in Stable-diffusion/, encoders in text_encoder/, VAEs in
    VAE/; a FLUX.1 transformer without a guidance embedding is schnell."""
    models = tmp_path / "forge" / "models"
    comfy = write_split(tiny_modern_dir("flux-schnell"), "flux", tmp_path / "c", "x")
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "text_encoder").mkdir()
    (models / "VAE").mkdir()
    (comfy.parent / "x.safetensors").rename(models / "Stable-diffusion" / "schnell.safetensors")
    for f in (comfy.parent.parent / "text_encoders").iterdir():
        f.rename(models / "text_encoder" / f.name)
    (comfy.parent.parent / "vae" / "ae.safetensors").rename(models / "VAE" / "ae.safetensors")
    (info,) = [i for i in discover_models([models / "Stable-diffusion"]) if i.kind == "split"]
    assert (info.family, info.guidance) == ("flux", "none")
    assert info.parts[1].path.parent == models / "text_encoder"
    assert info.parts[3].path == models / "VAE" / "ae.safetensors"


def test_a_missing_part_is_named_with_the_folders_looked_in(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev", skip=("t5xxl",))
    with pytest.raises(ModelError) as err:
        inspect_model(transformer)
    text = str(err.value)
    assert text.startswith(
        "flux1-dev.safetensors is a FLUX.1 transformer without its T5-XXL text encoder (t5xxl); "
        "Overpaint looked in "
    )
    assert str(models / "text_encoders") in text and str(models / "clip") in text
    assert "\n" not in text
    # Listing the folder passes over it (logged) instead of failing.
    assert all(i.name != "flux1-dev" for i in discover_models([models]))
    assert "without its T5-XXL" in caplog.text
    # A GGUF T5 there is not read: the sentence says what to put instead.
    (models / "text_encoders" / "t5-v1_1-xxl-encoder-Q8_0.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError, match=r"put the file there as \.safetensors \(GGUF text "):
        inspect_model(transformer)


def test_vae_choice_follows_the_family(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """FLUX's ae.safetensors and SD 3.5's VAE share every shape: each family takes its own."""
    models = tmp_path / "models"
    write_split(tiny_modern_dir("sd3"), "sd3", models, "sd35")
    (models / "vae" / "ae.safetensors").rename(models / "vae" / "sd3_vae.safetensors")
    write_split(tiny_modern_dir("flux"), "flux", models, "flux1")
    found = {i.name: i for i in discover_models([models])}
    assert found["sd35"].parts[-1].path.name == "sd3_vae.safetensors"
    assert found["flux1"].parts[-1].path.name == "ae.safetensors"


def test_gguf_transformers_are_told_from_their_tensor_table(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    models = tmp_path / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev")
    gguf = write_gguf(transformer, models / "unet" / "flux1-dev-Q8_0.gguf")
    transformer.unlink()
    (info,) = [i for i in discover_models([models]) if i.kind == "split"]
    assert (info.name, info.family, info.parts[0].path) == ("flux1-dev-Q8_0", "flux", gguf)


def test_a_gguf_of_another_architecture_gets_one_sentence(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "llama-3-8b.Q4_0.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((32, 32), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelError) as err:
        inspect_model(path)
    assert str(err.value) == (
        "llama-3-8b.Q4_0.gguf is a GGUF file of the 'llama' architecture, which is not a "
        "picture model Overpaint can load (FLUX.1, FLUX.2 Klein, SD 3.5, Qwen-Image, Z-Image "
        "or Chroma transformers); pick another file."
    )
    damaged = tmp_path / "cut.gguf"
    damaged.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelError, match="is not a valid GGUF file: its header is damaged"):
        inspect_model(damaged)
    (tmp_path / "renamed.gguf").write_bytes(b"PK\x03\x04 not gguf at all")
    with pytest.raises(ModelError, match="is not a GGUF file"):
        inspect_model(tmp_path / "renamed.gguf")


def test_bfl_layout_and_fill_are_told_apart(tmp_path: Path) -> None:
    from engine.model_files import read_tensors, transformer_family

    bfl = write_bfl_transformer(tmp_path / "flux1-dev.safetensors")
    assert transformer_family(read_tensors(bfl).shapes, bfl.stem) == ("flux", "distilled")
    fill = write_sparse_transformer(tmp_path / "fill.safetensors", 10**6)
    header = read_tensors(fill).shapes
    header["x_embedder.weight"] = [3072, 384]
    assert transformer_family(header, "fill") == ("flux-fill", "distilled")
    assert transformer_family(read_tensors(fill).shapes, "flux1-kontext-dev")[0] == "flux-kontext"


def test_telling_files_apart_never_imports_torch(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    models = tmp_path / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev")
    write_gguf(transformer, models / "unet" / "flux1-q8.gguf")
    code = (
        "import sys, json; from engine.models import discover_models; "
        f"found = discover_models([{str(models)!r}]); "
        "print(json.dumps([sorted(i.name for i in found), 'torch' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    names, torch_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "flux1-dev" in names and "flux1-q8" in names and not torch_loaded


def test_a_cached_snapshot_of_configs_alone_is_not_a_model(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hf download REPO --exclude '*.safetensors'` (the configuration and tokenizers split
    files borrow) leaves a snapshot without weights: it is not listed as a model."""
    import shutil

    hub = tmp_path / "hub"
    for repo, weights in (("FLUX.1-schnell", False), ("FLUX.1-dev", True)):
        snap = hub / f"models--black-forest-labs--{repo}" / "snapshots" / "a"
        ignore = None if weights else shutil.ignore_patterns("*.safetensors")
        shutil.copytree(tiny_modern_dir("flux"), snap, ignore=ignore)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    cached = [i.name for i in discover_models() if i.kind == "hf-cache"]
    assert cached == ["black-forest-labs/FLUX.1-dev"]
