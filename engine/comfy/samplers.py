"""Overpaint's sampler names (A1111 spelling) as ComfyUI (sampler_name, scheduler) pairs."""

from __future__ import annotations

from collections.abc import Collection

from engine.core.errors import InvalidRequestError
from engine.schedulers import canonical_name

# name -> (KSampler sampler_name, KSampler scheduler). PLMS is diffusers' PNDM; ComfyUI's
# nearest kin is iPNDM (the improved pseudo-numerical method). TCD has no ComfyUI sampler.
COMFY_SAMPLERS: dict[str, tuple[str, str] | None] = {
    "Euler a": ("euler_ancestral", "normal"),
    "Euler": ("euler", "normal"),
    "DPM++ 2M": ("dpmpp_2m", "normal"),
    "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
    "DDIM": ("ddim", "ddim_uniform"),
    "PLMS": ("ipndm", "normal"),
    "UniPC": ("uni_pc", "normal"),
    "LMS": ("lms", "normal"),
    "LCM": ("lcm", "sgm_uniform"),
    "TCD": None,
    # The flow-matching models' schedules (engine.schedulers.FLOW_SCHEDULERS).
    "Euler Karras": ("euler", "karras"),
    "Euler Exponential": ("euler", "exponential"),
    "Euler Beta": ("euler", "beta"),
}


def comfy_sampler(
    name: str,
    server: str,
    samplers: Collection[str] | None = None,
    schedulers: Collection[str] | None = None,
) -> tuple[str, str]:
    """The (sampler, scheduler) pair for `name`; one sentence naming `server` when the
    server lacks it (`samplers`/`schedulers`: what its KSampler offers, None: unchecked)."""
    known = canonical_name(name)
    pair = COMFY_SAMPLERS.get(known)
    if pair is None or (samplers is not None and pair[0] not in samplers):
        raise InvalidRequestError(
            f"The ComfyUI server at {server} has no sampler for {known}; choose another sampler."
        )
    if schedulers is not None and pair[1] not in schedulers:
        raise InvalidRequestError(
            f"The ComfyUI server at {server} has no {pair[1]} schedule for {known}; choose "
            "another sampler."
        )
    return pair
