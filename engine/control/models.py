"""Finding control models (ControlNet, T2I-Adapter) on disk and judging if they fit.

Control models live in a `controlnet/` folder beside the models (the user's models folder,
each --models-dir, and resources/models for bundled ones), as diffusers folders
(config.json) or single .safetensors files. A single file's configuration is never
guessed from its name: it is read from its tensor shapes, which pick one of the bundled
config folders resources/model_configs/controlnet-* (the original `control_v11p_sd15_*`
layout and the diffusers layout both work) or, for T2I-Adapters, give it outright.
Whether a control model fits the loaded model is judged from that configuration against
the UNet's (cross-attention width, block channels and the resolutions the residuals are
added at). Like engine.models, nothing here imports torch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.control.spec import CONTROL_KINDS, kind_from_name
from engine.core.errors import ModelError
from engine.core.paths import user_models_dir
from engine.discovery import (
    CONTROL_FOLDER,
    MODEL_CONFIGS_DIR,
    control_dirs,
    entries,
    has_config,
    read_json_object,
    read_safetensors_header,
)
from engine.models import family_label

log = logging.getLogger(__name__)

_ORIGINAL_PREFIX = "control_model."
# The class a control model folder declares -> its model_type.
FOLDER_TYPES: dict[str, str] = {
    "ControlNetModel": "controlnet",
    "T2IAdapter": "t2i-adapter",
    "FluxControlNetModel": "flux-controlnet",
    "SD3ControlNetModel": "sd3-controlnet",
    "QwenImageControlNetModel": "qwen-image-controlnet",
    "ZImageControlNetModel": "z-image-controlnet",
}
FOLDER_CLASSES: dict[str, str] = {t: c for c, t in FOLDER_TYPES.items()}
# The transformer families' ControlNets (engine.control.transformers runs them): model_type
# -> the family they were made for.
TRANSFORMER_TYPES: dict[str, str] = {
    "flux-controlnet": "flux",
    "sd3-controlnet": "sd3",
    "qwen-image-controlnet": "qwen-image",
    "z-image-controlnet": "z-image",
}


@dataclass(frozen=True)
class ControlModelInfo:
    name: str
    path: Path
    model_type: str  # "controlnet" | "t2i-adapter"
    layout: str  # "diffusers" | "single-file"
    kind: str  # a CONTROL_KINDS key, or "" when the name does not say
    config: dict[str, Any] = field(compare=False, repr=False)
    # Single files: the diffusers layout's key names, or the original layout's.
    original_keys: bool = False


def _declared_kind(folder: Path, name: str) -> str:
    meta = folder / "overpaint.json"
    if meta.is_file():
        kind = str(read_json_object(meta).get("control_kind", ""))
        if kind in CONTROL_KINDS:
            return kind
    return kind_from_name(name)


# ----------------------------------------------------------------------------------
# inspecting one folder or file


def inspect_control(path: Path, config_roots: Sequence[Path] = ()) -> ControlModelInfo:
    """ControlModelInfo for a folder or .safetensors file; ModelError with one sentence."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _inspect_folder(path)
    if not path.exists():
        raise ModelError(f"Control model {path} does not exist.")
    if path.suffix.lower() != ".safetensors":
        raise ModelError(
            f"{path} is not a .safetensors file; control models are read only from "
            "safetensors files or diffusers folders (pickles can run code and are refused)."
        )
    return _inspect_file(path, config_roots)


def _inspect_folder(folder: Path) -> ControlModelInfo:
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ModelError(f"{folder} is not a control model folder (no config.json).")
    config = read_json_object(cfg_file)
    cls = str(config.get("_class_name", ""))
    if cls not in FOLDER_TYPES:
        raise ModelError(
            f"{folder} holds a {cls or 'diffusers'} model, not a ControlNet or T2I-Adapter."
        )
    kind = _declared_kind(folder, folder.name)
    return ControlModelInfo(folder.name, folder, FOLDER_TYPES[cls], "diffusers", kind, config)


def _inspect_file(path: Path, config_roots: Sequence[Path]) -> ControlModelInfo:
    header = read_safetensors_header(path)
    keys = list(header)
    sidecar = path.with_suffix(".json")
    kind = kind_from_name(path.stem)
    if sidecar.is_file():
        kind = str(read_json_object(sidecar).get("control_kind", kind))
    if any("input_hint_block" in k or "controlnet_cond_embedding" in k for k in keys):
        original = any("input_hint_block" in k for k in keys)
        config = _controlnet_config(header, original, path, config_roots)
        return ControlModelInfo(
            path.stem, path, "controlnet", "single-file", kind, config, original
        )
    if "conv_in.weight" in header and any(k.startswith("body.") for k in keys):
        config = adapter_config_from_header(header, original=True)
        return ControlModelInfo(path.stem, path, "t2i-adapter", "single-file", kind, config, True)
    if "adapter.conv_in.weight" in header:
        config = adapter_config_from_header(header, original=False)
        return ControlModelInfo(path.stem, path, "t2i-adapter", "single-file", kind, config)
    raise ModelError(f"{path} is not a ControlNet or T2I-Adapter model.")


