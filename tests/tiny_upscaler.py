"""A tiny random-weight Stable Diffusion x4 upscaler, built at test time.

The real stabilityai/stable-diffusion-x4-upscaler's architecture in miniature: a 7-channel
UNet (4 latent + 3 low-resolution image channels) conditioned on the noise level through
a class embedding, a three-block (x4) VAE with the upscaler's scaling factor, a CLIP text
encoder, DDPM noise for the low-resolution input and a DDIM sampler. Saved as a diffusers
folder whose model_index.json names StableDiffusionUpscalePipeline, as the real one.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_upscaler_folder(path: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from engine.core.paths import CLIP_TOKENIZER_DIR

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=7,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
        num_class_embeds=1000,  # the noise level, 0..max_noise_level
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        scaling_factor=0.08333,
    )
    tokenizer = CLIPTokenizer.from_pretrained(str(CLIP_TOKENIZER_DIR))
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            projection_dim=32,
        )
    )
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path
