"""Checkpoints: telling a model's family and native size, and choosing one by name.

engine.discovery finds the files and folders; this module reads what makes a checkpoint
(diffusers folders by their model_index.json and UNet or transformer config, single files
by their safetensors header's tensor names and shapes), never the weights, so it is cheap
enough to run when the settings dialog opens. The UNet families (SD 1.x, 2.x, XL) are
`FAMILIES`; the transformer families (FLUX.1 and its Fill and Kontext models, FLUX.2 Klein,
SD 3.5, Qwen-Image and its Edit models, Z-Image, Chroma) are `MODERN_FAMILIES`, from
diffusers folders, single files holding every part, or split files as ComfyUI and Forge
keep them (engine.model_files: `ModelInfo.parts`). The family tables and `family_label`
(which names any family) are engine.model_families', re-exported here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelError
from engine.core.paths import user_models_dir
from engine.discovery import (
    BUNDLED_MODELS_DIR,
    NOT_CHECKPOINT_DIRS,
    bundled_folders,
    entries,
    has_model_index,
    hf_cache_repos,
    is_bundled,
    model_dirs,
    read_json_object,
    read_safetensors_header,
)

# FAMILIES and family_label are imported from here across the project; they live below
# engine.model_files, which names families too.
from engine.model_families import FAMILIES as FAMILIES
from engine.model_families import MODERN_FAMILIES, family_can_edit
from engine.model_families import family_label as family_label
from engine.model_files import (
    FAMILY_PARTS,
    PART_DIRS,
    TRANSFORMER_DIRS,
    WEIGHT_SUFFIXES,
    Part,
    describe_gguf_failure,
    find_parts,
    read_tensors,
    single_file_parts,
    transformer_files,
)

log = logging.getLogger(__name__)

DEMO_MODEL_DIR: Path = BUNDLED_MODELS_DIR / "overpaint-demo"

_MODERN_BY_PIPELINE = {cls: name for name, f in MODERN_FAMILIES.items() for cls in f.pipelines}

NATIVE_SIZES: dict[str, int] = {
    "sd1": 512,
    "sd1-inpaint": 512,
    "sd2": 512,
    "sd2-v": 768,
    "sdxl": 1024,
    "sdxl-inpaint": 1024,
    **{name: f.native for name, f in MODERN_FAMILIES.items()},
}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    family: str
    native_size: int
    kind: str  # "diffusers" | "single-file" | "split" | "hf-cache" | "bundled"
    # "cfg", "distilled", or "none" (a FLUX model without a guidance embedding: schnell).
    guidance: str = "cfg"
    # A transformer family's model made of weight files (engine.model_files): each part's
    # component, file and key prefix; empty for diffusers folders and UNet checkpoints.
    parts: tuple[Part, ...] = ()

    @property
    def is_inpainting(self) -> bool:
        """Inpaint (and outpaint) only: a 9-channel UNet, or FLUX Fill."""
        return self.family.endswith("-inpaint") or self.family == "flux-fill"

    @property
    def is_xl(self) -> bool:
        return self.family.startswith("sdxl")

    @property
    def is_modern(self) -> bool:
        """A transformer family (FLUX, SD 3.5, Qwen-Image, Z-Image, Chroma), not a UNet."""
        return self.family in MODERN_FAMILIES

    @property
    def can_edit(self) -> bool:
        """Whether the model runs instruction edits (mode "edit")."""
        return family_can_edit(self.family)

    @property
    def max_references(self) -> int:
        """How many reference pictures an Edit may take besides the edited one (FLUX.1
        Kontext's one only when it edits a selection: engine.local.edit)."""
        family = MODERN_FAMILIES.get(self.family)
        return (family.references or 0) if family is not None else 0

    @property
    def latent_multiple(self) -> int:
        """What the sides of a generated picture must be multiples of."""
        family = MODERN_FAMILIES.get(self.family)
        return family.multiple if family else 8


def _shape(header: dict[str, dict], key: str) -> list[int] | None:
    entry = header.get(key)
    return list(entry["shape"]) if entry else None


def detect_family(header: dict[str, dict], path: Path) -> str:
    """Family of an original-layout (A1111/CompVis) checkpoint, from its tensor names/shapes."""
    if any(".lora_" in k or "lora_unet_" in k or "lora_te" in k for k in list(header)[:200]):
        raise ModelError(f"{path} is a LoRA, not a full model; put it in the loras folder.")
    conv_in = _shape(header, "model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is None:
        if "conv_in.weight" in header or any(k.startswith("down_blocks.") for k in header):
            raise ModelError(
                f"{path} holds only part of a model (a diffusers UNet or VAE), not a full checkpoint."
            )
        raise ModelError(
            f"{path} is not a Stable Diffusion checkpoint Overpaint knows "
            "(SD 1.x, SD 2.x or SDXL); no UNet weights found."
        )
    if len(conv_in) != 4:
        raise ModelError(f"{path} has a malformed UNet input layer (shape {conv_in[:8]}).")
    in_channels = conv_in[1]
    if in_channels not in (4, 9):
        raise ModelError(
            f"{path} has a {in_channels}-channel UNet, which Overpaint does not support "
            "(expected 4, or 9 for inpainting models)."
        )
    inpaint = in_channels == 9
    if "model.diffusion_model.label_emb.0.0.weight" in header or any(
        k.startswith("conditioner.embedders.1.") for k in header
    ):
        if not any(k.startswith("conditioner.embedders.0.transformer.") for k in header) and any(
            k.startswith("conditioner.embedders.0.model.") for k in header
        ):
            raise ModelError(f"{path} is an SDXL refiner, which cannot generate on its own.")
        return "sdxl-inpaint" if inpaint else "sdxl"
    to_k = _shape(
        header, "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    )
    context_dim = to_k[1] if to_k and len(to_k) == 2 else None
    if context_dim == 768:
        return "sd1-inpaint" if inpaint else "sd1"
    if context_dim == 1024:
        if inpaint:
            # SD 2 inpainting is a 512 eps model with the same UNet layout as SD 1 inpainting
            # apart from the text encoder; not shipped as a config, so say so.
            raise ModelError(
                f"{path} is an SD 2 inpainting model, which Overpaint does not support yet."
            )
        return "sd2-v" if _looks_v_prediction(path) else "sd2"
    raise ModelError(
        f"{path} has an unknown text-conditioning width ({context_dim}); "
        "it is not SD 1.x, SD 2.x or SDXL."
    )


def _looks_v_prediction(path: Path) -> bool:
    """SD 2.x 768-v and 512 base share every tensor shape; decide from the files around it.

    A sidecar .yaml (the A1111 convention) with `parameterization: "v"` is authoritative;
    otherwise a "768" or "-v" in the name means v-prediction. Default: the 512 base.
    """
    for sidecar in (path.with_suffix(".yaml"), path.with_suffix(".yml")):
        if sidecar.is_file():
            try:
                text = sidecar.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            return "parameterization" in text and ('"v"' in text or "'v'" in text or ": v" in text)
    stem = path.stem.lower()
    return "768" in stem or stem.endswith("-v") or "_v_" in stem or "-v-" in stem


# ----------------------------------------------------------------------------------
# diffusers folders


def _modern_folder(folder: Path, family: str) -> tuple[str, str]:
    """(family, guidance) of a transformer family's folder, from its transformer config:
    a FLUX transformer with 384 input channels is a Fill model, and one without a guidance
    embedding (schnell) takes no guidance at all."""
    config_file = folder / "transformer" / "config.json"
    config = read_json_object(config_file) if config_file.is_file() else {}
    if family == "flux" and config.get("in_channels") == 384:
        family = "flux-fill"
    guidance = MODERN_FAMILIES[family].guidance
    if guidance == "distilled" and config and not config.get("guidance_embeds", True):
        guidance = "none"
    if family == "flux2-klein" and read_json_object(folder / "model_index.json").get(
        "is_distilled"
    ):
        guidance = "none"  # the step-distilled Klein models ignore any guidance
    return family, guidance


def _folder_family(folder: Path) -> tuple[str, int, str]:
    """(family, native size, guidance) of a diffusers folder."""
    index = read_json_object(folder / "model_index.json")
    class_name = str(index.get("_class_name", ""))
    if class_name in _MODERN_BY_PIPELINE:
        family, guidance = _modern_folder(folder, _MODERN_BY_PIPELINE[class_name])
        return family, NATIVE_SIZES[family], guidance
    if "Upscale" in class_name:
        raise ModelError(
            f"{folder} is an upscaler ({class_name}), not a model that paints; "
            "Image > Upscale uses it."
        )
    if "unet" not in index:
        raise ModelError(
            f"{folder} is a {class_name or 'diffusers'} model without a UNet, "
            "which Overpaint cannot run."
        )
    unet = read_json_object(folder / "unet" / "config.json")
    in_channels = int(unet.get("in_channels", 4))
    xl = "XL" in class_name or "text_encoder_2" in index
    if xl:
        family = "sdxl"
    else:
        ctx = unet.get("cross_attention_dim", 768)
        family = "sd2" if ctx == 1024 else "sd1"
        if family == "sd2":
            sched = folder / "scheduler" / "scheduler_config.json"
            if sched.is_file() and read_json_object(sched).get("prediction_type") == "v_prediction":
                family = "sd2-v"
    if in_channels == 9:
        if family in ("sd2", "sd2-v"):
            family = "sd2"
        family = {"sd1": "sd1-inpaint", "sdxl": "sdxl-inpaint"}.get(family, family)
    vae_cfg = folder / "vae" / "config.json"
    scale = 8
    if vae_cfg.is_file():
        scale = 2 ** (len(read_json_object(vae_cfg).get("block_out_channels", [0] * 4)) - 1)
    native = int(unet.get("sample_size", NATIVE_SIZES[family] // 8)) * scale
    return family, native, "cfg"


def inspect_folder(folder: Path, kind: str = "diffusers", name: str | None = None) -> ModelInfo:
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ModelError(f"{folder} is not a diffusers model folder (no model_index.json).")
    family, native, guidance = _folder_family(folder)
    display = name or folder.name
    meta_file = folder / "overpaint.json"
    if meta_file.is_file():
        meta = read_json_object(meta_file)
        display = str(meta.get("display_name") or display)
        native = int(meta.get("native_resolution") or native)
    return ModelInfo(display, folder, family, native, kind, guidance)


def inspect_single_file(path: Path) -> ModelInfo:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"Model file {path} does not exist.")
    if path.suffix.lower() in (".ckpt", ".pt", ".pth", ".bin"):
        raise ModelError(
            f"{path} is a pickle checkpoint ({path.suffix}), which can run arbitrary code "
            "when loaded, so Overpaint refuses it; convert it to .safetensors with a trusted "
            "tool (for example diffusers' convert_original_stable_diffusion_to_diffusers.py "
            "or a safetensors converter in an isolated environment) and use that file."
        )
    modern = _modern_file(path)
    if modern is not None:
        return modern
    header = read_safetensors_header(path)
    family = detect_family(header, path)
    return ModelInfo(
        name=path.stem,
        path=path,
        family=family,
        native_size=NATIVE_SIZES[family],
        kind="single-file",
    )


def _modern_file(path: Path, cache: dict | None = None) -> ModelInfo | None:
    """A transformer family's single file or split transformer (its other parts found
    around it: engine.model_files); None when the file holds no such transformer."""
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        return None
    tensors = read_tensors(path)
    found = single_file_parts(path, tensors)
    if found is None:
        if path.suffix.lower() == ".gguf":
            raise ModelError(describe_gguf_failure(path, tensors))
        return None
    family, guidance, parts = found
    kind = "single-file" if len(parts) > 1 else "split"
    if len(parts) <= len(FAMILY_PARTS[family]):
        parts = find_parts(path, family, parts, cache)
    return ModelInfo(path.stem, path, family, NATIVE_SIZES[family], kind, guidance, parts)


def inspect_model(path: Path) -> ModelInfo:
    """ModelInfo for a folder or file path; ModelError with one clear sentence otherwise."""
    path = Path(path).expanduser()
    if path.is_dir():
        kind = "bundled" if is_bundled(path) else "diffusers"
        return inspect_folder(path, kind=kind)
    return inspect_single_file(path)


# ----------------------------------------------------------------------------------
# discovery


def _hf_cache_models() -> Iterable[ModelInfo]:
    for name, snapshots in hf_cache_repos():
        for snap in snapshots:
            # A snapshot of configs and tokenizers alone (what single and split files
            # borrow, `hf download --exclude '*.safetensors'`) is not a model.
            weights = (f for d in ("unet", "transformer") for f in (snap / d).glob("*.safetensors"))
            if has_model_index(snap) and next(weights, None) is not None:
                try:
                    yield inspect_folder(snap, kind="hf-cache", name=name)
                except ModelError as e:
                    log.info("skipping cached model %s: %s", name, e)
                break


def _scan_dir(root: Path) -> Iterable[ModelInfo]:
    skip = (*NOT_CHECKPOINT_DIRS, *PART_DIRS, *TRANSFORMER_DIRS)
    for entry in entries(root, 2, has_model_index, skip=skip):
        try:
            yield inspect_folder(entry) if entry.is_dir() else inspect_single_file(entry)
        except ModelError as e:
            # A bad file in a models folder must not hide the good ones.
            log.warning("skipping model %s: %s", entry, e)
    yield from _split_models(root)


def _split_models(root: Path, problems: list[str] | None = None) -> Iterable[ModelInfo]:
    """The models of the transformer files in root's diffusion_models/ and unet/; what
    keeps a file from making one (a missing part, a GGUF of another kind) is logged and
    added to `problems`."""
    cache: dict = {}  # each text encoder and VAE file is read once for all transformers
    for file in transformer_files(root):
        try:
            if (info := _modern_file(file, cache)) is not None:
                yield info
        except ModelError as e:
            log.warning("skipping model %s: %s", file, e)
            if problems is not None:
                problems.append(str(e))


def split_model_problems(extra_dirs: Sequence[Path] = ()) -> list[str]:
    """One sentence per transformer file in the models folders that makes no model (its
    missing part and where Overpaint looked, or what the file is instead): Settings shows
    them under the folders."""
    problems: list[str] = []
    for root in model_dirs(extra_dirs):
        for _info in _split_models(root, problems):
            pass
    return problems


def discover_models(extra_dirs: Sequence[Path] = ()) -> list[ModelInfo]:
    """Bundled models first, then the user's and extra folders, then the HF cache."""
    found: list[ModelInfo] = []
    for entry in bundled_folders():
        try:
            found.append(inspect_folder(entry, kind="bundled"))
        except ModelError as e:
            log.warning("skipping bundled model %s: %s", entry, e)
    for root in model_dirs(extra_dirs):
        found.extend(_scan_dir(root))
    found.extend(_hf_cache_models())
    unique: dict[Path, ModelInfo] = {}
    for info in found:
        unique.setdefault(info.path.resolve(), info)
    return list(unique.values())


def resolve_model(name_or_path: str, extra_dirs: Sequence[Path] = ()) -> ModelInfo:
    """A model by path, name or file stem; "" means the default (bundled demo, else first)."""
    text = (name_or_path or "").strip()
    if text and Path(text).expanduser().exists():
        return inspect_model(Path(text))
    models = discover_models(extra_dirs)
    if not text:
        if models:
            return models[0]
        raise ModelError(
            "No model found; put a Stable Diffusion .safetensors file or diffusers folder in "
            f"{user_models_dir()} or pass --model PATH."
        )
    lowered = text.lower()
    for info in models:
        if lowered in (info.name.lower(), info.path.name.lower(), info.path.stem.lower()):
            return info
    if os.sep in text or text.endswith((".safetensors", ".ckpt")):
        return inspect_model(Path(text))  # says what is wrong with that path
    raise ModelError(
        f"No model named {text!r} was found; run `overpaint models` to list the available ones."
    )