def _shape(header: dict[str, dict], key: str) -> list[int]:
    return list(header[key]["shape"])


def _zero_conv_channels(header: dict[str, dict], original: bool) -> list[int]:
    if original:
        pattern = re.compile(r"(?:control_model\.)?zero_convs\.(\d+)\.0\.weight$")
    else:
        pattern = re.compile(r"controlnet_down_blocks\.(\d+)\.weight$")
    found = {}
    for key in header:
        m = pattern.match(key)
        if m:
            found[int(m.group(1))] = _shape(header, key)[0]
    return [found[i] for i in sorted(found)]


def expected_zero_convs(config: dict[str, Any]) -> list[int]:
    """The channels of a ControlNet's zero convolutions, as its config builds them."""
    channels = list(config["block_out_channels"])
    per_block = int(config.get("layers_per_block", 2))
    out = [channels[0]]
    for i, c in enumerate(channels):
        out += [c] * per_block + ([c] if i < len(channels) - 1 else [])
    return out


def _cross_width(header: dict[str, dict]) -> int | None:
    for key in header:
        if key.endswith("attn2.to_k.weight"):
            return _shape(header, key)[1]
    return None


def controlnet_config_folders(config_roots: Sequence[Path] = ()) -> list[Path]:
    folders = []
    for root in (*config_roots, MODEL_CONFIGS_DIR):
        if Path(root).is_dir():
            folders += sorted(p for p in Path(root).glob("controlnet-*") if p.is_dir())
    return folders


def _controlnet_config(
    header: dict[str, dict], original: bool, path: Path, config_roots: Sequence[Path]
) -> dict[str, Any]:
    """The bundled config whose layout the file's tensors have (shapes, never the name)."""
    zero = _zero_conv_channels(header, original)
    width = _cross_width(header)
    xl = any(k.startswith("add_embedding.") for k in header)
    for folder in controlnet_config_folders(config_roots):
        config = read_json_object(folder / "config.json")
        if expected_zero_convs(config) != zero:
            continue
        if width is not None and int(config.get("cross_attention_dim", 0)) != width:
            continue
        if xl != (config.get("addition_embed_type") == "text_time"):
            continue
        return {**config, "_overpaint_config_dir": str(folder)}
    blocks = "/".join(str(c) for c in sorted(set(zero), key=zero.index))
    raise ModelError(
        f"{path} is a ControlNet of a layout Overpaint has no configuration for "
        f"(cross-attention width {width}, block channels {blocks})."
    )


