"""Tiny random IP-Adapters and CLIP vision encoders, built at test time.

The adapter is a .safetensors file in h94/IP-Adapter's layout (`image_proj.*`,
`ip_adapter.N.to_k_ip/to_v_ip.weight`, N = 1, 3, 5, ... over the UNet's attentions) with
the shapes diffusers' `load_ip_adapter` expects for the UNet it is made for; the encoder a
transformers CLIPVisionModelWithProjection folder. Both land where the engine looks:
`<models>/ipadapter/` and `<models>/clip_vision/`.
"""

from __future__ import annotations

from pathlib import Path


def adapter_tensors(
    unet_config: dict, attn_names: list[str], embeds: int, seed: int = 0, plus: bool = False
) -> dict:
    """An IP-Adapter state dict (prefixed keys) for a UNet with this config and these
    attention processor names, reading an `embeds`-wide image embedding (`plus`: the
    encoder's `embeds`-wide hidden states, through a Plus adapter's resampler)."""
    import torch

    from engine.reference.adapters import unet_widths

    gen = torch.Generator().manual_seed(seed)
    text = int(unet_config["cross_attention_dim"])

    def rand(*shape: int, scale: float = 0.3) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    tensors = {}
    for i, (width, context) in enumerate(unet_widths(unet_config, attn_names)):
        key = 2 * i + 1
        tensors[f"ip_adapter.{key}.to_k_ip.weight"] = rand(width, context)
        tensors[f"ip_adapter.{key}.to_v_ip.weight"] = rand(width, context, scale=1.0)
    if plus:
        tensors.update(_plus_projection(rand, embeds, text))
        return tensors
    tensors["image_proj.proj.weight"] = rand(4 * text, embeds, scale=1.0)
    tensors["image_proj.proj.bias"] = rand(4 * text)
    tensors["image_proj.norm.weight"] = torch.ones(text)
    tensors["image_proj.norm.bias"] = torch.zeros(text)
    return tensors


def _plus_projection(rand, embeds: int, text: int, hidden: int = 16, tokens: int = 4) -> dict:
    """A Plus adapter's resampler (4 layers, one 64-wide head) in the original layout."""
    import torch

    tensors = {
        "image_proj.latents": rand(1, tokens, hidden, scale=1.0),
        "image_proj.proj_in.weight": rand(hidden, embeds),
        "image_proj.proj_in.bias": rand(hidden),
        "image_proj.proj_out.weight": rand(text, hidden, scale=1.0),
        "image_proj.proj_out.bias": rand(text),
        "image_proj.norm_out.weight": torch.ones(text),
        "image_proj.norm_out.bias": torch.zeros(text),
    }
    for layer in range(4):
        base = f"image_proj.layers.{layer}"
        for norm in ("0.norm1", "0.norm2", "1.0"):
            tensors[f"{base}.{norm}.weight"] = torch.ones(hidden)
            tensors[f"{base}.{norm}.bias"] = torch.zeros(hidden)
        tensors[f"{base}.0.to_q.weight"] = rand(64, hidden)
        tensors[f"{base}.0.to_kv.weight"] = rand(128, hidden)
        tensors[f"{base}.0.to_out.weight"] = rand(hidden, 64)
        tensors[f"{base}.1.1.weight"] = rand(4 * hidden, hidden)
        tensors[f"{base}.1.3.weight"] = rand(hidden, 4 * hidden)
    return tensors


def build_tiny_adapter(
    model_dir: Path, models_dir: Path, name: str = "tiny-ip-adapter", plus: bool = False
) -> Path:
    """A plain adapter for the diffusers SD folder `model_dir`, at
    `models_dir`/ipadapter/`name`.safetensors, reading the tiny encoder's 16-wide image
    embedding (`plus`: a Plus adapter reading its 32-wide hidden states)."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(str(model_dir / "unet"))
    names = list(unet.attn_processors)
    tensors = adapter_tensors(dict(unet.config), names, embeds=32 if plus else 16, plus=plus)
    path = models_dir / "ipadapter" / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def build_foreign_adapter(path: Path, text_width: int = 2048) -> Path:
    """An adapter made for another family (its text features `text_width` wide)."""
    import torch
    from safetensors.torch import save_file

    tensors = {
        "image_proj.proj.weight": torch.zeros(4 * text_width, 16),
        "image_proj.proj.bias": torch.zeros(4 * text_width),
        "image_proj.norm.weight": torch.ones(text_width),
        "image_proj.norm.bias": torch.zeros(text_width),
        "ip_adapter.1.to_k_ip.weight": torch.zeros(64, text_width),
        "ip_adapter.1.to_v_ip.weight": torch.zeros(64, text_width),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def build_tiny_encoder(models_dir: Path, name: str = "tiny-image-encoder") -> Path:
    """A random CLIPVisionModelWithProjection (32 px, 16-wide embedding) at
    `models_dir`/clip_vision/`name`."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=16,
    )
    folder = models_dir / "clip_vision" / name
    CLIPVisionModelWithProjection(config).save_pretrained(str(folder), safe_serialization=True)
    return folder


def build_tiny_ip_models(model_dir: Path, models_dir: Path) -> Path:
    """A models folder with a tiny adapter for `model_dir` and its encoder."""
    build_tiny_adapter(model_dir, models_dir)
    build_tiny_encoder(models_dir)
    return models_dir
