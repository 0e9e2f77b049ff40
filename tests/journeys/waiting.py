"""Waiting on the window's jobs, as the journeys do it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WAIT_MS = 120_000  # a job on the demo model under a loaded CI machine, model load included


def next_result(qtbot: Any, window: Any, start: Callable[[], object], timeout: int = WAIT_MS):
    """Start a job with `start` (a key, the Generate action, a dock's Regenerate) and wait
    for its candidate; that candidate's result."""
    before = window.candidates.count()
    start()
    qtbot.waitUntil(lambda: window.candidates.count() == before + 1, timeout=timeout)
    return window.candidates.candidates()[-1].result
