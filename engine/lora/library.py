"""LoRA files: what they are for, their trigger words and hashes, and `<lora:...>` tags.

Everything here reads only the safetensors header (JSON), never the weights, so the
panel can list a folder of LoRAs cheaply and the CLI can refuse a LoRA made for another
model before loading anything. A LoRA fits a model when its cross-attention input width
(the text-conditioning width: 768 for SD 1.x, 1024 for SD 2.x, 2048 for SDXL) is the
model UNet's; the same rule holds for the tiny test models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelError
from engine.core.paths import user_models_dir
from engine.discovery import entries, is_lora_keys, lora_dirs
from engine.models import ModelInfo
from engine.request import GenerationRequest

log = logging.getLogger(__name__)

# A1111's prompt convention: <lora:name> or <lora:name:weight>.
LORA_TAG_RE = re.compile(r"<lora:([^:<>]+)(?::(-?[0-9]*\.?[0-9]+))?>", re.IGNORECASE)
MIN_WEIGHT, MAX_WEIGHT = -2.0, 2.0
MAX_TRIGGER_WORDS = 8
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_CONTEXT_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
_FAMILY_CONTEXT = {"sd1": 768, "sd2": 1024, "sdxl": 2048}


@dataclass(frozen=True)
class LoraInfo:
    name: str  # the file stem: what `<lora:name:w>` and --lora NAME use
    path: Path
    context_dim: int | None  # cross-attention width it was trained for; None: unknown
    trigger_words: tuple[str, ...] = ()

    @property
    def family_label(self) -> str:
        return describe_context(self.context_dim)


def describe_context(dim: int | None) -> str:
    if dim is None:
        return "an unknown model family"
    return _CONTEXT_FAMILIES.get(dim, f"{dim}-wide text conditioning")


def read_header_and_metadata(path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """(tensor name -> entry, __metadata__) of a safetensors file; ModelError if unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            (n,) = struct.unpack("<Q", head) if len(head) == 8 else (0,)
            if n <= 1 or n > _MAX_HEADER_BYTES:
                raise ModelError(f"{path} is not a LoRA: it is not a safetensors file.")
            header = json.loads(f.read(n).decode("utf-8"))
    except OSError as e:
        raise ModelError(f"Cannot read LoRA {path}: {e.strerror or e}.") from e
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{path} is not a LoRA: its safetensors header is corrupt.") from e
    if not isinstance(header, dict):
        raise ModelError(f"{path} is not a LoRA: its safetensors header is corrupt.")
    metadata = header.pop("__metadata__", None) or {}
    return header, {str(k): str(v) for k, v in metadata.items()} if isinstance(
        metadata, dict
    ) else {}


def _down_width(header: dict[str, dict], key: str) -> int | None:
    shape = header[key].get("shape") if isinstance(header.get(key), dict) else None
    return int(shape[1]) if isinstance(shape, list) and len(shape) >= 2 else None


def lora_context_dim(header: dict[str, dict]) -> int | None:
    """The cross-attention width a LoRA was trained for, from its attn2 to_k/to_v down
    projections (input side = text conditioning); text-encoder-only LoRAs are told by
    their encoders (SDXL has two)."""
    for key in header:
        k = key.replace("_", ".")
        if "attn2" in k and ("to.k" in k or "to.v" in k):
            if any(d in k for d in ("lora.down", "lora.A", "hada.w1.b", "down.weight")):
                width = _down_width(header, key)
                if width:
                    return width
    if any(k.startswith(("lora_te2_", "text_encoder_2.", "lora_te2.")) for k in header):
        return 2048
    for key in header:
        if key.startswith(("lora_te_", "text_encoder.", "lora_te1_")) and "lora_down" in key:
            width = _down_width(header, key)
            return {768: 768, 1024: 1024}.get(width or 0)
    return None


