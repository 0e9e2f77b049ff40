"""Engine faults never take the editor down: 50 injected faults through the real worker.

A real MainWindow (offscreen) runs real jobs on the tiny diffusers model through its real
EngineClient thread. Faults are injected inside the worker thread, into the real
pipeline: a forward hook on the UNet raises at a chosen denoising step (a plain
exception, torch's OutOfMemoryError, MemoryError), or replaces the UNet's output with NaN,
infinity or huge values; the preview path raises OutOfMemoryError from the step
callback; the model folder is deleted or its weights truncated between jobs; and a cancel
lands before every step and after the last one.

After every fault: the UI thread kept running (a QTimer ticked during the job and the
window still renders), the document is bit-identical (pixels, mask, history), the
message is one readable sentence, and the next job succeeds.
"""

from __future__ import annotations

import math
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from torch.nn.modules.module import register_module_forward_hook

from tests.reliability.conftest import (
    WAIT_MS,
    close_error_boxes,
    fingerprint,
    set_job,
    small_model_copy,
)

# Fault runs per kind; the tests' fixed counts add up to 52 (the issue asks for 50).
RUNS: Counter = Counter()


class Jobs:
    """Records each job's end (finished / failed / cancelled) and UI ticks while it ran."""

    def __init__(self, win) -> None:
        self.win = win
        self.ends: dict[int, tuple[str, object]] = {}
        client = win.generation.client
        client.finished.connect(lambda j, r: self.ends.setdefault(j, ("finished", r)))
        client.failed.connect(lambda j, m: self.ends.setdefault(j, ("failed", m)))
        client.cancelled.connect(lambda j: self.ends.setdefault(j, ("cancelled", None)))
        self.ticks = 0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(1)

    def _tick(self) -> None:
        self.ticks += 1

    def run(self, qtbot) -> tuple[str, object, int]:
        ticks = self.ticks
        job = self.win.generate()
        assert job is not None, self.win.last_error
        qtbot.waitUntil(lambda: job in self.ends, timeout=WAIT_MS)
        self.win.candidates.clear()
        return (*self.ends[job], self.ticks - ticks)

    @property
    def engine(self):
        return self.win.generation.client._thread.engine


def assert_sentence(message: str) -> None:
    assert isinstance(message, str) and 10 < len(message) < 300
    assert "\n" not in message and "Traceback" not in message
    assert message[0].isupper() and message.endswith(".")


def unet_hook(jobs: Jobs, at_call: int, action, post: bool = False):
    """Run `action` on the UNet's `at_call`-th call (0-based); returns the hook handle."""
    calls = [0]
    unet = jobs.engine._base.unet

    def pre(_module, _args, _kwargs):
        calls[0] += 1
        if calls[0] - 1 == at_call:
            action()

    def after(module, _args, output):
        if type(module).__name__ != "UNet2DConditionModel":
            return output
        calls[0] += 1
        # From that call on, the model that replaces this one too: a job that gives NaN
        # in bf16 runs again in fp32, which must fail the same way here.
        return action(output) if calls[0] - 1 >= at_call else output

    if post:
        return register_module_forward_hook(after)
    return unet.register_forward_pre_hook(pre, with_kwargs=True)


def count_unet_calls(jobs: Jobs, qtbot) -> int:
    calls = [0]
    handle = jobs.engine._base.unet.register_forward_pre_hook(
        lambda *_a: calls.__setitem__(0, calls[0] + 1)
    )
    try:
        assert jobs.run(qtbot)[0] == "finished"
    finally:
        handle.remove()
    return calls[0]


def check_fault_run(jobs: Jobs, qtbot, before: tuple, expect: str, needle: str = "") -> str:
    """The run just made: UI alive, document intact, message readable, next job works."""
    win = jobs.win
    kind, payload, ticks = jobs.last
    assert kind == expect, (kind, payload)
    assert ticks > 0  # the UI thread kept handling timer events while the job ran
    assert not win.grab().isNull()
    assert fingerprint(win.document) == before
    assert win.candidates.count() == 0
    message = ""
    if kind == "failed":
        message = payload
        assert_sentence(message)
        assert win.last_error == message
        assert needle.lower() in message.lower(), message
    close_error_boxes(win)
    win.last_error = ""
    # The next job succeeds, on the same worker thread.
    thread = win.generation.client._thread
    assert jobs.run(qtbot)[0] == "finished"
    assert win.generation.client._thread is thread and thread.isRunning()
    assert fingerprint(win.document) == before
    RUNS[expect if expect != "failed" else needle or "failed"] += 1
    return message


def fault_run(jobs: Jobs, qtbot, hook_factory, expect: str, needle: str = "") -> str:
    before = fingerprint(jobs.win.document)
    handle = hook_factory()
    try:
        jobs.last = jobs.run(qtbot)
    finally:
        if handle is not None:
            handle.remove()
    return check_fault_run(jobs, qtbot, before, expect, needle)


def _raise(exc: BaseException):
    def action() -> None:
        raise exc

    return action


@pytest.fixture
def jobs(engine_window, qtbot):
    j = Jobs(engine_window)
    assert j.run(qtbot)[0] == "finished"  # warm-up: the model is loaded
    yield j
    j.timer.stop()


