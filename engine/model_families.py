"""The model families Overpaint knows and their names, without imports of its own.

The UNet families (SD 1.x, 2.x, XL) are `FAMILIES`; the transformer families are
`MODERN_FAMILIES`. engine.models (which tells a checkpoint's family) and engine.model_files
(which engine.models reads files through) both name families, so the table sits below them.
"""

from __future__ import annotations

from dataclasses import dataclass

# The UNet families (SD 1.x, 2.x, XL): single files load with a shipped config of each.
FAMILIES: tuple[str, ...] = ("sd1", "sd1-inpaint", "sd2", "sd2-v", "sdxl", "sdxl-inpaint")
_UNET_LABELS: dict[str, str] = {
    "sd1": "SD 1.x",
    "sd1-inpaint": "SD 1.x inpainting",
    "sd2": "SD 2.x",
    "sd2-v": "SD 2.x (v)",
    "sdxl": "SDXL",
    "sdxl-inpaint": "SDXL inpainting",
}


@dataclass(frozen=True)
class ModernFamily:
    """A transformer (flow-matching) family: the pipeline class names its diffusers folders
    declare, its native size and latent multiple (an x8 VAE whose latents the transformer
    patches 2x2: sides are multiples of 16), and how it takes guidance: "cfg"
    (classifier-free, with a negative prompt) or "distilled" (a guidance value embedded in
    the transformer, no negative prompt)."""

    label: str
    pipelines: tuple[str, ...]
    guidance: str = "cfg"
    native: int = 1024
    multiple: int = 16
    # Instruction editing (mode "edit"): how many extra reference pictures an Edit may take
    # besides the picture it edits; None where the family cannot edit. The local engine
    # knows which pictures each pipeline takes with a selection (engine.local.edit).
    references: int | None = None


MODERN_FAMILIES: dict[str, ModernFamily] = {
    "flux": ModernFamily(
        "FLUX.1", ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"), "distilled"
    ),
    "flux-fill": ModernFamily("FLUX.1 Fill", ("FluxFillPipeline",), "distilled"),
    "flux-kontext": ModernFamily(
        "FLUX.1 Kontext",
        ("FluxKontextPipeline", "FluxKontextInpaintPipeline"),
        "distilled",
        references=1,
    ),
    # FLUX.2 Klein: a Qwen3 text encoder, no negative prompt; the distilled (few-step)
    # models take no guidance (model_index.json's is_distilled). BFL: up to 4 input
    # pictures, so 3 references besides the one edited.
    "flux2-klein": ModernFamily(
        "FLUX.2 Klein", ("Flux2KleinPipeline", "Flux2KleinInpaintPipeline"), references=3
    ),
    "sd3": ModernFamily(
        "SD 3.5",
        (
            "StableDiffusion3Pipeline",
            "StableDiffusion3Img2ImgPipeline",
            "StableDiffusion3InpaintPipeline",
        ),
    ),
    "qwen-image": ModernFamily(
        "Qwen-Image",
        ("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline"),
    ),
    # Qwen-Image-Edit edits one picture; Edit Plus (2509 and later) takes up to 3 pictures
    # in all (Qwen's model card), so 2 references.
    "qwen-image-edit": ModernFamily(
        "Qwen-Image-Edit",
        ("QwenImageEditPipeline", "QwenImageEditInpaintPipeline"),
        references=0,
    ),
    "qwen-image-edit-plus": ModernFamily(
        "Qwen-Image-Edit Plus", ("QwenImageEditPlusPipeline",), references=2
    ),
    "z-image": ModernFamily(
        "Z-Image", ("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline")
    ),
    "chroma": ModernFamily(
        "Chroma", ("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline")
    ),
}


def family_label(family: str) -> str:
    """How sentences and lists name a family ("SD 1.x inpainting", "FLUX.1 Kontext"); a name
    Overpaint does not know, as it is."""
    modern = MODERN_FAMILIES.get(family)
    return modern.label if modern is not None else _UNET_LABELS.get(family, family)


def family_can_edit(family: str) -> bool:
    """Whether models of `family` run instruction edits (mode "edit")."""
    return family in EDIT_FAMILIES


# The families that edit by instruction, and how sentences name them all.
EDIT_FAMILIES: tuple[str, ...] = tuple(
    name for name, f in MODERN_FAMILIES.items() if f.references is not None
)
_EDIT_LABELS = [MODERN_FAMILIES[name].label for name in EDIT_FAMILIES]
EDIT_MODELS: str = ", ".join(_EDIT_LABELS[:-1]) + " or " + _EDIT_LABELS[-1]
