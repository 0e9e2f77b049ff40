"""Tiny random-weight SD 3.5 files that the vendored ComfyUI loads, for real-server tests.

SD 3.5 is the one transformer family ComfyUI 0.3.64 can load small: it sizes an MMDiT from
its weights (64 channels per block, one head per block), and its SD 3.5 text encoding runs
with any of CLIP-L, CLIP-G and T5-XXL. The other families are fixed there at full size
(FLUX.1, Fill, Kontext and Chroma: a 3072-wide transformer and the 4.7 B T5-XXL encoder;
Qwen-Image: the 7 B Qwen2.5-VL encoder), too big to build and run in a test on a CPU.

Written as a diffusion model, a CLIP-L text encoder and a 16-channel VAE in ComfyUI's
folders, and as one checkpoint holding all three. The transformer is ComfyUI's own MMDiT
class (so its tensor names are ComfyUI's), built by ComfyUI's venv:
`comfyui-venv/bin/python tests/comfy/sd3_files.py SD15_CHECKPOINT OUT_MODELS_DIR`. The
CLIP-L weights come from the SD 1.5 test checkpoint (tests/comfy/checkpoint.py); the VAE
is ComfyUI's SD 3.5 autoencoder (16 latent channels) at full size with PyTorch's default
random init: that checkpoint's TAESD changes half as many levels for the same change of
latents, too little for the tests that tell pictures apart, and at the 64² these tests
paint the full VAE costs little. Deterministic for a seed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VERSION = "2"  # bump when the files below change (they are cached by name)
DIFFUSION_MODEL = f"overpaint-test-sd3.5-v{VERSION}.safetensors"
CLIP_L = f"clip_l-overpaint-test-v{VERSION}.safetensors"
VAE = f"sd3_vae-overpaint-test-v{VERSION}.safetensors"
CHECKPOINT = f"overpaint-test-sd3.5-all-v{VERSION}.safetensors"
DEPTH = 2  # MMDiT blocks: 128 channels, 2 heads


def write_sd3_files(comfy_cache: Path, sd15: Path, models: Path | None = None) -> Path:
    """Write the files under `models` (default: the cache's models/sd3) in diffusion_models/,
    text_encoders/, vae/ and checkpoints/ with ComfyUI's venv, once; returns `models`."""
    models = models or comfy_cache / "models" / "sd3"
    if not (models / "checkpoints" / CHECKPOINT).exists():
        python = comfy_cache / "comfyui-venv" / "bin" / "python"
        done = subprocess.run(
            [str(python), __file__, str(comfy_cache / "ComfyUI"), str(sd15), str(models)],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"could not write the SD 3.5 test files: {done.stderr[-1500:]}")
    return models


def _build(comfy_root: Path, sd15: Path, models: Path, seed: int = 0) -> None:
    sys.path.insert(0, str(comfy_root))
    sys.argv[1:] = ["--cpu"]  # comfy's modules read this command line when imported
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.ops
    import torch
    from comfy.ldm.modules.diffusionmodules.mmdit import MMDiT
    from safetensors import safe_open
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    hidden = 64 * DEPTH
    mmdit = MMDiT(
        patch_size=2, in_channels=16, out_channels=16, depth=DEPTH, adm_in_channels=2048,
        context_embedder_config={"target": "torch.nn.Linear",
                                 "params": {"in_features": 4096, "out_features": hidden}},
        pos_embed_max_size=32, num_patches=32 * 32, pos_embed_scaling_factor=None,
        operations=comfy.ops.disable_weight_init,
    )  # fmt: skip
    transformer = {}
    for name, tensor in mmdit.state_dict().items():
        fan_in = tensor.shape[-1] if tensor.dim() > 1 else 1
        scale = 0.0 if name.endswith(".bias") else fan_in**-0.5
        value = torch.randn(tensor.shape, generator=generator) * scale
        transformer[name] = value.to(torch.float16).contiguous()

    with safe_open(str(sd15), framework="pt") as f:
        keys = list(f.keys())
        clip_prefix = "cond_stage_model.transformer."
        clip = {k[len(clip_prefix) :]: f.get_tensor(k) for k in keys if k.startswith(clip_prefix)}
    clip["text_projection.weight"] = torch.eye(768, dtype=torch.float16)

    vae = _sd3_vae(generator)

    def save(tensors: dict, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        tmp.replace(path)

    save(transformer, models / "diffusion_models" / DIFFUSION_MODEL)
    save(clip, models / "text_encoders" / CLIP_L)
    save(vae, models / "vae" / VAE)
    everything = {f"model.diffusion_model.{k}": v for k, v in transformer.items()}
    everything.update({f"text_encoders.clip_l.transformer.{k}": v for k, v in clip.items()})
    everything.update({f"first_stage_model.{k}": v for k, v in vae.items()})
    save(everything, models / "checkpoints" / CHECKPOINT)  # written last: the done-mark


def _sd3_vae(generator):  # (torch.Generator) -> dict of fp16 tensors
    """ComfyUI's SD 3.5 VAE (what comfy/sd.py builds for a VAE with 16 latent channels
    and no quant convs), initialised as PyTorch initialises convolutions by default."""
    import torch
    from comfy.ldm.models.autoencoder import AutoencodingEngine

    ddconfig = {"double_z": True, "z_channels": 16, "resolution": 256, "in_channels": 3,
                "out_ch": 3, "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                "attn_resolutions": [], "dropout": 0.0}  # fmt: skip
    module = "comfy.ldm.modules.diffusionmodules.model."
    with torch.device("meta"):
        engine = AutoencodingEngine(
            regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
            encoder_config={"target": module + "Encoder", "params": ddconfig},
            decoder_config={"target": module + "Decoder", "params": ddconfig},
        )  # fmt: skip
    state = engine.state_dict()
    vae = {}
    for name, tensor in state.items():
        shape = tuple(tensor.shape)
        if "norm" in name:  # group norms: weight 1, bias 0
            value = torch.ones(shape) if name.endswith(".weight") else torch.zeros(shape)
        else:  # kaiming_uniform(a=√5) for weights, as for their biases: ±1/√fan_in
            weight = state[name.removesuffix(".bias").removesuffix(".weight") + ".weight"]
            bound = weight[0].numel() ** -0.5
            value = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        vae[name] = value.to(torch.float16)
    return vae


if __name__ == "__main__":
    _build(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