def test_exceptions_and_out_of_memory_at_random_steps(jobs: Jobs, qtbot) -> None:
    import torch

    calls = count_unet_calls(jobs, qtbot)
    assert calls >= 3
    rng = random.Random(2024)
    for _ in range(14):
        step = rng.randrange(calls)
        fault_run(
            jobs,
            qtbot,
            lambda s=step: unet_hook(jobs, s, _raise(RuntimeError(f"injected fault at {s}"))),
            "failed",
            "internal error (RuntimeError)",  # the library's text goes to the log only
        )
    for _ in range(6):
        step = rng.randrange(calls)
        oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        fault_run(jobs, qtbot, lambda s=step, e=oom: unet_hook(jobs, s, _raise(e)), "failed",
                  "out of memory")  # fmt: skip
    for _ in range(2):
        step = rng.randrange(calls)
        fault_run(jobs, qtbot, lambda s=step: unet_hook(jobs, s, _raise(MemoryError())), "failed",
                  "out of memory")  # fmt: skip


def test_out_of_memory_from_the_step_callback(
    jobs: Jobs, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import engine.local.engine

    real = engine.local.engine.preview_image
    for fail_at in (1, 2):
        seen = [0]

        def preview(*args, _at=fail_at, seen=seen, **kwargs):
            seen[0] += 1
            if seen[0] == _at:
                raise torch.OutOfMemoryError("CUDA out of memory (preview)")
            return real(*args, **kwargs)

        monkeypatch.setattr(engine.local.engine, "preview_image", preview)
        before = fingerprint(jobs.win.document)
        jobs.last = jobs.run(qtbot)
        monkeypatch.setattr(engine.local.engine, "preview_image", real)
        check_fault_run(jobs, qtbot, before, "failed", "out of memory")


def test_nan_inf_and_overflowing_latents_are_detected(jobs: Jobs, qtbot) -> None:
    calls = count_unet_calls(jobs, qtbot)
    rng = random.Random(7)
    poisons = [("nan", float("nan"))] * 4 + [("inf", float("inf"))] * 2 + [("huge", 1e30)] * 2

    for _name, value in poisons:
        step = rng.randrange(calls)

        def poison(output, v=value):
            sample = output[0] if isinstance(output, tuple) else output.sample
            sample = sample * 0 + v
            return (sample,) + tuple(output[1:]) if isinstance(output, tuple) else (sample,)

        message = fault_run(
            jobs, qtbot, lambda s=step, p=poison: unet_hook(jobs, s, p, post=True), "failed",
            "the model produced",
        )  # fmt: skip
        assert "float32" in message


def test_model_deleted_or_truncated_between_jobs(
    jobs: Jobs, qtbot, small_model: Path, tmp_path: Path
) -> None:
    win = jobs.win
    for round_ in range(3):
        victim = small_model_copy(small_model, tmp_path / f"victim{round_}")
        set_job(win, victim)
        assert jobs.run(qtbot)[0] == "finished"  # loaded from the copy
        shutil.rmtree(victim)
        before = fingerprint(win.document)
        jobs.last = jobs.run(qtbot)
        set_job(win, small_model)
        check_fault_run(jobs, qtbot, before, "failed", "victim")

    for round_ in range(3):
        broken = small_model_copy(small_model, tmp_path / f"broken{round_}")
        weights = next((broken / "unet").glob("*.safetensors"))
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // (2 + round_)])
        set_job(win, broken)
        before = fingerprint(win.document)
        jobs.last = jobs.run(qtbot)
        set_job(win, small_model)
        message = check_fault_run(jobs, qtbot, before, "failed", "")
        assert "broken" in message or "model" in message.lower(), message


def test_cancel_before_every_step_and_after_the_last(jobs: Jobs, qtbot) -> None:
    calls = count_unet_calls(jobs, qtbot)
    client = jobs.win.generation.client
    for seed in (11, 12, 13):
        set_job(jobs.win, Path(jobs.win.generation_panel.settings().model), seed=seed)
        for step in range(calls):
            fault_run(jobs, qtbot, lambda s=step: unet_hook(jobs, s, client.cancel), "cancelled")
        # After the last step, while the VAE decodes: the result is still discarded.
        decoder = jobs.engine._base.vae.decoder
        fault_run(
            jobs, qtbot, lambda d=decoder: d.register_forward_pre_hook(lambda *_a: client.cancel()),
            "cancelled",
        )  # fmt: skip


@pytest.mark.parametrize(("steps", "strength"), [(1, 0.75), (2, 0.4), (9, 0.1)])
def test_too_few_steps_for_the_strength_is_refused_up_front(steps: int, strength: float) -> None:
    """int(steps * strength) == 0 used to crash inside the UNet with a reshape error."""
    from engine.base import validate_request
    from engine.core.errors import InvalidRequestError
    from engine.request import GenerationRequest

    request = GenerationRequest(mode="img2img", steps=steps, strength=strength)
    with pytest.raises(InvalidRequestError) as info:
        validate_request(request)
    assert_sentence(str(info.value))
    assert f"{steps} step(s)" in str(info.value)
    validate_request(request.replace(steps=math.ceil(1 / strength)))  # the advice works


def test_a_base_exception_in_a_job_does_not_kill_the_worker(jobs: Jobs, qtbot) -> None:
    """A library calling sys.exit() (or raising another BaseException) inside a job."""
    for exc in (SystemExit(3), GeneratorExit()):
        fault_run(jobs, qtbot, lambda e=exc: unet_hook(jobs, 0, _raise(e)), "failed", "unexpected")
