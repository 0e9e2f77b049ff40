"""Tiny random-weight pipelines of the transformer families, built at test time.

FLUX.1 (and its Fill and Kontext variants), SD 3.5, Z-Image, Qwen-Image and Chroma, each
saved with save_pretrained as the diffusers folder a user has (model_index.json and one
subfolder per part), with the real architecture and part classes but a few thousand to a
few hundred thousand weights per part: a few MB on disk, a job in about a second.

The tokenizers are small vocabularies written here and handed to the transformers classes
the pipelines load, which build them as `tokenizers` models (CLIP's byte-level BPE over
single bytes, T5's Unigram over a few words and characters, Qwen's byte-level BPE with its
chat markers) and save them as tokenizer.json: nothing is downloaded. Each folder carries an overpaint.json with a
native size of 128 so that region jobs stay small; the family's own native size (1024) is
what a real folder gets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

NATIVE = 128
# A vocabulary for the T5 tokenizer: words the tests' prompts use, then single characters.
WORDS = (
    "a red square on blue background green circle cat dog sky tree house the of and with "
    "make it stormy bright dark"
).split()
CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:;()"
# Z-Image formats its prompt with the tokenizer's chat template.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The schedulers' configs of the real models (Qwen-Image's shift_terminal gives NaN at 1 step).
FLUX_SCHEDULER = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}
SD3_SCHEDULER = {"shift": 3.0}
QWEN_SCHEDULER = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 8192,
    "max_shift": 0.9,
    "shift": 1.0,
    "shift_terminal": 0.02,
    "time_shift_type": "exponential",
    "use_dynamic_shifting": True,
}
ZIMAGE_SCHEDULER = {"shift": 3.0, "use_dynamic_shifting": False}


def _byte_chars() -> list[str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def clip_tokenizer() -> Any:
    """CLIP's byte-level BPE over single bytes (no merges): 514 tokens."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in _byte_chars():
            vocab.setdefault(c + suffix, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer() -> Any:
    """T5's Unigram over the test words and single characters (pad 0, eos 1, unk 2)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + w, -1.0) for w in WORDS] + [(c, -5.0) for c in CHARS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def qwen_tokenizer() -> Any:
    """Qwen's byte-level BPE over single bytes plus its chat markers, with a chat template."""
    from transformers import Qwen2Tokenizer

    tokenizer = Qwen2Tokenizer(vocab={c: i for i, c in enumerate(_byte_chars())}, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _clip_encoder(tokenizer: Any, projection: bool = False) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
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
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _t5_encoder(tokenizer: Any, width: int = 32) -> Any:
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=width,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )


def _vae(scaling: float, shift: float) -> Any:
    """An x8 AutoencoderKL with 16 latent channels (FLUX's, SD 3.5's and Z-Image's shape)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(16, 16, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=16,
        layers_per_block=1,
        norm_num_groups=16,
        sample_size=NATIVE,
        scaling_factor=scaling,
        shift_factor=shift,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )


def _flux_parts(in_channels: int = 64, guidance: bool = True) -> dict[str, Any]:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

    clip, t5 = clip_tokenizer(), t5_tokenizer()
    return {
        "transformer": FluxTransformer2DModel(
            patch_size=1,
            in_channels=in_channels,
            out_channels=64,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            guidance_embeds=guidance,
            axes_dims_rope=(4, 4, 8),
        ),
        "vae": _vae(0.3611, 0.1159),
        "text_encoder": _clip_encoder(clip),
        "tokenizer": clip,
        "text_encoder_2": _t5_encoder(t5),
        "tokenizer_2": t5,
        "scheduler": FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER),
    }


def flux(guidance: bool = True) -> Any:
    """FLUX.1 dev's shape (guidance embedded); schnell's without `guidance`."""
    from diffusers import FluxPipeline

    return FluxPipeline(
        **_flux_parts(guidance=guidance), image_encoder=None, feature_extractor=None
    )


def flux_fill() -> Any:
    """FLUX.1 Fill: 384 input channels (noise 64, masked picture 64, mask 8·8·4)."""
    from diffusers import FluxFillPipeline

    return FluxFillPipeline(**_flux_parts(in_channels=384))


def flux_kontext() -> Any:
    from diffusers import FluxKontextPipeline

    return FluxKontextPipeline(**_flux_parts(), image_encoder=None, feature_extractor=None)


def sd3() -> Any:
    """SD 3.5: two CLIP encoders with projections (pooled 32 + 32) and a T5 (64 wide)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    clip, t5 = clip_tokenizer(), t5_tokenizer()
    transformer = SD3Transformer2DModel(
        sample_size=NATIVE // 8,
        patch_size=2,
        in_channels=16,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=64,
        caption_projection_dim=32,
        pooled_projection_dim=64,
        out_channels=16,
        pos_embed_max_size=64,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(**SD3_SCHEDULER),
        vae=_vae(1.5305, 0.0609),
        text_encoder=_clip_encoder(clip, projection=True),
        tokenizer=clip,
        text_encoder_2=_clip_encoder(clip, projection=True),
        tokenizer_2=clip,
        text_encoder_3=_t5_encoder(t5, width=64),
        tokenizer_3=t5,
        image_encoder=None,
        feature_extractor=None,
    )


def z_image() -> Any:
    """Z-Image: a single-stream transformer over a Qwen3 text encoder."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = qwen_tokenizer()
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=1,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        axes_lens=[1024, 64, 64],
    )
    with torch.no_grad():  # created with torch.empty: give them values
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=len(tokenizer),
            max_position_embeddings=1024,
        )
    )
    return ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**ZIMAGE_SCHEDULER),
        vae=_vae(0.3611, 0.1159),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )


def qwen_image() -> Any:
    """Qwen-Image: its video VAE (x8, 16 channels) and a Qwen2.5-VL text encoder."""
    from diffusers import QwenImagePipeline

    return QwenImagePipeline(**_qwen_parts(qwen_tokenizer()))


def _qwen_parts(tokenizer: Any, vision_tokens: dict[str, int] | None = None) -> dict[str, Any]:
    """Qwen-Image's parts; `vision_tokens` are the ids of the picture markers an Edit
    model's text encoder reads (image_token_id, vision_start_token_id, ...)."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=64,
        out_channels=16,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=16,
        dim_mult=[1, 2, 2, 2],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 16,
        latents_std=[1.0] * 16,
    )
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.eos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        hidden_size=16,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **(vision_tokens or {}),
    )
    return {
        "scheduler": FlowMatchEulerDiscreteScheduler(**QWEN_SCHEDULER),
        "vae": vae,
        "text_encoder": Qwen2_5_VLForConditionalGeneration(config).eval(),
        "tokenizer": tokenizer,
        "transformer": transformer,
    }


