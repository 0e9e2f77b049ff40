"""Tiny add-ons for the transformer families' tiny models (tests/tiny_modern.py), built at
test time: a FLUX.1 LoRA in the diffusers, kohya and BFL key layouts, an SD 1.5 LoRA, and
FLUX.1 / SD 3.5 / Qwen-Image / Z-Image ControlNets shaped like a tiny transformer (their
zero-initialised output and condition layers randomised, so that the control acts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

RANK = 4
FLUX_WIDTH = 32  # the tiny FLUX transformer's inner width (2 heads of 16)


def flux_loras(folder: Path, stem: str = "flux") -> dict[str, Path]:
    """One LoRA on double block 0's picture attention (q, k and v) in three layouts:
    {"diffusers", "kohya", "bfl"} -> folder / f"{stem}-{layout}.safetensors"."""
    rng = np.random.default_rng(0)
    down = (rng.standard_normal((RANK, FLUX_WIDTH)) * 0.5).astype(np.float32)
    up = (rng.standard_normal((3 * FLUX_WIDTH, RANK)) * 0.5).astype(np.float32)
    diffusers = {}
    for i, name in enumerate(("to_q", "to_k", "to_v")):
        prefix = f"transformer.transformer_blocks.0.attn.{name}"
        diffusers[f"{prefix}.lora_A.weight"] = down
        diffusers[f"{prefix}.lora_B.weight"] = np.ascontiguousarray(
            up[i * FLUX_WIDTH : (i + 1) * FLUX_WIDTH]
        )
    kohya = {
        "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": down,
        "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": up,
        "lora_unet_double_blocks_0_img_attn_qkv.alpha": np.array(float(RANK), np.float32),
    }
    bfl = {
        "diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight": down,
        "diffusion_model.double_blocks.0.img_attn.qkv.lora_B.weight": up,
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for layout, tensors in (("diffusers", diffusers), ("kohya", kohya), ("bfl", bfl)):
        paths[layout] = folder / f"{stem}-{layout}.safetensors"
        save_file(tensors, str(paths[layout]))
    return paths


def sd15_lora(folder: Path, stem: str = "ink-sd15") -> Path:
    """A LoRA file in kohya's SD 1.5 layout (cross-attention width 768)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.safetensors"
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file(
        {
            f"{key}.lora_down.weight": np.zeros((RANK, 768), np.float32),
            f"{key}.lora_up.weight": np.zeros((320, RANK), np.float32),
        },
        str(path),
    )
    return path


def _randomised(modules: list, path: Path, net: Any) -> Path:
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.normal_(0, 0.3)
    net.save_pretrained(path)
    return path


def build_flux_controlnet(transformer_dir: Path, path: Path) -> Path:
    """A FluxControlNetModel folder at `path` shaped like the transformer in
    `transformer_dir` (one double and one single block)."""
    from diffusers import FluxControlNetModel, FluxTransformer2DModel

    transformer = FluxTransformer2DModel.from_pretrained(transformer_dir)
    config = transformer.config
    net = FluxControlNetModel.from_transformer(
        transformer, num_layers=1, num_single_layers=1,
        attention_head_dim=config.attention_head_dim,
        num_attention_heads=config.num_attention_heads,
    )  # fmt: skip
    zeroed = [*net.controlnet_blocks, *net.controlnet_single_blocks, net.controlnet_x_embedder]
    return _randomised(zeroed, path, net)


def build_sd3_controlnet(transformer_dir: Path, path: Path) -> Path:
    """An SD3ControlNetModel folder at `path` of one block, from a transformer of two or
    more (SD 3 adds residuals only to blocks that keep a text stream: not the last)."""
    from diffusers import SD3ControlNetModel, SD3Transformer2DModel

    transformer = SD3Transformer2DModel.from_pretrained(transformer_dir)
    net = SD3ControlNetModel.from_transformer(
        transformer, num_layers=1, num_extra_conditioning_channels=0
    )
    return _randomised([*net.controlnet_blocks, net.pos_embed_input], path, net)


def build_qwen_controlnet(transformer_dir: Path, path: Path) -> Path:
    """A QwenImageControlNetModel folder at `path` of one block, shaped like the transformer
    in `transformer_dir`."""
    from diffusers import QwenImageControlNetModel, QwenImageTransformer2DModel

    transformer = QwenImageTransformer2DModel.from_pretrained(transformer_dir)
    config = transformer.config
    net = QwenImageControlNetModel.from_transformer(
        transformer, num_layers=1,
        attention_head_dim=config.attention_head_dim,
        num_attention_heads=config.num_attention_heads,
    )  # fmt: skip
    return _randomised([*net.controlnet_blocks, net.controlnet_x_embedder], path, net)


def build_zimage_controlnet(transformer_dir: Path, path: Path) -> Path:
    """A ZImageControlNetModel folder at `path` with one control layer, shaped like the
    transformer in `transformer_dir`, taking version 2's 33 condition channels; every weight
    random (its zero-initialised projections sit inside the refiner and control blocks)."""
    from diffusers import ZImageControlNetModel, ZImageTransformer2DModel

    config = ZImageTransformer2DModel.load_config(transformer_dir)
    keys = ("all_patch_size", "all_f_patch_size", "dim", "n_refiner_layers", "n_heads")
    net = ZImageControlNetModel(
        control_layers_places=[0], control_refiner_layers_places=[0], control_in_dim=33,
        add_control_noise_refiner="control_noise_refiner", n_kv_heads=config["n_kv_heads"],
        **{k: config[k] for k in keys},
    )  # fmt: skip
    return _randomised([net], path, net)
