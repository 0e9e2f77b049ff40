"""LoRAs on the transformer families (engine.lora.families, engine.lora.apply): one LoRA for
the tiny FLUX transformer, built at test time in the diffusers, kohya and BFL key layouts,
gives the same pixels from each, changes the picture, and at weight 0 gives the picture of
no LoRA; a LoRA made for another family is refused in one sentence before anything loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from engine.core.errors import ModelError
from engine.local.engine import Engine
from engine.lora.families import lora_architecture
from engine.lora.library import check_loras, discover_loras
from engine.models import inspect_model
from engine.request import GenerationRequest
from tests.tiny_modern_extras import RANK, flux_loras, sd15_lora


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


def _request(folder: Callable[[str], Path], family: str = "flux") -> GenerationRequest:
    return GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(folder(family)), steps=3,
        guidance=3.5, width=64, height=64, seed=3, watermark=False,
    )  # fmt: skip


def test_the_three_layouts_give_the_same_change_and_weight_zero_gives_none(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    paths = flux_loras(tmp_path)
    # The diffusers layout names only blocks every family has: it is tried, not refused.
    assert {k: lora_architecture(_keys(p)) for k, p in paths.items()} == {
        "diffusers": None, "kohya": "flux", "bfl": "flux",
    }  # fmt: skip
    base = _request(tiny_modern_dir)
    plain = engine.run(base)[0]
    outs = {}
    for layout, path in paths.items():
        res = engine.run(base.replace(loras=((str(path), 1.0),)))[0]
        outs[layout] = res.rgba
        assert f"flux-{layout}:" in res.parameters  # its `Lora hashes` entry
        assert f"<lora:flux-{layout}:1>" in res.parameters
    assert not np.array_equal(outs["diffusers"], plain.rgba)
    assert np.array_equal(outs["kohya"], outs["diffusers"])
    assert np.array_equal(outs["bfl"], outs["diffusers"])
    half = engine.run(base.replace(loras=((str(paths["bfl"]), 0.5),)))[0]
    assert not np.array_equal(half.rgba, outs["bfl"]) and not np.array_equal(half.rgba, plain.rgba)
    zero = engine.run(base.replace(loras=((str(paths["kohya"]), 0.0),)))[0]
    assert np.array_equal(zero.rgba, plain.rgba)
    # Unloaded again: the next job without LoRAs is the plain picture.
    assert np.array_equal(engine.run(base)[0].rgba, plain.rgba)


def test_a_lora_tag_in_the_prompt_works_on_sd3(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    # SD 3.5's joint blocks take the diffusers layout; the tag names the file's stem.
    loras = tmp_path / "models" / "loras"
    loras.mkdir(parents=True)
    rng = np.random.default_rng(1)
    prefix = "transformer.transformer_blocks.0.attn.to_q"
    width = _sd3_width(tiny_modern_dir("sd3"))
    save_file(
        {
            f"{prefix}.lora_A.weight": rng.standard_normal((RANK, width)).astype(np.float32),
            f"{prefix}.lora_B.weight": rng.standard_normal((width, RANK)).astype(np.float32),
        },
        str(loras / "glow.safetensors"),
    )
    base = _request(tiny_modern_dir, "sd3")
    eng = Engine(extra_dirs=(tmp_path / "models",))
    try:
        plain = eng.run(base)[0]
        tagged = eng.run(base.replace(prompt="a red square <lora:glow:1>"))[0]
    finally:
        eng.unload()
    assert tagged.request.loras == (("glow", 1.0),)
    assert not np.array_equal(tagged.rgba, plain.rgba)


def test_a_lora_for_another_family_is_one_sentence(
    engine: Engine, tiny_modern_dir: Callable[[str], Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    sd15 = sd15_lora(tmp_path)
    with pytest.raises(ModelError) as caught:
        engine.run(_request(tiny_modern_dir).replace(loras=((str(sd15), 1.0),)))
    assert str(caught.value) == (
        "LoRA ink-sd15 does not fit the model tiny-flux: the LoRA is for SD 1.x, the model "
        "is a FLUX.1 model; pick a LoRA made for FLUX.1."
    )
    # Refused at weight 0 too, and the other way round: a FLUX LoRA on an SD model.
    with pytest.raises(ModelError, match="^LoRA ink-sd15 does not fit"):
        engine.run(_request(tiny_modern_dir).replace(loras=((str(sd15), 0.0),)))
    kohya = flux_loras(tmp_path)["kohya"]
    unet = GenerationRequest(mode="txt2img", model=str(tiny_model_dir), steps=2, width=64,
                             height=64, loras=((str(kohya), 1.0),))  # fmt: skip
    with pytest.raises(ModelError, match=r"^LoRA flux-kohya does not fit .* is for FLUX\.1,"):
        Engine().run(unet)
    # Qwen-Image refuses a FLUX LoRA by its block names as well.
    with pytest.raises(ModelError, match=r"the LoRA is for FLUX\.1, the model is a Qwen-Image"):
        engine.run(_request(tiny_modern_dir, "qwen-image").replace(loras=((str(kohya), 1.0),)))


def test_the_lora_list_offers_only_the_model_family_s_loras(
    tiny_modern_dir: Callable[[str], Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models" / "loras"
    folder.mkdir(parents=True)
    flux_lora = flux_loras(folder)["kohya"]
    sd15_lora(folder)
    dirs = (tmp_path / "models",)
    flux = inspect_model(tiny_modern_dir("flux"))
    names = [lora.name for lora in discover_loras(dirs, flux)]
    assert "flux-kohya" in names and "ink-sd15" not in names
    sd = inspect_model(tiny_model_dir)
    assert "flux-kohya" not in [lora.name for lora in discover_loras(dirs, sd)]
    # The CLI checks before loading anything.
    with pytest.raises(ModelError, match="^LoRA flux-kohya does not fit the model"):
        check_loras([(str(flux_lora), 1.0)], sd)


def _keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return list(f.keys())


def _sd3_width(folder: Path) -> int:
    import json

    config = json.loads((folder / "transformer" / "config.json").read_text())
    return int(config["num_attention_heads"]) * int(config["attention_head_dim"])
