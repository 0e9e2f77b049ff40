"""IP-Adapter files: finding them, reading what they fit from their tensor shapes, and
pairing each with a CLIP vision encoder. Nothing here imports torch.

An IP-Adapter is one .safetensors file (`image_proj.*` and `ip_adapter.*` tensors, as
h94/IP-Adapter ships them); its image encoder is a transformers CLIPVisionModelWithProjection
folder. Both are looked for in each models folder's `ipadapter/` and `clip_vision/`
(ComfyUI's names) and in the Hugging Face cache; the bundled ones (resources/models:
the demo model's reference adapter) come last and are offered only where they fit, so
they never change what is said about other models. Whether an adapter fits a model is read
from its shapes, never its name: one `to_k_ip`/`to_v_ip` pair per cross-attention of the
UNet, each as wide as that attention and the model's text features. A plain adapter reads
the encoder's projected embedding (`proj.weight` is as wide as `projection_dim`), a Plus
adapter the encoder's hidden states (`proj_in.weight` is as wide as `hidden_size`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import discovery
from engine.core.errors import InvalidRequestError, ModelError
from engine.discovery import (
    IMAGE_ENCODER,
    IP_ADAPTER,
    IP_ADAPTER_FOLDERS,
    entries,
    folder_kind,
    header_kind,
    hf_cache_repos,
    ip_adapter_dirs,
    read_json_object,
    read_safetensors_header,
)

# The families IP-Adapters are made for, by the width of the text features they read.
CONTEXT_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}


@dataclass(frozen=True)
class AdapterShape:
    widths: tuple[tuple[int, int], ...]  # (attention width, text width) per cross-attention
    embeds: int  # what it reads from the encoder: projection_dim, or hidden_size (Plus)
    hidden: bool  # True: the encoder's hidden states (Plus), False: its image embedding

    @property
    def family(self) -> str:
        width = self.widths[0][1] if self.widths else 0
        return CONTEXT_FAMILIES.get(width, f"{width}-wide text features")


@dataclass(frozen=True)
class Adapter:
    path: Path
    shape: AdapterShape
    encoder: Path  # its CLIP vision encoder folder

    @property
    def name(self) -> str:
        return self.path.stem


def is_adapter_file(path: Path) -> bool:
    try:
        return header_kind(read_safetensors_header(path)) == IP_ADAPTER
    except ModelError:
        return False


def is_encoder_folder(folder: Path) -> bool:
    return folder_kind(folder) == IMAGE_ENCODER and any(folder.glob("*.safetensors"))


def _candidates(extra_dirs: Sequence[Path], leaf: bool, bundled: bool = False) -> list[Path]:
    """Adapter files (leaf False) or encoder folders (leaf True), nearest first; with
    `bundled`, those in resources/models after all others."""
    found = []
    for root in ip_adapter_dirs(extra_dirs):
        found += [
            p for p in entries(root, 3, is_encoder_folder, files=not leaf) if p.is_dir() == leaf
        ]
    for _repo, snapshots in hf_cache_repos():
        for snapshot in snapshots[:1]:
            found += [
                p
                for p in entries(snapshot, 3, is_encoder_folder, files=not leaf)
                if p.is_dir() == leaf
            ]
    if bundled:
        for root in (discovery.BUNDLED_MODELS_DIR / name for name in IP_ADAPTER_FOLDERS):
            found += [
                p for p in entries(root, 3, is_encoder_folder, files=not leaf) if p.is_dir() == leaf
            ]
    unique: dict[Path, Path] = {}
    for path in found:
        if leaf or is_adapter_file(path):
            unique.setdefault(path.resolve(), path)
    return list(unique.values())


def find_adapters(extra_dirs: Sequence[Path] = (), bundled: bool = False) -> list[Path]:
    """Every IP-Adapter file in the models folders and the Hugging Face cache (and, with
    `bundled`, resources/models)."""
    return _candidates(extra_dirs, leaf=False, bundled=bundled)


def find_encoders(extra_dirs: Sequence[Path] = (), bundled: bool = False) -> list[Path]:
    """Every CLIP vision encoder folder beside them (and, with `bundled`, the bundled ones
    last)."""
    return _candidates(extra_dirs, leaf=True, bundled=bundled)


def is_bundled_adapter(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(discovery.BUNDLED_MODELS_DIR.resolve())


def adapter_shape(path: Path) -> AdapterShape:
    """What `path` fits, from its header; ModelError when it is no IP-Adapter."""
    header = read_safetensors_header(path)
    if header_kind(header) != IP_ADAPTER:
        raise ModelError(
            f"{path.name} is not an IP-Adapter (no image_proj and ip_adapter tensors)."
        )

    def shape(key: str) -> list[int]:
        return list(header.get(key, {}).get("shape") or [])

    ids = sorted(
        int(k.split(".")[1])
        for k in header
        if k.startswith("ip_adapter.") and k.endswith(".to_k_ip.weight")
    )
    widths = tuple(tuple(shape(f"ip_adapter.{i}.to_k_ip.weight")[:2]) for i in ids)
    if (proj := shape("image_proj.proj.weight")) and len(proj) == 2:
        return AdapterShape(widths, proj[1], hidden=False)  # type: ignore[arg-type]
    if (proj_in := shape("image_proj.proj_in.weight")) and len(proj_in) == 2:
        return AdapterShape(widths, proj_in[1], hidden=True)  # type: ignore[arg-type]
    raise ModelError(
        f"{path.name} is an IP-Adapter of a kind Overpaint does not run (only the plain and "
        "Plus adapters); pick another."
    )


def encoder_width(folder: Path, hidden: bool) -> int:
    """The encoder's hidden_size (hidden) or projection_dim, from its config.json."""
    config = read_json_object(folder / "config.json")
    config = config.get("vision_config", config) if "hidden_size" not in config else config
    value = config.get("hidden_size" if hidden else "projection_dim", 0)
    return int(value) if isinstance(value, int) else 0


