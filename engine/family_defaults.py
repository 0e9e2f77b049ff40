"""What each model family's settings are: how it takes guidance (classifier-free, distilled
or none), its steps and guidance from its maker's model card, whether it reads a negative
prompt, its samplers and whether they take a shift. The Generate panel shows these per
model (editor.ui.generate.family_settings); Live takes its few-step preset from the same
table (engine.speed_presets). Plain data: no torch, no Qt.

Numbers (the model cards' and diffusers' documented calls): FLUX.1 dev 28 steps at
distilled guidance 3.5, schnell 4 steps without guidance, Fill 50 at 30, Kontext 28 at 2.5;
SD 3.5 Large 28 steps at CFG 3.5; Qwen-Image(-Edit) 50 at true CFG 4; Z-Image Turbo 8 steps
without CFG (its base 50 at 5); Chroma 35 at 5; FLUX.2 Klein 50 at 4, its step-distilled
models 4 steps without guidance. SD-Turbo and SDXL-Turbo run 1-4 steps without CFG.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.models import MODERN_FAMILIES, ModelInfo
from engine.schedulers import FLOW_SCHEDULER_NAMES, SCHEDULER_NAMES


@dataclass(frozen=True)
class FamilySettings:
    """One model's settings: what the panel shows and the values it starts from."""

    key: str  # changes exactly when the settings below do
    guidance: str  # "cfg", "distilled" or "none"
    guidance_value: float
    steps: int
    samplers: tuple[str, ...]
    sampler: str  # the default among `samplers`
    shift: bool  # flow-matching: the sampler takes a shift
    negative_prompt: bool  # the model reads a negative prompt
    label: str  # the family, for tooltips

    @property
    def guidance_label(self) -> str:
        return {"cfg": "CFG scale", "distilled": "Distilled guidance"}.get(self.guidance, "")


# family -> (steps, guidance); flux's "none" (schnell) and turbo names are in _few_steps.
_CARD: dict[str, tuple[int, float]] = {
    "flux": (28, 3.5),
    "flux-fill": (50, 30.0),
    "flux-kontext": (28, 2.5),
    "flux2-klein": (50, 4.0),
    "sd3": (28, 3.5),
    "qwen-image": (50, 4.0),
    "qwen-image-edit": (50, 4.0),
    "qwen-image-edit-plus": (50, 4.0),
    "z-image": (50, 5.0),
    "chroma": (35, 5.0),
}
UNET_STEPS, UNET_GUIDANCE = 20, 7.0
TURBO_STEPS = {"z-image": 8, "flux": 4, "flux2-klein": 4}  # few-step (distilled) models
UNET_TURBO_STEPS = 2


def is_few_step(name: str, guidance: str) -> bool:
    """A step-distilled model: FLUX.1 schnell and the distilled Klein models (no guidance
    embedding), and models named turbo (Z-Image Turbo, SD-Turbo, SDXL-Turbo)."""
    lowered = name.lower()
    return guidance == "none" or "turbo" in lowered or "schnell" in lowered


def settings_for(family: str, name: str = "", guidance_kind: str | None = None) -> FamilySettings:
    """The settings of a model of `family` named `name`; `guidance_kind`: ModelInfo.guidance
    where the model is known ("none" for schnell), else the family's."""
    modern = MODERN_FAMILIES.get(family)
    kind = guidance_kind or (modern.guidance if modern is not None else "cfg")
    few = is_few_step(name, kind)
    if modern is None:
        samplers, sampler = SCHEDULER_NAMES, "Euler a"
        steps, guidance = (UNET_TURBO_STEPS, 0.0) if few else (UNET_STEPS, UNET_GUIDANCE)
        label = "SD"
    else:
        samplers, sampler = FLOW_SCHEDULER_NAMES, "Euler"
        steps, guidance = _CARD.get(family, (28, 3.5))
        if few:
            steps, guidance = TURBO_STEPS.get(family, 4), 0.0
        label = modern.label
    if few:
        kind = "none"
    return FamilySettings(
        key=f"{family}:{kind}:{few}",
        guidance=kind,
        guidance_value=guidance,
        steps=steps,
        samplers=samplers,
        sampler=sampler,
        shift=modern is not None,
        negative_prompt=kind == "cfg",
        label=label,
    )


def model_settings(info: ModelInfo) -> FamilySettings:
    return settings_for(info.family, info.name, info.guidance)
