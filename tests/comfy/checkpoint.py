"""A small random-weight checkpoint that ComfyUI loads as SD 1.5.

ComfyUI builds its CLIP-L text encoder and its VAE from fixed SD1.5 configurations and
recognises an SD1.5 UNet by model_channels 320 and 768-wide cross-attention, so those
parts keep their real sizes; the UNet is cut to two levels with one block each, which
makes a step cheap on a CPU. Written in the original (A1111/CompVis) layout with the
converters in tests/engine/sd_layout.py. Deterministic: the same seed writes the same file.
"""

from __future__ import annotations

from pathlib import Path

from tests.engine.sd_layout import clip_to_ldm, unet_to_ldm, vae_to_ldm

VERSION = "1"  # bump when the architecture below changes (the file is cached by name)


def write_comfy_sd15(path: Path, seed: int = 0) -> Path:
    """Write the checkpoint (fp16 safetensors, ~0.5 GB) to `path` and return it."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet_config = {
        "block_out_channels": (320, 640),
        "layers_per_block": 1,
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "sample_size": 16,
    }
    unet = UNet2DConditionModel(**unet_config)
    vae_config = {
        "block_out_channels": (128, 256, 512, 512),
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "layers_per_block": 2,
        "latent_channels": 4,
    }
    vae = AutoencoderKL(**vae_config)
    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
        )
    )
    tensors = {}
    tensors.update(
        unet_to_ldm(
            unet.state_dict(),
            {**unet_config, "up_block_types": list(unet_config["up_block_types"])},
        )
    )
    tensors.update(vae_to_ldm(vae.state_dict(), vae_config))
    tensors.update(clip_to_ldm(clip.state_dict(), "cond_stage_model.transformer."))
    tensors = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in tensors.items()
        if not k.endswith("position_ids")
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    save_file(tensors, str(tmp))
    tmp.replace(path)
    return path
