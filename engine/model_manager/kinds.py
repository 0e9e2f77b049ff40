"""What a model file or folder is (checkpoint, inpainting checkpoint, LoRA, ControlNet,
upscaler, VAE, and the split parts of the transformer families: a transformer, .gguf
included, or a text encoder), told from its contents, and the models subfolder each kind
goes to (the split parts to ComfyUI's folder names, where engine.model_files finds them).

Only safetensors headers, GGUF tensor tables and JSON configs are read, never the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from engine import discovery
from engine.core.errors import ModelError
from engine.discovery import (
    folder_kind,
    has_config,
    has_model_index,
    header_kind,
    read_json_object,
    read_safetensors_header,
)
from engine.lora.library import lora_context_dim
from engine.model_files import describe_gguf_failure, part_kind, read_tensors, single_file_parts
from engine.models import detect_family, inspect_folder

# Kind -> (the models subfolder it goes to, its label). The transformer families' split
# parts, IP-Adapters and their image encoders go to ComfyUI's folder names; segmenters
# are Select Object's SAM / SAM 2 folders (engine.select.segmenter).
_KIND_TABLE: dict[str, tuple[str, str]] = {
    "checkpoint": ("checkpoints", "Checkpoint"),
    "inpainting": ("inpainting", "Inpainting checkpoint"),
    "lora": ("loras", "LoRA"),
    "controlnet": ("controlnet", "ControlNet"),
    "upscaler": ("upscalers", "Upscaler"),
    "vae": ("vae", "VAE"),
    "transformer": ("diffusion_models", "Transformer"),
    "text-encoder": ("text_encoders", "Text encoder"),
    "segmenter": ("segmenters", "Segmentation model"),
    "ip-adapter": ("ipadapter", "IP-Adapter"),
    "image-encoder": ("clip_vision", "Image encoder"),
}
KINDS: tuple[str, ...] = tuple(_KIND_TABLE)
KIND_DIRS: dict[str, str] = {kind: folder for kind, (folder, _) in _KIND_TABLE.items()}
KIND_LABELS: dict[str, str] = {kind: label for kind, (_, label) in _KIND_TABLE.items()}
_CONTEXT_FAMILY = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


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
    if path.suffix.lower() == ".gguf":
        return _classify_parts(path) or _not_sortable(path)
    if path.suffix.lower() != ".safetensors":
        raise ModelError(
            f"{path.name} is not a .safetensors or .gguf file; pickled checkpoints (.ckpt, "
            ".pt, .bin) can run code when loaded, so Overpaint refuses them."
        )
    header = read_safetensors_header(path)
    return classify_header(header, path)


def _classify_parts(path: Path) -> Kind | None:
    """A transformer family's file: a single file with every part (a checkpoint), a
    transformer alone, or a text encoder; None when it is none of them."""
    tensors = read_tensors(path)
    found = single_file_parts(path, tensors)
    if found is not None:
        family, _guidance, parts = found
        return Kind("checkpoint" if len(parts) > 1 else "transformer", family)
    if path.suffix.lower() == ".gguf":
        raise ModelError(describe_gguf_failure(path, tensors))
    kind = part_kind(tensors.shapes, path.stem)
    if kind is None or kind.startswith("vae"):
        return None
    return Kind("text-encoder", "")


def _not_sortable(path: Path) -> NoReturn:
    raise ModelError(
        f"{path.name} is not a model Overpaint can sort (checkpoint, inpainting checkpoint, "
        "LoRA, ControlNet, upscaler, VAE, transformer or text encoder); pass --kind to "
        "place it anyway."
    )


def classify_header(header: dict[str, dict], path: Path) -> Kind:
    kind = header_kind(header)
    if kind == discovery.IP_ADAPTER:
        return Kind("ip-adapter", _control_family(header, "to_k_ip"))
    if kind == discovery.LORA:
        return Kind("lora", _CONTEXT_FAMILY.get(lora_context_dim(header) or 0, ""))
    if kind in (discovery.CONTROLNET, discovery.T2I_ADAPTER):
        # T2I-Adapters live beside the ControlNets, where control discovery looks.
        return Kind("controlnet", _control_family(header))
    if kind in (discovery.CHECKPOINT, discovery.INPAINT_CHECKPOINT):
        family = detect_family(header, path)
        return Kind("inpainting" if family.endswith("-inpaint") else "checkpoint", family)
    if kind in (discovery.UPSCALER, discovery.VAE):
        return Kind(kind, "")
    return _classify_parts(path) or _not_sortable(path)


def _control_family(header: dict[str, dict], marker: str = "attn2") -> str:
    """The family whose text features a cross-attention key (named with `marker`) reads."""
    for key, entry in header.items():
        if marker in key and "to_k" in key and key.endswith("weight"):
            shape = entry.get("shape") or []
            if len(shape) == 2:
                return _CONTEXT_FAMILY.get(int(shape[1]), "")
    return ""


def _classify_folder(folder: Path) -> Kind:
    if has_model_index(folder):
        if folder_kind(folder) == discovery.UPSCALER:
            return Kind("upscaler", "")
        info = inspect_folder(folder)
        return Kind("inpainting" if info.is_inpainting else "checkpoint", info.family)
    if has_config(folder):
        kind = folder_kind(folder)
        if kind in (discovery.CONTROLNET, discovery.T2I_ADAPTER):
            width = read_json_object(folder / "config.json").get("cross_attention_dim")
            return Kind(
                "controlnet", _CONTEXT_FAMILY.get(width, "") if isinstance(width, int) else ""
            )
        if kind in (discovery.VAE, discovery.SEGMENTER, discovery.IMAGE_ENCODER):
            return Kind(kind, "")  # discovery's names are the kinds' own
    weights = sorted(folder.glob("*.safetensors"))
    if len(weights) == 1:
        return classify(weights[0])
    raise ModelError(
        f"{folder.name} is not a diffusers model, ControlNet, upscaler, VAE, segmentation "
        "model or image encoder folder (no model_index.json or known config.json)."
    )
