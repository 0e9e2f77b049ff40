"""Random-weight SD1.x folders for the benchmarks (no download, built in seconds).

"tiny" is the test suite's model (tests/tiny_model.py). "weights" widens its UNet so that
the weights (about 340 MB in float32) dominate the process's memory, as a real model's
do: the memory measure (P6) is meaningless when the weights are a rounding error.
"""

from __future__ import annotations

from pathlib import Path

# A wider UNet at the tiny model's text width; about 85 M parameters.
WEIGHTS_UNET = {
    "block_out_channels": (192, 384, 384),
    "layers_per_block": 2,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": 8,
}


def build_model(path: Path, kind: str = "tiny") -> Path:
    from tests.tiny_model import build_tiny_sd_folder

    if (path / "model_index.json").is_file():
        return path
    build_tiny_sd_folder(path)
    if kind == "tiny":
        return path
    if kind != "weights":
        raise ValueError(f"unknown benchmark model {kind!r}")
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1)
    small = UNet2DConditionModel.from_pretrained(str(path / "unet"))
    unet = UNet2DConditionModel.from_config({**small.config, **WEIGHTS_UNET})
    unet.save_pretrained(str(path / "unet"), safe_serialization=True)
    return path


def weights_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.safetensors"))
