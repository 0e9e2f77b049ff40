"""Sizes of the demo model's parts: standard diffusers/transformers classes, small configs.

Choices that matter (from a first CPU probe, see issue 5):
- zero-terminal-SNR betas + v-prediction + trailing timesteps, so the noisiest step holds
  no trace of the picture's mean colour and the background must come from the text;
- few GroupNorm groups (8), because one channel per group normalises flat colours away;
- few attention heads (64 channels per head), which is much faster for the same width;
- an x8 VAE with four blocks like SD's, so the engine's previews and region maths apply;
- a caption-sized vocabulary (see tokenizer.py) instead of CLIP's 49k words.
"""

from __future__ import annotations

from typing import Any

NATIVE_RESOLUTION = 128
LATENT_CHANNELS = 4
TEXT_WIDTH = 128
MAX_TOKENS = 77

VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(32, 64, 96, 96),
    layers_per_block=1,
    latent_channels=LATENT_CHANNELS,
    norm_num_groups=8,
    sample_size=NATIVE_RESOLUTION,
    mid_block_add_attention=False,
)

UNET_CONFIG: dict[str, Any] = dict(
    sample_size=NATIVE_RESOLUTION // 8,
    in_channels=LATENT_CHANNELS,
    out_channels=LATENT_CHANNELS,
    down_block_types=(
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    up_block_types=(
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ),
    block_out_channels=(64, 96, 128, 160),
    layers_per_block=1,
    # diffusers' historical naming: this is the number of heads per block.
    attention_head_dim=(1, 2, 2, 2),
    cross_attention_dim=TEXT_WIDTH,
    norm_num_groups=8,
)

TEXT_CONFIG: dict[str, Any] = dict(
    hidden_size=TEXT_WIDTH,
    intermediate_size=4 * TEXT_WIDTH,
    num_hidden_layers=3,
    num_attention_heads=2,
    max_position_embeddings=MAX_TOKENS,
    projection_dim=TEXT_WIDTH,
)

SCHEDULER_CONFIG: dict[str, Any] = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    timestep_spacing="trailing",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
)


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(**VAE_CONFIG)


def build_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**UNET_CONFIG)


def build_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TEXT_CONFIG,
    )
    return CLIPTextModel(config)


def build_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SCHEDULER_CONFIG)


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
