"""A training run's checkpoint in its work folder (engine.training.trainer.work_dir): the
trainable tensors, the optimizer, the step and the prior pictures' latents, written so
that a run stopped at any moment continues from its last complete save, and only on the
same pictures and settings (its run key: run_key). The prior pictures come back as they
were, not drawn again: 8 of them cost a CPU run on the demo model as much as 20 steps.

The run key is kept in the checkpoint as it is, not as a hash, so that `continuation` can
say, before any model is loaded, whether a rerun continues and, if not, what changed (the
Train dialog says it under the LoRA name). It names the pictures by their file contents,
not their decoded pixels, so that telling costs no decoding: with the model and the
bucketing in the settings, the contents decide the pixels.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.training.data import TrainingError, caption_for, picture_files
from engine.training.settings import TrainingSettings

log = logging.getLogger(__name__)

_EARLIER = "it was made by an earlier version of Overpaint"
# How continuation's phrases name the settings (continuation_fields' keys), in their order.
_LABELS = {
    "images": "picture folder",
    "concept": "concept word",
    "template": "caption template",
    "model": "base model",
    "preset": "preset",
    "rank": "rank",
    "batch_size": "batch",
    "seed": "seed",
    "flip": "flips",
    "learning_rate": "learning rate",
    "bucket": "bucketing",
    "train_text_encoder": "text encoder training",
    "prior_images": "prior pictures",
    "prior_weight": "prior weight",
    "limit_word_norm": "the word length limit",
}


@dataclass(frozen=True)
class Continuation:
    """What a run would do with the checkpoint in its work folder."""

    step: int  # where the cancelled run stopped; 0: there is no checkpoint
    differences: tuple[str, ...] = ()  # what changed since ("rank was 8, now 4")

    @property
    def continues(self) -> bool:
        return self.step > 0 and not self.differences


@lru_cache(maxsize=4096)
def _contents(path: str, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def file_digest(path: Path) -> str:
    """A hash of the file's contents, read again only when its size or time changes."""
    stat = Path(path).stat()
    return _contents(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def run_key(settings: TrainingSettings, pictures: Iterable[tuple[Path, str]]) -> dict[str, Any]:
    """What a rerun must share with a run to continue its checkpoint: the resolved
    `settings`' continuation fields and, of each (picture file, caption), the file's name,
    caption and contents."""
    return {
        "settings": settings.continuation_fields(),
        "pictures": [[Path(p).name, caption, file_digest(p)] for p, caption in pictures],
    }


def differences(old: Any, new: dict[str, Any]) -> list[str]:
    """What changed from run key `old` (as a checkpoint kept it) to `new`, in phrases such
    as "rank was 8, now 4"; empty exactly when the checkpoint is continued."""
    if not isinstance(old, dict) or not isinstance(old.get("settings"), dict):
        return [_EARLIER]
    said: list[str] = []
    was, now = old["settings"], new["settings"]
    order = list(_LABELS)  # as the Train dialog shows them, then any others
    for key in sorted(set(was) | set(now), key=lambda k: ((order + [k]).index(k), k)):
        if was.get(key) != now.get(key):
            said.append(_changed(key, was.get(key), now.get(key)))
    if old.get("pictures") != new["pictures"]:
        said.extend(_pictures_changed(old.get("pictures"), new["pictures"]))
    return said


def _changed(key: str, old: Any, new: Any) -> str:
    if key == "extra_dirs":
        return "the model folders changed"
    if key == "model":
        old, new = (Path(v).name if v else "the default" for v in (old, new))
    elif key == "template":
        old, new = (f'"{v}"' for v in (old, new))
    elif isinstance(old, bool) or isinstance(new, bool):
        old, new = ("on" if v else "off" for v in (old, new))
    label = _LABELS.get(key, key.replace("_", " "))
    verb = "were" if label.endswith("s") else "was"
    return f"{label} {verb} {old}, now {new}"


def _pictures_changed(old: Any, new: list[list[str]]) -> list[str]:
    try:
        was = {name: (caption, digest) for name, caption, digest in old}
    except (TypeError, ValueError):
        return ["the pictures changed"]
    now = {name: (caption, digest) for name, caption, digest in new}
    said = []
    if added := [n for n in now if n not in was]:
        said.append(f"{_names(added)} added")
    if removed := [n for n in was if n not in now]:
        said.append(f"{_names(removed)} removed")
    if captions := [n for n in now if n in was and now[n][0] != was[n][0]]:
        said.append(f"the caption of {_names(captions)} changed")
    if edited := [n for n in now if n in was and now[n][1] != was[n][1]]:
        said.append(f"{_names(edited)} changed")
    return said or ["the pictures changed"]


def _names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def _state(folder: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def continuation(folder: Path, settings: TrainingSettings) -> Continuation:
    """What a run of `settings` would do with the checkpoint in work folder `folder`:
    continue it, or start over and why; the same rule the run itself applies (run_key,
    differences). `settings` may leave numbers to the device's defaults and the device to
    "auto" (None), which is taken to pick the checkpoint's device again. Reads no picture
    unless there is a checkpoint, and then only the files changed since last asked."""
    state = _state(folder)
    if state is None:
        return Continuation(0)
    try:
        step = int(state.get("step", 0))
    except (TypeError, ValueError):
        return Continuation(0)
    try:
        s = settings.resolved(settings.device or str(state.get("device") or "cpu"))
        files = picture_files(Path(s.images))
        key = run_key(s, [(p, caption_for(p, s.concept, s.template)) for p in files])
    except TrainingError as e:
        return Continuation(step, (str(e),))
    except OSError:
        return Continuation(step, ("the pictures cannot be read",))
    return Continuation(step, tuple(differences(state.get("key"), key)))


def save_checkpoint(
    folder: Path, run: Any, step: int, key: dict[str, Any], losses: list[float]
) -> None:
    import torch  # torch: ~1.2 s to import, only when training runs
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(run.trainable_state(), str(folder / "weights.tmp"))
    if run.prior is not None:
        save_file({"latents": run.prior[0].cpu().contiguous()}, str(folder / "prior.tmp"))
        (folder / "prior.tmp").replace(folder / "prior.safetensors")
    torch.save(run.optimizer.state_dict(), folder / "optimizer.tmp")
    # The device: what the settings' defaults were resolved for (see continuation).
    state = {"step": step, "key": key, "device": run.policy.device, "losses": losses[-200:]}
    (folder / "state.tmp").write_text(json.dumps(state), encoding="utf-8")
    # state.json goes last: it is what says the other two are complete.
    (folder / "weights.tmp").replace(folder / "weights.safetensors")
    (folder / "optimizer.tmp").replace(folder / "optimizer.pt")
    (folder / "state.tmp").replace(folder / "state.json")


def _matching_state(folder: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    state = _state(folder)
    if state is None or differences(state.get("key"), key):
        return None
    return state


def saved_prior(folder: Path, key: dict[str, Any]) -> Any | None:
    """The prior pictures' latents a checkpoint of this run key holds, or None."""
    from safetensors.torch import load_file  # imports torch: only when training runs

    if _matching_state(folder, key) is None:
        return None
    try:
        return load_file(str(folder / "prior.safetensors"))["latents"]
    except (OSError, ValueError, KeyError):
        return None


def load_checkpoint(folder: Path, run: Any, key: dict[str, Any]) -> tuple[int, list[float]]:
    import torch  # torch: ~1.2 s to import, only when training runs
    from safetensors.torch import load_file

    state = _state(folder)
    if state is None:
        return 0, []
    if changed := differences(state.get("key"), key):
        log.info(
            "checkpoint in %s is not continued (%s); starting over", folder, "; ".join(changed)
        )
        return 0, []
    run.load_trainable_state(load_file(str(folder / "weights.safetensors")))
    run.optimizer.load_state_dict(
        torch.load(folder / "optimizer.pt", map_location=run.device, weights_only=True)
    )
    return int(state["step"]), [float(v) for v in state.get("losses", [])]
