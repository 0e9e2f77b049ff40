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
LoRAs chain LoraLoader nodes after the checkpoint; regional prompts are core nodes: each
region's prompt (the root's added) through ConditioningSetMask on its uploaded mask, the
root's on the mask of what no region covers, all joined by ConditioningCombine (ComfyUI
weighs each one's prediction by its mask); controls apply ControlNetApplyAdvanced to the
conditioning. The result goes to PreviewImage (the server's temp folder), so jobs
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
REGION_NODES = ("ConditioningSetMask", "ConditioningCombine", "LoadImageMask")
REQUIRED_NODES = BASE_NODES + IMAGE_NODES + INPAINT_NODES + LORA_NODES


@dataclass(frozen=True)
class ControlPlan:
    model: str  # the ControlNet file name as the server lists it
    image: str  # the uploaded control image (generation size)
    weight: float
    start: float
    end: float


@dataclass(frozen=True)
class RegionPlan:
    prompt: str  # the region's prompt with the root's added (engine.regions.stage.joined)
    negative: str
    mask: str  # the uploaded mask (generation size, grey, 255 = the region)


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
    regions: tuple[RegionPlan, ...] = ()
    root_mask: str | None = None  # what no region covers (None: the regions cover it all)


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
    if plan.regions:
        positive, negative = _regions(node, plan, positive, negative, clip)
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


def _regions(node: Any, plan: WorkflowPlan, positive: list[Any], negative: list[Any],
             clip: list[Any]) -> tuple[list[Any], list[Any]]:  # fmt: skip
    """The positive and negative conditioning of a job with regions (see the docstring)."""
    conds: dict[str, list[list[Any]]] = {"positive": [], "negative": []}
    if plan.root_mask is not None:
        mask = node("root_mask", "LoadImageMask", image=plan.root_mask, channel="red")
        for side, cond in (("positive", positive), ("negative", negative)):
            conds[side].append(node(f"root_{side}", "ConditioningSetMask", conditioning=cond,
                                    mask=mask, strength=1.0, set_cond_area="default"))  # fmt: skip
    for i, region in enumerate(plan.regions):
        mask = node(f"region_mask{i}", "LoadImageMask", image=region.mask, channel="red")
        for side, text in (("positive", region.prompt), ("negative", region.negative)):
            encoded = node(f"region_{side}_text{i}", "CLIPTextEncode", text=text, clip=clip)
            conds[side].append(node(f"region_{side}{i}", "ConditioningSetMask",
                                    conditioning=encoded, mask=mask, strength=1.0,
                                    set_cond_area="default"))  # fmt: skip
    joined = []
    for side, parts in conds.items():
        cond = parts[0]
        for i, part in enumerate(parts[1:]):
            cond = node(f"combine_{side}{i}", "ConditioningCombine", conditioning_1=cond,
                        conditioning_2=part)  # fmt: skip
        joined.append(cond)
    return joined[0], joined[1]


def nodes_needed(graph: dict[str, dict[str, Any]]) -> set[str]:
    return {entry["class_type"] for entry in graph.values()}


def workflow_hash(graph: dict[str, dict[str, Any]]) -> str:
    """First 10 hex digits of the SHA-256 of the graph's canonical JSON."""
    text = json.dumps(graph, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]
