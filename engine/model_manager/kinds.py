"""What a model file or folder is (checkpoint, inpainting checkpoint, LoRA, ControlNet,
upscaler, VAE), told from its contents, and the models subfolder each kind goes to.

Only safetensors headers and JSON configs are read, never the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelError
from engine.models import detect_family, inspect_folder, read_safetensors_header

KINDS: tuple[str, ...] = ("checkpoint", "inpainting", "lora", "controlnet", "upscaler", "vae")
KIND_DIRS: dict[str, str] = {
    "checkpoint": "checkpoints",
    "inpainting": "inpainting",
    "lora": "loras",
    "controlnet": "controlnet",
    "upscaler": "upscalers",
    "vae": "vae",
}
KIND_LABELS: dict[str, str] = {
    "checkpoint": "Checkpoint",
    "inpainting": "Inpainting checkpoint",
    "lora": "LoRA",
    "controlnet": "ControlNet",
    "upscaler": "Upscaler",
    "vae": "VAE",
}
_CONTEXT_FAMILY = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
_UPSCALER_PIPELINES = ("StableDiffusionUpscalePipeline", "StableDiffusionLatentUpscalePipeline")
_CONTROL_CLASSES = ("ControlNetModel", "ControlNetUnionModel", "T2IAdapter", "ControlNetXSAdapter")
_VAE_CLASSES = ("AutoencoderKL", "AutoencoderTiny", "ConsistencyDecoderVAE")


@dataclass(frozen=True)
class Kind:
    kind: str  # one of KINDS
    family: str  # "sd1", "sdxl", ... or "" when it cannot be told


def classify(path: Path) -> Kind:
    """The kind and family of a .safetensors file or a diffusers folder; ModelError with
    one sentence when it is none of the kinds Overpaint installs."""
    path = Path(path)
    if path.is_dir():
        return _classify_folder(path)
    if path.suffix.lower() != ".safetensors":
        raise ModelError(
            f"{path.name} is not a .safetensors file; pickled checkpoints (.ckpt, .pt, .bin) "
            "can run code when loaded, so Overpaint refuses them."
        )
    header = read_safetensors_header(path)
    return classify_header(header, path)


def classify_header(header: dict[str, dict], path: Path) -> Kind:
    keys = list(header)
    from engine.lora.library import is_lora_keys, lora_context_dim

    if is_lora_keys(keys):
        return Kind("lora", _CONTEXT_FAMILY.get(lora_context_dim(header) or 0, ""))
    if any(k.startswith("control_model.") or "input_hint_block" in k for k in keys) or any(
        k.startswith("controlnet_cond_embedding.") for k in keys
    ):
        return Kind("controlnet", _control_family(header))
    if "model.diffusion_model.input_blocks.0.0.weight" in header:
        family = detect_family(header, path)
        return Kind("inpainting" if family.endswith("-inpaint") else "checkpoint", family)
    if any(k.startswith(("conv_first.", "model.0.", "body.", "conv_up1.")) for k in keys) and any(
        k.startswith(("conv_last.", "conv_hr.", "model.", "upconv")) for k in keys
    ):
        return Kind("upscaler", "")
    prefixes = {k.split(".", 1)[0] for k in keys}
    if {"encoder", "decoder"} <= prefixes or "first_stage_model" in prefixes:
        return Kind("vae", "")
    raise ModelError(
        f"{path.name} is not a model Overpaint can sort (checkpoint, inpainting checkpoint, "
        "LoRA, ControlNet, upscaler or VAE); pass --kind to place it anyway."
    )


def _control_family(header: dict[str, dict]) -> str:
    for key, entry in header.items():
        if "attn2" in key and "to_k" in key and key.endswith("weight"):
            shape = entry.get("shape") or []
            if len(shape) == 2:
                return _CONTEXT_FAMILY.get(int(shape[1]), "")
    return ""


def _read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path} is unreadable or not valid JSON.") from e
    return data if isinstance(data, dict) else {}


def _classify_folder(folder: Path) -> Kind:
    index = folder / "model_index.json"
    if index.is_file():
        class_name = str(_read_config(index).get("_class_name", ""))
        if class_name in _UPSCALER_PIPELINES:
            return Kind("upscaler", "")
        info = inspect_folder(folder)
        return Kind("inpainting" if info.is_inpainting else "checkpoint", info.family)
    config = folder / "config.json"
    if config.is_file():
        data = _read_config(config)
        class_name = str(data.get("_class_name", ""))
        if class_name in _CONTROL_CLASSES:
            width = data.get("cross_attention_dim")
            return Kind(
                "controlnet", _CONTEXT_FAMILY.get(width, "") if isinstance(width, int) else ""
            )
        if class_name in _VAE_CLASSES:
            return Kind("vae", "")
    weights = sorted(folder.glob("*.safetensors"))
    if len(weights) == 1:
        return classify(weights[0])
    raise ModelError(
        f"{folder.name} is not a diffusers model, ControlNet, upscaler or VAE folder "
        "(no model_index.json or known config.json)."
    )
