"""IP-Adapter on a loaded SD 1.x / SDXL pipeline: loading it through diffusers'
`load_ip_adapter`, encoding reference pictures once, and the per-block, per-picture
scales of the reference kinds.

The adapter is loaded once per UNet and kept aside: `load_ip_adapter` installs its
cross-attention processors and image projection in the UNet, and they are taken out again
at once, so jobs without references run the stock UNet. `ReferenceStage.attached`
(engine.reference.stage) puts them back for one job. The CLIP vision encoder is the memory
cost (about 2.5 GB for ViT-H in fp32): it is loaded only when a picture's embedding is not
cached, used, and let go; embeddings are kept by picture hash.

Kinds, after InstantStyle: "reference" scales every cross-attention; "style" only the
decoder's deepest cross-attention block, its middle attention (SDXL `up.block_0` [0, 1,
0]); "composition" only the encoder's deepest one, its last attention (SDXL `down.block_2`
[0, 1]). Several references run side by side as the masked images of one adapter, each
with its own scales and region (diffusers' IPAdapterMaskProcessor); a picture whose scales
are all 0 at a step is skipped, so weight 0 is no reference at all. With regional prompts
the cross-attentions keep their masked processor and get the picture tokens on top
(`AdapterOnTop`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.image_processor import IPAdapterMaskProcessor
from diffusers.models.attention_processor import AttnProcessor2_0, IPAdapterAttnProcessor2_0
from PIL import Image

from engine.core.errors import ModelError
from engine.reference.adapters import Adapter
from engine.reference.spec import ReferenceSpec
from engine.reference.stage import pipeline_unet

log = logging.getLogger(__name__)

IP_TYPE = "ip_image_proj"


@dataclass
class LoadedAdapter:
    processors: dict[str, Any]  # the UNet's processors with the adapter's cross-attentions
    projection: Any  # the UNet's encoder_hid_proj (MultiIPAdapterImageProjection)

    def ip_names(self) -> list[str]:
        return [n for n, p in self.processors.items() if isinstance(p, IPAdapterAttnProcessor2_0)]


def load_adapter(pipe: Any, adapter: Adapter) -> LoadedAdapter:
    """Load `adapter` with diffusers into the pipeline's UNet, take its processors and
    image projection, and leave the UNet as it was."""
    unet = pipeline_unet(pipe)
    saved = dict(unet.attn_processors)
    saved_proj, saved_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    try:
        pipe.load_ip_adapter(
            str(adapter.path.parent),
            subfolder="",
            weight_name=adapter.path.name,
            image_encoder_folder=None,  # the encoder is loaded per picture, not kept
            local_files_only=True,
        )
        loaded = LoadedAdapter(dict(unet.attn_processors), unet.encoder_hid_proj)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        log.exception("cannot load IP-Adapter %s", adapter.path)
        raise ModelError(
            f"The IP-Adapter {adapter.name} could not be loaded ({type(e).__name__}); it may be "
            "damaged, so download it again."
        ) from e
    finally:
        # The projection first: a Plus adapter's resampler has attention processors of
        # its own, which unet.attn_processors lists while it is attached.
        unet.encoder_hid_proj = saved_proj
        unet.config.encoder_hid_dim_type = saved_type
        unet.set_attn_processor(saved)
    return loaded


def attach(unet: Any, loaded: LoadedAdapter) -> tuple[Any, Any, Any]:
    """Put the adapter in the UNet; returns what `detach` restores. A cross-attention
    that runs a processor of its own (regional prompts' masked attention) keeps it, with
    the adapter's picture tokens added on top."""
    saved = (dict(unet.attn_processors), unet.encoder_hid_proj, unet.config.encoder_hid_dim_type)
    processors = dict(loaded.processors)
    for name in loaded.ip_names():
        current = saved[0].get(name)
        if current is not None and type(current) is not AttnProcessor2_0:
            processors[name] = AdapterOnTop(current, loaded.processors[name])
    unet.encoder_hid_proj = loaded.projection  # first: see load_adapter
    unet.config.encoder_hid_dim_type = IP_TYPE
    unet.set_attn_processor(processors)
    return saved


class AdapterOnTop:
    """Another cross-attention processor (`text`) with an IP-Adapter's picture tokens
    added as IPAdapterAttnProcessor2_0 adds them: each picture's attention, scaled and
    masked, goes through the output projection (linear, so it adds after it)."""

    def __init__(self, text: Any, ip: IPAdapterAttnProcessor2_0) -> None:
        self.text, self.ip = text, ip

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: Any = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        scale: float = 1.0,
        ip_adapter_masks: Any = None,
    ) -> torch.Tensor:
        pictures = None
        if isinstance(encoder_hidden_states, tuple):
            encoder_hidden_states, pictures = encoder_hidden_states
        out = self.text(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if pictures is None or hidden_states.ndim != 3:
            return out
        added = _picture_attention(self.ip, attn, hidden_states, pictures, ip_adapter_masks)
        if added is None:
            return out
        return out + F.linear(added, attn.to_out[0].weight) / attn.rescale_output_factor


def _picture_attention(
    ip: IPAdapterAttnProcessor2_0, attn: Any, hidden: torch.Tensor, pictures: Any, masks: Any
) -> torch.Tensor | None:
    """The sum of the adapter's scaled (and masked) picture attentions, before the
    output projection; None when every scale is 0."""
    batch = hidden.shape[0]
    query = attn.to_q(hidden)
    head_dim = query.shape[-1] // attn.heads

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)

    query = heads(query)
    masks = list(masks) if masks is not None else [None] * len(ip.scale)
    total = None
    for states, scale, to_k, to_v, mask in zip(
        pictures, ip.scale, ip.to_k_ip, ip.to_v_ip, masks, strict=False
    ):
        scales = scale if isinstance(scale, list) else None
        if all(s == 0 for s in scales) if scales is not None else scale == 0:
            continue
        if mask is None:
            parts = [(states, float(scale), None)]
        else:
            scales = scales or [float(scale)] * mask.shape[1]
            parts = [(states[:, i], scales[i], mask[:, i]) for i in range(mask.shape[1])]
        for tokens, weight, region in parts:
            out = F.scaled_dot_product_attention(query, heads(to_k(tokens)), heads(to_v(tokens)))
            out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
            if region is not None:
                down = IPAdapterMaskProcessor.downsample(region, batch, out.shape[1], out.shape[2])
                out = out * down.to(dtype=query.dtype, device=query.device)
            total = weight * out if total is None else total + weight * out
    return total


