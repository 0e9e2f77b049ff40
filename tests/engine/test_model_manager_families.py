"""The model manager and the transformer families: starters with sizes, licences and the
gated repositories' note; a GGUF transformer, text encoders and a VAE installed from a
hub-style endpoint (a local server, never the internet) land where ComfyUI keeps them and
make one model the engine lists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli.commands import main
from engine.core.paths import user_models_dir
from engine.model_manager.catalog import STARTERS, starter
from engine.model_manager.installed import list_installed
from engine.model_manager.kinds import classify
from tests.model_server import Served, hub_repo
from tests.tiny_split import FILE_NAMES, write_gguf, write_split


def test_starters_cover_the_transformer_families_with_licences_and_gated_notes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    families = {m.family for m in STARTERS if m.kind in ("checkpoint", "inpainting")}
    assert {"flux", "flux-fill", "flux-kontext", "flux2-klein", "sd3"} <= families
    assert {"qwen-image", "qwen-image-edit", "z-image"} <= families
    assert any(m.file and m.file.endswith(".gguf") for m in STARTERS)
    for model in STARTERS:
        assert model.size > 0 and model.licence
    dev = starter("flux-dev")
    assert dev.gated and dev.note == (
        "black-forest-labs/FLUX.1-dev is gated: accept its licence on "
        "https://huggingface.co/black-forest-labs/FLUX.1-dev and log in with `hf auth login` "
        "before installing."
    )
    assert not starter("flux-schnell").gated and starter("flux-schnell").note == ""
    assert main(["models", "starters"]) == 0
    out = capsys.readouterr().out
    assert (
        "flux-dev\tCheckpoint\t~33.7 GB\tFLUX.1 [dev] Non-Commercial License\tFLUX.1 dev"
        "\tgated: accept its licence, then `hf auth login`\n"
    ) in out
    assert "flux-schnell\tCheckpoint\t~33.7 GB\tApache-2.0\tFLUX.1 schnell (4 steps)\n" in out
    assert "flux-dev-gguf-q4\tTransformer\t~6.8 GB" in out


def test_split_parts_install_where_comfyui_keeps_them_and_make_one_model(
    hub: Served,
    tiny_modern_dir: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parts = tmp_path / "parts"
    transformer = write_split(tiny_modern_dir("flux"), "flux", parts, "flux1-dev")
    gguf = write_gguf(transformer, tmp_path / "flux1-dev-Q8_0.gguf")
    hub_repo(hub, "tester/flux-gguf", {gguf.name: gguf.read_bytes()})
    encoders = {n: (parts / "text_encoders" / n).read_bytes() for n in ("clip_l.safetensors",)}
    encoders[FILE_NAMES["t5xxl"]] = (parts / "text_encoders" / FILE_NAMES["t5xxl"]).read_bytes()
    hub_repo(hub, "tester/encoders", encoders)
    hub_repo(
        hub, "tester/flux-vae", {"ae.safetensors": (parts / "vae" / "ae.safetensors").read_bytes()}
    )

    assert classify(gguf).kind == "transformer" and classify(gguf).family == "flux"
    assert main(["models", "install", "tester/flux-gguf", "--file", gguf.name]) == 0
    assert main(["models", "install", "tester/encoders", "--file", "clip_l.safetensors"]) == 0
    assert main(["models", "install", "tester/encoders", "--file", FILE_NAMES["t5xxl"]]) == 0
    assert main(["models", "install", "tester/flux-vae", "--file", "ae.safetensors"]) == 0
    out = capsys.readouterr().out
    assert f"installed {gguf.name} (Transformer, flux," in out
    assert "installed clip_l.safetensors (Text encoder," in out
    root = user_models_dir()
    assert (root / "diffusion_models" / gguf.name).read_bytes() == gguf.read_bytes()
    assert (root / "text_encoders" / FILE_NAMES["t5xxl"]).is_file()
    assert (root / "vae" / "ae.safetensors").is_file()
    installed = {m.name: m.kind for m in list_installed()}
    assert installed["flux1-dev-Q8_0"] == "transformer"
    assert installed["clip_l"] == installed["t5xxl_fp16"] == "text-encoder"
    assert main(["models"]) == 0  # the engine's list: one FLUX.1 model of split files
    listed = capsys.readouterr().out
    assert f"flux1-dev-Q8_0\tflux\tsplit\t{root / 'diffusion_models' / gguf.name}" in listed
