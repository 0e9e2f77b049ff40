"""Test helpers: write diffusers weights as an original-layout (CompVis/A1111) checkpoint,
and fake checkpoint headers with the tensor names/shapes of each real family.

The original layout is what people download as a single .safetensors file; writing the
tiny test model in it lets the tests run the real offline single-file loading path.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str, table: dict[str, str]) -> str:
    for new, old in table.items():
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def unet_to_ldm(state: dict, config: dict) -> dict:
    lpb = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    has_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    flat = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "add_embedding.linear_1": "label_emb.0.0",  # SDXL's size/crop conditioning
        "add_embedding.linear_2": "label_emb.0.2",
    }
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        prefix = next((p for p in flat if key.startswith(p + ".")), None)
        if prefix is not None:
            new = flat[prefix] + key[len(prefix) :]
        elif parts[0] == "down_blocks":
            i, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "downsamplers":
                new = f"input_blocks.{(i + 1) * (lpb + 1)}.0.op.{rest.removeprefix('conv.')}"
            else:
                idx = 1 + i * (lpb + 1) + j
                sub = 0 if kind == "resnets" else 1
                rest = _resnet(rest, _RESNET) if kind == "resnets" else rest
                new = f"input_blocks.{idx}.{sub}.{rest}"
        elif parts[0] == "up_blocks":
            i, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "upsamplers":
                new = f"output_blocks.{i * (lpb + 1) + lpb}.{2 if has_attn[i] else 1}.{rest}"
            else:
                sub = 0 if kind == "resnets" else 1
                rest = _resnet(rest, _RESNET) if kind == "resnets" else rest
                new = f"output_blocks.{i * (lpb + 1) + j}.{sub}.{rest}"
        elif parts[0] == "mid_block":
            kind, j, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                new = f"middle_block.{2 * j}.{_resnet(rest, _RESNET)}"
            else:
                new = f"middle_block.1.{rest}"
        else:
            raise KeyError(f"unmapped UNet key {key} ({levels} levels)")
        out["model.diffusion_model." + new] = value
    return out


def vae_to_ldm(state: dict, config: dict) -> dict:
    n = len(config["block_out_channels"])
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]
        new = key
        if side in ("encoder", "decoder") and len(parts) > 2:
            if parts[1] in ("down_blocks", "up_blocks"):
                i = int(parts[2])
                level = i if side == "encoder" else n - 1 - i
                name = "down" if side == "encoder" else "up"
                if parts[3] == "resnets":
                    rest = _resnet(".".join(parts[5:]), {"conv_shortcut": "nin_shortcut"})
                    new = f"{side}.{name}.{level}.block.{parts[4]}.{rest}"
                else:
                    sample = "downsample" if side == "encoder" else "upsample"
                    new = f"{side}.{name}.{level}.{sample}.{'.'.join(parts[5:])}"
            elif parts[1] == "mid_block":
                if parts[2] == "resnets":
                    rest = _resnet(".".join(parts[4:]), {"conv_shortcut": "nin_shortcut"})
                    new = f"{side}.mid.block_{int(parts[3]) + 1}.{rest}"
                else:
                    rest = ".".join(parts[4:])
                    rest = _resnet(rest, _VAE_ATTN)
                    new = f"{side}.mid.attn_1.{rest}"
                    if value.ndim == 2:  # the original stores 1x1 convolutions
                        value = value[:, :, None, None]
            elif parts[1] == "conv_norm_out":
                new = f"{side}.norm_out.{'.'.join(parts[2:])}"
        out["first_stage_model." + new] = value
    return out


def write_original_checkpoint(folder: Path, path: Path) -> Path:
    """Convert the diffusers folder at `folder` into one original-layout safetensors file."""
    from safetensors.torch import load_file, save_file

    def load(sub: str) -> dict:
        files = sorted((folder / sub).glob("*.safetensors"))
        state = {}
        for f in files:
            state.update(load_file(str(f)))
        return state

    unet_cfg = json.loads((folder / "unet" / "config.json").read_text())
    vae_cfg = json.loads((folder / "vae" / "config.json").read_text())
    tensors = {}
    tensors.update(unet_to_ldm(load("unet"), unet_cfg))
    tensors.update(vae_to_ldm(load("vae"), vae_cfg))
    tensors.update(clip_to_ldm(load("text_encoder"), "cond_stage_model.transformer."))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


# ----------------------------------------------------------------------------------
# fake headers for family detection (real names and shapes, almost no data)

_CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"
_TO_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


def family_tensors(family: str) -> dict[str, list[int]]:
    """Names and shapes of the tensors that distinguish `family` in a real checkpoint."""
    inpaint = family.endswith("-inpaint")
    conv_in = [320, 9 if inpaint else 4, 3, 3]
    common = {
        _CONV_IN: conv_in,
        "first_stage_model.decoder.conv_out.weight": [3, 128, 3, 3],
        "model.diffusion_model.out.2.weight": [4, 320, 3, 3],
    }
    if family.startswith("sd1"):
        return {
            **common,
            _TO_K: [320, 768],
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": [
                49408,
                768,
            ],
        }
    if family.startswith("sd2"):
        return {
            **common,
            _TO_K: [320, 1024],
            "cond_stage_model.model.token_embedding.weight": [49408, 1024],
        }
    if family == "sdxl-refiner":
        return {
            **common,
            "model.diffusion_model.label_emb.0.0.weight": [1536, 2560],
            "conditioner.embedders.0.model.token_embedding.weight": [49408, 1280],
        }
    return {  # sdxl, sdxl-inpaint: no attention in the first level, two text encoders
        **common,
        "model.diffusion_model.label_emb.0.0.weight": [1280, 2816],
        "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight": [
            49408,
            768,
        ],
        "conditioner.embedders.1.model.token_embedding.weight": [49408, 1280],
    }


def write_fake_checkpoint(path: Path, shapes: dict[str, list[int]], truncate: int = 0) -> Path:
    """A valid safetensors file whose tensors have the given shapes (zero-filled, F16)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 2
        for d in shape:
            size *= d
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.truncate(8 + len(raw) + max(offset - truncate, 0))
    return path


