"""A LoRA and a ControlNet that fit the test checkpoint (tests/comfy/checkpoint.py), made
in a second from its layout, for runs on a real ComfyUI server.

Both are random but seeded (the same seed writes the same file) and strong enough that
their effect on the pixels is plain. The LoRA uses the kohya key names ComfyUI maps onto
an SD1.5 UNet ("lora_unet_" + the LDM name with "_" for "."); the ControlNet is the
original ControlNet layout ("control_model." + a copy of the UNet's encoder, the hint
block, and non-zero zero-convs), which ComfyUI sizes from the weights themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

UNET = "model.diffusion_model."


def _unet_tensors(checkpoint: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(checkpoint), framework="pt") as f:
        return {k[len(UNET) :]: f.get_tensor(k) for k in f.keys() if k.startswith(UNET)}


def write_test_lora(checkpoint: Path, path: Path, seed: int = 0, rank: int = 4) -> Path:
    """A LoRA on every attention projection of the checkpoint's UNet."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(checkpoint), framework="pt") as f:
        for key in sorted(f.keys()):
            if not re.match(re.escape(UNET) + r".*attn[12]\.to_(q|k|v|out\.0)\.weight$", key):
                continue
            out_dim, in_dim = f.get_slice(key).get_shape()
            name = "lora_unet_" + key[len(UNET) : -len(".weight")].replace(".", "_")
            down = torch.randn(rank, in_dim, generator=generator) / in_dim**0.5
            up = torch.randn(out_dim, rank, generator=generator) * 0.5
            tensors[f"{name}.lora_down.weight"] = down.half()
            tensors[f"{name}.lora_up.weight"] = up.half()
            tensors[f"{name}.alpha"] = torch.tensor(float(rank)).half()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def write_test_controlnet(checkpoint: Path, path: Path, seed: int = 0) -> Path:
    """A ControlNet for the checkpoint: its encoder, a hint block, random zero-convs."""
    import torch
    from safetensors.torch import save_file

    unet = _unet_tensors(checkpoint)
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator) * scale).half()

    tensors = {
        "control_model." + k: v.clone()
        for k, v in unet.items()
        if k.startswith(("input_blocks.", "middle_block.", "time_embed."))
    }
    model_channels = unet["input_blocks.0.0.weight"].shape[0]
    hint = [(3, 16), (16, 16), (16, 32), (32, 32), (32, 96), (96, 96), (96, 256)]
    hint.append((256, model_channels))
    for i, (cin, cout) in enumerate(hint):
        tensors[f"control_model.input_hint_block.{2 * i}.weight"] = rand(
            cout, cin, 3, 3, scale=1.5 / (cin * 9) ** 0.5
        )
        tensors[f"control_model.input_hint_block.{2 * i}.bias"] = rand(cout, scale=0.1)
    blocks = sorted({int(k.split(".")[1]) for k in unet if k.startswith("input_blocks.")})
    for n in blocks:
        channels = next(
            unet[k].shape[0]
            for k in (
                f"input_blocks.{n}.0.out_layers.3.weight",
                f"input_blocks.{n}.0.op.weight",
                f"input_blocks.{n}.0.weight",
            )
            if k in unet
        )
        tensors[f"control_model.zero_convs.{n}.0.weight"] = rand(
            channels, channels, 1, 1, scale=0.5 / channels**0.5
        )
        tensors[f"control_model.zero_convs.{n}.0.bias"] = rand(channels, scale=0.0)
    middle = unet["middle_block.2.out_layers.3.weight"].shape[0]
    tensors["control_model.middle_block_out.0.weight"] = rand(
        middle, middle, 1, 1, scale=0.5 / middle**0.5
    )
    tensors["control_model.middle_block_out.0.bias"] = rand(middle, scale=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path
