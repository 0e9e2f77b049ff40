"""The starter list: well-known models a user can pick and install with one click or
`overpaint models install --starter ID`. Nothing here downloads by itself.

Sizes are what the install fetches (the full-precision safetensors and configs), rounded;
the exact size comes from the source before anything is written, and the disk check
uses that. Licences are the models' own: read them on the model's page before use.
"""

from __future__ import annotations

from dataclasses import dataclass

GB, MB = 1000**3, 1000**2


@dataclass(frozen=True)
class StarterModel:
    id: str
    title: str
    repo: str
    file: str | None  # None: the repo's diffusers folder
    kind: str
    family: str
    size: int  # approximate bytes fetched
    licence: str

    @property
    def source(self) -> str:
        return self.repo

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self.repo}"


STARTERS: tuple[StarterModel, ...] = (
    StarterModel("sd15", "Stable Diffusion 1.5", "stable-diffusion-v1-5/stable-diffusion-v1-5",
                 "v1-5-pruned-emaonly.safetensors", "checkpoint", "sd1", int(4.27 * GB),
                 "CreativeML OpenRAIL-M"),
    StarterModel("sd15-inpainting", "Stable Diffusion 1.5 Inpainting",
                 "stable-diffusion-v1-5/stable-diffusion-inpainting", None, "inpainting",
                 "sd1-inpaint", int(4.3 * GB), "CreativeML OpenRAIL-M"),
    StarterModel("sdxl-base", "Stable Diffusion XL 1.0 base",
                 "stabilityai/stable-diffusion-xl-base-1.0", "sd_xl_base_1.0.safetensors",
                 "checkpoint", "sdxl", int(6.94 * GB), "CreativeML OpenRAIL++-M"),
    StarterModel("sdxl-inpainting", "Stable Diffusion XL 1.0 Inpainting 0.1",
                 "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", None, "inpainting",
                 "sdxl-inpaint", int(10.3 * GB), "CreativeML OpenRAIL++-M"),
    StarterModel("lcm-lora-sd15", "LCM LoRA for SD 1.5 (4-8 steps)",
                 "latent-consistency/lcm-lora-sdv1-5", "pytorch_lora_weights.safetensors",
                 "lora", "sd1", int(135 * MB), "OpenRAIL++"),
    StarterModel("lcm-lora-sdxl", "LCM LoRA for SDXL (4-8 steps)", "latent-consistency/lcm-lora-sdxl",
                 "pytorch_lora_weights.safetensors", "lora", "sdxl", int(394 * MB), "OpenRAIL++"),
    StarterModel("hyper-sd15-8step", "Hyper-SD 8-step LoRA for SD 1.5", "ByteDance/Hyper-SD",
                 "Hyper-SD15-8steps-lora.safetensors", "lora", "sd1", int(269 * MB),
                 "see the model page"),
    StarterModel("hyper-sdxl-8step", "Hyper-SD 8-step LoRA for SDXL", "ByteDance/Hyper-SD",
                 "Hyper-SDXL-8steps-lora.safetensors", "lora", "sdxl", int(787 * MB),
                 "see the model page"),
    StarterModel("controlnet-scribble", "ControlNet 1.1 scribble (SD 1.5)",
                 "lllyasviel/control_v11p_sd15_scribble", None, "controlnet", "sd1",
                 int(1.45 * GB), "OpenRAIL"),
    StarterModel("controlnet-lineart", "ControlNet 1.1 lineart (SD 1.5)",
                 "lllyasviel/control_v11p_sd15_lineart", None, "controlnet", "sd1",
                 int(1.45 * GB), "OpenRAIL"),
    StarterModel("controlnet-canny", "ControlNet 1.1 canny (SD 1.5)",
                 "lllyasviel/control_v11p_sd15_canny", None, "controlnet", "sd1", int(1.45 * GB),
                 "OpenRAIL"),
    StarterModel("controlnet-inpaint", "ControlNet 1.1 inpaint (SD 1.5)",
                 "lllyasviel/control_v11p_sd15_inpaint", None, "controlnet", "sd1",
                 int(1.45 * GB), "OpenRAIL"),
    StarterModel("x4-upscaler", "Stable Diffusion x4 upscaler",
                 "stabilityai/stable-diffusion-x4-upscaler", None, "upscaler", "", int(3.5 * GB),
                 "CreativeML OpenRAIL++-M"),
    # Select Object's segmentation models (transformers SamModel / Sam2Model folders).
    StarterModel("slimsam", "SlimSAM-77 (Select Object, small and fast)",
                 "Zigeng/SlimSAM-uniform-77", None, "segmenter", "", int(39 * MB),
                 "Apache-2.0"),
    StarterModel("sam2.1-tiny", "SAM 2.1 tiny (Select Object, more precise)",
                 "facebook/sam2.1-hiera-tiny", None, "segmenter", "", int(156 * MB),
                 "Apache-2.0"),
    StarterModel("taesd", "TAESD tiny autoencoder (SD 1.x/2.x previews)", "madebyollin/taesd",
                 None, "vae", "", int(10 * MB), "MIT"),
    StarterModel("taesdxl", "TAESDXL tiny autoencoder (SDXL previews)", "madebyollin/taesdxl",
                 None, "vae", "", int(10 * MB), "MIT"),
)  # fmt: skip


def starter(starter_id: str) -> StarterModel:
    for model in STARTERS:
        if model.id == starter_id:
            return model
    ids = ", ".join(m.id for m in STARTERS)
    raise KeyError(f"No starter model {starter_id!r}; choose one of: {ids}.")
