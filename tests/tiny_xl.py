"""A tiny random-weight SDXL pipeline folder, built at test time: two CLIP text encoders
(the second with a projection and the pooled embedding), a UNet with SDXL's added time
conditioning, the tiny model's VAE. Small enough for a few steps at 64² in a second."""

from __future__ import annotations

from pathlib import Path


def build_tiny_xl_folder(path: Path, sd_folder: Path, seed: int = 0) -> Path:
    """Write a diffusers-format SDXL folder at `path` (VAE and scheduler from the tiny SD
    folder at `sd_folder`) and return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    from engine.core.paths import CLIP_TOKENIZER_DIR

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 32 pooled + 6 time ids x 8
        cross_attention_dim=64,  # the two encoders' widths side by side
        norm_num_groups=32,
    )
    tokenizer = CLIPTokenizer.from_pretrained(str(CLIP_TOKENIZER_DIR))
    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        projection_dim=32, hidden_act="gelu",
    )  # fmt: skip
    pipe = StableDiffusionXLPipeline(
        vae=AutoencoderKL.from_pretrained(str(sd_folder / "vae")),
        text_encoder=CLIPTextModel(config),
        text_encoder_2=CLIPTextModelWithProjection(config),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler.from_pretrained(str(sd_folder / "scheduler")),
    )
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path
