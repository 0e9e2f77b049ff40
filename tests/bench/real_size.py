"""Real-size engine check: random-weight checkpoints built from the shipped family configs.

For each family: instantiate UNet, VAE and text encoder(s) from resources/model_configs
with random weights, write them as ONE original-layout .safetensors file (what users
download), then go through the product path: detect the family from the header, load it
offline with from_single_file + the shipped config, and time generations (txt2img at the
native size, then an inpaint of a region via from_pipe). Random weights make noise
images; what is checked is that every shape/config fits and the pipeline runs on the
device in its dtype. Needs a GPU for SDXL in reasonable time.

Run: .venv/bin/python -m tests.bench.real_size [--families sd1 sdxl] [--steps 20]
Prints one JSON line per family; asserts nothing but the family detection.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.discovery import MODEL_CONFIGS_DIR  # noqa: E402
from engine.local.engine import Engine  # noqa: E402
from engine.models import resolve_model  # noqa: E402
from engine.request import Box, GenerationInputs, GenerationRequest  # noqa: E402
from tests.engine.sd_layout import (  # noqa: E402
    clip_to_ldm,
    clip_to_open_clip,
    unet_to_ldm,
    vae_to_ldm,
)


def build_checkpoint(family: str, path: Path, device: str) -> float:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    t0 = time.perf_counter()
    folder = MODEL_CONFIGS_DIR / family
    torch.manual_seed(0)
    tensors: dict[str, torch.Tensor] = {}
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        tensors.update(unet_to_ldm(unet.state_dict(), unet.config))
        del unet
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        tensors.update(vae_to_ldm(vae.state_dict(), vae.config))
        del vae
        te = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
        if family.startswith("sd1"):
            tensors.update(clip_to_ldm(te.state_dict(), "cond_stage_model.transformer."))
        elif family.startswith("sd2"):
            tensors.update(clip_to_open_clip(te.state_dict(), "cond_stage_model.model."))
        else:
            tensors.update(clip_to_ldm(te.state_dict(), "conditioner.embedders.0.transformer."))
            te2 = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            )
            tensors.update(clip_to_open_clip(te2.state_dict(), "conditioner.embedders.1.model."))
    save_file({k: v.detach().half().cpu().contiguous() for k, v in tensors.items()}, str(path))
    return time.perf_counter() - t0


def run_family(family: str, steps: int, workdir: Path, device: str) -> dict:
    name = {"sd2-v": "random-v2-768", "sd2": "random-v2-512"}.get(family, f"random-{family}")
    path = workdir / f"{name}.safetensors"
    out: dict = {"family": family, "build_s": round(build_checkpoint(family, path, device), 1)}
    out["file_gib"] = round(path.stat().st_size / 2**30, 2)
    info = resolve_model(str(path))
    out["detected"] = info.family
    assert info.family == family, info
    engine = Engine()
    size = info.native_size
    base = GenerationRequest(
        mode="inpaint" if info.is_inpainting else "txt2img", prompt="a lighthouse at dusk",
        model=str(path), steps=steps, width=size, height=size, seed=1, watermark=False,
    )  # fmt: skip
    image = np.random.default_rng(0).integers(0, 256, (size, size, 4), dtype=np.uint8)
    image[..., 3] = 255
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4 : size // 2, size // 4 : size // 2] = 255
    region = base.replace(mode="inpaint", region=Box(0, 0, size, size), strength=0.8)
    low_memory = (("cpu_offload", True), ("attention_slicing", True), ("vae_tiling", True))
    jobs = [("first", base), ("again", base), ("inpaint", region)]
    if info.is_inpainting:
        jobs = [("first", region), ("again", region)]
    # Reloads with the low-memory switches, then derives inpaint from the offloaded pipeline.
    jobs.append(("low_memory_inpaint", region.replace(options=low_memory)))
    for label, req in jobs:
        steps_seen = []
        inputs = GenerationInputs(image=image, mask=mask) if req.mode == "inpaint" else None
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        try:
            (res,) = engine.run(
                req, inputs, on_progress=lambda s, t, p, seen=steps_seen: seen.append(s)
            )
            result = {"shape": list(res.rgba.shape)}
        except Exception as e:  # random weights may overflow fp16: report, keep going
            result = {"error": f"{type(e).__name__}: {e}"}
        result["s"] = round(time.perf_counter() - t0, 2)
        result["progress_calls"] = len(steps_seen)
        result["unet_dtype"] = str(engine._base.unet.dtype).removeprefix("torch.")
        if device == "cuda":
            result["peak_vram_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out[label] = result
    engine.unload()
    path.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--families", nargs="+", default=["sd1", "sdxl"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for family in args.families:
            print(json.dumps(run_family(family, args.steps, Path(tmp), device)), flush=True)


if __name__ == "__main__":
    main()
