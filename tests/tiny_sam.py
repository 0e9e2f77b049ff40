"""Tiny random-weight segmentation models (SAM and SAM 2) built at test time.

transformers' SamModel and Sam2Model with small encoders and decoders (about 0.1 M and
0.5 M parameters) saved as safetensors folders in the transformers layout, as SlimSAM
and SAM 2.1 tiny are installed. Their masks mean nothing; they prove the path runs.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_sam(folder: Path, side: int = 256) -> Path:
    """A SamModel folder whose image encoder takes ``side``² pictures."""
    # torch and transformers only where a test builds a model
    import torch
    from transformers import SamConfig, SamModel

    torch.manual_seed(0)
    config = SamConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           mlp_dim=64, image_size=side, patch_size=16, output_channels=32,
                           global_attn_indexes=[1], window_size=4, num_pos_feats=16),
        prompt_encoder_config=dict(hidden_size=32, image_size=side, patch_size=16,
                                   mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 mlp_dim=64, iou_head_hidden_dim=32),
    )  # fmt: skip
    SamModel(config).eval().save_pretrained(str(folder), safe_serialization=True)
    return Path(folder)


def build_tiny_sam2(folder: Path) -> Path:
    """A Sam2Model folder (the 1024² input SAM 2 always takes, tiny Hiera stages)."""
    # torch and transformers only where a test builds a model
    import torch
    from transformers import Sam2Config, Sam2Model

    torch.manual_seed(0)
    backbone = dict(model_type="sam2_hiera_det_model", hidden_size=12, num_attention_heads=1,
                    embed_dim_per_stage=[12, 24, 48, 96],
                    num_attention_heads_per_stage=[1, 1, 2, 2])  # fmt: skip
    config = Sam2Config(
        vision_config=dict(backbone_config=backbone, backbone_channel_list=[96, 48, 24, 12],
                           fpn_hidden_size=32),
        prompt_encoder_config=dict(hidden_size=32),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2,
                                 iou_head_hidden_dim=32),
    )  # fmt: skip
    Sam2Model(config).eval().save_pretrained(str(folder), safe_serialization=True)
    return Path(folder)
