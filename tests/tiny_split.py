"""Tiny transformer-family models written as the files ComfyUI and Forge users keep, from
the tiny diffusers folders of tests.tiny_modern: split files in a `models/` folder
(diffusion_models/, text_encoders/, vae/), one single file holding every part, GGUF
transformers, and the configuration folder (no weights) that loads them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.model_files import FAMILY_PARTS

# The names ComfyUI users' files go by, per part kind.
FILE_NAMES = {
    "clip_l": "clip_l.safetensors",
    "clip_g": "clip_g.safetensors",
    "t5xxl": "t5xxl_fp16.safetensors",
    "qwen2.5-vl": "qwen_2.5_vl_7b.safetensors",
    "qwen3": "qwen_3_4b.safetensors",
    "vae16": "ae.safetensors",
    "vae-qwen": "qwen_image_vae.safetensors",
    "vae-flux2": "flux2-vae.safetensors",
}
# Where a ComfyUI single file keeps each part kind.
SINGLE_FILE_PREFIXES = {
    "transformer": "model.diffusion_model.",
    "clip_l": "text_encoders.clip_l.transformer.",
    "clip_g": "text_encoders.clip_g.transformer.",
    "t5xxl": "text_encoders.t5xxl.transformer.",
    "qwen2.5-vl": "text_encoders.qwen25_7b.transformer.",
    "qwen3": "text_encoders.qwen3_4b.transformer.",
    "vae16": "vae.",
    "vae-qwen": "vae.",
    "vae-flux2": "vae.",
}


def _weights(folder: Path, component: str) -> Path:
    return next((folder / component).glob("*.safetensors"))


def config_root(folder: Path, family: str, root: Path) -> Path:
    """A config root (root/<family>/) holding the tiny folder's configuration and
    tokenizers without its weights, as Engine(config_root=...) reads it."""
    target = root / family
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("*.safetensors"))
    return root


def write_split(
    folder: Path, family: str, models: Path, name: str, skip: tuple[str, ...] = ()
) -> Path:
    """The tiny model as split files under `models` (a ComfyUI models/ folder); the part
    kinds in `skip` are left out. Returns the transformer file."""
    (models / "diffusion_models").mkdir(parents=True, exist_ok=True)
    transformer = models / "diffusion_models" / f"{name}.safetensors"
    shutil.copy(_weights(folder, "transformer"), transformer)
    for component, kind in FAMILY_PARTS[family]:
        if kind in skip:
            continue
        sub = models / ("vae" if kind.startswith("vae") else "text_encoders")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(_weights(folder, component), sub / FILE_NAMES[kind])
    return transformer


def write_split_beside_folder(folder: Path, family: str, models: Path, name: str) -> Path:
    """write_split, plus a copy of the diffusers folder in `models` (a starter): the folder
    the split files find their configuration in when it is not installed. Returns the
    transformer file."""
    shutil.copytree(folder, models / folder.name)
    return write_split(folder, family, models, name)


def write_single_file(folder: Path, family: str, path: Path) -> Path:
    """The tiny model as one ComfyUI-style single file (every part under its prefix)."""
    from safetensors.torch import load_file, save_file

    tensors = {}
    parts = [("transformer", "transformer"), *FAMILY_PARTS[family]]
    for component, kind in parts:
        prefix = SINGLE_FILE_PREFIXES[kind]
        for key, value in load_file(str(_weights(folder, component))).items():
            tensors[prefix + key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def write_gguf(source: Path, path: Path, arch: str = "flux") -> Path:
    """A safetensors transformer as GGUF, its layers' weight matrices quantised to Q8_0
    where their rows split into 32-element blocks, the rest in F32 (as city96's converter
    leaves norms, biases and pad tokens)."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in load_file(str(source)).items():
        array = value.float().numpy()
        # Only layers' weight matrices: pad tokens and norms are used as they are.
        if key.endswith(".weight") and array.ndim == 2 and array.shape[-1] % 32 == 0:
            q8 = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(key, gguf.quants.quantize(array, q8), raw_dtype=q8)
        else:
            writer.add_tensor(key, array.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_sparse_transformer(path: Path, parameters: int, dtype: str = "BF16") -> Path:
    """A FLUX.1-layout transformer whose header claims `parameters` weights, as a sparse
    file: a "too big" model on disk without the disk space."""
    import math

    shapes = {
        "x_embedder.weight": [3072, 64],
        "context_embedder.weight": [3072, 4096],
        "time_text_embed.guidance_embedder.linear_1.weight": [3072, 256],
        "transformer_blocks.0.attn.to_q.weight": [3072, 3072],
    }
    rest = parameters - sum(math.prod(s) for s in shapes.values())
    shapes["single_transformer_blocks.0.proj_mlp.weight"] = [max(1, rest // 3072), 3072]
    return write_sparse(path, shapes, dtype)


def write_sparse_t5(path: Path, parameters: int, dtype: str = "BF16") -> Path:
    """A T5 encoder whose header claims `parameters` weights, as a sparse file."""
    shapes = {
        "shared.weight": [32128, 4096],
        "encoder.block.0.layer.0.SelfAttention.q.weight": [4096, 4096],
    }
    shapes["encoder.block.0.layer.1.DenseReluDense.wo.weight"] = [4096, parameters // 4096]
    return write_sparse(path, shapes, dtype)


def write_sparse(path: Path, shapes: dict[str, list[int]], dtype: str = "BF16") -> Path:
    """A safetensors file with these tensors' header and no data on disk (a sparse file:
    every weight reads as 0)."""
    import json
    import math
    import struct

    width = {"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1}[dtype]
    header, offset = {}, 0
    for key, shape in shapes.items():
        size = math.prod(shape) * width
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path


def write_bfl_transformer(path: Path, width: int = 32) -> Path:
    """A narrow FLUX.1 transformer in BFL's original layout (double_blocks, img_in), as
    ComfyUI's diffusion_models hold real ones."""
    import torch
    from safetensors.torch import save_file

    h = width
    shapes = {
        "img_in.weight": [h, 64],
        "txt_in.weight": [h, 32],
        "time_in.in_layer.weight": [h, 256],
        "vector_in.in_layer.weight": [h, 32],
        "guidance_in.in_layer.weight": [h, 256],
        "double_blocks.0.img_attn.qkv.weight": [3 * h, h],
        "double_blocks.0.img_attn.norm.key_norm.scale": [16],
        "single_blocks.0.linear1.weight": [7 * h, h],
        "final_layer.linear.weight": [64, h],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.randn(s) for k, s in shapes.items()}, str(path))
    return path


def write_wan_vae(vae, path: Path) -> Path:
    """A Qwen-Image VAE (a diffusers AutoencoderKLQwenImage with Wan 2.1's four stages of
    two residual blocks) saved in Wan's original layout, as ComfyUI keeps
    qwen_image_vae.safetensors. The original names are found by running diffusers' own
    converter over every name Wan's modules can have: it maps them one to one."""
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
    from safetensors.torch import save_file

    state = vae.state_dict()
    leaves = ["residual.0.gamma", "residual.2.weight", "residual.2.bias", "residual.3.gamma"]
    leaves += ["residual.6.weight", "residual.6.bias", "shortcut.weight", "shortcut.bias"]
    leaves += ["resample.1.weight", "resample.1.bias", "time_conv.weight", "time_conv.bias"]
    leaves += ["norm.gamma", "to_qkv.weight", "to_qkv.bias", "proj.weight", "proj.bias"]
    leaves += ["gamma", "weight", "bias"]
    names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    for side in ("encoder", "decoder"):
        names += [f"{side}.conv1.weight", f"{side}.conv1.bias"]
        for block in ("downsamples", "upsamples", "middle", "head"):
            names += [f"{side}.{block}.{i}.{leaf}" for i in range(20) for leaf in leaves]
    original = {}
    for name in names:
        for key in convert_wan_vae_to_diffusers({name: None}):
            if key in state:
                original[name] = state[key]
    assert len(original) == len(state), "every tensor has one original name"
    save_file({k: v.contiguous() for k, v in original.items()}, str(path))
    return path


def write_original_z_image(source: Path, path: Path) -> Path:
    """A diffusers-layout Z-Image transformer in the original layout ComfyUI's
    z_image_turbo files have: fused qkv, `final_layer.`, `x_embedder.`, `attention.out`."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(source))
    out = {}
    for key, value in state.items():
        if ".attention.to_k." in key or ".attention.to_v." in key:
            continue
        if ".attention.to_q.weight" in key:
            qkv = [state[key.replace("to_q", n)] for n in ("to_q", "to_k", "to_v")]
            out[key.replace("to_q", "qkv")] = torch.cat(qkv)
            continue
        for new, old in (
            ("all_final_layer.2-1.", "final_layer."),
            ("all_x_embedder.2-1.", "x_embedder."),
            (".attention.to_out.0.", ".attention.out."),
            (".attention.norm_k.", ".attention.k_norm."),
            (".attention.norm_q.", ".attention.q_norm."),
        ):
            key = key.replace(new, old)
        out[key] = value
    save_file(out, str(path))
    return path