def trigger_words(metadata: dict[str, str]) -> tuple[str, ...]:
    """modelspec.trigger_phrase when present, else kohya's most frequent training tags."""
    phrase = metadata.get("modelspec.trigger_phrase", "").strip()
    if phrase:
        return tuple(w.strip() for w in phrase.split(",") if w.strip())[:MAX_TRIGGER_WORDS]
    try:
        freq = json.loads(metadata.get("ss_tag_frequency", "") or "{}")
    except ValueError:
        return ()
    counts: dict[str, int] = {}
    if isinstance(freq, dict):
        for tags in freq.values():
            if isinstance(tags, dict):
                for tag, n in tags.items():
                    if isinstance(n, int | float):
                        counts[str(tag).strip()] = counts.get(str(tag).strip(), 0) + int(n)
    ranked = sorted((t for t in counts if t), key=lambda t: (-counts[t], t))
    return tuple(ranked[:MAX_TRIGGER_WORDS])


def inspect_lora(path: Path) -> LoraInfo:
    """A LoRA's name, family and trigger words; ModelError (one sentence) when `path` is
    a pickle, not a safetensors file, or a safetensors file that holds no LoRA."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"LoRA file {path} does not exist.")
    if path.suffix.lower() != ".safetensors":
        raise ModelError(
            f"LoRA {path.name} is not a .safetensors file; pickles ({path.suffix}) can run "
            "code when loaded, so Overpaint refuses them."
        )
    header, metadata = read_header_and_metadata(path)
    if not is_lora_keys(header):
        if any(k.startswith("model.diffusion_model.") for k in header):
            raise ModelError(f"{path.name} is a full model, not a LoRA; pick it as the model.")
        raise ModelError(f"{path.name} is not a LoRA: it holds no LoRA weights.")
    return LoraInfo(path.stem, path, lora_context_dim(header), trigger_words(metadata))


def model_context_dim(info: ModelInfo) -> int | None:
    """The model UNet's cross-attention width (folders: from unet/config.json)."""
    config = info.path / "unet" / "config.json"
    if info.path.is_dir() and config.is_file():
        try:
            value = json.loads(config.read_text(encoding="utf-8")).get("cross_attention_dim")
            if isinstance(value, list):  # per-block widths: all equal in SD models
                value = value[0]
            return int(value) if value else None
        except (OSError, ValueError, TypeError):
            return None
    return _FAMILY_CONTEXT.get(info.family.split("-")[0])


def check_fits(lora: LoraInfo, model: ModelInfo) -> None:
    """ModelError when the LoRA was made for another model family than `model`'s."""
    from engine.lora.families import check_family  # cycle: it reads headers with this module

    check_family(lora.path, model)
    check_width(lora, model_context_dim(model), model.name)


def check_width(lora: LoraInfo, want: int | None, model_name: str) -> None:
    """ModelError when the LoRA's text-conditioning width is not the model's `want`."""
    if lora.context_dim is None or want is None or lora.context_dim == want:
        return
    raise ModelError(
        f"LoRA {lora.name} does not fit the model {model_name}: the LoRA is for "
        f"{describe_context(lora.context_dim)}, the model for {describe_context(want)}; "
        "pick a LoRA made for the model's family."
    )


