"""Which compute devices this machine has, and one sentence for each one it lacks.

Asking imports torch (about 1.5 s the first time), so the window asks from a helper
thread; the answer does not change while the program runs and is kept.
"""

from __future__ import annotations

import functools
import logging
import platform
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Every device the engine can run on (engine.local.loading.choose_device), in the order offered.
KNOWN_DEVICES = ("cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceReport:
    available: tuple[str, ...]  # of KNOWN_DEVICES, "cpu" always first
    # Why each missing device is missing, one sentence each, in KNOWN_DEVICES order.
    missing: tuple[str, ...]


@functools.cache
def probe_devices() -> DeviceReport:
    """The devices torch can use here. Imports torch: keep it off the UI thread."""
    try:
        import torch  # ~1.2 s, and may fail: only in the device probe, off the UI thread
    except Exception as e:  # a broken install still leaves the CPU choice
        log.warning("torch could not be imported to look for GPUs: %s", e)
        return DeviceReport(("cpu",), (f"No GPU can be used: torch could not be loaded ({e}).",))
    available, missing = ["cpu"], []
    # ROCm builds of torch also call their GPUs "cuda".
    gpu_build = torch.version.cuda or getattr(torch.version, "hip", None)
    if not gpu_build:
        missing.append(f"No CUDA GPU: this torch ({torch.__version__}) is a CPU-only build.")
    elif _cuda_available(torch):
        available.append("cuda")
    else:
        missing.append(
            f"No CUDA GPU found: torch {torch.__version__} supports one, "
            "but no GPU or driver answered."
        )
    if sys.platform != "darwin":
        missing.append("mps is for Apple silicon Macs only.")
    elif _mps_available(torch):
        available.append("mps")
    else:
        missing.append(
            f"mps is not available on this Mac ({platform.machine()}): "
            "it needs Apple silicon and macOS 12.3 or later."
        )
    return DeviceReport(tuple(available), tuple(missing))


def _cuda_available(torch) -> bool:
    try:
        return bool(torch.cuda.is_available())
    except Exception as e:  # a driver that fails to initialise means no GPU to offer
        log.warning("CUDA check failed: %s", e)
        return False


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except Exception as e:
        log.warning("MPS check failed: %s", e)
        return False


def dtype_keyword() -> str:
    """The from_pretrained/from_pipe keyword for the weights' dtype: diffusers renamed
    torch_dtype to dtype (the old name warns from 0.42 on)."""
    try:
        from diffusers.utils import deprecation_utils  # only when loading: diffusers is slow

        if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE"):
            return "dtype"
    except ImportError:
        pass
    return "torch_dtype"