# The picture markers of Qwen2.5-VL's chat format, which an Edit prompt holds.
VISION_MARKERS = ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>")
# Qwen's processor shows its vision tower the picture at up to this many pixels; the real
# one's 1003520 would cost the tiny model seconds per job.
TINY_VISION_PIXELS = 56 * 56 * 4


def qwen_edit_parts() -> dict[str, Any]:
    """Qwen-Image-Edit's parts: Qwen-Image's with a tokenizer that knows the picture
    markers, a text encoder that reads them, and the processor without its video part
    (engine.local.qwen_processor)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from engine.local.qwen_processor import ImageOnlyQwen2VLProcessor

    tokenizer = qwen_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_MARKERS)})
    ids = {marker: tokenizer.convert_tokens_to_ids(marker) for marker in VISION_MARKERS}
    parts = _qwen_parts(
        tokenizer,
        {
            "vision_start_token_id": ids["<|vision_start|>"],
            "vision_end_token_id": ids["<|vision_end|>"],
            "image_token_id": ids["<|image_pad|>"],
            "video_token_id": ids["<|video_pad|>"],
        },
    )
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": 56 * 56, "longest_edge": TINY_VISION_PIXELS}
    )
    parts["processor"] = ImageOnlyQwen2VLProcessor(image_processor, tokenizer)
    return parts


def qwen_image_edit() -> Any:
    from diffusers import QwenImageEditPipeline

    return QwenImageEditPipeline(**qwen_edit_parts())


def qwen_image_edit_plus() -> Any:
    from diffusers import QwenImageEditPlusPipeline

    return QwenImageEditPlusPipeline(**qwen_edit_parts())


def flux2_klein(distilled: bool = False) -> Any:
    """FLUX.2 Klein: a Qwen3 causal LM whose layers 9, 18 and 27 are stacked into the
    transformer's text input (so 28 layers, 16 wide: 3 x 16 = 48), a FLUX.2 VAE with 32
    latent channels patched 2x2 into 128, and one double and one single block."""
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = qwen_tokenizer()
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=28,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=len(tokenizer),
            max_position_embeddings=1024,
        )
    )
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=128,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=48,
        timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4),
        guidance_embeds=False,
    )
    vae = AutoencoderKLFlux2(
        block_out_channels=(16, 16, 16, 16),
        layers_per_block=1,
        latent_channels=32,
        norm_num_groups=16,
        sample_size=NATIVE,
        use_quant_conv=False,
        use_post_quant_conv=False,
        mid_block_add_attention=False,
    )
    return Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=distilled,
    )


def chroma() -> Any:
    """Chroma: FLUX.1 schnell's shape with a T5 only and a distilled modulation."""
    from diffusers import ChromaPipeline, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    t5 = t5_tokenizer()
    transformer = ChromaTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=(4, 4, 8),
        approximator_num_channels=8,
        approximator_hidden_dim=32,
        approximator_layers=1,
    )
    return ChromaPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER),
        vae=_vae(0.3611, 0.1159),
        text_encoder=_t5_encoder(t5),
        tokenizer=t5,
        transformer=transformer,
        image_encoder=None,
        feature_extractor=None,
    )