def clip_to_ldm(state: dict, prefix: str) -> dict:
    """A transformers CLIP text model's weights under an original-layout prefix
    (e.g. "cond_stage_model.transformer.")."""
    out = {}
    for key, value in state.items():
        if key == "text_projection.weight":
            continue
        # transformers >= 5.6 saves CLIPTextModel without the `text_model.` level that
        # original checkpoints (and older transformers) have.
        if not key.startswith("text_model."):
            key = "text_model." + key
        out[prefix + key] = value
    return out


def clip_to_open_clip(state: dict, prefix: str) -> dict:
    """A transformers CLIP text model's weights in OpenCLIP layout (SD 2.x, SDXL's second
    encoder): fused q/k/v projections, transposed text projection."""
    sd = {k.removeprefix("text_model."): v for k, v in state.items()}
    out = {
        prefix + "token_embedding.weight": sd["embeddings.token_embedding.weight"],
        prefix + "positional_embedding": sd["embeddings.position_embedding.weight"],
        prefix + "ln_final.weight": sd["final_layer_norm.weight"],
        prefix + "ln_final.bias": sd["final_layer_norm.bias"],
    }
    if "text_projection.weight" in sd:
        out[prefix + "text_projection"] = sd["text_projection.weight"].T.contiguous()
    layers = {int(k.split(".")[2]) for k in sd if k.startswith("encoder.layers.")}
    names = {
        "self_attn.out_proj": "attn.out_proj",
        "layer_norm1": "ln_1",
        "layer_norm2": "ln_2",
        "mlp.fc1": "mlp.c_fc",
        "mlp.fc2": "mlp.c_proj",
    }
    for i in sorted(layers):
        src, dst = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [sd[f"{src}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            out[f"{dst}attn.in_proj_{kind}"] = _cat(qkv)
            for old, new in names.items():
                out[f"{dst}{new}.{kind}"] = sd[f"{src}{old}.{kind}"]
    return out


def _cat(tensors: list) -> object:
    import torch

    return torch.cat(tensors, dim=0)
