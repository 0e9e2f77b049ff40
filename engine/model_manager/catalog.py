"""The starter list: well-known models a user can pick and install with one click or
`overpaint models install --starter ID`. Nothing here downloads by itself.

Sizes are what the install fetches (the full-precision safetensors and configs), rounded;
the exact size comes from the source before anything is written, and the disk check
uses that. Licences are the models' own: read them on the model's page before use.

The transformer families (FLUX.1, FLUX.2 Klein, SD 3.5, Qwen-Image, Z-Image) install as
their diffusers folders (bf16: 16-58 GB), or as a GGUF-quantised transformer alone
(diffusion_models/) that loads with text encoders and a VAE installed beside it
(text_encoders/, vae/), as in ComfyUI. Gated repositories need their licence accepted on
their page and `hf auth login` before the install.
"""

from __future__ import annotations

from dataclasses import dataclass

GB, MB = 1000**3, 1000**2


@dataclass(frozen=True)
class StarterModel:
    id: str
    title: str
    repo: str
    file: str | None  # None: the repo's diffusers folder; a folder in the repo: that folder
    kind: str
    family: str
    size: int  # approximate bytes fetched
    licence: str
    gated: bool = False  # the repo's licence must be accepted, then `hf auth login`

    @property
    def note(self) -> str:
        """What to do before installing a gated model, in one sentence; "" otherwise."""
        if not self.gated:
            return ""
        return (
            f"{self.repo} is gated: accept its licence on {self.page} and log in with "
            "`hf auth login` before installing."
        )

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
    # Reference layers' IP-Adapters (h94/IP-Adapter; Style and Composition are the same
    # adapters on some blocks only) and the CLIP image encoders they read: ViT-H/14 for
    # all but ip-adapter_sdxl, which reads ViT-bigG/14.
    StarterModel("ip-adapter-sd15", "IP-Adapter SD 1.5 (reference, style, composition)",
                 "h94/IP-Adapter", "models/ip-adapter_sd15.safetensors", "ip-adapter", "sd1",
                 int(44.6 * MB), "Apache-2.0"),
    StarterModel("ip-adapter-plus-sd15", "IP-Adapter Plus SD 1.5 (closer to the reference)",
                 "h94/IP-Adapter", "models/ip-adapter-plus_sd15.safetensors", "ip-adapter",
                 "sd1", int(98.2 * MB), "Apache-2.0"),
    StarterModel("ip-adapter-sdxl-vit-h", "IP-Adapter SDXL, ViT-H encoder (reference, style, "
                 "composition)", "h94/IP-Adapter", "sdxl_models/ip-adapter_sdxl_vit-h.safetensors",
                 "ip-adapter", "sdxl", int(698 * MB), "Apache-2.0"),
    StarterModel("ip-adapter-plus-sdxl-vit-h",
                 "IP-Adapter Plus SDXL, ViT-H encoder (InstantStyle's style adapter)",
                 "h94/IP-Adapter",
                 "sdxl_models/ip-adapter-plus_sdxl_vit-h.safetensors", "ip-adapter", "sdxl",
                 int(848 * MB), "Apache-2.0"),
    StarterModel("ip-adapter-sdxl", "IP-Adapter SDXL, ViT-bigG encoder", "h94/IP-Adapter",
                 "sdxl_models/ip-adapter_sdxl.safetensors", "ip-adapter", "sdxl", int(703 * MB),
                 "Apache-2.0"),
    StarterModel("clip-vit-h-image-encoder", "CLIP ViT-H/14 image encoder (IP-Adapters but "
                 "ip-adapter_sdxl)", "h94/IP-Adapter", "models/image_encoder", "image-encoder",
                 "", int(2.53 * GB), "Apache-2.0"),
    StarterModel("clip-vit-bigg-image-encoder", "CLIP ViT-bigG/14 image encoder (ip-adapter_sdxl)",
                 "h94/IP-Adapter", "sdxl_models/image_encoder", "image-encoder", "",
                 int(3.69 * GB), "Apache-2.0"),
    StarterModel("taesd", "TAESD tiny autoencoder (SD 1.x/2.x previews)", "madebyollin/taesd",
                 None, "vae", "", int(10 * MB), "MIT"),
    StarterModel("taesdxl", "TAESDXL tiny autoencoder (SDXL previews)", "madebyollin/taesdxl",
                 None, "vae", "", int(10 * MB), "MIT"),
    # The transformer families, as diffusers folders (transformer, text encoders, VAE).
    StarterModel("flux-schnell", "FLUX.1 schnell (4 steps)", "black-forest-labs/FLUX.1-schnell",
                 None, "checkpoint", "flux", int(33.7 * GB), "Apache-2.0"),
    StarterModel("flux-dev", "FLUX.1 dev", "black-forest-labs/FLUX.1-dev", None, "checkpoint",
                 "flux", int(33.7 * GB), "FLUX.1 [dev] Non-Commercial License", gated=True),
    StarterModel("flux-fill", "FLUX.1 Fill dev (inpaint and outpaint)",
                 "black-forest-labs/FLUX.1-Fill-dev", None, "inpainting", "flux-fill",
                 int(33.7 * GB), "FLUX.1 [dev] Non-Commercial License", gated=True),
    StarterModel("flux-kontext", "FLUX.1 Kontext dev (instruction editing)",
                 "black-forest-labs/FLUX.1-Kontext-dev", None, "checkpoint", "flux-kontext",
                 int(33.7 * GB), "FLUX.1 [dev] Non-Commercial License", gated=True),
    StarterModel("flux2-klein-4b", "FLUX.2 Klein 4B (few steps, editing with references)",
                 "black-forest-labs/FLUX.2-klein-4B", None, "checkpoint", "flux2-klein",
                 int(16 * GB), "Apache-2.0"),
    StarterModel("sd35-medium", "Stable Diffusion 3.5 Medium",
                 "stabilityai/stable-diffusion-3.5-medium", None, "checkpoint", "sd3",
                 int(16.2 * GB), "Stability AI Community License", gated=True),
    StarterModel("qwen-image", "Qwen-Image", "Qwen/Qwen-Image", None, "checkpoint",
                 "qwen-image", int(57.7 * GB), "Apache-2.0"),
    StarterModel("qwen-image-edit", "Qwen-Image-Edit (instruction editing)",
                 "Qwen/Qwen-Image-Edit", None, "checkpoint", "qwen-image-edit",
                 int(57.7 * GB), "Apache-2.0"),
    StarterModel("z-image-turbo", "Z-Image Turbo (8 steps)", "Tongyi-MAI/Z-Image-Turbo", None,
                 "checkpoint", "z-image", int(20.5 * GB), "Apache-2.0"),
    # GGUF-quantised transformers (city96's), and the parts they load with.
    StarterModel("flux-schnell-gguf-q4", "FLUX.1 schnell transformer, GGUF Q4_K_S",
                 "city96/FLUX.1-schnell-gguf", "flux1-schnell-Q4_K_S.gguf", "transformer",
                 "flux", int(6.8 * GB), "Apache-2.0"),
    StarterModel("flux-dev-gguf-q4", "FLUX.1 dev transformer, GGUF Q4_K_S",
                 "city96/FLUX.1-dev-gguf", "flux1-dev-Q4_K_S.gguf", "transformer", "flux",
                 int(6.8 * GB), "FLUX.1 [dev] Non-Commercial License"),
    StarterModel("qwen-image-gguf-q4", "Qwen-Image transformer, GGUF Q4_K_S",
                 "city96/Qwen-Image-gguf", "qwen-image-Q4_K_S.gguf", "transformer",
                 "qwen-image", int(12.1 * GB), "Apache-2.0"),
    StarterModel("t5xxl", "T5-XXL text encoder, fp16 (FLUX.1, SD 3.5, Chroma)",
                 "comfyanonymous/flux_text_encoders", "t5xxl_fp16.safetensors", "text-encoder",
                 "", int(9.8 * GB), "Apache-2.0"),
    StarterModel("clip-l", "CLIP-L text encoder (FLUX.1, SD 3.5)",
                 "comfyanonymous/flux_text_encoders", "clip_l.safetensors", "text-encoder", "",
                 int(246 * MB), "MIT"),
    StarterModel("flux-vae", "FLUX.1 VAE (ae.safetensors; also Z-Image's)",
                 "black-forest-labs/FLUX.1-schnell", "ae.safetensors", "vae", "",
                 int(335 * MB), "Apache-2.0"),
)  # fmt: skip


def starter(starter_id: str) -> StarterModel:
    for model in STARTERS:
        if model.id == starter_id:
            return model
    ids = ", ".join(m.id for m in STARTERS)
    raise KeyError(f"No starter model {starter_id!r}; choose one of: {ids}.")
