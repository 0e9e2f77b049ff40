"""Few-step settings for live painting: speed LoRAs recognised by file name, and
guidance-free runs for distilled "turbo" models: SD-Turbo and SDXL-Turbo, and among the
transformer families FLUX.1 schnell, the step-distilled FLUX.2 Klein models and Z-Image
Turbo (their steps and sampler from engine.family_defaults).

Each preset says what its maker's model card asks for: the sampler, the step count the
LoRA was distilled for (read from the file name when it says, e.g. "8steps") and the
guidance scale (1: no classifier-free guidance, which also halves the work per step).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.family_defaults import UNET_TURBO_STEPS, FamilySettings

_STEPS_RE = re.compile(r"(\d+)[-_ ]?steps?", re.IGNORECASE)


@dataclass(frozen=True)
class SpeedPreset:
    name: str  # what the panel shows
    steps: int  # denoising steps to run
    guidance: float
    scheduler: str
    lora: str = ""  # the LoRA's file stem ("" for none)
    lora_weight: float = 1.0
    # The model's own few-step settings (a distilled model), which Live picks by itself.
    distilled: bool = False


def _steps_in(name: str, default: int) -> int:
    match = _STEPS_RE.search(name)
    return max(1, min(int(match.group(1)), 50)) if match else default


def preset_for_lora(stem: str) -> SpeedPreset | None:
    """The preset for a speed LoRA file (its stem), or None if the name is no speed LoRA.

    LCM-LoRA: LCM sampler, 4 steps, CFG 1 (the model card's 1-2). Hyper-SD: TCD, the
    file's step count (8 if unnamed), CFG 1, or 5 for its "CFG" variants that keep a
    negative prompt. SDXL-Lightning: Euler at the file's step count, CFG 1.
    """
    lowered = stem.lower()
    if "lcm" in lowered:
        return SpeedPreset(f"LCM-LoRA ({stem})", _steps_in(stem, 4), 1.0, "LCM", stem)
    if "hyper" in lowered:
        guidance = 5.0 if "cfg" in lowered else 1.0
        return SpeedPreset(f"Hyper-SD ({stem})", _steps_in(stem, 8), guidance, "TCD", stem)
    if "lightning" in lowered:
        return SpeedPreset(f"Lightning ({stem})", _steps_in(stem, 4), 1.0, "Euler", stem)
    return None


def is_turbo_model(model_name: str) -> bool:
    """SD-Turbo / SDXL-Turbo style models, distilled to run without guidance."""
    return "turbo" in model_name.lower()


def turbo_preset(model_name: str) -> SpeedPreset:
    name = f"Turbo, no guidance ({model_name})"
    return SpeedPreset(name, UNET_TURBO_STEPS, 1.0, "Euler a", distilled=True)


def distilled_preset(model_name: str, family: FamilySettings) -> SpeedPreset | None:
    """A step-distilled transformer model's own few steps without guidance (schnell,
    distilled Klein, Z-Image Turbo), or None for other models. Guidance 0: Z-Image runs
    classifier-free guidance at any value above 0."""
    if family.guidance != "none" or not family.shift:
        return None
    name = f"{family.label} few steps, no guidance ({model_name})"
    return SpeedPreset(name, family.steps, 0.0, family.sampler, distilled=True)


def speed_presets(
    lora_stems: Iterable[str], model_name: str = "", family: FamilySettings | None = None
) -> list[SpeedPreset]:
    """The presets on offer: the model's own for a step-distilled model (`family`: its
    engine.family_defaults settings), then one per speed LoRA installed (pass only the
    LoRAs that fit the model)."""
    own = distilled_preset(model_name, family) if family is not None else None
    if own is not None:
        found = [own]
    else:
        found = [turbo_preset(model_name)] if is_turbo_model(model_name) else []
    for stem in sorted(set(lora_stems), key=str.lower):
        preset = preset_for_lora(stem)
        if preset is not None:
            found.append(preset)
    return found


def live_steps(denoise_steps: int, strength: float) -> int:
    """The `steps` to ask for so that a refine at `strength` runs `denoise_steps` steps
    (img2img pipelines run int(steps * strength) of them)."""
    steps = max(1, denoise_steps)
    total = int(steps / max(strength, 1e-3))
    while int(total * strength) < steps:
        total += 1
    return total
