"""Model files the way ComfyUI and Forge users keep them: what each weight file holds, and
which files make one model.

A transformer family's model comes in three shapes besides a diffusers folder:

- one single file holding every part (ComfyUI's `checkpoints/`: the transformer under
  `model.diffusion_model.`, each text encoder under `text_encoders.<name>.`, the VAE
  under `vae.` or `first_stage_model.`);
- split files: a transformer alone in `diffusion_models/` or `unet/` (Forge:
  `Stable-diffusion/`), `.safetensors` or a GGUF-quantised `.gguf`, its text encoders in
  `text_encoders/` or `clip/` (Forge: `text_encoder/`) and its VAE in `vae/`;
- a mix: a transformer file dropped anywhere beside those folders.

Everything is told from tensor names and shapes (a safetensors header, a GGUF file's
tensor table), never the weights, so nothing here imports torch. A model made of files is
a list of `Part`s: the pipeline component it becomes, the file, and the key prefix its
tensors carry in that file. engine.local.split_files loads them.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelError
from engine.discovery import read_safetensors_header
from engine.model_families import MODERN_FAMILIES, family_label

# Folders of split parts, ComfyUI's names first, then Forge's; matched in any case.
TRANSFORMER_DIRS: tuple[str, ...] = ("diffusion_models", "unet")
ENCODER_DIRS: tuple[str, ...] = ("text_encoders", "clip", "text_encoder")
VAE_DIRS: tuple[str, ...] = ("vae",)
# Folders that never hold a whole model (a checkpoint scan passes over them).
PART_DIRS: tuple[str, ...] = (*ENCODER_DIRS, "clip_vision", *VAE_DIRS)
WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", ".gguf")

# Where a ComfyUI single file keeps the transformer and the VAE.
_TRANSFORMER_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "transformer.")
_VAE_PREFIXES = ("vae.", "first_stage_model.")
_ENCODER_GROUP = re.compile(r"^(text_encoders\.[^.]+\.(?:transformer\.)?)")

# What each family needs beside its transformer: (pipeline component, part kind).
FAMILY_PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "flux": (("text_encoder", "clip_l"), ("text_encoder_2", "t5xxl"), ("vae", "vae16")),
    "chroma": (("text_encoder", "t5xxl"), ("vae", "vae16")),
    "sd3": (
        ("text_encoder", "clip_l"),
        ("text_encoder_2", "clip_g"),
        ("text_encoder_3", "t5xxl"),
        ("vae", "vae16"),
    ),
    "qwen-image": (("text_encoder", "qwen2.5-vl"), ("vae", "vae-qwen")),
    "z-image": (("text_encoder", "qwen3"), ("vae", "vae16")),
    "flux2-klein": (("text_encoder", "qwen3"), ("vae", "vae-flux2")),
}
for _variant in ("flux-fill", "flux-kontext"):
    FAMILY_PARTS[_variant] = FAMILY_PARTS["flux"]
for _variant in ("qwen-image-edit", "qwen-image-edit-plus"):
    FAMILY_PARTS[_variant] = FAMILY_PARTS["qwen-image"]

# How a part is named to the user: what it is, and the file name people know it by.
PART_LABELS: dict[str, str] = {
    "clip_l": "CLIP-L text encoder (clip_l)",
    "clip_g": "CLIP-G text encoder (clip_g)",
    "t5xxl": "T5-XXL text encoder (t5xxl)",
    "qwen2.5-vl": "Qwen2.5-VL text encoder (qwen_2.5_vl_7b)",
    "qwen3": "Qwen3 text encoder (qwen_3_4b)",
    "vae16": "VAE (ae.safetensors)",
    "vae-qwen": "Qwen-Image VAE (qwen_image_vae)",
    "vae-flux2": "FLUX.2 VAE (flux2-vae)",
}
# Which VAE file a family prefers when several of the same shape lie in vae/ (FLUX's
# ae.safetensors and SD 3.5's VAE share every shape but not their scaling).
_VAE_HINTS = {"sd3": ("sd3", "sd35", "sd_3"), "flux": ("ae", "flux"), "chroma": ("ae", "flux")}

# Bytes per element of the GGUF tensor types a transformer holds (block types per 32 or
# 256 elements); what is not here counts as one byte.
_GGUF_TYPE_BYTES = {0: 4.0, 1: 2.0, 30: 2.0, 2: 18 / 32, 3: 20 / 32, 6: 22 / 32, 7: 24 / 32}
_GGUF_TYPE_BYTES |= {8: 34 / 32, 10: 84 / 256, 11: 110 / 256, 12: 144 / 256}
_GGUF_TYPE_BYTES |= {13: 176 / 256, 14: 210 / 256}
_GGUF_VALUE = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_GGUF_VALUE |= {10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class Part:
    """One pipeline component in a weight file: its tensors are the file's keys that
    start with `prefix` (the prefix stripped)."""

    component: str  # "transformer", "text_encoder", "text_encoder_2", "vae", ...
    path: Path
    prefix: str = ""
    kind: str = ""  # a PART_LABELS key, or "transformer"


@dataclass(frozen=True)
class Tensors:
    """A weight file's tensor table: name -> shape, and each tensor's bytes on disk."""

    shapes: dict[str, list[int]]
    nbytes: dict[str, int]
    gguf_arch: str | None = None

    def group(self, prefix: str) -> Tensors:
        """The tensors under `prefix`, named without it."""
        n = len(prefix)
        keys = [k for k in self.shapes if k.startswith(prefix)]
        return Tensors(
            {k[n:]: self.shapes[k] for k in keys},
            {k[n:]: self.nbytes[k] for k in keys},
            self.gguf_arch,
        )

    @property
    def parameters(self) -> int:
        return sum(math.prod(s) for s in self.shapes.values())


# ----------------------------------------------------------------------------------
# reading tensor tables


def read_tensors(path: Path) -> Tensors:
    """The tensor table of a .safetensors or .gguf file; ModelError if it is unreadable."""
    path = Path(path)
    if path.suffix.lower() == ".gguf":
        return read_gguf_tensors(path)
    header = read_safetensors_header(path)
    shapes = {k: list(v["shape"]) for k, v in header.items()}
    nbytes = {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items()}
    return Tensors(shapes, nbytes)


def read_gguf_tensors(path: Path) -> Tensors:
    """A GGUF file's architecture and tensor table, read with struct alone (the `gguf`
    package is needed to load the weights, not to tell what they are)."""
    try:
        with open(path, "rb") as f:
            return _parse_gguf(f, path)
    except OSError as e:
        raise ModelError(f"Cannot read model file {path}: {e.strerror or e}.") from e
    except (struct.error, UnicodeDecodeError, ValueError, OverflowError) as e:
        raise ModelError(
            f"{path} is not a valid GGUF file: its header is damaged or truncated; "
            "download or copy it again."
        ) from e


def _parse_gguf(f, path: Path) -> Tensors:
    def read(fmt: str):
        size = struct.calcsize(fmt)
        data = f.read(size)
        if len(data) < size:
            raise ValueError("truncated")
        return struct.unpack(fmt, data)[0]

    def string() -> str:
        n = read("<Q")
        if n > 1 << 20:
            raise ValueError("string too long")
        return f.read(n).decode("utf-8")

    def value(kind: int):
        if kind == 8:
            return string()
        if kind == 9:
            item, count = read("<I"), read("<Q")
            if count > 1 << 24:
                raise ValueError("array too long")
            return [value(item) for _ in range(count)]
        return read(_GGUF_VALUE[kind])

    if f.read(4) != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (it does not start with 'GGUF').")
    read("<I")  # version
    n_tensors, n_values = read("<Q"), read("<Q")
    if n_tensors > 1 << 20 or n_values > 1 << 20:
        raise ValueError("implausible counts")
    arch = None
    for _ in range(n_values):
        key, kind = string(), read("<I")
        item = value(kind)
        if key == "general.architecture":
            arch = str(item)
    shapes: dict[str, list[int]] = {}
    nbytes: dict[str, int] = {}
    for _ in range(n_tensors):
        name = string()
        dims = [read("<Q") for _ in range(read("<I"))]
        kind = read("<I")
        read("<Q")  # offset
        shape = dims[::-1]  # GGUF lists the fastest-varying dimension first
        shapes[name] = shape
        nbytes[name] = int(math.prod(shape) * _GGUF_TYPE_BYTES.get(kind, 1.0))
    return Tensors(shapes, nbytes, arch or "")


# ----------------------------------------------------------------------------------
# telling what tensors hold


def _has(shapes: Mapping[str, list[int]], *prefixes: str) -> bool:
    return any(k.startswith(prefixes) for k in shapes)


def transformer_family(shapes: Mapping[str, list[int]], name: str = "") -> tuple[str, str] | None:
    """(family, guidance) of a transformer's tensors in diffusers or original (BFL, SAI)
    layout, named without a prefix; None when they are none of the families'."""

    def first_in(*keys: str) -> int | None:
        for key in keys:
            if key in shapes and len(shapes[key]) == 2:
                return shapes[key][1]
        return None

    family = None
    if _has(shapes, "noise_refiner.") and _has(shapes, "context_refiner."):
        family = "z-image"
    elif _has(shapes, "single_stream_modulation."):
        family = "flux2-klein"
    elif "txt_norm.weight" in shapes and _has(shapes, "img_in."):
        # An Edit transformer has Qwen-Image's shapes: its name tells them apart.
        lowered = name.lower()
        family = "qwen-image"
        if "edit" in lowered:
            plus = any(tag in lowered for tag in ("plus", "2509", "2511"))
            family = "qwen-image-edit-plus" if plus else "qwen-image-edit"
    elif _has(shapes, "joint_blocks.") or (
        "pos_embed.proj.weight" in shapes and _has(shapes, "transformer_blocks.")
    ):
        family = "sd3"
    elif _has(shapes, "distilled_guidance_layer."):
        family = "chroma"
    elif _has(shapes, "double_blocks.", "single_transformer_blocks."):
        channels = first_in("x_embedder.weight", "img_in.weight")
        if channels == 384:
            family = "flux-fill"
        else:
            family = "flux-kontext" if "kontext" in name.lower() else "flux"
    if family is None or family not in MODERN_FAMILIES:
        return None
    guidance = MODERN_FAMILIES[family].guidance
    if family == "flux2-klein" and "base" not in name.lower():
        guidance = "none"  # BFL's Klein files are step-distilled; the "base" ones are not
    if family.startswith("flux") and guidance == "distilled":
        if not _has(shapes, "guidance_in.", "time_text_embed.guidance_embedder."):
            guidance = "none"  # schnell: no guidance embedding
    return family, guidance


