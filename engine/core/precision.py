"""CPU precision: whether this processor runs a model faster in bf16 than in fp32.

Processors with bf16 in hardware (Intel AMX from Sapphire Rapids on, AVX-512 BF16 on
AMD Zen 4/5 and Intel Cooper Lake) run diffusion models 2-3.5x faster in bf16; bf16 keeps
fp32's range, so nothing overflows that fp32 would not. Elsewhere bf16 is emulated and
slower. "auto" decides once per machine: the CPU's flags must list bf16 and a timed bf16
matmul and convolution must beat fp32. The answer is cached in the user data folder,
keyed by processor, torch version and thread count, so later starts pay nothing.

Every part of a job runs in the one chosen dtype, ControlNets included (ControlStage loads
them in the denoiser's). Keeping the ControlNet in fp32 beside a bf16 UNet was measured on
the demo scribble ControlNet's held-out evaluation (benchmark P26): its scores stayed
bf16's, the same two override cases flipping (the UNet's bf16 alone flips one of them,
and over 250 held-out squares fp32 and bf16 square 213 and 212 of them, flips both ways,
mean fill equal), while it made a 512² control job 1.55x slower and an SD 1.5-shaped step
1.7x. So there is no quality to buy back, and ControlNets follow the UNet. Keeping the
latents in fp32 between steps (the UNet casting its input, as ComfyUI does) and decoding
in fp32 changed which of the 50 override cases flip (three, or two each way), not that
some do: only a whole job in fp32 repeats fp32's pass/fail case for case.

On CUDA and MPS the dtype stays what engine.local.loading chooses (fp16); this policy is
about CPUs only.
"""

from __future__ import annotations

import functools
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import InvalidRequestError
from engine.core.paths import user_data_dir

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
# Precision name -> torch dtype name, and back.
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
SHORT = {v: k for k, v in DTYPES.items()}
# /proc/cpuinfo flags that mean bf16 arithmetic in hardware (x86 and Arm).
_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "avx_vnni_bf16", "bf16")
CACHE_NAME = "cpu_precision.json"
# bf16 must be at least this much faster than fp32 in the probe to be chosen.
_MIN_SPEEDUP = 1.2

NO_BF16_HARDWARE = (
    "This processor has no bf16 arithmetic, so bf16 runs emulated and slower than fp32; "
    "choose auto or fp32 in Settings (or --precision) for speed."
)


@dataclass(frozen=True)
class CpuPrecision:
    """What the probe found: the flags, the measured speed-ups, and the choice."""

    hardware_bf16: bool
    matmul_speedup: float  # fp32 time / bf16 time (0: not measured)
    conv_speedup: float
    choice: str  # "fp32" | "bf16"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def has_bf16_hardware(flags: set[str] | None = None) -> bool:
    return bool((cpu_flags() if flags is None else flags) & set(_BF16_FLAGS))


def _speedup(op, make, dtype) -> float:
    """fp32 time / bf16 time of `op` on inputs from `make` (best of a few runs)."""
    import torch  # engine thread only: ~1.5 s to import

    def best(dt) -> float:
        args = [a.to(dt) for a in make()]
        op(*args)  # the first call builds the kernels
        times = []
        for _ in range(3):
            start = time.perf_counter()
            op(*args)
            times.append(time.perf_counter() - start)
        return min(times)

    return best(torch.float32) / max(best(dtype), 1e-9)


def measure(hardware: bool) -> CpuPrecision:
    """Time bf16 against fp32 (about 0.3 s); skipped where the flags rule bf16 out."""
    if not hardware:
        return CpuPrecision(False, 0.0, 0.0, "fp32")
    import torch  # engine thread only: ~1.5 s to import
    import torch.nn.functional as F  # noqa: N812 - torch's own convention

    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        mm = _speedup(
            torch.matmul,
            lambda: (torch.randn(768, 768, generator=gen), torch.randn(768, 768, generator=gen)),
            torch.bfloat16,
        )
        conv = _speedup(
            lambda x, w: F.conv2d(x, w, padding=1),
            lambda: (
                torch.randn(1, 128, 64, 64, generator=gen).contiguous(
                    memory_format=torch.channels_last
                ),
                torch.randn(128, 128, 3, 3, generator=gen),
            ),
            torch.bfloat16,
        )
    choice = "bf16" if min(mm, conv) >= _MIN_SPEEDUP else "fp32"
    return CpuPrecision(True, round(mm, 2), round(conv, 2), choice)


def _machine_key() -> str:
    import torch  # engine thread only: ~1.5 s to import

    cpu = platform.processor() or platform.machine()
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    return f"{cpu}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


@functools.cache
def machine_precision(cache_dir: Path | None = None) -> CpuPrecision:
    """The auto choice for this machine, measured once and then read from the cache."""
    cache = (cache_dir or user_data_dir()) / CACHE_NAME
    key = _machine_key()
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("machine") == key:
            return CpuPrecision(**stored["result"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    result = measure(has_bf16_hardware())
    log.info("CPU precision for %s: %s", key, result)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"machine": key, "result": asdict(result)}), encoding="utf-8")
    except OSError as e:  # measuring again next time is the only cost
        log.info("cannot cache the CPU precision: %s", e)
    return result


_warned: set[str] = set()


def resolve_cpu_precision(requested: str) -> tuple[str, str | None]:
    """("fp32" | "bf16", a warning to show once or None) for a CPU job.

    "auto" takes the machine's measured choice; "fp16" (recorded on a GPU) counts as auto,
    since CPUs have no fast fp16 convolutions."""
    requested = (requested or "auto").lower()
    if requested not in (*PRECISIONS, "fp16"):
        raise InvalidRequestError(f"Unknown precision {requested!r}; use {', '.join(PRECISIONS)}.")
    if requested in ("auto", "fp16"):
        return machine_precision().choice, None
    if requested == "bf16" and not has_bf16_hardware() and "bf16" not in _warned:
        _warned.add("bf16")
        log.warning(NO_BF16_HARDWARE)
        return "bf16", NO_BF16_HARDWARE
    return requested, None


def fast_layout(module: Any) -> Any:
    """`module` in channels_last when it runs in bf16 on a CPU: oneDNN's bf16 convolutions
    are fastest on that layout (the demo UNet's step 12% faster, its VAE decode 1.6x), while
    in fp32 it was slower for SD 1.5's UNet here, so fp32 keeps the default layout."""
    params = next(module.parameters(), None)
    if params is not None and params.device.type == "cpu" and str(params.dtype) == "torch.bfloat16":
        module.to(memory_format=_channels_last())
    return module


def _channels_last() -> Any:
    import torch  # engine thread only: ~1.5 s to import

    return torch.channels_last