def find_lora(name: str, extra_dirs: Sequence[Path] = ()) -> Path:
    """A LoRA's file by path, file name or stem in the loras folders; ModelError if none."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for folder in lora_dirs(extra_dirs):
        for candidate in (folder / name, folder / f"{name}.safetensors"):
            if candidate.is_file():
                return candidate
    raise ModelError(
        f"LoRA {name!r} was not found; put its .safetensors file in {user_models_dir() / 'loras'}."
    )


def _never(_folder: Path) -> bool:
    return False


def discover_loras(
    extra_dirs: Sequence[Path] = (), model: ModelInfo | None = None
) -> list[LoraInfo]:
    """The LoRAs in the loras folders (sorted by name), only those that fit `model` if
    given; files that are not LoRAs are skipped (and logged)."""
    found: dict[str, LoraInfo] = {}
    for folder in lora_dirs(extra_dirs):
        for path in entries(folder, 1, _never):
            try:
                info = inspect_lora(path)
                if model is not None:
                    check_fits(info, model)
            except ModelError as e:
                log.info("not listing LoRA %s: %s", path, e)
                continue
            found.setdefault(info.name.lower(), info)
    return sorted(found.values(), key=lambda i: i.name.lower())


# ----------------------------------------------------------------------------------
# prompts and names


def split_prompt_loras(prompt: str) -> tuple[str, tuple[tuple[str, float], ...]]:
    """(prompt without `<lora:name:weight>` tags, the tags' (name, weight) in order)."""
    found = tuple(
        (m.group(1).strip(), float(m.group(2)) if m.group(2) else 1.0)
        for m in LORA_TAG_RE.finditer(prompt)
    )
    if not found:
        return prompt, ()
    clean = re.sub(r"[ \t]{2,}", " ", LORA_TAG_RE.sub("", prompt)).strip()
    clean = re.sub(r"\s+,", ",", clean).strip(" ,")
    return clean, found


def merge_loras(
    first: Sequence[tuple[str, float]], then: Sequence[tuple[str, float]]
) -> tuple[tuple[str, float], ...]:
    """`first` followed by `then`; a name given twice keeps its place and the later weight."""
    merged: dict[str, tuple[str, float]] = {}
    for name, weight in (*first, *then):
        merged[lora_label(name).lower()] = (name, float(weight))
    return tuple(merged.values())


def lora_label(name: str) -> str:
    """The name a LoRA goes by in tags and hashes: a path's file stem, else the name."""
    if "/" in name or "\\" in name or name.lower().endswith(".safetensors"):
        return Path(name).stem
    return name


def parse_lora_arg(text: str) -> tuple[str, float]:
    """`PATH_OR_NAME[:WEIGHT]` -> (name or absolute path, weight); ValueError if bad."""
    name, weight = text, 1.0
    head, sep, tail = text.rpartition(":")
    if sep and re.fullmatch(r"-?[0-9]*\.?[0-9]+", tail.strip()):
        name, weight = head, float(tail)
    name = name.strip()
    if not name:
        raise ValueError(f"no LoRA name in {text!r}")
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise ValueError(f"LoRA weight {weight:g} is outside {MIN_WEIGHT:g}..{MAX_WEIGHT:g}")
    path = Path(name).expanduser()
    if path.is_file():
        name = str(path.resolve())  # a rerun from another folder still finds it
    return name, weight


def format_tags(loras: Sequence[tuple[str, float]]) -> str:
    return " ".join(f"<lora:{lora_label(n)}:{float(w):g}>" for n, w in loras)


# ----------------------------------------------------------------------------------
# hashes (A1111 "Lora hashes": AddNet's sha256 of the tensor data, first 12 hex digits)


def addnet_hash(path: Path) -> str:
    """sha256 of a safetensors file after its header, as A1111 and kohya's AddNet do."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n)
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lora_hashes(loras: Sequence[tuple[str, float]], extra_dirs: Sequence[Path] = ()) -> str | None:
    """The `Lora hashes` value ("name: hash, ..."), None when there is no LoRA."""
    parts = []
    for name, _weight in loras:
        try:
            parts.append(f"{lora_label(name)}: {addnet_hash(find_lora(name, extra_dirs))[:12]}")
        except (OSError, ModelError, struct.error) as e:
            log.info("no hash for LoRA %s: %s", name, e)
    return ", ".join(parts) or None


# ----------------------------------------------------------------------------------
# requests


def with_prompt_loras(request: GenerationRequest) -> GenerationRequest:
    """The request with its prompt's `<lora:name:weight>` tags moved into `loras` (after
    the ones already there; a tag for a listed LoRA sets its weight), so the window, the
    CLI and a rerun of an AUTOMATIC1111 picture all apply tags the same way."""
    prompt, tagged = split_prompt_loras(request.prompt)
    if not tagged:
        return request
    return request.replace(prompt=prompt, loras=merge_loras(request.loras, tagged))


def lora_metadata(
    loras: Sequence[tuple[str, float]], extra_dirs: Sequence[Path] = ()
) -> dict[str, object]:
    """The `Lora hashes` pair of the parameters text (empty without LoRAs)."""
    hashes = lora_hashes([(n, w) for n, w in loras], extra_dirs) if loras else None
    return {"Lora hashes": hashes} if hashes else {}


def check_loras(
    loras: Sequence[tuple[str, float]], model: ModelInfo, extra_dirs: Sequence[Path] = ()
) -> None:
    """ModelError (one sentence) unless every LoRA exists, is a LoRA and fits `model`."""
    for name, _weight in loras:
        check_fits(inspect_lora(find_lora(name, extra_dirs)), model)
