"""Tiny random-weight control models for the tiny test UNet, built at test time.

A ControlNet made with `ControlNetModel.from_unet` starts with zero convolutions (it
changes nothing until trained), so its zero convs and its conditioning embedding's last
conv are randomised here: the control image then visibly steers the result. T2I-Adapters
are made with the layout that fits the tiny UNet (residuals at 1/16 of the pixels).
Both are written as diffusers folders and as single files in the original layouts
(lllyasviel's `control_v11p_sd15_*`, TencentARC's `t2iadapter_*`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def _randomise(module, generator, scale: float = 0.2) -> None:
    import torch

    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)


def build_tiny_controlnet(model_dir: Path, folder: Path, seed: int = 1) -> Path:
    """A diffusers ControlNet folder for the tiny model at `model_dir`."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(model_dir / "unet"))
    controlnet = ControlNetModel.from_unet(unet)
    generator = torch.Generator().manual_seed(seed)
    for block in controlnet.controlnet_down_blocks:
        _randomise(block, generator)
    _randomise(controlnet.controlnet_mid_block, generator)
    # The default init leaves the embedding nearly blind to the picture: scale by fan-in.
    with torch.no_grad():
        for param in controlnet.controlnet_cond_embedding.parameters():
            if param.ndim > 1:
                fan_in = param[0].numel()
                param.copy_(torch.randn(param.shape, generator=generator) * 2 / fan_in**0.5)
            else:
                param.zero_()
    controlnet.save_pretrained(str(folder), safe_serialization=True)
    return folder


def _ldm_resnet(prefix: str, rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{prefix}.{_RESNET[head]}.{tail}"


def controlnet_to_original(state: dict, config: dict) -> dict:
    """diffusers ControlNet keys -> the original (ControlNet 1.1) layout."""
    per_block = int(config["layers_per_block"])
    n_embed = len(config["conditioning_embedding_out_channels"]) - 1
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if key.startswith("time_embedding.linear_"):
            new = f"time_embed.{0 if parts[1] == 'linear_1' else 2}.{parts[2]}"
        elif key.startswith("conv_in."):
            new = f"input_blocks.0.0.{parts[1]}"
        elif key.startswith("down_blocks."):
            b, kind, i = int(parts[1]), parts[2], int(parts[3])
            rest = ".".join(parts[4:])
            index = 1 + b * (per_block + 1) + i
            if kind == "resnets":
                new = _ldm_resnet(f"input_blocks.{index}.0", rest)
            elif kind == "attentions":
                new = f"input_blocks.{index}.1.{rest}"
            else:  # downsamplers.0.conv
                new = f"input_blocks.{1 + b * (per_block + 1) + per_block}.0.op.{parts[-1]}"
        elif key.startswith("mid_block."):
            kind, i, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                new = _ldm_resnet(f"middle_block.{0 if i == 0 else 2}", rest)
            else:
                new = f"middle_block.1.{rest}"
        elif key.startswith("controlnet_down_blocks."):
            new = f"zero_convs.{parts[1]}.0.{parts[2]}"
        elif key.startswith("controlnet_mid_block."):
            new = f"middle_block_out.0.{parts[1]}"
        elif key.startswith("controlnet_cond_embedding."):
            if parts[1] == "conv_in":
                new = f"input_hint_block.0.{parts[2]}"
            elif parts[1] == "conv_out":
                new = f"input_hint_block.{2 * (n_embed * 2 + 1)}.{parts[2]}"
            else:
                new = f"input_hint_block.{2 * (int(parts[2]) + 1)}.{parts[3]}"
        else:
            raise KeyError(key)
        out[new] = value
    return out


def controlnet_single_file(folder: Path, path: Path, config_root: Path) -> Path:
    """The folder's ControlNet as one original-layout .safetensors file; its config goes
    to config_root/controlnet-tiny (what resources/model_configs holds for real models)."""
    from safetensors.torch import load_file, save_file

    config = json.loads((folder / "config.json").read_text())
    state = load_file(str(folder / "diffusion_pytorch_model.safetensors"))
    save_file(controlnet_to_original(state, config), str(path))
    target = config_root / "controlnet-tiny"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "config.json", target / "config.json")
    return path


def build_tiny_adapter(folder: Path, seed: int = 2, in_channels: int = 3) -> Path:
    """A diffusers T2I-Adapter folder whose features fit the tiny UNet."""
    import torch
    from diffusers import T2IAdapter

    adapter = T2IAdapter(
        in_channels=in_channels,
        channels=[32, 64, 64, 64],
        num_res_blocks=2,
        downscale_factor=16,
        adapter_type="full_adapter_xl",
    )
    _randomise(adapter, torch.Generator().manual_seed(seed), 0.1)
    adapter.save_pretrained(str(folder), safe_serialization=True)
    return folder


def adapter_single_file(folder: Path, path: Path) -> Path:
    """The folder's adapter in TencentARC's key layout (body.N.*, conv_in.*)."""
    import re

    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "diffusion_pytorch_model.safetensors"))
    out = {}
    for key, value in state.items():
        key = key.removeprefix("adapter.")
        m = re.match(r"body\.(\d+)\.resnets\.(\d+)\.(.+)$", key)
        if m:
            key = f"body.{int(m.group(1)) * 2 + int(m.group(2))}.{m.group(3)}"
        else:
            m = re.match(r"body\.(\d+)\.in_conv\.(.+)$", key)
            if m:
                key = f"body.{int(m.group(1)) * 2}.in_conv.{m.group(2)}"
        out[key] = value
    save_file(out, str(path))
    return path