def part_kind(shapes: Mapping[str, list[int]], name: str = "") -> str | None:
    """The kind of a text encoder or VAE (a PART_LABELS key) from its tensors; None when
    it is neither. CLIP-L and CLIP-G differ in width (768, 1280); a narrower CLIP goes
    by its file name."""
    keys = list(shapes)
    if any(k.startswith(("vision_model.", "visual.")) for k in keys) and not any(
        "layers.0.self_attn.q_proj" in k for k in keys
    ):
        return None  # a CLIP vision model or a bare vision tower
    for key in keys:
        if key.endswith("embeddings.token_embedding.weight") and "vision" not in key:
            width = shapes[key][-1]
            if width == 1280 or (width != 768 and "clip_g" in name.lower()):
                return "clip_g"
            return "clip_l"
    if any("SelfAttention.q.weight" in k for k in keys) and any(
        k.endswith(("shared.weight", "embed_tokens.weight")) for k in keys
    ):
        return "t5xxl"
    if any("self_attn.q_proj.weight" in k for k in keys) and any(
        k.endswith("embed_tokens.weight") for k in keys
    ):
        if any("visual." in k for k in keys):
            return "qwen2.5-vl"
        return "qwen3" if any("self_attn.q_norm." in k for k in keys) else "qwen2.5-vl"
    conv_in = shapes.get("decoder.conv_in.weight")
    if conv_in is not None and "encoder.conv_in.weight" in shapes:
        if len(conv_in) == 5:
            return "vae-qwen"
        return {16: "vae16", 32: "vae-flux2"}.get(conv_in[1] if len(conv_in) == 4 else 0)
    if "decoder.middle.0.residual.0.gamma" in shapes:
        return "vae-qwen"  # the Wan 2.1 layout Qwen-Image's VAE ships in
    return None


