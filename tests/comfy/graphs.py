"""ComfyUI graphs built without a server, and reading them: a published file of each
transformer family, a plan and a request for any family and mode, and the links between
nodes. Shared by the graph tests (tests/engine/test_comfy_*.py, tests/comfy)."""

from __future__ import annotations

from engine.comfy.modern_workflow import ModernPlan
from engine.comfy.server_models import ServerModel, find_model, pick_parts
from engine.request import GenerationRequest

ENCODERS = ("clip_l.safetensors", "t5xxl_fp16.safetensors", "clip_g.safetensors",
            "qwen_2.5_vl_7b_fp8_scaled.safetensors")  # fmt: skip
VAES = ("ae.safetensors", "qwen_image_vae.safetensors", "sd3_vae.safetensors", "pixel_space")
# A published file name of each family, as it sits in models/diffusion_models.
FILES = {
    "flux": "flux1-dev.safetensors",
    "flux-schnell": "flux1-schnell-fp8.safetensors",
    "flux-fill": "flux1-fill-dev.safetensors",
    "flux-kontext": "flux1-kontext-dev.safetensors",
    "sd3": "sd3.5_medium.safetensors",
    "qwen-image": "qwen_image_fp8_e4m3fn.safetensors",
    "qwen-image-edit": "qwen_image_edit_fp8_e4m3fn.safetensors",
    "qwen-image-edit-plus": "qwen_image_edit_2509_fp8_e4m3fn.safetensors",
    "chroma": "chroma-unlocked-v50.safetensors",
}
MODES = ("txt2img", "img2img", "inpaint", "outpaint", "edit")
EDITORS = ("flux-kontext", "qwen-image-edit", "qwen-image-edit-plus")


def server_model(key: str) -> ServerModel:
    """The server model of family `key`, as found among FILES."""
    return find_model(FILES[key], (), tuple(FILES.values()), "http://h")


def modern_plan(
    key: str, mode: str, loader: str = "diffusion_model", **changes: object
) -> ModernPlan:
    """A 1024x768 plan for family `key` in `mode`, loaded as a diffusion model with its
    parts or as a checkpoint."""
    model = server_model(key)
    parts = None
    if loader == "diffusion_model":
        parts = pick_parts(model, ENCODERS, VAES, "http://h")
    else:
        model = ServerModel(model.name, model.family, "checkpoint")
    image = None if mode == "txt2img" else "pic.png"
    mask = "mask.png" if mode in ("inpaint", "outpaint") else None
    fields = {"image": image, "mask": mask, **changes}
    return ModernPlan(model, parts, 1024, 768, "euler", "simple", **fields)  # type: ignore[arg-type]


def graph_request(mode: str, **changes: object) -> GenerationRequest:
    """A request in `mode` with fixed prompt, seed, steps, guidance and strength."""
    fields = {"prompt": "a red barn", "negative_prompt": "fog", "seed": 9, "steps": 20,
              "guidance": 3.5, "strength": 0.6}  # fmt: skip
    return GenerationRequest(mode, **{**fields, **changes})  # type: ignore[arg-type]


def linked(graph: dict, node: str, name: str) -> str:
    """The node that input `name` of `node` links to (an assertion error if a value)."""
    value = graph[node]["inputs"][name]
    assert isinstance(value, list), f"{node}.{name} is not a link: {value!r}"
    return value[0]


def upstream(graph: dict, node: str, name: str) -> list[str]:
    """The class types along a chain of links that starts at input `name` of `node` and
    follows each node's first linked input (conditioning, model...)."""
    chain = []
    node = linked(graph, node, name)
    while True:
        chain.append(graph[node]["class_type"])
        links = [v for v in graph[node]["inputs"].values() if isinstance(v, list)]
        if not links:
            return chain
        node = links[0][0]


def family_modes() -> list[tuple[str, str]]:
    """Every (family key, mode) a family takes: Fill only repaints, only editors edit."""
    cases = []
    for key in FILES:
        for mode in MODES:
            if key == "flux-fill" and mode in ("txt2img", "img2img"):
                continue
            if mode == "edit" and key not in EDITORS:
                continue
            cases.append((key, mode))
    return cases
