"""Random-weight FLUX.1 Redux files that the vendored ComfyUI loads, for real-server tests.

ComfyUI 0.3.64 has no small form of either: `load_style_model` builds Redux at its
published size (1152 -> 12288 -> 4096) and `clip_vision.load` picks SigLIP-so400m at 384²
(27 layers, 1152 wide) from the tensors' names and shapes, leaving any tensor the file
lacks uninitialised. So both are written at full size, with random weights in fp16
(about 0.9 GB, once per machine in the cache):
`comfyui-venv/bin/python tests/comfy/redux_files.py COMFY_ROOT OUT_MODELS_DIR`.
The vision model is ComfyUI's own class, so its tensor names are the ones ComfyUI reads.
Deterministic for a seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VERSION = "1"  # bump when the files below change (they are cached by name)
STYLE_MODEL = f"flux1-redux-dev-overpaint-test-v{VERSION}.safetensors"
CLIP_VISION = f"sigclip_vision_patch14_384-overpaint-test-v{VERSION}.safetensors"


def write_redux_files(comfy_cache: Path, models: Path | None = None) -> Path:
    """Write style_models/STYLE_MODEL and clip_vision/CLIP_VISION under `models` (default:
    the cache's models/redux) with ComfyUI's venv, once; returns `models`."""
    models = models or comfy_cache / "models" / "redux"
    if not (models / "style_models" / STYLE_MODEL).exists():
        python = comfy_cache / "comfyui-venv" / "bin" / "python"
        done = subprocess.run(
            [str(python), __file__, str(comfy_cache / "ComfyUI"), str(models)],
            capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"could not write the Redux test files: {done.stderr[-1500:]}")
    return models


def _build(comfy_root: Path, models: Path, seed: int = 0) -> None:
    sys.path.insert(0, str(comfy_root))
    sys.argv[1:] = ["--cpu"]  # comfy's modules read this command line when imported
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.clip_vision
    import torch
    from comfy.ldm.flux.redux import ReduxImageEncoder
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)

    def randomised(state: dict) -> dict:
        out = {}
        for name, tensor in state.items():
            if "norm" in name and name.endswith(".weight"):  # layer norms start at 1
                out[name] = torch.ones(tensor.shape, dtype=torch.float16)
                continue
            fan_in = tensor.shape[-1] if tensor.dim() == 2 else 1
            if tensor.dim() == 4:
                fan_in = tensor.shape[1] * tensor.shape[2] * tensor.shape[3]
            scale = 0.0 if name.endswith(".bias") else fan_in**-0.5
            if tensor.dim() < 2 and not name.endswith(".bias"):
                scale = 0.02
            out[name] = (torch.randn(tensor.shape, generator=generator) * scale).to(torch.float16)
        return out

    def save(tensors: dict, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        tmp.replace(path)

    config = Path(comfy.clip_vision.__file__).with_name("clip_vision_siglip_384.json")
    with torch.device("meta"):
        encoder = comfy.clip_vision.IMAGE_ENCODERS["siglip_vision_model"]
        vision = encoder(
            json.loads(config.read_text()), torch.float16, "cpu", comfy.ops.manual_cast
        )
    state = {k: torch.empty(v.shape) for k, v in vision.state_dict().items()}
    save(randomised(state), models / "clip_vision" / CLIP_VISION)
    with torch.device("meta"):
        redux = ReduxImageEncoder()
    state = {k: torch.empty(v.shape) for k, v in redux.state_dict().items()}
    save(randomised(state), models / "style_models" / STYLE_MODEL)  # last: the done-mark


if __name__ == "__main__":
    _build(Path(sys.argv[1]), Path(sys.argv[2]))
