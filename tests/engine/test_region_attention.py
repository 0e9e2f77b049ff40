"""The masked cross-attention itself (engine.regions.attention): masks pooled to each UNet
level, and InvokeAI's bias and Krita's attention couple agreeing where they must."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.regions.attention import (  # noqa: E402
    RegionAttnProcessor,
    RegionLayout,
    latent_masks,
)


def test_latent_masks_pool_each_region_and_the_root_covers_the_rest() -> None:
    left = np.zeros((40, 48), np.uint8)
    left[:, :12] = 255
    masks = latent_masks([left], (96, 80), 8)  # generation size 96x80: a 10x12 grid
    assert masks.shape == (2, 10, 12)
    assert masks[1, :, :3].all() and not masks[1, :, 4:].any()
    assert np.array_equal(masks[0].numpy(), ~masks[1].numpy())  # no overlap at the edge
    layout = RegionLayout([77, 77], masks)
    assert layout.cover(120).shape == (120, 2)
    assert layout.cover(5 * 6)[:, 1].reshape(5, 6)[:, :2].all()  # halved: the region's cells
    assert layout.cover(3 * 3).shape == (9, 2)  # rounded up, as the UNet's convolutions do
    with pytest.raises(ValueError, match="no UNet level has 7 positions"):
        layout.cover(7)


def _attention():
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    return Attention(query_dim=16, cross_attention_dim=8, heads=2, dim_head=8).eval()


def test_bias_and_couple_agree_on_hard_masks_and_plain_attention_on_one_segment() -> None:
    attn = _attention()
    masks = torch.zeros((3, 4, 4), dtype=torch.bool)
    masks[1, :, :2] = True
    masks[2, :, 2:] = True  # the root covers nothing
    layout = RegionLayout([5, 3, 4], masks)
    x = torch.randn(2, 16, 16)
    text = torch.randn(2, 12, 8)
    with torch.no_grad():
        bias = RegionAttnProcessor(layout, "bias")(attn, x, text)
        couple = RegionAttnProcessor(layout, "couple")(attn, x, text)
        left = attn(x, text[:, 5:8])  # the stock processor, on the left region's tokens only
    assert torch.allclose(bias, couple, atol=1e-5)
    on_left = masks[1].flatten()
    assert torch.allclose(bias[:, on_left], left[:, on_left], atol=1e-5)


def test_other_text_lengths_and_self_attention_go_to_the_stock_processor() -> None:
    attn = _attention()
    layout = RegionLayout([5], torch.ones((1, 4, 4), dtype=torch.bool))
    x = torch.randn(1, 16, 16)
    text = torch.randn(1, 7, 8)
    with torch.no_grad():
        assert torch.equal(RegionAttnProcessor(layout)(attn, x, text), attn(x, text))
