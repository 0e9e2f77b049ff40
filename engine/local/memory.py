"""How much memory a model needs, decided before anything loads.

The transformer families are 4-20 B parameters: on a CPU a model that cannot fit must be
refused in one sentence before a byte is read, and one that fits gets a warning of how
slow it will be. On CUDA the same estimate picks the memory switch: the whole model on
the GPU, model CPU offload (one component on the GPU at a time) or group offload (the
transformer's blocks streamed in), as free VRAM allows.

The estimate counts parameters from the files' tensor tables (safetensors headers, GGUF
tensor tables), never the weights: parameters × the bytes of the dtype they load in, a
GGUF transformer at its quantised size, plus room for activations.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelError
from engine.discovery import read_json_object, read_safetensors_header
from engine.local.loading import DevicePolicy
from engine.model_files import read_tensors
from engine.models import ModelInfo

log = logging.getLogger(__name__)

_VARIANT = re.compile(r"\.(fp16|bf16|fp32|non_ema|ema_only)\.safetensors$", re.IGNORECASE)

GIB = 2**30
# Activations, the allocator's slack and the libraries: measured peaks of the tiny and
# demo models sit within 1 GiB above their weights; big models add a tenth for attention.
_OVERHEAD_BYTES = 1 * GIB
_OVERHEAD_SHARE = 0.10
# A CPU core's sustained matrix throughput (FLOP/s): FastSD CPU's FLUX.1 schnell figures
# (3 steps at 512² in 4.5 min on 12 cores) come to about 3-4e10 per core.
_CPU_FLOPS_PER_CORE = 4e10
# Tokens a transformer family attends over at its native size: (1024/16)² picture tokens
# and up to 512 text tokens.
_TEXT_TOKENS = 512


@dataclass(frozen=True)
class Footprint:
    """A model's weights: bytes in the dtype it loads in, in all and for the largest part
    (what model offload keeps on the GPU at once), and the denoiser's parameters."""

    total: int
    largest: int
    denoiser_parameters: int

    def needed(self) -> int:
        """Bytes of memory a job needs with the whole model in place."""
        return int(self.total * (1 + _OVERHEAD_SHARE)) + _OVERHEAD_BYTES


def _file_parameters(path: Path, prefix: str = "") -> tuple[int, int]:
    """(parameters, bytes they take when kept quantised) of the tensors under prefix."""
    tensors = read_tensors(path).group(prefix)
    return tensors.parameters, sum(tensors.nbytes.values())


def _folder_components(folder: Path) -> dict[str, list[Path]]:
    """A diffusers folder's weight files per component."""
    index = read_json_object(folder / "model_index.json")
    out: dict[str, list[Path]] = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or not (folder / name).is_dir():
            continue
        files = sorted((folder / name).glob("*.safetensors"))
        # An fp16 copy beside the full weights is not loaded as well.
        files = [f for f in files if not _VARIANT.search(f.name)] or files
        if files:
            out[name] = files
    return out


def footprint(info: ModelInfo, dtype_bytes: int) -> Footprint:
    """The model's weights when loaded with `dtype_bytes` per parameter; GGUF parts stay
    quantised (diffusers dequantises one layer at a time)."""
    sizes: dict[str, int] = {}
    denoiser = 0
    if info.parts:
        for part in info.parts:
            params, quantised = _file_parameters(part.path, part.prefix)
            gguf = part.path.suffix.lower() == ".gguf"
            sizes[part.component] = quantised if gguf else params * dtype_bytes
            if part.component == "transformer":
                denoiser = params
    elif info.path.is_dir():
        for name, files in _folder_components(info.path).items():
            params = sum(
                math.prod(v["shape"]) for f in files for v in read_safetensors_header(f).values()
            )
            sizes[name] = params * dtype_bytes
            if name in ("transformer", "unet"):
                denoiser = params
    else:
        params, _ = _file_parameters(info.path)
        sizes["checkpoint"] = params * dtype_bytes
        denoiser = params
    return Footprint(sum(sizes.values()), max(sizes.values(), default=0), denoiser)


def machine_memory() -> int:
    """This machine's memory in bytes."""
    import psutil  # accelerate's dependency; read only when a model loads

    return int(psutil.virtual_memory().total)


def _gb(n: float) -> str:
    return f"{max(1, round(n / 1e9))} GB"


def check_cpu(info: ModelInfo, size: Footprint, policy: DevicePolicy, steps: int) -> str | None:
    """ModelError when the model cannot fit this machine's memory; otherwise a warning of
    the minutes a picture will take when it is a minute or more, else None."""
    total = machine_memory()
    if size.needed() > total:
        raise ModelError(
            f"{info.name} needs about {_gb(size.needed())} of memory in {policy.precision}; "
            f"this machine has {_gb(total)}, so Overpaint did not load it: pick a smaller or "
            "GGUF-quantised model, or run it on a GPU or a ComfyUI server."
        )
    if not info.is_modern:
        return None
    tokens = (info.native_size // 16) ** 2 + _TEXT_TOKENS
    flops = 2 * size.denoiser_parameters * tokens * max(1, steps)
    minutes = flops / ((os.cpu_count() or 1) * _CPU_FLOPS_PER_CORE) / 60
    if minutes < 1:
        return None
    return (
        f"{info.name} runs on this computer's processor: expect about {math.ceil(minutes)} "
        f"minutes per picture at {info.native_size}² with {steps} steps (a GPU or a ComfyUI "
        "server takes seconds)."
    )


def cuda_policy(info: ModelInfo, size: Footprint, policy: DevicePolicy) -> DevicePolicy:
    """The memory switch for a transformer family on CUDA from free VRAM: none when the
    whole model fits, model CPU offload when its largest part fits, else group offload."""
    free = (policy.free_vram_gib or 0.0) * GIB
    group = size.largest * 1.2 + 1.5 * GIB > free
    offload = not group and size.needed() > free
    log.info(
        "%s needs %.1f GiB (largest part %.1f GiB), %.1f GiB free: %s",
        info.name,
        size.needed() / GIB,
        size.largest / GIB,
        free / GIB,
        "group offload" if group else "model offload" if offload else "no offload",
    )
    return dataclasses.replace(policy, cpu_offload=offload, group_offload=group)


def plan_memory(
    info: ModelInfo, policy: DevicePolicy, forced: set[str], steps: int
) -> tuple[DevicePolicy, str | None]:
    """The policy to load with and a warning for the results, decided before anything
    loads; ModelError (one sentence) when the model cannot fit a CPU's memory. On CUDA a
    transformer family's offload follows free VRAM unless the request forces a switch."""
    on_cuda = policy.device.startswith("cuda")
    if on_cuda and (
        not info.is_modern
        or policy.free_vram_gib is None
        or forced & {"cpu_offload", "group_offload"}
    ):
        return policy, None
    if not on_cuda and policy.device != "cpu":
        return policy, None
    try:
        size = footprint(info, 2 if policy.dtype in ("bfloat16", "float16") else 4)
    except (ModelError, OSError) as e:
        # A file the estimate cannot read fails on load with its own sentence.
        log.info("no memory estimate for %s: %s", info.path, e)
        return policy, None
    if on_cuda:
        return cuda_policy(info, size, policy), None
    return policy, check_cpu(info, size, policy, steps)
