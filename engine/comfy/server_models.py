"""A ComfyUI server's models by family, and the parts a split model needs there.

A server lists file names only: its checkpoints (`CheckpointLoaderSimple`, all parts in one
file), its diffusion models (`UNETLoader`: models/diffusion_models or models/unet), text
encoders (models/text_encoders or models/clip) and VAEs (models/vae). It does not say what
family a file is, so the family is told from the file name the way these files are
published and kept (flux1-dev, flux1-kontext-dev, sd3.5_medium, qwen_image_edit_2509,
z_image_turbo, chroma-unlocked...). A diffusion model whose name names no family is left
out of the list; a checkpoint whose name names no transformer family is an SD 1.x, SD 2.x
or SDXL one, as before.

For a diffusion model the server's text encoders and VAE are chosen by family, by the names
ComfyUI's own example workflows use (clip_l, t5xxl, clip_g, qwen_2.5_vl, ae, qwen_image_vae);
a missing part is one sentence naming it and the folder it goes in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from engine.core.errors import ModelError
from engine.models import MODERN_FAMILIES

# The families a server's files are sorted into, in the order the picker shows them.
SD_FAMILIES = {"sd1": "SD 1.x / 2.x", "sdxl": "SDXL"}
# Families the vendored ComfyUI (0.3.64, whose core nodes the workflows use) predates.
NOT_ON_COMFY = ("z-image", "flux2-klein")

# File name -> family, first match wins: the specific names (Fill, Kontext, Edit) before
# the general ones (FLUX, Qwen-Image).
_NAME_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"flux[._ -]?2|klein", "flux2-klein"),
    (r"z[._ -]?image", "z-image"),
    (r"qwen[._ -]?image[._ -]?edit.*(plus|2509|2511)", "qwen-image-edit-plus"),
    (r"qwen[._ -]?image[._ -]?edit", "qwen-image-edit"),
    (r"qwen[._ -]?image", "qwen-image"),
    (r"flux.*fill|fill.*flux", "flux-fill"),
    (r"kontext", "flux-kontext"),
    (r"chroma", "chroma"),
    (r"flux|schnell|krea", "flux"),
    (r"sd[._ -]?3|stable[._ -]?diffusion[._ -]?3", "sd3"),
    (r"xl|pony|illustrious", "sdxl"),
)


@dataclass(frozen=True)
class ServerModel:
    """A model a server offers: its file name there, its family and how it loads."""

    name: str
    family: str
    loader: str  # "checkpoint" (CheckpointLoaderSimple) or "diffusion_model" (UNETLoader)

    @property
    def label(self) -> str:
        return family_label(self.family)

    @property
    def guidance(self) -> str:
        """How it takes guidance, as engine.models.ModelInfo says: "cfg", "distilled", or
        "none" (FLUX schnell, told by its name)."""
        family = MODERN_FAMILIES.get(self.family)
        if family is None:
            return "cfg"
        if family.guidance == "distilled" and "schnell" in self.name.lower():
            return "none"
        return family.guidance


def family_label(family: str) -> str:
    if family in SD_FAMILIES:
        return SD_FAMILIES[family]
    return MODERN_FAMILIES[family].label


def file_base(name: str) -> str:
    """A server's file name without its folders (either slash), lower-case."""
    return PurePath(name.replace("\\", "/")).name.lower()


def family_from_name(name: str) -> str | None:
    """The family a file name names, or None."""
    text = file_base(name)
    for pattern, family in _NAME_FAMILIES:
        if re.search(pattern, text):
            return family
    return None


def server_models(
    checkpoints: Sequence[str], diffusion_models: Sequence[str]
) -> tuple[ServerModel, ...]:
    """Every model a server offers, grouped by family (in the picker's order), checkpoints
    before diffusion models within a family, each group in the server's order."""
    models = [ServerModel(n, family_from_name(n) or "sd1", "checkpoint") for n in checkpoints]
    models += [
        ServerModel(n, family, "diffusion_model")
        for n in diffusion_models
        if (family := family_from_name(n)) is not None and family not in SD_FAMILIES
    ]
    order = [*SD_FAMILIES, *MODERN_FAMILIES]
    return tuple(sorted(models, key=lambda m: order.index(m.family)))


_MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")


def _stem(name: str) -> str:
    """The file name without a model file's suffix ("sd3.5_medium" keeps its ".5")."""
    base = file_base(name)
    for suffix in _MODEL_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def pick_file(wanted: str, offered: Sequence[str], what: str, server: str) -> str:
    """The server's file for `wanted` (a name, file name or local path; "" = the first)."""
    if not offered:
        raise ModelError(f"The ComfyUI server at {server} has no {what} installed.")
    if not wanted:
        return offered[0]
    for exact in (wanted, PurePath(wanted).name):
        if exact in offered:
            return exact
    matches = [o for o in offered if _stem(o) == _stem(wanted)]
    if matches:
        return matches[0]
    listed = ", ".join(offered[:8]) + (", ..." if len(offered) > 8 else "")
    raise ModelError(
        f"The ComfyUI server at {server} has no {what} named {PurePath(wanted).name!r}; it "
        f"offers: {listed}."
    )


