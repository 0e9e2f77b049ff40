"""IP-Adapters and their image encoders in the model manager: each sorts as a kind of its
own into models/ipadapter/ and models/clip_vision/, where reference layers find them; a
starter's encoder, a folder inside h94/IP-Adapter, installs from a hub-style endpoint (a
local server, never the internet); the starters list SD 1.5 and SDXL adapters, Plus
variants and both encoders."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.paths import user_models_dir
from engine.model_manager.catalog import starter
from engine.model_manager.install import install
from engine.model_manager.installed import list_installed
from engine.model_manager.kinds import KIND_LABELS, Kind, classify
from engine.reference.adapters import find_adapters, find_encoders
from tests.model_server import folder_files, hub_repo
from tests.tiny_ip_adapter import build_foreign_adapter, build_tiny_adapter, build_tiny_encoder


def test_adapters_and_encoders_sort_and_install_where_references_find_them(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    adapter = build_tiny_adapter(tiny_model_dir, tmp_path / "src")
    encoder = build_tiny_encoder(tmp_path / "src")
    sdxl = build_foreign_adapter(tmp_path / "src" / "ip-adapter_sdxl.safetensors")
    assert classify(adapter) == Kind("ip-adapter", "")
    assert classify(sdxl) == Kind("ip-adapter", "sdxl")
    assert classify(encoder) == Kind("image-encoder", "")
    assert (KIND_LABELS["ip-adapter"], KIND_LABELS["image-encoder"]) == (
        "IP-Adapter",
        "Image encoder",
    )
    installed = install(str(adapter)), install(str(encoder))
    assert installed[0].path == user_models_dir() / "ipadapter" / adapter.name
    assert installed[1].path == user_models_dir() / "clip_vision" / encoder.name
    assert find_adapters() == [installed[0].path]
    assert find_encoders() == [installed[1].path]
    listed = {(m.name, m.kind) for m in list_installed()}
    assert listed == {("tiny-ip-adapter", "ip-adapter"), ("tiny-image-encoder", "image-encoder")}


def test_a_starter_encoder_installs_from_its_folder_in_the_repo(
    hub,
    tmp_path: Path,
) -> None:
    encoder = build_tiny_encoder(tmp_path)
    files = {f"models/image_encoder/{k}": v for k, v in folder_files(encoder).items()}
    files["models/image_encoder/pytorch_model.bin"] = b"pickle"
    files["models/ip-adapter_sd15.safetensors"] = build_foreign_adapter(
        tmp_path / "a.safetensors", 768
    ).read_bytes()
    hub_repo(hub, "h94/IP-Adapter", files)
    result = install("h94/IP-Adapter", starter("clip-vit-h-image-encoder").file)
    assert result.kind == "image-encoder"
    assert result.path == user_models_dir() / "clip_vision" / "IP-Adapter-models-image_encoder"
    assert sorted(p.name for p in result.path.iterdir()) == ["config.json", "model.safetensors"]
    adapter = install("h94/IP-Adapter", starter("ip-adapter-sd15").file)
    assert (adapter.kind, adapter.family) == ("ip-adapter", "sd1")
    assert adapter.path == user_models_dir() / "ipadapter" / "ip-adapter_sd15.safetensors"


def test_the_starters_offer_sd15_and_sdxl_adapters_plus_variants_and_encoders() -> None:
    ids = ["ip-adapter-sd15", "ip-adapter-plus-sd15", "ip-adapter-sdxl-vit-h",
           "ip-adapter-plus-sdxl-vit-h", "ip-adapter-sdxl", "clip-vit-h-image-encoder",
           "clip-vit-bigg-image-encoder"]  # fmt: skip
    models = [starter(i) for i in ids]
    assert {m.repo for m in models} == {"h94/IP-Adapter"}
    assert {m.licence for m in models} == {"Apache-2.0"}
    assert [m.family for m in models[:5]] == ["sd1", "sd1", "sdxl", "sdxl", "sdxl"]
    assert all(m.kind == "ip-adapter" for m in models[:5])
    assert all(m.kind == "image-encoder" for m in models[5:])
    assert 40e6 < models[0].size < 50e6 and 2.4e9 < models[5].size < 2.7e9
    with pytest.raises(KeyError):
        starter("ip-adapter-nope")


def test_an_hf_cache_snapshot_pairs_each_adapter_with_the_encoder_that_fits(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import json
    import os

    from engine.reference.adapters import choose_adapter, unet_widths

    # h94/IP-Adapter's layout: models/ (ViT-H, 16 wide here) and sdxl_models/ (bigG, 24).
    snapshot = Path(os.environ["HF_HUB_CACHE"]) / "models--h94--IP-Adapter" / "snapshots" / "abc"
    (snapshot.parents[1] / "refs").mkdir(parents=True)
    (snapshot.parents[1] / "refs" / "main").write_text("abc")
    for folder in ("models", "sdxl_models"):
        (snapshot / folder).mkdir(parents=True)
    adapter = build_tiny_adapter(tiny_model_dir, snapshot, "ip-adapter_tiny")
    adapter.rename(snapshot / "models" / "ip-adapter_tiny.safetensors")
    near = build_tiny_encoder(snapshot, "image_encoder").rename(
        snapshot / "models" / "image_encoder"
    )
    far = build_tiny_encoder(snapshot, "bigg").rename(snapshot / "sdxl_models" / "image_encoder")
    wide = far / "config.json"
    config = json.loads(wide.read_text())
    config["projection_dim"] = 24
    wide.write_text(json.dumps(config))
    config = json.loads((tiny_model_dir / "unet" / "config.json").read_text())
    names = [
        f"{part}.attentions.{a}.transformer_blocks.0.attn{n}.processor"
        for part, count in (("down_blocks.1", 1), ("up_blocks.0", 2))
        for a in range(count)
        for n in (1, 2)
    ] + ["mid_block.attentions.0.transformer_blocks.0.attn1.processor",
         "mid_block.attentions.0.transformer_blocks.0.attn2.processor"]  # fmt: skip
    chosen = choose_adapter("", "tiny", "sd1", unet_widths(config, names))
    assert chosen.path == snapshot / "models" / "ip-adapter_tiny.safetensors"
    assert chosen.encoder == near
