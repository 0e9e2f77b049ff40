"""ComfyUI workflow graphs (the API format `POST /prompt` takes) built from a request.

`build_workflow` is a pure function: the same request and plan give the same graph, so
its hash identifies the work in the metadata. Only nodes that ship with ComfyUI are used.
What the server must already hold (checkpoint, LoRA and ControlNet file names) and what
Overpaint uploaded (picture, mask, control images) comes in the WorkflowPlan; the region
planning, colour matching and compositing stay in Overpaint (engine/comfy/engine.py).

Graph per mode (node ids are fixed strings so tests can read them):
  txt2img:          EmptyLatentImage -> KSampler (denoise 1)
  img2img:          LoadImage -> VAEEncode -> KSampler (denoise = strength)
  inpaint/outpaint: LoadImage -> VAEEncode -> SetLatentNoiseMask(LoadImageMask) -> KSampler,
                    the model through DifferentialDiffusion when soft edges are on, so the
                    graded mask edge is repainted progressively as with the local engine.
LoRAs chain LoraLoader nodes after the checkpoint; controls apply ControlNetApplyAdvanced
to the conditioning. The result goes to PreviewImage (the server's temp folder), so jobs
leave no files in the server's output folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from engine.request import GenerationRequest

# Nodes a server must have for each piece of the graph.
BASE_NODES = (
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
    "PreviewImage",
)
IMAGE_NODES = ("LoadImage", "VAEEncode")
INPAINT_NODES = ("LoadImageMask", "SetLatentNoiseMask", "DifferentialDiffusion")
LORA_NODES = ("LoraLoader",)
CONTROL_NODES = ("ControlNetLoader", "ControlNetApplyAdvanced")
REQUIRED_NODES = BASE_NODES + IMAGE_NODES + INPAINT_NODES + LORA_NODES


@dataclass(frozen=True)
class ControlPlan:
    model: str  # the ControlNet file name as the server lists it
    image: str  # the uploaded control image (generation size)
    weight: float
    start: float
    end: float


@dataclass(frozen=True)
class WorkflowPlan:
    checkpoint: str  # the checkpoint file name as the server lists it
    width: int  # generation size
    height: int
    sampler: str  # KSampler sampler_name
    scheduler: str  # KSampler scheduler
    image: str | None = None  # uploaded picture to start from (generation size)
    mask: str | None = None  # uploaded graded mask, grey (255 = repaint)
    loras: tuple[tuple[str, float], ...] = ()  # server file names and weights
    controls: tuple[ControlPlan, ...] = ()


def sampling_steps(request: GenerationRequest) -> int:
    """Steps the sampler runs: int(steps × strength) from a partly noised picture, as
    diffusers' img2img runs them, so the same request costs the same on both engines. An
    Edit paints anew from noise (the picture is a reference), so it runs every step."""
    if request.mode in ("txt2img", "edit"):
        return int(request.steps)
    return max(1, int(request.steps * request.strength))


def build_workflow(request: GenerationRequest, plan: WorkflowPlan) -> dict[str, dict[str, Any]]:
    """The API-format graph for one sample of `request` (its seed is request.seed)."""
    graph: dict[str, dict[str, Any]] = {}

    def node(node_id: str, class_type: str, **inputs: Any) -> list[Any]:
        graph[node_id] = {"class_type": class_type, "inputs": inputs}
        return [node_id, 0]

    ckpt = node("ckpt", "CheckpointLoaderSimple", ckpt_name=plan.checkpoint)
    model, clip, vae = ckpt, ["ckpt", 1], ["ckpt", 2]
    for i, (name, weight) in enumerate(plan.loras):
        node_id = f"lora{i}"
        node(node_id, "LoraLoader", model=model, clip=clip, lora_name=name,
             strength_model=float(weight), strength_clip=float(weight))  # fmt: skip
        model, clip = [node_id, 0], [node_id, 1]
    positive = node("positive", "CLIPTextEncode", text=request.prompt, clip=clip)
    negative = node("negative", "CLIPTextEncode", text=request.negative_prompt, clip=clip)
    for i, control in enumerate(plan.controls):
        net = node(f"control_net{i}", "ControlNetLoader", control_net_name=control.model)
        image = node(f"control_image{i}", "LoadImage", image=control.image)
        apply_id = f"control{i}"
        node(apply_id, "ControlNetApplyAdvanced", positive=positive, negative=negative,
             control_net=net, image=image, strength=float(control.weight),
             start_percent=float(control.start), end_percent=float(control.end), vae=vae)  # fmt: skip
        positive, negative = [apply_id, 0], [apply_id, 1]

    denoise = 1.0
    if request.mode == "txt2img" or plan.image is None:
        latent = node("latent", "EmptyLatentImage", width=plan.width, height=plan.height,
                      batch_size=1)  # fmt: skip
    else:
        picture = node("image", "LoadImage", image=plan.image)
        latent = node("encode", "VAEEncode", pixels=picture, vae=vae)
        denoise = float(request.strength)
        if plan.mask is not None:
            mask = node("mask", "LoadImageMask", image=plan.mask, channel="red")
            latent = node("noise_mask", "SetLatentNoiseMask", samples=latent, mask=mask)
            if request.soft_edges:
                model = node("differential", "DifferentialDiffusion", model=model)
    steps = sampling_steps(request)
    sampled = node("sampler", "KSampler", model=model, seed=int(request.seed), steps=steps,
                   cfg=float(request.guidance), sampler_name=plan.sampler,
                   scheduler=plan.scheduler, positive=positive, negative=negative,
                   latent_image=latent, denoise=denoise)  # fmt: skip
    decoded = node("decode", "VAEDecode", samples=sampled, vae=vae)
    node("result", "PreviewImage", images=decoded)
    return graph


def nodes_needed(graph: dict[str, dict[str, Any]]) -> set[str]:
    return {entry["class_type"] for entry in graph.values()}


def workflow_hash(graph: dict[str, dict[str, Any]]) -> str:
    """First 10 hex digits of the SHA-256 of the graph's canonical JSON."""
    text = json.dumps(graph, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]
