"""A training run's checkpoint in its work folder (engine.training.trainer.work_dir): the
trainable tensors, the optimizer, the step and the prior pictures' latents, written so
that a run stopped at any moment continues from its last complete save, and only on the
same pictures and settings (the data fingerprint). The prior pictures come back as they
were, not drawn again: 8 of them cost a CPU run on the demo model as much as 20 steps."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.training.data import Picture
from engine.training.settings import TrainingSettings

log = logging.getLogger(__name__)


def data_fingerprint(settings: TrainingSettings, pictures: list[Picture]) -> str:
    digest = hashlib.sha256(settings.fingerprint().encode())
    for p in pictures:
        digest.update(p.path.name.encode() + b"\0" + p.caption.encode() + b"\0")
        digest.update(np.ascontiguousarray(p.pixels).tobytes())
    return digest.hexdigest()[:16]


def save_checkpoint(
    folder: Path, run: Any, step: int, fingerprint: str, losses: list[float]
) -> None:
    import torch  # torch: ~1.2 s to import, only when training runs
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(run.trainable_state(), str(folder / "weights.tmp"))
    if run.prior is not None:
        save_file({"latents": run.prior[0].cpu().contiguous()}, str(folder / "prior.tmp"))
        (folder / "prior.tmp").replace(folder / "prior.safetensors")
    torch.save(run.optimizer.state_dict(), folder / "optimizer.tmp")
    state = {"step": step, "fingerprint": fingerprint, "losses": losses[-200:]}
    (folder / "state.tmp").write_text(json.dumps(state), encoding="utf-8")
    # state.json goes last: it is what says the other two are complete.
    (folder / "weights.tmp").replace(folder / "weights.safetensors")
    (folder / "optimizer.tmp").replace(folder / "optimizer.pt")
    (folder / "state.tmp").replace(folder / "state.json")


def saved_prior(folder: Path, fingerprint: str) -> Any | None:
    """The prior pictures' latents a checkpoint of this fingerprint holds, or None."""
    from safetensors.torch import load_file  # imports torch: only when training runs

    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if state.get("fingerprint") != fingerprint:
            return None
        return load_file(str(folder / "prior.safetensors"))["latents"]
    except (OSError, ValueError, KeyError):
        return None


def load_checkpoint(folder: Path, run: Any, fingerprint: str) -> tuple[int, list[float]]:
    import torch  # torch: ~1.2 s to import, only when training runs
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0, []
    if state.get("fingerprint") != fingerprint:
        log.info("checkpoint in %s is from other pictures or settings; starting over", folder)
        return 0, []
    run.load_trainable_state(load_file(str(folder / "weights.safetensors")))
    run.optimizer.load_state_dict(
        torch.load(folder / "optimizer.pt", map_location=run.device, weights_only=True)
    )
    return int(state["step"]), [float(v) for v in state.get("losses", [])]
