"""Loading a transformer family's model from weight files: one single file holding every
part, or split files (a transformer, GGUF-quantised or not, its text encoders and VAE)
as ComfyUI and Forge users keep them (engine.model_files tells which file holds what).

Each part becomes the pipeline component its family's diffusers layout names, built from
that layout's configuration: diffusers models through `from_single_file`, which converts
original (BFL, SAI) key layouts and reads GGUF through `GGUFQuantizationConfig`;
text encoders through transformers with the file's state dict, whose own key mappings
take ComfyUI's names. The configuration and tokenizers (a few MB, no weights) come from
resources/model_configs/<family> (the engine's config root in tests), a diffusers folder
of the same family in the user's models folder, or a Hugging Face cache snapshot of the
family's reference repository; nothing is downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.core.devices import dtype_keyword
from engine.core.errors import ModelError
from engine.discovery import (
    MODEL_CONFIGS_DIR,
    entries,
    folder_class,
    has_model_index,
    hf_cache_repos,
    model_dirs,
    read_json_object,
)
from engine.model_families import family_label
from engine.model_files import PART_LABELS, Part, read_tensors
from engine.models import MODERN_FAMILIES, ModelInfo

log = logging.getLogger(__name__)

# The repositories whose configuration and tokenizers fit each family's files (ungated first).
REFERENCE_REPOS: dict[str, tuple[str, ...]] = {
    "flux": ("black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-dev"),
    "flux-fill": ("black-forest-labs/FLUX.1-Fill-dev",),
    "flux-kontext": ("black-forest-labs/FLUX.1-Kontext-dev",),
    "flux2-klein": ("black-forest-labs/FLUX.2-klein-4B",),
    "chroma": ("lodestones/Chroma1-HD",),
    "sd3": ("stabilityai/stable-diffusion-3.5-medium", "stabilityai/stable-diffusion-3.5-large"),
    "qwen-image": ("Qwen/Qwen-Image",),
    "qwen-image-edit": ("Qwen/Qwen-Image-Edit",),
    "qwen-image-edit-plus": ("Qwen/Qwen-Image-Edit-2509",),
    "z-image": ("Tongyi-MAI/Z-Image-Turbo",),
}


def family_config(
    family: str, config_root: Path | None = None, extra_dirs: Sequence[Path] = ()
) -> Path:
    """The diffusers folder whose configuration and tokenizers the family's files load
    with (`extra_dirs`: the models folders beside the user's, --models-dir and Settings');
    ModelError in one sentence saying what to download when there is none."""
    folder = (config_root or MODEL_CONFIGS_DIR) / family
    if has_model_index(folder):
        return folder
    # A diffusers folder of the same family in a models folder (a starter).
    pipelines = MODERN_FAMILIES[family].pipelines if family in MODERN_FAMILIES else ()
    for root in model_dirs(extra_dirs):
        for found in entries(root, 2, has_model_index, files=False):
            if folder_class(found) in pipelines:
                return found
    repos = REFERENCE_REPOS.get(family, ())
    for name, snapshots in hf_cache_repos():
        if name in repos:
            for snap in snapshots:
                if has_model_index(snap):
                    return snap
    repo = repos[0] if repos else "the family's diffusers repository"
    raise ModelError(
        f"Loading {family_label(family)} from single files needs its configuration and "
        f"tokenizers (a few MB, no weights), which Overpaint found neither in {folder} nor "
        f"in the Hugging Face cache; download them once with `hf download {repo} "
        "--exclude '*.safetensors' '*.gguf'` and try again."
    )


def _state_dict(part: Part) -> dict[str, Any]:
    """The part's tensors, named without its prefix."""
    from safetensors import safe_open  # ~0.3 s with torch: only when a model loads

    with safe_open(str(part.path), framework="pt") as f:
        n = len(part.prefix)
        return {k[n:]: f.get_tensor(k) for k in f.keys() if k.startswith(part.prefix)}


def _transformer_overrides(info: ModelInfo, part: Part) -> dict[str, Any]:
    """Config values the file decides where the reference configuration may differ: a
    FLUX.1 file's input channels (Fill: 384) and whether it embeds guidance (schnell)."""
    if not info.family.startswith("flux") or info.family == "flux2-klein":
        return {}
    shapes = read_tensors(part.path).group(part.prefix).shapes
    overrides: dict[str, Any] = {"guidance_embeds": info.guidance != "none"}
    for key in ("x_embedder.weight", "img_in.weight"):
        if key in shapes and len(shapes[key]) == 2:
            overrides["in_channels"] = shapes[key][1]
    return overrides


def _is_fp8(part: Part) -> bool:
    if part.path.suffix.lower() != ".safetensors":
        return False
    from engine.discovery import read_safetensors_header  # cheap; keeps the top imports short

    header = read_safetensors_header(part.path)
    kinds = [v["dtype"] for k, v in header.items() if k.startswith(part.prefix)]
    return bool(kinds) and sum(d.startswith("F8") for d in kinds) * 2 > len(kinds)