def find_model(
    wanted: str, checkpoints: Sequence[str], diffusion_models: Sequence[str], server: str
) -> ServerModel:
    """The server's model for `wanted` (a name, file name or path; "" = the first one):
    a checkpoint of that name, else a diffusion model; one sentence when it has neither."""
    usable = [n for n in diffusion_models if family_from_name(n) not in (None, *SD_FAMILIES)]
    if not wanted and (checkpoints or usable):
        wanted = checkpoints[0] if checkpoints else usable[0]
    try:
        name = pick_file(wanted, checkpoints, "checkpoint", server)
        return ServerModel(name, family_from_name(name) or "sd1", "checkpoint")
    except ModelError:
        if not diffusion_models:
            raise
    name = pick_file(wanted, [*checkpoints, *diffusion_models], "model", server)
    family = family_from_name(name)
    if name not in usable:
        raise ModelError(
            f"Overpaint cannot tell the family of the diffusion model {name!r} on the ComfyUI "
            f"server at {server} from its name; rename it so that it names its family "
            "(flux1-dev, sd3.5, qwen_image, chroma...)."
        )
    return ServerModel(name, str(family), "diffusion_model")


@dataclass(frozen=True)
class _Part:
    what: str  # how a user knows it: "T5-XXL text encoder"
    pattern: str
    example: str  # a file name ComfyUI's examples use


_CLIP_L = _Part("CLIP-L text encoder", r"clip[._ -]?l\b|clip[._ -]?l[._ -]", "clip_l.safetensors")
_CLIP_G = _Part("CLIP-G text encoder", r"clip[._ -]?g\b|clip[._ -]?g[._ -]", "clip_g.safetensors")
_T5 = _Part("T5-XXL text encoder", r"t5", "t5xxl_fp16.safetensors")
_QWEN_VL = _Part("Qwen2.5-VL text encoder", r"qwen[._ -]?2[._ -]?5", "qwen_2.5_vl_7b.safetensors")
# FLUX.2's VAE (flux2-vae) has other latents: never FLUX.1's.
_FLUX_VAE = _Part("FLUX VAE", r"^ae\b|flux(?![._ -]?2)", "ae.safetensors")
_QWEN_VAE = _Part("Qwen-Image VAE", r"qwen", "qwen_image_vae.safetensors")
_SD3_VAE = _Part("SD 3.5 VAE", r"sd[._ -]?3", "sd3_vae.safetensors")

# family -> (text encoders, the CLIPLoader/DualCLIPLoader type, VAE). SD 3.5 runs with any
# of its three encoders (ComfyUI's sd3 type fills in the missing ones; T5 is the one users
# leave out to save memory), the others need all of theirs.
_PARTS: dict[str, tuple[tuple[_Part, ...], str, _Part]] = {
    "flux": ((_CLIP_L, _T5), "flux", _FLUX_VAE),
    "flux-fill": ((_CLIP_L, _T5), "flux", _FLUX_VAE),
    "flux-kontext": ((_CLIP_L, _T5), "flux", _FLUX_VAE),
    "chroma": ((_T5,), "chroma", _FLUX_VAE),
    "sd3": ((_CLIP_L, _CLIP_G, _T5), "sd3", _SD3_VAE),
    "qwen-image": ((_QWEN_VL,), "qwen_image", _QWEN_VAE),
    "qwen-image-edit": ((_QWEN_VL,), "qwen_image", _QWEN_VAE),
    "qwen-image-edit-plus": ((_QWEN_VL,), "qwen_image", _QWEN_VAE),
}


@dataclass(frozen=True)
class Parts:
    """What loads beside a diffusion model: its text encoder files (in loader order), the
    CLIP loader's type, and its VAE file."""

    text_encoders: tuple[str, ...]
    clip_type: str
    vae: str


def _find(part: _Part, offered: Sequence[str]) -> str | None:
    """The first offered file that is `part`; VAELoader's built-in entries (pixel_space,
    the taesd previews) are not files and never a family's VAE."""
    for name in offered:
        base = file_base(name)
        if base.endswith(_MODEL_SUFFIXES) and re.search(part.pattern, base):
            return name
    return None


def pick_parts(
    model: ServerModel, text_encoders: Sequence[str], vaes: Sequence[str], server: str
) -> Parts:
    """The text encoders and VAE the server holds for `model` (a diffusion model)."""
    encoders, clip_type, vae_part = _PARTS[model.family]
    found = {part: _find(part, text_encoders) for part in encoders}
    missing = [part for part, name in found.items() if name is None]
    optional = model.family == "sd3" and len(missing) < len(encoders)
    if missing and not optional:
        part = missing[0]
        raise ModelError(
            f"The ComfyUI server at {server} has no {part.what} for {model.label} (such as "
            f"{part.example} in its models/text_encoders folder)."
        )
    vae = _find(vae_part, vaes)
    if vae is None:
        raise ModelError(
            f"The ComfyUI server at {server} has no {vae_part.what} for {model.label} (such "
            f"as {vae_part.example} in its models/vae folder)."
        )
    chosen = tuple(name for name in found.values() if name is not None)
    return Parts(chosen, clip_type, vae)


def check_family(model: ServerModel, server: str, version: str) -> None:
    """ModelError, in one sentence, for a family Overpaint has no ComfyUI workflow for."""
    if model.family in NOT_ON_COMFY:
        raise ModelError(
            f"{model.label} models do not run on ComfyUI servers from Overpaint yet (its "
            f"workflows use ComfyUI 0.3.64's nodes, which predate {model.label}; the server "
            f"at {server} runs {version}); run {model.name} with the local engine instead."
        )
