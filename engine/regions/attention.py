"""Masked cross-attention for regional prompts on SD 1.x, SD 2.x and SDXL UNets.

The text the UNet's cross-attention reads is every segment's embeddings laid end to end
along the token axis: the root prompt first, then one segment per region (InvokeAI's
layout). Each segment has a mask on the latent grid; at every UNet resolution the mask is
max-pooled to that grid, and a query attends only to the tokens of the segments whose
mask covers it. Two ways of doing that are here, equal for hard masks that do not
overlap:

- "bias" (InvokeAI): one attention over all tokens, with a -10000 bias on the scores of
  the tokens outside the query's segments; where segments overlap, one softmax spans
  their tokens.
- "couple" (Krita's attention couple): one attention per segment over its own tokens,
  the outputs summed weighted by the normalised masks.

The engine uses "bias": see `METHOD` for the measured cost. Only the cross-attention
modules (`attn2`) get the processor, and only while `attached`; self-attention and every
other job run the stock processor. Imports diffusers: engine.regions.stage imports this
module only when a job has regions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

# Cost of one CFG UNet step with 1/2/4 regions ÷ none (tests/bench/regions.py, P28;
# interleaved pairs, 1 CPU thread, shared 2-core machine at load 5-7): bias 1.07/1.09/1.15
# on the demo model at 128² and 1.09/1.12/1.09 on the tiny SD model at 256²; the couple
# 1.08/1.16/1.26 and 1.09/1.11/1.24. Same pictures for masks that do not overlap, and the
# bias's extra cost stays flat as regions are added: it is the default.
METHOD = "bias"
METHODS = ("bias", "couple")
OUTSIDE_BIAS = -10000.0  # InvokeAI's: exp(-10000) is 0 in every float type


class RegionLayout:
    """Where each token segment applies: `lengths` tokens per segment (root first) and
    `masks`, an (S, h, w) bool tensor on the latent grid (every cell in some segment)."""

    def __init__(self, lengths: Sequence[int], masks: torch.Tensor) -> None:
        if masks.shape[0] != len(lengths):
            raise ValueError(f"{masks.shape[0]} masks for {len(lengths)} token segments")
        self.lengths = tuple(int(n) for n in lengths)
        self.tokens = sum(self.lengths)
        self._levels = [masks.bool()]
        self._cache: dict[tuple, torch.Tensor] = {}

    def cover(self, queries: int) -> torch.Tensor:
        """(queries, S) bool: which segments each query of a UNet level may read. The
        level is the one whose grid has `queries` cells: the latent grid halved (rounding
        up, as the UNet's stride-2 convolutions do) until it fits."""
        while True:
            for level in self._levels:
                if level.shape[1] * level.shape[2] == queries:
                    return level.flatten(1).t()
            last = self._levels[-1]
            if last.shape[1] == 1 and last.shape[2] == 1:
                raise ValueError(f"no UNet level has {queries} positions")
            pooled = F.max_pool2d(last[None].float(), 2, ceil_mode=True)[0]
            self._levels.append(pooled > 0.5)

    def bias(self, queries: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(1, 1, queries, tokens) additive scores: 0 where a query may read the token."""
        key = ("bias", queries, dtype, device)
        if key not in self._cache:
            allowed = self.cover(queries).repeat_interleave(torch.tensor(self.lengths), dim=1)
            zero = torch.zeros((), dtype=dtype)
            bias = torch.where(allowed, zero, torch.tensor(OUTSIDE_BIAS, dtype=dtype))
            self._cache[key] = bias[None, None].to(device)
        return self._cache[key]

    def weights(self, queries: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(S, 1, 1, queries, 1): each segment's share of each query (they sum to 1)."""
        key = ("weights", queries, dtype, device)
        if key not in self._cache:
            cover = self.cover(queries).to(dtype)
            share = cover / cover.sum(dim=1, keepdim=True)
            self._cache[key] = share.t()[:, None, None, :, None].to(device)
        return self._cache[key]


class RegionAttnProcessor(AttnProcessor2_0):
    """Cross-attention that reads each region's prompt only inside the region.

    Anything it was not built for (self-attention, text of another length, an attention
    with group or spatial norm) goes to the stock processor unchanged.
    """

    def __init__(self, layout: RegionLayout, method: str = METHOD) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown region attention method {method!r}")
        self.layout = layout
        self.method = method

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        plain = (
            encoder_hidden_states is None
            or encoder_hidden_states.shape[1] != self.layout.tokens
            or hidden_states.ndim != 3
            or attention_mask is not None
            or attn.spatial_norm is not None
            or attn.group_norm is not None
        )
        if plain:
            return super().__call__(
                attn, hidden_states, encoder_hidden_states, attention_mask, temb
            )
        residual = hidden_states
        batch, queries, _ = hidden_states.shape
        query = attn.to_q(hidden_states)
        text = encoder_hidden_states
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        key, value = attn.to_k(text), attn.to_v(text)
        head_dim = key.shape[-1] // attn.heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)

        query, key, value = heads(query), heads(key), heads(value)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if self.method == "bias":
            bias = self.layout.bias(queries, query.dtype, query.device)
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias)
        else:
            out = self._couple(query, key, value, queries)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _couple(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, queries: int
    ) -> torch.Tensor:
        weights = self.layout.weights(queries, query.dtype, query.device)
        out = torch.zeros_like(query)
        start = 0
        for s, n in enumerate(self.layout.lengths):
            part = slice(start, start + n)
            start += n
            if not bool(weights[s].any()):
                continue  # a segment no query reads at this level: the root under full cover
            out += weights[s] * F.scaled_dot_product_attention(
                query, key[:, :, part], value[:, :, part]
            )
        return out


def latent_masks(masks: Sequence[Any], gen: tuple[int, int], scale: int) -> torch.Tensor:
    """(1 + len(masks), h, w) bool on the latent grid of a `gen`-sized picture (`scale`
    pixels per latent cell): first the root's (what no region covers), then each region's.

    `masks` are HxW uint8 arrays (255 = in the region, any size): each is resized to the
    generation size, held at half coverage, and a latent cell belongs to a segment when
    any of its pixels does (max-pooling, so thin regions keep a cell).
    """
    width, height = gen
    h, w = math.ceil(height / scale), math.ceil(width / scale)
    full = []
    for mask in masks:
        t = torch.as_tensor(mask, dtype=torch.float32)[None, None] / 255.0
        full.append(F.interpolate(t, size=(height, width), mode="bilinear")[0, 0] >= 0.5)
    stacked = torch.stack(full) if full else torch.zeros((0, height, width), dtype=torch.bool)
    root = ~stacked.any(dim=0)
    pixels = torch.cat([root[None], stacked]).float()
    return F.max_pool2d(pixels[None], scale, ceil_mode=True)[0][:, :h, :w] > 0.5


def cross_attention_modules(model: Any) -> Iterator[tuple[str, Any]]:
    """(processor name, Attention) of each cross-attention in a UNet or ControlNet."""
    for name, module in model.named_modules():
        if name.endswith("attn2") and hasattr(module, "set_processor"):
            yield f"{name}.processor", module


@contextmanager
def attached(models: Sequence[Any], layout: RegionLayout, method: str = METHOD) -> Iterator[None]:
    """The models' cross-attentions read the layout's segments while inside the block;
    their own processors come back after it (a loaded pipeline serves other jobs)."""
    processor = RegionAttnProcessor(layout, method)
    saved: list[tuple[Any, Any]] = []
    try:
        for model in models:
            for _, module in cross_attention_modules(model):
                saved.append((module, module.processor))
                module.processor = processor
        yield
    finally:
        for module, previous in saved:
            module.processor = previous
