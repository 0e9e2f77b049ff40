"""A small random-weight checkpoint that ComfyUI loads as SD 1.5.

ComfyUI builds its CLIP-L text encoder from a fixed SD1.5 configuration and recognises
an SD1.5 UNet by model_channels 320 and 768-wide cross-attention, so those keep their real
sizes; the UNet is cut to two levels with one block each and attention on the second
(32² tokens for a 512² picture instead of 64²), which makes a step cheap on a CPU. The VAE
is a TAESD (ComfyUI builds one from a checkpoint whose first_stage_model holds
taesd_encoder/taesd_decoder tensors): the full SD VAE took ~40 s to decode and ~12 s to
encode one 512² picture on one thread, a live job's size. UNet and CLIP are written in the
original (A1111/CompVis) layout with the converters in tests/engine/sd_layout.py.
Deterministic: the same seed writes the same file.
"""

from __future__ import annotations

from pathlib import Path

from tests.engine.sd_layout import clip_to_ldm, unet_to_ldm

VERSION = "2"  # bump when the architecture below changes (the file is cached by name)


def write_comfy_sd15(path: Path, seed: int = 0) -> Path:
    """Write the checkpoint (fp16 safetensors, ~0.4 GB) to `path` and return it."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet_config = {
        "block_out_channels": (320, 640),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "sample_size": 16,
    }
    unet = UNet2DConditionModel(**unet_config)
    vae = taesd(latent_channels=4)
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
    tensors.update({f"first_stage_model.{k}": v for k, v in vae.state_dict().items()})
    # ComfyUI's own SD1.5 TAESD scaling (nodes.VAELoader.load_taesd): latents as the UNet
    # sees them are scaled back before the decoder's tanh clamp.
    tensors["first_stage_model.vae_scale"] = torch.tensor(0.18215)
    tensors["first_stage_model.vae_shift"] = torch.tensor(0.0)
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


def taesd(latent_channels: int):  # -> torch.nn.Module
    """A random TAESD with the module layout (and so the tensor names) of ComfyUI's
    comfy/taesd/taesd.py: taesd_encoder.* and taesd_decoder.*."""
    from torch import nn

    def conv(n_in: int, n_out: int, **kwargs: object) -> nn.Conv2d:
        return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)

    class Block(nn.Module):
        def __init__(self, n_in: int, n_out: int) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                conv(n_in, n_out), nn.ReLU(), conv(n_out, n_out), nn.ReLU(), conv(n_out, n_out)
            )
            self.skip = nn.Identity()

        def forward(self, x):  # type: ignore[no-untyped-def]
            return (self.conv(x) + self.skip(x)).relu()

    def blocks(n: int) -> list[nn.Module]:
        return [Block(64, 64) for _ in range(n)]

    encoder = [conv(3, 64), *blocks(1)]
    for _ in range(3):
        encoder += [conv(64, 64, stride=2, bias=False), *blocks(3)]
    encoder.append(conv(64, latent_channels))
    decoder = [nn.Identity(), conv(latent_channels, 64), nn.ReLU()]
    for _ in range(3):
        decoder += [*blocks(3), nn.Upsample(scale_factor=2), conv(64, 64, bias=False)]
    decoder += [*blocks(1), conv(64, 3)]
    module = nn.Module()
    module.taesd_encoder = nn.Sequential(*encoder)
    module.taesd_decoder = nn.Sequential(*decoder)
    # PyTorch's default init leaves a near-black picture that hardly follows the latents;
    # this one (measured on random latents) gives a decoded std of ~0.6 of the [-1, 1]
    # range, and 0.3 more noise in the latents moves the pixels ~15 levels (the LoRA and
    # ControlNet tests measured 5.2 and 4.9 levels of change against their bound of 2).
    for conv_ in module.modules():
        if isinstance(conv_, nn.Conv2d):
            nn.init.normal_(conv_.weight, 0.0, 0.7 * (2 / conv_.weight[0].numel()) ** 0.5)
            if conv_.bias is not None:
                nn.init.zeros_(conv_.bias)
    for final in (encoder[-1], decoder[-1]):
        nn.init.normal_(final.weight, 0.0, final.weight[0].numel() ** -0.5)
    nn.init.constant_(decoder[-1].bias, 0.5)  # TAESD's output is in [0, 1]
    return module
