"""Workflow graphs checked by the vendored ComfyUI's own `/prompt` validation, offline.

Runs in ComfyUI's venv (`comfyui-venv/bin/python tests/comfy/comfy_validate.py COMFY_ROOT
GRAPHS_JSON BASE_DIR`): it loads ComfyUI's nodes as its server does and hands each graph
to `execution.validate_prompt`, which checks node names, inputs, link types, bounds and
choices, and that every model file and uploaded picture the graph names is there (BASE_DIR
holds empty stand-ins, see `stand_ins`). Prints one JSON result per graph. Nothing runs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

# Which folder of a ComfyUI base directory the file an input names lives in.
FOLDERS = {"ckpt_name": "models/checkpoints", "unet_name": "models/diffusion_models",
           "clip_name": "models/text_encoders", "clip_name1": "models/text_encoders",
           "clip_name2": "models/text_encoders", "clip_name3": "models/text_encoders",
           "vae_name": "models/vae", "lora_name": "models/loras",
           "control_net_name": "models/controlnet", "image": "input",
           "style_model_name": "models/style_models"}  # fmt: skip
# Where one node's input lives elsewhere: CLIPVisionLoader's clip_name is a vision model.
NODE_FOLDERS = {("CLIPVisionLoader", "clip_name"): "models/clip_vision"}


def stand_ins(graphs: list[dict], base: Path) -> None:
    """Empty files under `base` for every file the graphs name (validation only lists
    and checks that they exist)."""
    for graph in graphs:
        for entry in graph.values():
            for name, value in entry["inputs"].items():
                folder = NODE_FOLDERS.get((entry["class_type"], name), FOLDERS.get(name))
                if folder is not None and isinstance(value, str):
                    path = base / folder / value
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()


def _validate(comfy_root: str, graphs_file: str, base: str) -> None:
    sys.path.insert(0, comfy_root)
    sys.argv[1:] = ["--cpu", "--base-directory", base, "--disable-all-custom-nodes"]
    import comfy.options

    comfy.options.enable_args_parsing()  # comfy's modules read this command line
    import execution
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    results = []
    for graph in json.loads(Path(graphs_file).read_text()):
        valid, error, _, node_errors = asyncio.run(execution.validate_prompt("check", graph, None))
        results.append({"valid": valid, "error": error, "node_errors": node_errors})
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    _validate(*sys.argv[1:4])
