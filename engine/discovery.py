"""Where model files live, walking those folders, and telling what each file is.

This is the one place that knows the models folders (the bundled one, the user's, each
--models-dir, their `loras/`, `controlnet/`, `ipadapter/` and `clip_vision/` subfolders, the
Hugging Face cache) and walks them. What it finds is classified from cheap evidence only:
a folder by the `_class_name` in its model_index.json or config.json (a transformers
folder by its config's `model_type`), a file by the tensor names in its safetensors
header, never the weights, so nothing here imports torch. The feature modules ask here
and then read the details they need: engine.models (checkpoint families),
engine.control.models (control configs), engine.upscale.upscalers, engine.lora.library,
engine.reference.adapters, engine.select.segmenter and engine.model_manager.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.core.errors import ModelError
from engine.core.paths import RESOURCES, user_models_dir

log = logging.getLogger(__name__)

BUNDLED_MODELS_DIR: Path = RESOURCES / "models"
MODEL_CONFIGS_DIR: Path = RESOURCES / "model_configs"
CONTROL_FOLDER = "controlnet"
LORA_FOLDERS: tuple[str, ...] = ("loras", "lora")
# Where IP-Adapters and their image encoders live (ComfyUI's folder names).
IP_ADAPTER_FOLDERS: tuple[str, ...] = ("ipadapter", "clip_vision")
# The model manager's folders for LoRAs, ControlNets, upscalers, VAEs and IP-Adapters hold
# no checkpoints (an upscaler folder would even pass for one).
NOT_CHECKPOINT_DIRS: tuple[str, ...] = (
    "loras", "lora", "controlnet", "upscalers", "vae", *IP_ADAPTER_FOLDERS
)  # fmt: skip

# The kinds of model file Overpaint tells apart.
CHECKPOINT = "checkpoint"
INPAINT_CHECKPOINT = "inpaint-checkpoint"
CONTROLNET = "controlnet"
T2I_ADAPTER = "t2i-adapter"
UPSCALER = "upscaler"
LORA = "lora"
VAE = "vae"
SEGMENTER = "segmenter"  # SAM / SAM 2 for Select Object (engine.select.segmenter)
IP_ADAPTER = "ip-adapter"  # reference pictures (engine.reference.adapters)
IMAGE_ENCODER = "image-encoder"  # an IP-Adapter's CLIP vision encoder folder

_FOLDER_CLASSES: dict[str, str] = {
    "StableDiffusionUpscalePipeline": UPSCALER,
    "StableDiffusionLatentUpscalePipeline": UPSCALER,
    "ControlNetModel": CONTROLNET,
    "ControlNetUnionModel": CONTROLNET,
    "ControlNetXSAdapter": CONTROLNET,
    "T2IAdapter": T2I_ADAPTER,
    "AutoencoderKL": VAE,
    "AutoencoderTiny": VAE,
    "ConsistencyDecoderVAE": VAE,
}
# transformers folders declare a model_type in config.json instead of a _class_name.
_MODEL_TYPES: dict[str, str] = {
    "sam": SEGMENTER,
    "sam2": SEGMENTER,
    "clip_vision_model": IMAGE_ENCODER,
}
# Tensor-name fragments of the LoRA formats diffusers loads (kohya, peft, old diffusers,
# LyCORIS LoHa/LoKr).
_LORA_MARKERS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", "_lora.down.", ".lora.down.")
_LORA_MARKERS += (".hada_w1", ".lokr_w1")
_UNET_CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"
# A safetensors header is JSON and small; anything claiming more is not a model.
_MAX_HEADER_BYTES = 100 * 1024 * 1024
# Bytes per element of the safetensors dtypes a checkpoint can hold.
_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip


# ----------------------------------------------------------------------------------
# where models live


def hf_cache_dir() -> Path:
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if env:
        return Path(env)
    home = os.environ.get("HF_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "huggingface"
    return base / "hub"


def model_dirs(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """The user's models folder, then each extra one (--models-dir, Settings)."""
    return [user_models_dir(), *(Path(d).expanduser() for d in extra_dirs)]


