"""Samplers under the names users know from AUTOMATIC1111 and friends.

A fresh scheduler is built per job from the model's own scheduler config, so one job's
state (timesteps, step index) never leaks into the next and v-prediction is kept.
"""

from __future__ import annotations

import inspect
from typing import Any

from engine.core.errors import InvalidRequestError

# name -> (diffusers class name, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": False}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    # Few-step samplers for consistency-distilled models and speed LoRAs (LCM-LoRA,
    # Hyper-SD); they also run, less sharply, on a plain model.
    "LCM": ("LCMScheduler", {}),
    "TCD": ("TCDScheduler", {}),
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)

# The flow-matching models (FLUX, SD 3.5, Qwen-Image, Z-Image, Chroma) step with the Euler
# flow-matching sampler, the one every pipeline of theirs accepts (they pass their own sigma
# lists, and their inpaint pipelines re-noise with scale_noise, which only the flow-matching
# schedulers have), under a choice of sigma schedules, as Forge and ComfyUI offer them. Its
# sigma shift is GenerationRequest.shift. name -> FlowMatchEulerDiscreteScheduler overrides.
FLOW_SCHEDULERS: dict[str, dict[str, Any]] = {
    "Euler": {},
    "Euler Karras": {"use_karras_sigmas": True},
    "Euler Exponential": {"use_exponential_sigmas": True},
    "Euler Beta": {"use_beta_sigmas": True},
}
FLOW_SCHEDULER_NAMES: tuple[str, ...] = tuple(FLOW_SCHEDULERS)


def canonical_name(name: str) -> str:
    """The familiar spelling of a scheduler name (case and spacing insensitive), of the
    UNet models' samplers or the flow-matching models'."""
    key = "".join(name.lower().split())
    for known in (*SCHEDULERS, *FLOW_SCHEDULERS):
        if "".join(known.lower().split()) == key:
            return known
    raise InvalidRequestError(
        f"Unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULER_NAMES)} "
        f"(flow-matching models: {', '.join(FLOW_SCHEDULER_NAMES)})."
    )


def make_scheduler(name: str, base_config: Any) -> Any:
    """A new diffusers scheduler for `name`, configured from the model's scheduler config."""
    import diffusers  # ~2 s to import: only when a job runs

    known = canonical_name(name)
    if known not in SCHEDULERS:
        raise InvalidRequestError(
            f"{known} is a sampler for flow-matching models (FLUX, SD 3.5, Qwen-Image); "
            f"choose one of: {', '.join(SCHEDULER_NAMES)}."
        )
    class_name, overrides = SCHEDULERS[known]
    cls = getattr(diffusers, class_name)
    config = dict(base_config)
    # A model saved with a Karras sampler must not make "Euler" use Karras sigmas too
    # (only for schedulers that have the switch: others warn about an unknown key).
    if "use_karras_sigmas" in inspect.signature(cls.__init__).parameters:
        config["use_karras_sigmas"] = False
    config.update(overrides)
    return cls.from_config(config)


def step_progress(scheduler: Any, evaluation: int, evaluations: int) -> tuple[int, int]:
    """(steps ended, steps in all) after model evaluation `evaluation` (from 0) of the
    `evaluations` one pipeline call makes with `scheduler`, counted in the steps the user
    asked for (after img2img's strength), not in evaluations.

    Diffusers runs the step-end callback once per evaluation, and some samplers evaluate
    more often than once a step: PLMS (PNDM without its Runge-Kutta start) evaluates its
    first step twice, an improved-Euler warm-up, like A1111's and CompVis' PLMS, so 20
    steps take 21 evaluations; second-order samplers (Heun, DPM2) take two a step, but one
    for the last. Counting evaluations said "Step 21/21" for 20 steps and "5 of 8 steps"
    for 8 at strength 0.5. This is the rule diffusers' own progress bar follows."""
    order = max(1, int(getattr(scheduler, "order", 1) or 1))
    planned = int(getattr(scheduler, "num_inference_steps", 0) or 0)
    timesteps = getattr(scheduler, "timesteps", None)
    # Evaluations before the first step ends: the full schedule's, which img2img's slice
    # of it keeps (the warm-up is the first evaluation wherever sampling starts).
    warmup = 0 if not planned or timesteps is None else len(timesteps) - planned * order
    warmup = min(max(warmup, 0), max(evaluations - 1, 0))
    total = max(1, -(-(evaluations - warmup) // order))
    if evaluation >= evaluations - 1:
        return total, total
    return min(total, max(0, (evaluation + 1 - warmup) // order)), total
