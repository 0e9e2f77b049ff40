"""Loading models offline, choosing the device, and deriving one pipeline per mode.

Everything loads with local_files_only=True. Single files load with `config=` pointing at
a config folder shipped in resources/model_configs/<family>: without it diffusers asks the
hub for configs even when offline. All modes share one set of modules via from_pipe.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.devices import dtype_keyword
from engine.core.errors import InvalidRequestError, ModelError
from engine.core.paths import CLIP_TOKENIZER_DIR, user_data_dir
from engine.core.precision import DTYPES, SHORT, fast_layout, resolve_cpu_precision
from engine.discovery import MODEL_CONFIGS_DIR
from engine.local.families import MODE_PIPELINES, prepare_pipeline
from engine.local.split_files import load_parts
from engine.metadata import file_hash
from engine.models import ModelInfo

log = logging.getLogger(__name__)

# Free VRAM (GiB) below which each switch turns on, per family group. SD1/2 at 512² needs
# about 3 GiB in fp16 without help; SDXL at 1024² about 8-10 GiB. The transformer families
# (FLUX.1 at 12 B parameters, Qwen-Image at 20 B): no attention slicing; their offload
# follows the model's own size against free VRAM (engine.local.memory), these numbers
# only where that estimate cannot read the files.
_LOW_MEMORY_GIB = {
    "sd": {"attention_slicing": 6.0, "vae_tiling": 4.0, "cpu_offload": 3.0},
    "sdxl": {"attention_slicing": 12.0, "vae_tiling": 10.0, "cpu_offload": 7.0},
    "modern": {"attention_slicing": 0.0, "vae_tiling": 24.0, "cpu_offload": 40.0},
}


# Request options that decide how a model is loaded (a change means a reload).
POLICY_OPTIONS: tuple[str, ...] = (
    "device",
    "dtype",
    "attention_slicing",
    "vae_tiling",
    "cpu_offload",
    "group_offload",
)


@dataclass(frozen=True)
class DevicePolicy:
    device: str  # "cuda" | "mps" | "cpu"
    dtype: str  # "float16" | "bfloat16" | "float32"
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    # The transformer's blocks streamed to the GPU (engine.local.memory picks it when
    # even one part of a transformer family's model cannot fit free VRAM).
    group_offload: bool = False
    free_vram_gib: float | None = None
    # Said once to the user (bf16 asked for on a CPU that only emulates it).
    warning: str | None = field(default=None, compare=False)

    @property
    def precision(self) -> str:
        """The short name the request records: "fp32", "bf16" or "fp16"."""
        return SHORT[self.dtype]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def choose_device(
    family: str, options: dict[str, Any] | None = None, precision: str = "auto"
) -> DevicePolicy:
    """CUDA fp16 > MPS fp16 (bf16 for the transformer families) > CPU in bf16 or fp32
    (engine.core.precision), with low-memory switches from free VRAM.

    options may force "device", "dtype" and each switch ("attention_slicing",
    "vae_tiling", "cpu_offload"); anything not given is decided automatically. On a CPU,
    `precision` ("auto", "fp32" or "bf16") decides the dtype.
    """
    import torch  # torch: ~1.2 s to import, only when a model loads

    options = dict(options or {})
    device = str(options.get("device") or "")
    if not device:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if device not in ("cuda", "mps", "cpu") and not device.startswith("cuda:"):
        raise InvalidRequestError(f"Unknown device {device!r}; use cuda, mps or cpu.")
    # The transformer families overflow fp16 (FLUX) or cannot run it (Z-Image's complex
    # RoPE): they run in bf16 on a GPU, as their authors ship them.
    dtype = str(options.get("dtype") or ("bfloat16" if family in MODE_PIPELINES else "float16"))
    warning = None
    if device == "cpu":
        # Half precision convolutions are not implemented on CPU; bf16 ones are.
        cpu_precision, warning = resolve_cpu_precision(precision)
        dtype = DTYPES[cpu_precision]
    free = None
    switches = {"attention_slicing": False, "vae_tiling": False, "cpu_offload": False}
    if device.startswith("cuda"):
        try:
            free_bytes, _total = torch.cuda.mem_get_info()
            free = free_bytes / 2**30
        except Exception as e:  # a driver hiccup must not stop the job
            log.warning("cannot read free VRAM: %s", e)
        if free is not None:
            group = "modern" if family in MODE_PIPELINES else "sd"
            limits = _LOW_MEMORY_GIB["sdxl" if family.startswith("sdxl") else group]
            switches = {k: free < v for k, v in limits.items()}
    switches["group_offload"] = False  # decided by engine.local.memory from the model's size
    for key in switches:
        if key in options and options[key] is not None:
            switches[key] = _truthy(options[key])
    if device == "cpu":
        switches["cpu_offload"] = switches["group_offload"] = False
    return DevicePolicy(device=device, dtype=dtype, free_vram_gib=free, warning=warning, **switches)


def _pipeline_classes(family: str) -> tuple[Any, Any, Any]:
    """(txt2img, img2img, inpaint) pipeline classes for a family."""
    import diffusers  # ~2 s to import: only when a model loads

    if family in MODE_PIPELINES:
        txt2img, img2img, inpaint = MODE_PIPELINES[family]
        return getattr(diffusers, txt2img), getattr(diffusers, img2img), getattr(diffusers, inpaint)
    if family.startswith("sdxl"):
        return (
            diffusers.StableDiffusionXLPipeline,
            diffusers.StableDiffusionXLImg2ImgPipeline,
            diffusers.StableDiffusionXLInpaintPipeline,
        )
    return (
        diffusers.StableDiffusionPipeline,
        diffusers.StableDiffusionImg2ImgPipeline,
        diffusers.StableDiffusionInpaintPipeline,
    )


def config_dir(family: str, root: Path | None = None) -> Path:
    folder = (root or MODEL_CONFIGS_DIR) / family
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"Overpaint has no configuration for {family} models (missing {folder}); "
            "reinstall Overpaint."
        )
    return folder


def _single_file_tokenizers(family: str) -> dict[str, Any]:
    """The shipped CLIP BPE tokenizer(s); OpenCLIP-based encoders pad with "!"."""
    from transformers import CLIPTokenizer  # ~0.5 s to import: only when a model loads

    path = str(CLIP_TOKENIZER_DIR)
    if family.startswith("sdxl"):
        return {
            "tokenizer": CLIPTokenizer.from_pretrained(path),
            "tokenizer_2": CLIPTokenizer.from_pretrained(path, pad_token="!"),
        }
    if family.startswith("sd2"):
        return {"tokenizer": CLIPTokenizer.from_pretrained(path, pad_token="!")}
    return {"tokenizer": CLIPTokenizer.from_pretrained(path)}


def load_pipeline(
    info: ModelInfo,
    policy: DevicePolicy,
    config_root: Path | None = None,
    extra_dirs: Sequence[Path] = (),
) -> Any:
    """The base pipeline for a model (txt2img, or inpaint for 9-channel models), offline.

    config_root replaces resources/model_configs (tests use tiny config folders);
    extra_dirs are the models folders a split model may find its family's configuration in.
    """
    import torch  # torch: ~1.2 s to import, only when a model loads

    dtype = getattr(torch, policy.dtype)
    txt2img, _img2img, inpaint = _pipeline_classes(info.family)
    cls = inpaint if info.is_inpainting else txt2img
    common: dict[str, Any] = {dtype_keyword(): dtype, "local_files_only": True}
    if not info.is_xl and not info.is_modern:  # only SD 1.x/2.x pipelines have one
        common.update(safety_checker=None, requires_safety_checker=False)
    log.info(
        "loading %s (%s, %s) on %s/%s",
        info.path,
        info.family,
        info.kind,
        policy.device,
        policy.dtype,
    )
    try:
        if info.parts:  # a transformer family's single or split files
            pipe = load_parts(cls, info, dtype, policy.device, config_root, extra_dirs)
        elif info.kind == "single-file":
            pipe = cls.from_single_file(
                str(info.path),
                config=str(config_dir(info.family, config_root)),
                **_single_file_tokenizers(info.family),
                **common,
            )
        else:
            pipe = cls.from_pretrained(str(info.path), **common)
    except ModelError:
        raise
    except MemoryError as e:
        raise ModelError(
            f"Not enough memory to load {info.path}; close other programs or pick a smaller model."
        ) from e
    except Exception as e:
        log.exception("loading %s failed", info.path)
        # The library's own text repeats long paths; users get the gist, the log the rest.
        raise ModelError(
            f"Cannot load model {info.name}: its files in {info.path} are missing, damaged or "
            "of an unsupported kind; pick another model (details are in the log)."
        ) from e
    # Bundled models may store fp16 weights: every module must end in the device's dtype.
    # Parts of files are loaded in it already, and an fp8 or GGUF transformer keeps its
    # storage (split_files), which a cast would undo.
    if not info.parts and any(
        getattr(m, "dtype", dtype) != dtype
        for m in pipe.components.values()
        if hasattr(m, "parameters")
    ):
        pipe.to(dtype=dtype)
    if getattr(pipe, "safety_checker", None) is not None:
        pipe.safety_checker = None
    if info.is_modern:
        prepare_pipeline(pipe, info)
    apply_memory_policy(pipe, policy)
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        # Qwen-Image's VAE is a video one: channels_last has no 5-d layout.
        if module is not None and not any(p.ndim == 5 for p in module.parameters()):
            fast_layout(module)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def apply_memory_policy(pipe: Any, policy: DevicePolicy) -> None:
    if policy.group_offload:
        import torch  # torch: ~1.2 s to import, only when a model loads

        pipe.enable_group_offload(
            onload_device=torch.device(policy.device),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    elif policy.cpu_offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(policy.device)
    if policy.attention_slicing:
        pipe.enable_attention_slicing()
    if policy.vae_tiling:
        pipe.vae.enable_tiling()


def derive_pipeline(base: Any, mode: str, info: ModelInfo) -> Any:
    """The pipeline for `mode`, sharing the base pipeline's modules (no reload, no copy);
    an Edit asks for its pipeline by class name (engine.local.edit.EDIT_PIPELINES)."""
    if mode.endswith("Pipeline"):
        return edit_pipeline(base, mode, info)
    txt2img, img2img, inpaint = _pipeline_classes(info.family)
    if info.is_inpainting:
        if mode in ("txt2img", "img2img"):
            what = (
                "a FLUX.1 Fill model" if info.is_modern else "an inpainting model (9-channel UNet)"
            )
            raise ModelError(
                f"{info.name} is {what} and can only inpaint or outpaint; choose a regular "
                f"model for {mode}."
            )
        return base
    cls = {"txt2img": txt2img, "img2img": img2img, "inpaint": inpaint, "outpaint": inpaint}[mode]
    if isinstance(base, cls):
        return base
    return pipeline_on(cls, base)


def edit_pipeline(base: Any, name: str, info: ModelInfo) -> Any:
    """The edit pipeline `name`, sharing the loaded model's modules; a Qwen-Image-Edit
    model gets its prompt processor (loaded without its video part) here, the one part
    its other modes' pipelines do not load."""
    import diffusers  # ~2 s to import: only when a model loads

    cls = getattr(diffusers, name)
    if isinstance(base, cls):
        return base
    extra: dict[str, Any] = {}
    if name.startswith("QwenImageEdit"):
        from engine.local.qwen_processor import load_processor  # transformers: on first use

        # The folder the model loaded from: its own, or for single and split files the
        # configuration folder they loaded with (engine.local.split_files).
        extra["processor"] = load_processor(Path(base.name_or_path))
    return pipeline_on(cls, base, **extra)