def control_dirs(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    roots = [BUNDLED_MODELS_DIR, user_models_dir(), *(Path(d).expanduser() for d in extra_dirs)]
    return [root / CONTROL_FOLDER for root in roots]


def lora_dirs(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """The user's loras folders, then each extra folder itself and its loras/."""
    dirs = [user_models_dir() / name for name in LORA_FOLDERS]
    for d in extra_dirs:
        dirs += [Path(d), Path(d) / "loras"]
    return dirs


def ip_adapter_dirs(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """The folders holding IP-Adapters and image encoders, in each models folder."""
    return [root / name for root in model_dirs(extra_dirs) for name in IP_ADAPTER_FOLDERS]


def is_bundled(path: Path) -> bool:
    return Path(path).parent == BUNDLED_MODELS_DIR


# ----------------------------------------------------------------------------------
# walking


def entries(
    root: Path,
    depth: int,
    is_leaf: Callable[[Path], bool],
    files: bool = True,
    skip: Iterable[str] = (),
) -> Iterator[Path]:
    """The model candidates under `root`, by name: .safetensors files (when `files`) and
    folders that `is_leaf` accepts; other folders are entered down to `depth` levels.
    Hidden entries and folders named in `skip` (any case) are passed over."""
    root = Path(root)
    if not root.is_dir():
        return
    skipped = {name.lower() for name in skip}
    try:
        children = sorted(root.iterdir(), key=lambda p: p.name.lower())
    except OSError as e:
        log.warning("cannot list models folder %s: %s", root, e)
        return
    for entry in children:
        if entry.name.startswith(".") or entry.name.lower() in skipped:
            continue
        if entry.is_dir():
            if is_leaf(entry):
                yield entry
            elif depth > 1:
                yield from entries(entry, depth - 1, is_leaf, files, skipped)
        elif files and entry.suffix.lower() == ".safetensors":
            yield entry


def has_model_index(folder: Path) -> bool:
    return (folder / "model_index.json").is_file()


def has_config(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def bundled_folders() -> list[Path]:
    """The diffusers folders shipped in resources/models, by name."""
    if not BUNDLED_MODELS_DIR.is_dir():
        return []
    return [p for p in sorted(BUNDLED_MODELS_DIR.iterdir()) if has_model_index(p)]


def hf_cache_repos() -> Iterator[tuple[str, list[Path]]]:
    """(repo id, its snapshots: the one refs/main names first, then newest first) for
    each model repository in the Hugging Face cache."""
    root = hf_cache_dir()
    if not root.is_dir():
        return
    for repo in sorted(root.glob("models--*")):
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        candidates = []
        if ref.is_file():
            candidates.append(snapshots / ref.read_text().strip())
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        yield repo.name[len("models--") :].replace("--", "/"), candidates


# ----------------------------------------------------------------------------------
# reading what a file or folder says about itself


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:  # a folder copied in part: "unreadable" sent users astray
        raise ModelError(
            f"{path} is missing: the model folder is incomplete (copy or download it again)."
        ) from e
    except (OSError, ValueError) as e:
        raise ModelError(f"{path} is unreadable or not valid JSON.") from e
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object.")
    return data


def folder_class(folder: Path) -> str:
    """The `_class_name` a diffusers folder declares (model_index.json, else config.json);
    "" when it declares none or cannot be read."""
    for name in ("model_index.json", "config.json"):
        file = folder / name
        if file.is_file():
            try:
                return str(read_json_object(file).get("_class_name", ""))
            except ModelError:
                return ""
    return ""


def config_model_type(folder: Path) -> str:
    """The `model_type` a transformers folder's config.json declares ("" when none)."""
    try:
        return str(read_json_object(folder / "config.json").get("model_type", ""))
    except ModelError:
        return ""


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """Tensor name -> {"dtype", "shape", "data_offsets"}; ModelError if the file is bad."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError(f"{path} is not a safetensors file: it is empty or too short.")
            (n,) = struct.unpack("<Q", head)
            if n <= 1 or n > _MAX_HEADER_BYTES or n > size - 8:
                raise ModelError(
                    f"{path} is not a valid safetensors file: its header is unreadable "
                    "(random bytes, or a different file type renamed to .safetensors)."
                )
            raw = f.read(n)
    except OSError as e:
        raise ModelError(f"Cannot read model file {path}: {e.strerror or e}.") from e
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{path} is not a valid safetensors file: its header is corrupt.") from e
    header.pop("__metadata__", None)
    end = 0
    for name, entry in header.items():
        end = max(end, _checked_entry(path, name, entry))
    if 8 + n + end > size:
        raise ModelError(
            f"{path} is truncated ({size} bytes, but its header describes {8 + n + end}); "
            "download or copy it again."
        )
    return header


def _checked_entry(path: Path, name: str, entry: object) -> int:
    """End offset of a tensor whose header entry is well-formed and tells the truth about
    its size (a header that lies would make the loader read past or misread the data)."""
    label = repr(name[:80])
    try:
        dtype, shape = entry["dtype"], entry["shape"]
        start, stop = entry["data_offsets"]
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ValueError("bad shape")
        if not (type(start) is int and type(stop) is int and 0 <= start <= stop):
            raise ValueError("bad offsets")
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(
            f"{path} is not a valid safetensors file: tensor {label} is malformed."
        ) from e
    width = _DTYPE_BYTES.get(dtype) if isinstance(dtype, str) else None
    if width is None:
        raise ModelError(
            f"{path} stores tensor {label} as {str(dtype)[:20]!r}, a type Overpaint cannot load."
        )
    if math.prod(shape) * width != stop - start:
        raise ModelError(
            f"{path} is damaged: its header gives tensor {label} {stop - start} bytes where "
            f"its shape needs {math.prod(shape) * width}; download or copy it again."
        )
    return stop


# ----------------------------------------------------------------------------------
# classifying


def is_lora_keys(keys: Iterable[str]) -> bool:
    return any(m in k for k in keys for m in _LORA_MARKERS)


def is_controlnet_keys(keys: Sequence[str]) -> bool:
    """The original (`control_model.`, input_hint_block) or diffusers ControlNet layout."""
    return any(
        k.startswith("control_model.")
        or "input_hint_block" in k
        or "controlnet_cond_embedding" in k
        for k in keys
    )


def is_adapter_header(header: dict[str, dict]) -> bool:
    """A T2I-Adapter in the original (conv_in + body.*) or diffusers (adapter.*) layout."""
    if "adapter.conv_in.weight" in header:
        return True
    return "conv_in.weight" in header and any(k.startswith("body.") for k in header)


def header_kind(header: dict[str, dict]) -> str | None:
    """The kind of model a safetensors header holds, None when it is none Overpaint uses."""
    keys = list(header)
    # Before the LoRA test: FaceID adapters carry LoRA tensors of their own.
    if any(k.startswith("ip_adapter.") for k in keys) and any(
        k.startswith("image_proj.") for k in keys
    ):
        return IP_ADAPTER
    if is_lora_keys(keys):
        return LORA
    if is_controlnet_keys(keys):
        return CONTROLNET
    if is_adapter_header(header):
        return T2I_ADAPTER
    if _UNET_CONV_IN in header:
        shape = header[_UNET_CONV_IN].get("shape") or []
        return INPAINT_CHECKPOINT if len(shape) == 4 and shape[1] == 9 else CHECKPOINT
    # ESRGAN-style upscalers (RRDB bodies, an upsampling tail).
    if any(k.startswith(("conv_first.", "model.0.", "body.", "conv_up1.")) for k in keys) and any(
        k.startswith(("conv_last.", "conv_hr.", "model.", "upconv")) for k in keys
    ):
        return UPSCALER
    prefixes = {k.split(".", 1)[0] for k in keys}
    if {"encoder", "decoder"} <= prefixes or "first_stage_model" in prefixes:
        return VAE
    return None


def folder_kind(folder: Path) -> str | None:
    """The kind of a diffusers folder from its declared class; None when it is none
    Overpaint uses. A pipeline with a UNet is a checkpoint (inpainting: 9 input channels)."""
    kind = _FOLDER_CLASSES.get(folder_class(folder))
    if not kind and not has_model_index(folder) and has_config(folder):
        return _MODEL_TYPES.get(config_model_type(folder))
    if kind or not has_model_index(folder) or not (folder / "unet").is_dir():
        return kind
    try:
        channels = read_json_object(folder / "unet" / "config.json").get("in_channels", 4)
    except ModelError:
        return None
    return INPAINT_CHECKPOINT if channels == 9 else CHECKPOINT


def classify(path: Path) -> str | None:
    """The kind of a model file or folder (one of the constants above), None when it is
    none Overpaint uses; ModelError when a .safetensors file is unreadable."""
    path = Path(path)
    if path.is_dir():
        return folder_kind(path)
    if path.suffix.lower() != ".safetensors":
        return None
    return header_kind(read_safetensors_header(path))
