"""ComfyUI graphs for the transformer families (FLUX.1, Fill, Kontext, SD 3.5, Qwen-Image,
Qwen-Image-Edit, Chroma), with ComfyUI 0.3.64's core nodes only, as its own example
workflows wire them. Pure, like engine/comfy/workflow.py (the SD families' graphs): the
same request and plan give the same graph.

The model loads from a checkpoint (`CheckpointLoaderSimple`: all parts in one file) or as
a diffusion model (`UNETLoader`) beside its text encoders (`CLIPLoader`, `DualCLIPLoader`
or `TripleCLIPLoader` by how many there are) and `VAELoader`. Then, per family:
  FLUX.1 dev, Fill, Kontext: `ModelSamplingFlux` (the shift grows with the picture, as
    diffusers' dynamic shifting does), `FluxGuidance` on the prompt, KSampler at CFG 1;
    schnell: neither (its shift is 1, it takes no guidance).
  SD 3.5: `ModelSamplingSD3` (shift 3), CFG with the negative prompt.
  Qwen-Image: `ModelSamplingAuraFlow` (shift 3.1), CFG with the negative prompt.
  Chroma: CFG with the negative prompt, ComfyUI's own sampling.
Latents are `EmptySD3LatentImage` (16 channels) for txt2img and Edit, the encoded picture
for img2img, and `InpaintModelConditioning` for inpaint and outpaint: it hands FLUX Fill
the masked picture and mask it needs, and every other model the picture with a noise
mask; soft edges add `DifferentialDiffusion`. Edit models see the picture they repaint:
Kontext through `ReferenceLatent` (one per reference picture too), Qwen-Image-Edit
through `TextEncodeQwenImageEdit` (Plus: up to three pictures). A request's `shift`, when
it has one, replaces the family's (`_sampling`). Outside Edit, a FLUX.1 model takes
reference pictures through Redux on the positive prompt (engine/comfy/redux.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.comfy.redux import (
    REDUX_NODES,
    ReduxPlan,
    apply_redux,
    check_redux_request,
    reference_refusal,
)
from engine.comfy.server_models import Parts, ServerModel
from engine.comfy.workflow import sampling_steps
from engine.core.errors import InvalidRequestError
from engine.models import MODERN_FAMILIES, family_can_edit
from engine.request import GenerationRequest

FLUX_FAMILIES = ("flux", "flux-fill", "flux-kontext")
QWEN_EDIT = ("qwen-image-edit", "qwen-image-edit-plus")
# The shift each family samples with (ComfyUI's example workflows, diffusers' configs).
SHIFT_NODES = {"sd3": ("ModelSamplingSD3", 3.0), "qwen-image": ("ModelSamplingAuraFlow", 3.1)}
for _family in QWEN_EDIT:
    SHIFT_NODES[_family] = SHIFT_NODES["qwen-image"]
FLUX_SHIFT = {"max_shift": 1.15, "base_shift": 0.5}
# Every node these graphs may use besides the SD graphs' (workflow.REQUIRED_NODES).
NODES = (
    "UNETLoader", "CLIPLoader", "DualCLIPLoader", "TripleCLIPLoader", "VAELoader",
    "ModelSamplingFlux", "ModelSamplingSD3", "ModelSamplingAuraFlow", "FluxGuidance",
    "ReferenceLatent", "TextEncodeQwenImageEdit", "TextEncodeQwenImageEditPlus",
    "InpaintModelConditioning", "EmptySD3LatentImage", *REDUX_NODES,
)  # fmt: skip


@dataclass(frozen=True)
class ModernPlan:
    """What the server holds and what Overpaint uploaded, for one transformer-family job."""

    model: ServerModel
    parts: Parts | None  # None for a checkpoint (its file holds every part)
    width: int  # generation size
    height: int
    sampler: str
    scheduler: str
    image: str | None = None  # uploaded picture (generation size)
    mask: str | None = None  # uploaded graded mask, grey (255 = repaint)
    references: tuple[str, ...] = ()  # uploaded reference pictures (Edit)
    loras: tuple[tuple[str, float], ...] = ()
    redux: ReduxPlan | None = None  # the references outside Edit (FLUX.1 only)


def check_modern_request(request: GenerationRequest, model: ServerModel) -> None:
    """InvalidRequestError, in one sentence, for what these graphs cannot do."""
    label = model.label
    if request.controls:
        raise InvalidRequestError(
            f"Control layers do not run with {label} models on ComfyUI servers yet; hide "
            "them or pick an SD 1.x, SD 2.x or SDXL model."
        )
    if model.family == "flux-fill" and request.mode in ("txt2img", "img2img"):
        raise InvalidRequestError(
            f"{model.name} is a FLUX.1 Fill model and can only inpaint or outpaint; choose a "
            f"regular model for {request.mode}."
        )
    if request.mode == "edit" and not family_can_edit(model.family):
        raise InvalidRequestError(
            f"{model.name} is a {label} model, which cannot edit by instruction; pick a FLUX.1 "
            "Kontext or Qwen-Image-Edit model for Edit."
        )
    if request.references and request.mode != "edit":
        refusal = reference_refusal(model.family, label)
        if refusal:
            raise InvalidRequestError(refusal)
        check_redux_request(request)
    n = len(request.references)
    most = MODERN_FAMILIES[model.family].references or 0
    if request.mode == "edit" and n > most:
        if most == 0:
            raise InvalidRequestError(
                f"{label} takes no reference pictures besides the one it edits; hide the "
                "reference layers, or pick a Qwen-Image-Edit Plus model."
            )
        raise InvalidRequestError(
            f"{label} takes at most {most} reference picture{'s' if most > 1 else ''}, not "
            f"{n}; hide {n - most} of the reference layers."
        )


def build_modern_workflow(
    request: GenerationRequest, plan: ModernPlan
) -> dict[str, dict[str, Any]]:
    """The API-format graph for one sample of `request` (its seed is request.seed)."""
    check_modern_request(request, plan.model)
    graph: dict[str, dict[str, Any]] = {}

    def node(node_id: str, class_type: str, **inputs: Any) -> list[Any]:
        graph[node_id] = {"class_type": class_type, "inputs": inputs}
        return [node_id, 0]

    family, guidance = plan.model.family, plan.model.guidance
    model, clip, vae = _loaders(node, plan)
    for i, (name, weight) in enumerate(plan.loras):
        node(f"lora{i}", "LoraLoader", model=model, clip=clip, lora_name=name,
             strength_model=float(weight), strength_clip=float(weight))  # fmt: skip
        model, clip = [f"lora{i}", 0], [f"lora{i}", 1]
    model = _sampling(node, request, plan, model)

    picture = node("image", "LoadImage", image=plan.image) if plan.image else None
    # Edit models see the picture they repaint (img2img starts from it as any model does).
    sees_picture = picture is not None and request.mode != "img2img"
    negative_text = "" if guidance != "cfg" else request.negative_prompt
    if family in QWEN_EDIT and sees_picture:
        positive = _qwen_edit_text(node, "positive", request.prompt, clip, vae, picture, plan)
        negative = _qwen_edit_text(node, "negative", negative_text, clip, vae, picture, plan)
    else:
        positive = node("positive", "CLIPTextEncode", text=request.prompt, clip=clip)
        negative = node("negative", "CLIPTextEncode", text=negative_text, clip=clip)
    if request.references and request.mode != "edit":
        if plan.redux is None:
            raise ValueError("a FLUX.1 job with references needs the server's Redux files")
        positive = apply_redux(node, positive, plan.redux)
    if family == "flux-kontext" and sees_picture:
        pictures = [
            picture,
            *(_load(node, f"reference{i}", r) for i, r in enumerate(plan.references)),
        ]
        for i, image in enumerate(pictures):
            latent = node(f"reference_latent{i}", "VAEEncode", pixels=image, vae=vae)
            positive = node(f"reference{i}_conditioning", "ReferenceLatent",
                            conditioning=positive, latent=latent)  # fmt: skip
    cfg = float(request.guidance)
    if guidance != "cfg":
        cfg = 1.0  # the guidance is in the transformer (FluxGuidance) or none at all
        if guidance == "distilled":
            positive = node("guidance", "FluxGuidance", conditioning=positive,
                            guidance=float(request.guidance))  # fmt: skip

    denoise = 1.0
    if picture is None or request.mode == "edit":
        latent = node("latent", "EmptySD3LatentImage", width=plan.width, height=plan.height,
                      batch_size=1)  # fmt: skip
    elif plan.mask is None:
        latent = node("encode", "VAEEncode", pixels=picture, vae=vae)
        denoise = float(request.strength)
    else:
        mask = node("mask", "LoadImageMask", image=plan.mask, channel="red")
        node("inpaint", "InpaintModelConditioning", positive=positive, negative=negative,
             vae=vae, pixels=picture, mask=mask, noise_mask=True)  # fmt: skip
        positive, negative, latent = ["inpaint", 0], ["inpaint", 1], ["inpaint", 2]
        denoise = float(request.strength)
        if request.soft_edges:
            model = node("differential", "DifferentialDiffusion", model=model)
    sampled = node("sampler", "KSampler", model=model, seed=int(request.seed),
                   steps=sampling_steps(request),
                   cfg=cfg, sampler_name=plan.sampler, scheduler=plan.scheduler,
                   positive=positive, negative=negative, latent_image=latent,
                   denoise=denoise)  # fmt: skip
    decoded = node("decode", "VAEDecode", samples=sampled, vae=vae)
    node("result", "PreviewImage", images=decoded)
    return graph


def _loaders(node: Any, plan: ModernPlan) -> tuple[list[Any], list[Any], list[Any]]:
    """(model, clip, vae) outputs: a checkpoint's three, or the split files' loaders."""
    if plan.parts is None:
        node("ckpt", "CheckpointLoaderSimple", ckpt_name=plan.model.name)
        return ["ckpt", 0], ["ckpt", 1], ["ckpt", 2]
    model = node("unet", "UNETLoader", unet_name=plan.model.name, weight_dtype="default")
    encoders = plan.parts.text_encoders
    names = {f"clip_name{i + 1}": name for i, name in enumerate(encoders)}
    if len(encoders) == 1:
        clip = node("clip", "CLIPLoader", clip_name=encoders[0], type=plan.parts.clip_type)
    elif len(encoders) == 2:
        clip = node("clip", "DualCLIPLoader", **names, type=plan.parts.clip_type)
    else:
        clip = node("clip", "TripleCLIPLoader", **names)
    vae = node("vae", "VAELoader", vae_name=plan.parts.vae)
    return model, clip, vae


def _sampling(node: Any, request: GenerationRequest, plan: ModernPlan, model: list) -> list:
    """The model with the family's sampling shift, or the request's own: a set shift s
    moves every sigma to s·σ / (1 + (s − 1)·σ), as the local engine's does. SD 3.5 counts
    time in thousandths (ModelSamplingSD3), the others in [0, 1] (ModelSamplingAuraFlow's
    multiplier 1), so each gets the node whose clock it reads."""
    family, shift = plan.model.family, float(request.shift)
    if shift > 0:
        kind = "ModelSamplingSD3" if family == "sd3" else "ModelSamplingAuraFlow"
        return node("shift", kind, model=model, shift=shift)
    if family in SHIFT_NODES:
        class_type, default = SHIFT_NODES[family]
        return node("shift", class_type, model=model, shift=default)
    if family in FLUX_FAMILIES and plan.model.guidance != "none":
        return node("shift", "ModelSamplingFlux", model=model, **FLUX_SHIFT,
                    width=plan.width, height=plan.height)  # fmt: skip
    return model  # FLUX schnell and Chroma sample unshifted


def _load(node: Any, node_id: str, name: str) -> list[Any]:
    return node(node_id, "LoadImage", image=name)


def _qwen_edit_text(
    node: Any, node_id: str, text: str, clip: list, vae: list, picture: list, plan: ModernPlan
) -> list[Any]:
    """Qwen-Image-Edit's prompt, encoded with the pictures it edits (Plus: and refers to)."""
    if plan.model.family == "qwen-image-edit":
        return node(node_id, "TextEncodeQwenImageEdit", clip=clip, prompt=text, vae=vae,
                    image=picture)  # fmt: skip
    images = [picture] + [[f"reference{i}", 0] for i in range(len(plan.references))]
    if node_id == "positive":  # the reference loaders, once for both prompts
        for i, name in enumerate(plan.references):
            _load(node, f"reference{i}", name)
    named = {f"image{i + 1}": image for i, image in enumerate(images)}
    return node(node_id, "TextEncodeQwenImageEditPlus", clip=clip, prompt=text, vae=vae,
                **named)  # fmt: skip
