"""Tiny LoRA files built at test time: real peft/diffusers LoRAs for the tiny model, and
hand-made headers for other families or formats (kohya names, training metadata)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_lora(
    model_dir: Path, path: Path, seed: int = 0, metadata: dict[str, str] | None = None
) -> Path:
    """A random rank-4 LoRA on the tiny UNet's attention projections, made with peft and
    saved by diffusers (the format `load_lora_weights` reads), plus `metadata`."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    unet = UNet2DConditionModel.from_pretrained(str(model_dir / "unet"))
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_" in name:  # peft starts lora_B at zero: the LoRA would do nothing
                param.copy_(torch.randn_like(param) * 0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        str(path.parent),
        unet_lora_layers=get_peft_model_state_dict(unet),
        weight_name=path.name,
        safe_serialization=True,
    )
    if metadata:
        save_file(load_file(str(path)), str(path), metadata=metadata)
    return path


def write_header_only_lora(path: Path, context_dim: int, kohya: bool = True) -> Path:
    """A small LoRA-shaped file for a model with `context_dim`-wide conditioning (768 SD1,
    1024 SD2, 2048 SDXL): the shapes that tell a LoRA's family, no useful weights."""
    import torch
    from safetensors.torch import save_file

    if kohya:
        key = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
        tensors = {
            f"{key}.lora_down.weight": torch.zeros(4, context_dim),
            f"{key}.lora_up.weight": torch.zeros(64, 4),
            f"{key}.alpha": torch.tensor(4.0),
        }
    else:
        key = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
        tensors = {
            f"{key}.lora_A.weight": torch.zeros(4, context_dim),
            f"{key}.lora_B.weight": torch.zeros(64, 4),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
