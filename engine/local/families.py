"""The transformer families (FLUX.1 with Fill and Kontext, FLUX.2 Klein, SD 3.5, Qwen-Image
and its Edit models, Z-Image, Chroma) in the local engine: their pipeline for each mode,
what a job may ask of them, and the pipeline call's arguments.

The UNet families' path (engine.local.engine) encodes prompts itself (cached embeddings,
prompts past 77 tokens). Here the prompt goes to the pipeline as text and inpainting uses
the pipeline's own masking. Samplers, shift and soft inpainting are in
engine.local.flow_sampling, LoRAs in engine.lora, FLUX.1 and SD 3.5 ControlNets in
engine.control.transformers. The feathered paste-back (engine.region) keeps every pixel
outside the feather bit-identical.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from engine.core.errors import InvalidRequestError
from engine.models import MODERN_FAMILIES, ModelInfo
from engine.request import GenerationRequest

_QWEN_IMAGE = ("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline")
# diffusers pipeline class names per family: (txt2img, img2img, inpaint). FLUX Fill only
# inpaints (ModelInfo.is_inpainting); Kontext has no img2img pipeline of its own, and its
# transformer is a FLUX.1 one, so FLUX's img2img runs it.
MODE_PIPELINES: dict[str, tuple[str, str, str]] = {
    "flux": ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"),
    "flux-fill": ("FluxFillPipeline",) * 3,
    "flux-kontext": ("FluxKontextPipeline", "FluxImg2ImgPipeline", "FluxKontextInpaintPipeline"),
    "sd3": (
        "StableDiffusion3Pipeline",
        "StableDiffusion3Img2ImgPipeline",
        "StableDiffusion3InpaintPipeline",
    ),
    "qwen-image": _QWEN_IMAGE,
    "z-image": ("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline"),
    "chroma": ("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline"),
    # The Edit models' transformers are Qwen-Image's: its pipelines run their other modes
    # (Edit itself is engine.local.edit's). FLUX.2 Klein has no img2img pipeline: its
    # inpaint one repaints everything (call_args' white mask).
    "qwen-image-edit": _QWEN_IMAGE,
    "qwen-image-edit-plus": _QWEN_IMAGE,
    "flux2-klein": ("Flux2KleinPipeline", "Flux2KleinInpaintPipeline", "Flux2KleinInpaintPipeline"),
}


def check_request(request: GenerationRequest, info: ModelInfo) -> None:
    """InvalidRequestError, in one sentence, for what these families cannot do yet."""
    label = MODERN_FAMILIES[info.family].label
    # The ControlNets of FLUX.1, SD 3.5, Qwen-Image and Z-Image: engine.control.transformers;
    # Fill and Kontext feed their transformer more than the latents.
    if request.controls and info.family not in ("flux", "sd3", "qwen-image", "z-image"):
        raise InvalidRequestError(
            f"Control layers do not work with {label} models yet; hide them or pick an "
            "SD 1.x, SD 2.x, SDXL, FLUX.1, SD 3.5, Qwen-Image or Z-Image model."
        )


def call_args(
    request: GenerationRequest, info: ModelInfo, size: tuple[int, int]
) -> tuple[dict[str, Any], list[str]]:
    """The pipeline call's keyword arguments for the request's text, guidance and
    generation size (width, height), and the warnings for its results."""
    args: dict[str, Any] = {
        "prompt": request.prompt,
        "num_inference_steps": int(request.steps),
        "output_type": "np",
        "width": size[0],
        "height": size[1],
    }
    if info.family == "flux2-klein" and request.mode == "img2img":
        args["mask_image"] = Image.new("L", size, 255)
    if info.family == "flux-kontext" and request.mode != "img2img":  # img2img: FLUX's
        # Kontext scales its output to this area (1024² unless told) and its input picture
        # to a preferred size of its own: the planned size is the size.
        args.update(max_area=size[0] * size[1], _auto_resize=False)
    warnings: list[str] = []
    guidance = float(request.guidance)
    if info.family == "flux2-klein":
        # Klein's guidance runs against an empty prompt of its own: no negative prompt.
        args["guidance_scale"] = guidance
        if request.negative_prompt.strip():
            warnings.append(
                f"{info.name} is a FLUX.2 Klein model, which takes no negative prompt; it "
                "was ignored."
            )
    elif info.guidance == "cfg":
        if info.family.startswith("qwen-image"):
            # Qwen-Image's classifier-free guidance is `true_cfg_scale`, on only with a
            # negative prompt (" " stands for an empty one); `guidance_scale` is for
            # guidance-distilled transformers.
            args["true_cfg_scale"] = guidance
            args["negative_prompt"] = request.negative_prompt or " "
        else:
            args["guidance_scale"] = guidance
            args["negative_prompt"] = request.negative_prompt
    else:
        if info.guidance == "distilled":
            args["guidance_scale"] = guidance
        if request.negative_prompt.strip():
            label = MODERN_FAMILIES[info.family].label
            warnings.append(
                f"{info.name} is a guidance-distilled {label} model, which takes no negative "
                "prompt; it was ignored."
            )
    return args, warnings


def prepare_pipeline(pipe: Any, info: ModelInfo) -> None:
    """What a loaded pipeline of these families needs before its first job."""
    transformer = getattr(pipe, "transformer", None)
    if info.family == "chroma" and "guidance_embeds" not in transformer.config:
        # diffusers 0.42.1's ChromaInpaintPipeline reads transformer.config.guidance_embeds,
        # which ChromaTransformer2DModel's config does not have: every inpaint would fail.
        transformer.register_to_config(guidance_embeds=False)
