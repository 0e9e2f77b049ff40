"""Which of the window's models the Train LoRA dialog offers as the base model: those
engine.training can teach (SD 1.x, SD 2.x, SDXL; not their inpainting models nor the
transformer families), told from their files without loading them, and the one sentence
saying which were left out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import EngineError
from engine.models import inspect_model
from engine.training.data import TRAINABLE_FAMILIES, check_model

log = logging.getLogger(__name__)


def can_train(model: str) -> bool:
    """Whether LoRA training can teach the model at `model` (a path), as engine.training
    checks it when training starts."""
    try:
        check_model(inspect_model(Path(model)))
    except (EngineError, OSError, ValueError) as e:
        log.info("not offered for training: %s (%s)", model, e)
        return False
    return True


@dataclass(frozen=True)
class BaseModels:
    models: list[tuple[str, str]]  # (name, path) of the models training can teach
    note: str  # which were left out and why; "" when none was
    problem: str  # why nothing can be trained (the note); "" when one can


def base_models(models: Sequence[tuple[str, str]], current: str = "") -> BaseModels:
    """The (name, path) `models`, and `current` where it is not among them, that training
    can teach."""
    listed = list(models)
    if current and current not in (path for _name, path in listed):
        listed.append((Path(current).name or current, current))
    trainable = [(name, path) for name, path in listed if can_train(path)]
    if not trainable:
        problem = (
            f"None of your models can be trained: LoRA training works on {TRAINABLE_FAMILIES} "
            "models; add one with Generate ▸ Models…, then open Train LoRA again."
        )
        return BaseModels([], problem, problem)
    left_out = len(listed) - len(trainable)
    note = (
        f"{left_out} model{'s' if left_out > 1 else ''} not listed: LoRA training works on "
        f"{TRAINABLE_FAMILIES} models (not their inpainting ones)."
        if left_out
        else ""
    )
    return BaseModels(trainable, note, "")