def detach(unet: Any, saved: tuple[Any, Any, Any]) -> None:
    processors, projection, kind = saved
    unet.encoder_hid_proj = projection  # first: see load_adapter
    unet.config.encoder_hid_dim_type = kind
    unet.set_attn_processor(processors)


def _rgb(picture: np.ndarray) -> Image.Image:
    """The picture as RGB, transparent parts on white (what a reference layer shows)."""
    if picture.ndim != 3 or picture.shape[2] not in (3, 4) or picture.dtype != np.uint8:
        raise ModelError(
            f"A reference picture must be RGB or RGBA bytes, not {picture.dtype} {picture.shape}."
        )
    if picture.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(picture))
    alpha = picture[..., 3:].astype(np.float32) / 255.0
    rgb = picture[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return Image.fromarray(np.round(rgb).astype(np.uint8))


def encode_pictures(
    adapter: Adapter, pictures: Sequence[np.ndarray], unet: Any
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(picture, empty picture) embeddings of each picture with the adapter's encoder, in
    the UNet's dtype and on its device; the encoder is let go afterwards."""
    # transformers' CLIP classes: ~1 s to import, only when a picture must be encoded
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    try:
        encoder = CLIPVisionModelWithProjection.from_pretrained(
            str(adapter.encoder), local_files_only=True, use_safetensors=True, dtype=unet.dtype
        ).to(unet.device)
    except (OSError, ValueError) as e:
        log.exception("cannot load image encoder %s", adapter.encoder)
        raise ModelError(
            f"The image encoder {adapter.encoder.name} could not be loaded; it may be damaged, "
            "so install it again."
        ) from e
    try:
        size = int(encoder.config.image_size)
        processor = CLIPImageProcessor(size=size, crop_size=size)
        out = []
        with torch.inference_mode():
            for picture in pictures:
                pixels = processor(_rgb(picture), return_tensors="pt").pixel_values
                pixels = pixels.to(device=unet.device, dtype=unet.dtype)
                if adapter.shape.hidden:  # Plus: the hidden states before the last layer
                    cond = encoder(pixels, output_hidden_states=True).hidden_states[-2]
                    empty = torch.zeros_like(pixels)
                    uncond = encoder(empty, output_hidden_states=True).hidden_states[-2]
                else:
                    cond = encoder(pixels).image_embeds
                    uncond = torch.zeros_like(cond)
                out.append((cond.clone(), uncond.clone()))
        return out
    finally:
        del encoder
        gc.collect()  # the encoder is the memory cost: give it back now
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def image_embeds(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], cfg: bool) -> torch.Tensor:
    """The pipeline's `ip_adapter_image_embeds` entry for one adapter and several
    pictures: (2 with CFG, pictures, ...), the empty pictures' half first."""
    cond = torch.stack([c[0] for c, _ in pairs])[None]
    if not cfg:
        return cond
    uncond = torch.stack([u[0] for _, u in pairs])[None]
    return torch.cat([uncond, cond], dim=0)


def region_masks(masks: Sequence[np.ndarray | None], gen: tuple[int, int]) -> torch.Tensor:
    """(1, pictures, h, w) masks for the adapter's pictures at the generation size:
    a picture without a region covers everything."""
    width, height = gen
    images = [
        Image.new("L", (width, height), 255) if m is None else Image.fromarray(m).convert("L")
        for m in masks
    ]
    stacked = IPAdapterMaskProcessor().preprocess(images, height=height, width=width)
    return stacked.reshape(1, len(images), height, width)


def _attention_index(name: str, part: str) -> tuple[int, int] | None:
    """(block, attention) of a processor named `part`_blocks.B.attentions.A...."""
    bits = name.split(".")
    if len(bits) < 4 or bits[0] != f"{part}_blocks" or bits[2] != "attentions":
        return None
    return int(bits[1]), int(bits[3])


def kind_factors(names: Sequence[str], kind: str) -> dict[str, float]:
    """Each IP processor's share of a reference of `kind` (1 or 0), after InstantStyle."""
    if kind == "reference":
        return dict.fromkeys(names, 1.0)
    part = "up" if kind == "style" else "down"
    found = [(i, n) for n in names if (i := _attention_index(n, part)) is not None]
    if not found:
        return dict.fromkeys(names, 0.0)
    # style: the decoder's deepest block (the first up block with attentions), its middle
    # attention; composition: the encoder's deepest (the last), its last attention.
    pick = min if kind == "style" else max
    block = pick(i[0] for i, _ in found)
    count = 1 + max(i[1] for i, _ in found if i[0] == block)
    attention = min(1, count - 1) if kind == "style" else count - 1
    return {n: float(_attention_index(n, part) == (block, attention)) for n in names}


class Scales:
    """The adapter's scale in each IP processor at each step: per picture, its weight times
    its kind's share of the block, inside its step range, 0 outside."""

    def __init__(self, loaded: LoadedAdapter, specs: Sequence[ReferenceSpec], per_picture: bool):
        self.loaded = loaded
        self.specs = tuple(specs)
        self.per_picture = per_picture  # a list per processor (the masked path)
        names = loaded.ip_names()
        self._factors = [kind_factors(names, s.kind) for s in self.specs]
        self._last: tuple[bool, ...] | None = None

    def reset(self) -> None:
        """Set every scale at the next step: another stage on the same adapter (a regional
        reference's run without it) may have left its own in the processors."""
        self._last = None

    def set(self, step: int, total: int) -> None:
        n = max(total, 1)
        active = tuple(
            not (step / n < s.start or (step + 1) / n > s.end) and s.weight != 0 for s in self.specs
        )
        if active == self._last:
            return
        self._last = active
        for name in self.loaded.ip_names():
            values = [
                float(s.weight) * f[name] if on else 0.0
                for s, f, on in zip(self.specs, self._factors, active, strict=True)
            ]
            self.loaded.processors[name].scale = [values if self.per_picture else values[0]]
