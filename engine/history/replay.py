"""Replaying a history entry: its request with the input pictures it ran on.

`recorded_job` gives what `overpaint history rerun` and the window's Regenerate / Add as
layer submit; `written_pictures` what rerun writes: the result laid on the whole picture
when the history kept it (a CLI run), else on the recorded input crop (an editor job),
else the result alone (txt2img).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.core.errors import EngineError
from engine.history import pictures as pics
from engine.history.store import Entry, HistoryStore
from engine.request import GenerationInputs, GenerationRequest, GenerationResult


class MissingInputsError(EngineError):
    """The entry's input pictures are not in the history; str() is one sentence."""


@dataclass(frozen=True)
class RecordedJob:
    request: GenerationRequest
    inputs: GenerationInputs
    base: np.ndarray | None  # the whole picture a CLI run laid its results on


def recorded_job(store: HistoryStore, entry: Entry) -> RecordedJob:
    """The entry's request and inputs, exactly as first run (MissingInputsError if the
    history lacks a picture it needs)."""
    request = entry.request
    stored = store.input_pictures(entry.id)
    if stored is None:
        raise MissingInputsError(
            f"The input pictures of history entry {entry.id} could not be read "
            f"({store.take_warning() or 'the history is unavailable'})."
        )
    if not stored:
        if pics.needs_pictures(request):
            raise MissingInputsError(
                f"History entry {entry.id} ({request.mode}) was recorded without its input "
                "pictures, so it cannot be regenerated; use its parameters on the picture "
                "instead."
            )
        return RecordedJob(request, GenerationInputs(), None)
    pictures: dict[str, np.ndarray] = {}
    for role, data in sorted(stored.items()):
        try:
            if data is None:
                raise ValueError("gone")
            pictures[role] = pics.decode_picture(data)
        except (OSError, ValueError):
            raise MissingInputsError(
                f"The {pics.role_name(role)} of history entry {entry.id} is missing from the "
                "history, so it cannot be regenerated exactly."
            ) from None
    inputs, base = pics.restore_inputs(request, pictures)
    return RecordedJob(request, inputs, base)


def written_pictures(
    job: RecordedJob, results: Sequence[GenerationResult]
) -> tuple[list[GenerationResult], np.ndarray | None]:
    """The results and the picture to lay them on (engine.cli.write_results' ``base``):
    the kept whole picture, or the input crop with the results moved into its frame."""
    if job.base is not None:
        return list(results), job.base
    region, crop = job.request.region, job.inputs.image
    if crop is None or region is None:
        return list(results), None
    moved = [dataclasses.replace(r, x=r.x - region.x, y=r.y - region.y) for r in results]
    return moved, crop