def transformer_prefix(shapes: Mapping[str, list[int]]) -> str:
    for prefix in _TRANSFORMER_PREFIXES:
        if any(k.startswith(prefix) for k in shapes):
            return prefix
    return ""


def single_file_parts(path: Path, tensors: Tensors) -> tuple[str, str, tuple[Part, ...]] | None:
    """(family, guidance, parts) of a transformer family's file: the transformer alone, or
    a single file that also holds text encoders and a VAE; None when it is neither."""
    prefix = transformer_prefix(tensors.shapes)
    found = transformer_family(tensors.group(prefix).shapes, path.stem)
    if found is None:
        return None
    parts = [Part("transformer", path, prefix, "transformer")]
    if prefix:
        kinds: dict[str, str] = {}
        groups = {m.group(1) for k in tensors.shapes if (m := _ENCODER_GROUP.match(k))}
        groups |= {p for p in _VAE_PREFIXES if any(k.startswith(p) for k in tensors.shapes)}
        for group in sorted(groups):
            kind = part_kind(tensors.group(group).shapes, group)
            if kind:
                kinds.setdefault(kind, group)
        for component, kind in FAMILY_PARTS[found[0]]:
            if kind in kinds:
                parts.append(Part(component, path, kinds[kind], kind))
    return found[0], found[1], tuple(parts)


