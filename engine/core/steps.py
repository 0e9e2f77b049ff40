"""Counting a pipeline's steps for what acts on some of them (control layers, reference
pictures with a step range): diffusers tells only the step-end callback which step ended,
while the stages read the count inside the UNet's forward."""

from __future__ import annotations

from typing import Any


class StepCounter:
    """A job stage that needs the number of steps ended so far (`step`)."""

    step: int = 0

    def wrap(self, inner: Any) -> Any:
        """A step-end callback that counts steps, then calls `inner`."""

        def on_step_end(pipe: Any, step_index: int, timestep: Any, kwargs: dict) -> dict:
            self.step = step_index + 1
            return inner(pipe, step_index, timestep, kwargs)

        return on_step_end
