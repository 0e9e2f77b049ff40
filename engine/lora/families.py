"""Which model family a LoRA file was made for, told from its tensor names, and the file's
weights in a layout diffusers' `load_lora_weights` reads for the transformer families.

A LoRA's tensor names say which network it patches: a UNet's `down_blocks` / kohya's
`lora_unet_input_blocks` (SD 1.x, 2.x, XL: their width tells them apart, engine.lora.library),
FLUX's `double_blocks` / `single_transformer_blocks` (FLUX.1, its Fill and Kontext models
and Chroma share the architecture), Qwen-Image's `img_mlp`, SD 3's `joint_blocks`, Z-Image's
`noise_refiner`. A LoRA for another family is refused in one sentence before anything loads;
a file whose names say nothing (a diffusers LoRA on the blocks every family has) is tried.

Formats. diffusers reads the diffusers/peft layout (`transformer.<module>.lora_A.weight`),
kohya's (`lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight` + `.alpha`) and
ComfyUI's (`diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight`). BFL's own
module names with peft's `lora_A` / `lora_B` (what ai-toolkit and ComfyUI's trainer write)
it does not recognise in 0.42.1: `normalise` renames those to the ComfyUI layout it reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.core.errors import ModelError
from engine.lora.library import describe_context, lora_context_dim, read_header_and_metadata
from engine.models import ModelInfo, family_label

# Model family -> the architecture its LoRAs patch (the UNet families: "unet"); a
# transformer architecture is named after the family that defines it.
_ARCHITECTURES = {
    "flux": "flux",
    "flux-fill": "flux",
    "flux-kontext": "flux",
    "chroma": "flux",
    "sd3": "sd3",
    "qwen-image": "qwen-image",
    "z-image": "z-image",
}
# (architecture, names that only its LoRAs hold), checked in this order: FLUX's blocks
# hold img_mod too, so FLUX comes before Qwen-Image.
_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("flux", ("double_blocks", "single_blocks", "single_transformer_blocks")),
    ("qwen-image", ("img_mlp", "txt_mlp")),
    ("sd3", ("joint_blocks",)),
    ("z-image", ("noise_refiner", "context_refiner", "adaLN_modulation")),
    ("unet", ("down_blocks", "up_blocks", "mid_block", "input_blocks", "output_blocks",
              "middle_block", "lora_te_", "lora_te1_", "lora_te2_")),
)  # fmt: skip
_BFL_PREFIXES = ("diffusion_model.", "transformer.", "base_model.model.", "lora_unet_")


def lora_architecture(keys: Any) -> str | None:
    """The architecture ("flux", "sd3", "qwen-image", "z-image", "unet") a LoRA's tensor
    names patch, or None when they do not say."""
    names = tuple(str(k) for k in keys)
    for architecture, markers in _MARKERS:
        if any(m in k for k in names for m in markers):
            return architecture
    return None


def model_architecture(info: ModelInfo) -> str:
    return _ARCHITECTURES.get(info.family, "unet" if not info.is_modern else info.family)


def _model_label(info: ModelInfo) -> str:
    # An inpainting or v-prediction model takes its base family's LoRAs.
    return family_label(info.family if info.is_modern else info.family.split("-")[0])


def check_family(path: Path, info: ModelInfo) -> None:
    """ModelError (one sentence) when the LoRA at `path` was made for another family than
    the model `info`'s."""
    header, _metadata = read_header_and_metadata(path)
    made_for = lora_architecture(header)
    if made_for is None or made_for == model_architecture(info):
        return
    if made_for == "unet":
        lora_label = describe_context(lora_context_dim(header))
        if lora_label.startswith("an unknown"):
            lora_label = "SD 1.x, SD 2.x or SDXL"
    else:
        lora_label = family_label(made_for)
    model_label = _model_label(info)
    raise ModelError(
        f"LoRA {path.stem} does not fit the model {info.name}: the LoRA is for {lora_label}, "
        f"the model is a {model_label} model; pick a LoRA made for {model_label}."
    )


def normalise(state: dict[str, Any]) -> dict[str, Any]:
    """A FLUX LoRA in BFL's module names with peft's lora_A/lora_B, renamed to ComfyUI's
    layout (`diffusion_model.<module>.lora_down/up.weight`) that diffusers converts; any
    other file unchanged."""
    bfl = any(("double_blocks" in k or "single_blocks" in k) and ".lora_A." in k for k in state)
    if not bfl:
        return state
    out: dict[str, Any] = {}
    for key, value in state.items():
        name = key
        for prefix in _BFL_PREFIXES:
            name = name.removeprefix(prefix)
        name = name.replace(".lora_A.", ".lora_down.").replace(".lora_B.", ".lora_up.")
        out[f"diffusion_model.{name}"] = value
    return out