# ----------------------------------------------------------------------------------
# split files: finding the parts a transformer needs


def _subdirs(root: Path, names: Iterable[str]) -> list[Path]:
    """root's subfolders named like any of `names`, in any case."""
    wanted = {n.lower() for n in names}
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in wanted)
    except OSError:
        return []


def _weight_files(folder: Path) -> list[Path]:
    try:
        files = [p for p in folder.rglob("*") if p.suffix.lower() in WEIGHT_SUFFIXES]
    except OSError:
        return []
    # Full precision before fp8 copies: a CPU has to upcast fp8, a GPU runs either.
    return sorted(files, key=lambda p: ("fp8" in p.name.lower(), p.name.lower()))


def part_roots(transformer: Path) -> list[Path]:
    """Where the parts of a transformer file are looked for: beside it, and beside the
    folder it is in (models/diffusion_models/x.safetensors: models/)."""
    parent = transformer.parent
    return [parent, parent.parent] if parent.parent != parent else [parent]


def _classified(folder: Path, cache: dict[Path, str | None]) -> list[tuple[Path, str]]:
    out = []
    for file in _weight_files(folder):
        if file not in cache:
            try:
                cache[file] = (
                    part_kind(read_tensors(file).shapes, file.stem)
                    if file.suffix.lower() == ".safetensors"
                    else None  # GGUF text encoders: transformers cannot load them offline
                )
            except ModelError:
                cache[file] = None
        if cache[file]:
            out.append((file, cache[file]))
    return out


def find_parts(
    transformer: Path,
    family: str,
    have: tuple[Part, ...] = (),
    cache: dict[Path, str | None] | None = None,
) -> tuple[Part, ...]:
    """The parts `family` needs beside the transformer file, from the folders around it;
    ModelError naming the first missing part and the folders looked in."""
    cache = {} if cache is None else cache
    got = {p.component for p in have}
    parts = list(have)
    roots = part_roots(transformer)
    for component, kind in FAMILY_PARTS[family]:
        if component in got:
            continue
        dirs = [
            d
            for r in roots
            for d in _subdirs(r, VAE_DIRS if kind.startswith("vae") else ENCODER_DIRS)
        ]
        matches = [f for d in dirs for f, k in _classified(d, cache) if k == kind]
        hints = _VAE_HINTS.get(family.split("-")[0], ()) if kind == "vae16" else ()
        matches.sort(key=lambda f: not any(h in f.stem.lower() for h in hints))
        if not matches:
            names = ENCODER_DIRS if not kind.startswith("vae") else VAE_DIRS
            looked = ", ".join(str(r / n) for r in roots for n in names)
            gguf = any(f.suffix.lower() == ".gguf" for d in dirs for f in _weight_files(d))
            raise ModelError(
                f"{transformer.name} is a {family_label(family)} transformer without its "
                f"{PART_LABELS[kind]}; Overpaint looked in {looked}: put the file there"
                + (" as .safetensors (GGUF text encoders are not read)." if gguf else ".")
            )
        parts.append(Part(component, matches[0], "", kind))
    return tuple(parts)


def transformer_files(root: Path) -> list[Path]:
    """The files in a models folder's transformer folders (diffusion_models/, unet/)."""
    return [f for d in _subdirs(root, TRANSFORMER_DIRS) for f in _weight_files(d)]


def describe_gguf_failure(path: Path, tensors: Tensors) -> str:
    """The sentence for a GGUF file that holds no transformer Overpaint knows."""
    arch = tensors.gguf_arch or "unnamed"
    return (
        f"{path.name} is a GGUF file of the {arch!r} architecture, which is not a picture "
        "model Overpaint can load (FLUX.1, FLUX.2 Klein, SD 3.5, Qwen-Image, Z-Image or "
        "Chroma transformers); pick another file."
    )