def unet_widths(unet_config: dict, names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(attention width, text width) of each cross-attention processor in `names`, in
    order (the order the adapter's `ip_adapter.N` tensors follow)."""
    channels = list(unet_config["block_out_channels"])
    text = int(unet_config["cross_attention_dim"])
    out = []
    for name in names:
        if not name.endswith("attn2.processor"):
            continue
        if name.startswith("mid_block"):
            width = channels[-1]
        elif name.startswith("up_blocks"):
            width = list(reversed(channels))[int(name.split(".")[1])]
        else:
            width = channels[int(name.split(".")[1])]
        out.append((width, text))
    return tuple(out)


def _fits(shape: AdapterShape, widths: tuple[tuple[int, int], ...]) -> bool:
    return shape.widths == widths


def choose_adapter(
    wanted: str,
    model_name: str,
    family: str,
    widths: tuple[tuple[int, int], ...],
    extra_dirs: Sequence[Path] = (),
) -> Adapter:
    """The adapter to run for a model whose UNet has cross-attentions of `widths`: the
    one `wanted` names (a path or a file name), else the first installed one that fits,
    with an encoder that fits it. InvalidRequestError with one sentence otherwise."""
    if wanted:
        path = Path(wanted).expanduser()
        if not path.is_file():
            matches = [
                p for p in find_adapters(extra_dirs, bundled=True) if wanted in (p.name, p.stem)
            ]
            if not matches:
                raise InvalidRequestError(
                    f"No IP-Adapter named {wanted!r} is installed; put it in the models "
                    "folder's ipadapter/ or pick one from the Models dialog."
                )
            path = matches[0]
        try:
            shape = adapter_shape(path)
        except ModelError as e:
            raise InvalidRequestError(str(e)) from e
        if not _fits(shape, widths):
            raise InvalidRequestError(
                f"The IP-Adapter {path.stem} is made for {shape.family} models, so it cannot "
                f"steer {model_name} ({family}); pick an adapter for its family."
            )
        return Adapter(path, shape, _encoder_for(path, shape, extra_dirs))
    shapes = []
    for path in find_adapters(extra_dirs, bundled=True):
        try:
            shape = adapter_shape(path)
        except ModelError:
            continue
        if not is_bundled_adapter(path):
            shapes.append(shape)
        if _fits(shape, widths):
            return Adapter(path, shape, _encoder_for(path, shape, extra_dirs))
    raise InvalidRequestError(no_adapter(model_name, family, sorted({s.family for s in shapes})))


def no_adapter(model_name: str, family: str, others: Sequence[str] = ()) -> str:
    """The sentence for a model no installed IP-Adapter fits (`others`: the families
    the installed ones are for)."""
    also = f" (the installed ones are for {', '.join(others)})" if others else ""
    return (
        f"Reference layers need an IP-Adapter for {model_name} ({family}) and none is "
        f"installed{also}; install one from the Models dialog or hide the reference layers."
    )


def _encoder_for(adapter: Path, shape: AdapterShape, extra_dirs: Sequence[Path]) -> Path:
    """The encoder folder that fits the adapter, the one nearest to it first."""

    def distance(folder: Path) -> int:
        return -len(Path(os.path.commonpath([folder.resolve(), adapter.resolve()])).parts)

    fitting = [
        f
        for f in find_encoders(extra_dirs, bundled=True)
        if encoder_width(f, shape.hidden) == shape.embeds
    ]
    if not fitting:
        what = "hidden size" if shape.hidden else "projection size"
        raise InvalidRequestError(
            f"The IP-Adapter {adapter.stem} needs a CLIP image encoder with a {what} of "
            f"{shape.embeds} and none is installed; install its image encoder from the Models "
            "dialog."
        )
    return min(fitting, key=distance)