BUILDERS: dict[str, Callable[[], Any]] = {
    "flux": flux,
    "flux-schnell": lambda: flux(guidance=False),
    "flux-fill": flux_fill,
    "flux-kontext": flux_kontext,
    "sd3": sd3,
    "z-image": z_image,
    "qwen-image": qwen_image,
    "chroma": chroma,
    "qwen-image-edit": qwen_image_edit,
    "qwen-image-edit-plus": qwen_image_edit_plus,
    "flux2-klein": flux2_klein,
    "flux2-klein-distilled": lambda: flux2_klein(distilled=True),
}


def build_tiny_modern_folder(family: str, path: Path, seed: int = 0) -> Path:
    """Write the tiny diffusers folder of `family` (a key of BUILDERS: a family, or
    "flux-schnell", a FLUX.1 folder without guidance) at `path`."""
    import torch

    torch.manual_seed(seed)
    pipe = BUILDERS[family]()
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(path), safe_serialization=True)
    if "processor" in pipe.components:
        _as_user_processor(path)
    (path / "overpaint.json").write_text(json.dumps({"native_resolution": NATIVE}))
    return path


def _as_user_processor(path: Path) -> None:
    """Write the Qwen processor as the real Qwen-Image-Edit folders have it: transformers'
    Qwen2VLProcessor (whose video part Overpaint never builds) and its image processor's
    name, not the subclass the tiny pipeline was built with."""
    index_file = path / "model_index.json"
    index = json.loads(index_file.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_file.write_text(json.dumps(index, indent=2))
    for name in ("processor_config.json", "preprocessor_config.json"):
        config_file = path / "processor" / name
        if config_file.is_file():
            text = config_file.read_text().replace("ImageOnlyQwen2VLProcessor", "Qwen2VLProcessor")
            config_file.write_text(
                text.replace("Qwen2VLImageProcessorPil", "Qwen2VLImageProcessor")
            )