def adapter_config_from_header(header: dict[str, dict], original: bool) -> dict[str, Any]:
    """A T2I-Adapter's config from its tensor shapes (the full adapter layouts)."""
    prefix = "" if original else "adapter."
    conv_in = _shape(header, f"{prefix}conv_in.weight")
    pattern = re.compile(rf"{re.escape(prefix)}body\.(\d+)\.(?:resnets\.(\d+)\.)?block1\.weight$")
    blocks: dict[int, list[int]] = {}
    for key in header:
        m = pattern.match(key)
        if m:
            blocks.setdefault(int(m.group(1)), []).append(_shape(header, key)[0])
    if original:
        # The original layout numbers every resnet in one list, body.(level*n + i); every
        # published adapter has two resnets per level.
        per_level = 2 if len(blocks) % 2 == 0 else 1
        channels = [blocks[i * per_level][0] for i in range(len(blocks) // per_level)]
    else:
        per_level = len(blocks[0])
        channels = [blocks[i][0] for i in sorted(blocks)]
    # The XL layout unshuffles by 16, the others by 8; the first conv sees in * f² inputs.
    downscale = 8 if conv_in[1] % 64 == 0 and conv_in[1] // 64 in (1, 3) else 16
    in_channels = conv_in[1] // (downscale * downscale)
    return {
        "_class_name": "T2IAdapter",
        "adapter_type": None,  # not in the weights: decided by the UNet it guides
        "in_channels": in_channels,
        "channels": channels,
        "num_res_blocks": per_level,
        "downscale_factor": downscale,
    }


# ----------------------------------------------------------------------------------
# fitness against the loaded UNet


def _unet_residual_levels(unet_config: dict[str, Any]) -> list[tuple[int, int]]:
    """(channels, pixel scale) where the UNet adds an adapter's residual, per down block."""
    channels = list(unet_config["block_out_channels"])
    types = list(unet_config["down_block_types"])
    out = []
    for i, (c, t) in enumerate(zip(channels, types, strict=False)):
        last = i == len(channels) - 1
        # Cross-attention blocks add it before their downsampler, plain ones after it.
        scale = 8 * 2 ** (i if ("CrossAttn" in t or last) else i + 1)
        out.append((int(c), scale))
    return out


def adapter_type(config: dict[str, Any], unet_config: dict[str, Any]) -> str:
    """The adapter layout. A single file does not say (the layouts differ only in where
    they downsample, which has no weights), so it is the layout that fits the UNet."""
    declared = config.get("adapter_type")
    if declared:
        return str(declared)
    wanted = _unet_residual_levels(unet_config)
    for kind in ("full_adapter", "full_adapter_xl", "light_adapter"):
        if _levels(config, kind)[: len(wanted)] == wanted:
            return kind
    return "full_adapter"


def _levels(config: dict[str, Any], kind: str) -> list[tuple[int, int]]:
    """(channels, pixel scale) of each residual an adapter of layout `kind` makes."""
    channels = [int(c) for c in config["channels"]]
    ds = int(config.get("downscale_factor") or (16 if kind == "full_adapter_xl" else 8))
    if kind == "full_adapter_xl":
        return [(c, ds * (1 if i < 2 else 2)) for i, c in enumerate(channels)]
    levels = [(c, ds * 2**i) for i, c in enumerate(channels)]
    if kind == "light_adapter":
        levels.append((channels[-1], ds * 2 ** len(channels)))
    return levels


def _describe_unet(unet_config: dict[str, Any]) -> str:
    blocks = "/".join(str(c) for c in unet_config["block_out_channels"])
    return f"cross-attention width {unet_config.get('cross_attention_dim')} and blocks {blocks}"


def check_compatible(
    info: ControlModelInfo, unet_config: dict[str, Any], model_name: str, unet_is_xl: bool
) -> None:
    """ModelError (one sentence naming both) when `info` cannot guide this UNet."""
    cfg = info.config
    if info.model_type in TRANSFORMER_TYPES:
        made_for = family_label(TRANSFORMER_TYPES[info.model_type])
        raise ModelError(
            f"The control model {info.name} is a {made_for} ControlNet; it does not fit the "
            f"loaded model {model_name}: pick a control model made for that model's family."
        )
    if info.model_type == "controlnet":
        width = cfg.get("cross_attention_dim")
        blocks = list(cfg.get("block_out_channels", ()))
        fits = width == unet_config.get("cross_attention_dim") and blocks == list(
            unet_config["block_out_channels"]
        )
        mine = f"cross-attention width {width} and blocks {'/'.join(map(str, blocks))}"
    else:
        wanted = _unet_residual_levels(unet_config)
        levels = _levels(cfg, adapter_type(cfg, unet_config))
        fits = levels[: len(wanted)] == wanted
        mine = "residuals " + "/".join(f"{c}@{s}" for c, s in levels)
        wanted_text = "residuals " + "/".join(f"{c}@{s}" for c, s in wanted)
    if fits:
        return
    theirs = _describe_unet(unet_config) if info.model_type == "controlnet" else wanted_text
    raise ModelError(
        f"The control model {info.name} ({mine}) does not fit the loaded model {model_name} "
        f"({theirs}); pick a control model made for that model's family."
    )


# ----------------------------------------------------------------------------------
# discovery and choice


def discover_controls(
    extra_dirs: Sequence[Path] = (), config_roots: Sequence[Path] = ()
) -> list[ControlModelInfo]:
    found: list[ControlModelInfo] = []
    seen: set[Path] = set()
    for folder in control_dirs(extra_dirs):
        for info in _scan(folder, config_roots):
            if info.path.resolve() not in seen:
                seen.add(info.path.resolve())
                found.append(info)
    return found


def _scan(folder: Path, config_roots: Sequence[Path]) -> Iterable[ControlModelInfo]:
    for entry in entries(folder, 1, has_config):
        try:
            yield inspect_control(entry, config_roots)
        except ModelError as e:
            log.warning("skipping control model %s: %s", entry, e)


def find_control(
    text: str, extra_dirs: Sequence[Path] = (), config_roots: Sequence[Path] = ()
) -> ControlModelInfo:
    """The control model a path or an installed model's name names; ModelError if none."""
    if Path(text).expanduser().exists():
        return inspect_control(Path(text), config_roots)
    for info in discover_controls(extra_dirs, config_roots):
        if text.lower() in (info.name.lower(), info.path.name.lower()):
            return info
    raise ModelError(
        f"No control model named {text!r} was found in {user_models_dir() / CONTROL_FOLDER}."
    )


def resolve_control(
    kind: str,
    name_or_path: str,
    unet_config: dict[str, Any],
    model_name: str,
    unet_is_xl: bool,
    extra_dirs: Sequence[Path] = (),
    config_roots: Sequence[Path] = (),
) -> ControlModelInfo:
    """The control model to use for `kind` with the loaded UNet (explicit or the first
    installed one of that kind that fits); ModelError when there is none."""
    text = (name_or_path or "").strip()
    if text:
        info = find_control(text, extra_dirs, config_roots)
        check_compatible(info, unet_config, model_name, unet_is_xl)
        return info
    candidates = [i for i in discover_controls(extra_dirs, config_roots) if i.kind == kind]
    misfits = []
    for info in candidates:
        try:
            check_compatible(info, unet_config, model_name, unet_is_xl)
        except ModelError as e:
            misfits.append(str(e))
            continue
        return info
    if misfits:
        raise ModelError(misfits[0])
    raise ModelError(
        f"No {kind} control model is installed for {model_name}; put one in "
        f"{user_models_dir() / CONTROL_FOLDER} or pass --control-model {kind}:PATH."
    )