def _diffusers_part(cls: Any, part: Part, root: Path, dtype: Any, info: ModelInfo) -> Any:
    """A diffusers model (transformer, VAE) from its file, in any layout from_single_file
    converts; a class it has no converter for loads a diffusers-layout state dict."""
    from diffusers.loaders.single_file_model import (  # ~2 s with diffusers: on load only
        SINGLE_FILE_LOADABLE_CLASSES,
    )
    from diffusers.loaders.single_file_utils import (  # ~2 s with diffusers: on load only
        convert_wan_vae_to_diffusers,
    )

    common = {dtype_keyword(): dtype, "config": str(root), "subfolder": part.component}
    if part.component == "transformer":
        common.update(_transformer_overrides(info, part))
    if part.path.suffix.lower() == ".gguf":
        try:
            import gguf  # noqa: F401  # checked here: the sentence below names the package
            from diffusers import GGUFQuantizationConfig  # ~2 s: only when a model loads
        except ImportError as e:
            raise ModelError(
                f"{part.path.name} is GGUF-quantised, which needs the Python package `gguf`; "
                "install it with `pip install gguf` and try again."
            ) from e
        common["quantization_config"] = GGUFQuantizationConfig(compute_dtype=dtype)
        return cls.from_single_file(str(part.path), local_files_only=True, **common)
    if cls.__name__ in SINGLE_FILE_LOADABLE_CLASSES:
        source = str(part.path) if not part.prefix else _state_dict(part)
        return cls.from_single_file(source, local_files_only=True, **common)
    state = _state_dict(part)
    if "decoder.middle.0.residual.0.gamma" in state:
        # Qwen-Image's VAE is Wan 2.1's, and ComfyUI keeps it in Wan's original layout;
        # diffusers converts that layout for AutoencoderKLWan, whose names this class shares.
        state = convert_wan_vae_to_diffusers(state)
    model = cls.from_config(cls.load_config(str(root), subfolder=part.component))
    model.load_state_dict(state, strict=True)
    return model.to(dtype=dtype)


def _transformers_part(cls: Any, part: Part, root: Path, dtype: Any) -> Any:
    """A text encoder from its file: transformers maps ComfyUI's key names (text_model.,
    model.layers.) onto its own."""
    from transformers import AutoConfig  # ~0.5 s to import: only when a model loads

    config = AutoConfig.from_pretrained(str(root / part.component))
    return cls.from_pretrained(
        None, config=config, state_dict=_state_dict(part), **{dtype_keyword(): dtype}
    )


def keep_fp8(module: Any, compute_dtype: Any) -> None:
    """Store a transformer's layers in fp8, as its file holds them, each computing in
    `compute_dtype` (diffusers' layerwise casting: norms and embeddings stay as they are):
    half a bf16 copy's memory on a GPU."""
    import torch  # torch: ~1.2 s to import, only when a model loads

    module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype)


def load_parts(
    pipeline_cls: Any,
    info: ModelInfo,
    dtype: Any,
    device: str,
    config_root: Path | None,
    extra_dirs: Sequence[Path] = (),
) -> Any:
    """The pipeline of a model made of files (ModelInfo.parts), every part in `dtype`;
    fp8 transformers keep fp8 storage on a GPU and are upcast elsewhere."""
    import diffusers  # ~2 s to import: only when a model loads
    import transformers  # ~0.5 s to import: only when a model loads

    root = family_config(info.family, config_root, extra_dirs)
    index = read_json_object(root / "model_index.json")
    components: dict[str, Any] = {}
    for part in info.parts:
        library, class_name = (index.get(part.component) or [None, None])[:2]
        if class_name is None:
            raise ModelError(
                f"The configuration in {root} has no {part.component} for "
                f"{family_label(info.family)}; it does not fit {info.path.name}."
            )
        log.info("loading %s of %s from %s", part.component, info.name, part.path)
        try:
            if library == "transformers":
                cls = getattr(transformers, class_name)
                components[part.component] = _transformers_part(cls, part, root, dtype)
            else:
                cls = getattr(diffusers, class_name)
                module = _diffusers_part(cls, part, root, dtype, info)
                if part.component == "transformer" and device.startswith("cuda") and _is_fp8(part):
                    keep_fp8(module, dtype)
                components[part.component] = module
        except ModelError:
            raise
        except Exception as e:
            log.exception("loading %s from %s failed", part.component, part.path)
            what = PART_LABELS.get(part.kind, f"{family_label(info.family)} transformer")
            raise ModelError(
                f"Cannot load the {what} of {info.name} from {part.path.name}: its tensors "
                "do not fit the family's layout (a different model size or a damaged file); "
                "pick another file (details are in the log)."
            ) from e
    return pipeline_cls.from_pretrained(
        str(root), local_files_only=True, **components, **{dtype_keyword(): dtype}
    )