def pipeline_on(cls: Any, base: Any, **extra: Any) -> Any:
    """A `cls` pipeline sharing `base`'s modules as they are, with `extra` components."""
    denoiser = base.transformer if hasattr(base, "transformer") else base.unet
    stored_fp8 = any("float8" in str(p.dtype) for p in denoiser.parameters())
    if getattr(denoiser, "is_quantized", False) or stored_fp8:
        # from_pipe ends with a cast to one dtype, which diffusers refuses for a quantised
        # (GGUF) transformer (every mode but the loaded one failed) and which turns an fp8
        # transformer's stored layers into a full copy.
        params = inspect.signature(cls.__init__).parameters
        kwargs = {name: part for name, part in base.components.items() if name in params}
        for name, value in base.config.items():  # settings such as Klein's is_distilled
            if name in params and name not in kwargs:
                kwargs[name] = value
        pipe = cls(**(kwargs | extra))
        pipe.register_to_config(_name_or_path=base.name_or_path)
    else:
        # from_pipe casts the shared modules to float32 unless told otherwise, which would
        # silently turn an fp16 GPU model into fp32 (twice the memory) for every mode.
        pipe = cls.from_pipe(base, **{dtype_keyword(): denoiser.dtype}, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def free_pipelines(*pipes: Any) -> None:
    """Drop references and give the memory back (GPU caches included).

    A full collection runs only on the main thread: on the engine thread it may finalize
    a cycle holding a Qt object, whose destructor then waits on the UI thread, and a
    test's out-of-memory job hung there. Off the main thread, dropping the references
    frees what only they held."""
    del pipes
    if threading.current_thread() is threading.main_thread():
        gc.collect()
    try:
        import torch  # torch: ~1.2 s to import, only when a model loads

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # freeing is best effort
        pass


# ----------------------------------------------------------------------------------
# model hash (A1111's "Model hash": first 10 hex digits of the file's sha256)


def model_hash(info: ModelInfo) -> str | None:
    """sha256[:10] of a single-file model (of a split one's transformer file), cached by
    path, size and mtime; None for folders."""
    if info.kind not in ("single-file", "split"):
        return None
    try:
        st = info.path.stat()
    except OSError:
        return None
    key = f"{info.path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = user_data_dir() / "model_hashes.json"
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]

    value = file_hash(info.path)[:10]
    cache[key] = value
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError as e:
        log.info("cannot cache model hash: %s", e)
    return value
