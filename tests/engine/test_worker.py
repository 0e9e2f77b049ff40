"""EngineClient on a real QThread with the tiny model: signals, cancel, failure, reuse."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from engine.request import GenerationInputs, GenerationRequest
from engine.worker import EngineClient, cpu_threads_beside_ui


@pytest.fixture
def client(qtbot):  # pytest-qt fixture
    c = EngineClient()
    yield c
    assert c.shutdown(30000)
    assert not c._thread.isRunning()


def _request(model: Path, **changes: object) -> GenerationRequest:
    base = GenerationRequest(
        mode="txt2img",
        prompt="shapes",
        model=str(model),
        steps=3,
        width=64,
        height=64,
        seed=3,
        watermark=False,
    )
    return base.replace(**changes)


class _Recorder:
    def __init__(self, client: EngineClient) -> None:
        self.events: list[tuple] = []
        client.started.connect(lambda j: self.events.append(("started", j)))
        client.progress.connect(lambda j, s, t, p: self.events.append(("progress", j, s, t, p)))
        client.finished.connect(lambda j, r: self.events.append(("finished", j, r)))
        client.failed.connect(lambda j, m: self.events.append(("failed", j, m)))
        client.cancelled.connect(lambda j: self.events.append(("cancelled", j)))

    def of(self, job: int) -> list[tuple]:
        return [e for e in self.events if e[1] == job]


def test_job_signals_in_order_and_model_stays_loaded(
    qtbot, client: EngineClient, tiny_model_dir: Path
) -> None:
    rec = _Recorder(client)
    with qtbot.waitSignal(client.finished, timeout=60000):
        job = client.submit(_request(tiny_model_dir))
    events = rec.of(job)
    assert events[0] == ("started", job)
    steps = [e for e in events if e[0] == "progress"]
    assert [e[2] for e in steps] == [1, 2, 3] and {e[3] for e in steps} == {3}
    assert steps[0][4].shape == (64, 64, 3)
    assert events[-1][0] == "finished"
    (result,) = events[-1][2]
    assert result.rgba.shape == (64, 64, 4)
    loaded = client._thread.engine._base
    assert loaded is not None
    with qtbot.waitSignal(client.finished, timeout=60000):
        job2 = client.submit(_request(tiny_model_dir))
    assert np.array_equal(rec.of(job2)[-1][2][0].rgba, result.rgba)
    assert client._thread.engine._base is loaded  # not reloaded between jobs


def test_cancel_running_and_queued_then_next_job_succeeds(
    qtbot, client: EngineClient, tiny_model_dir: Path
) -> None:
    rec = _Recorder(client)
    # Warm up so the cancel below lands during denoising, not during loading.
    with qtbot.waitSignal(client.finished, timeout=60000):
        client.submit(_request(tiny_model_dir))
    long = _request(tiny_model_dir, steps=200)
    with qtbot.waitSignal(client.progress, timeout=60000):
        running = client.submit(long)
    queued = client.submit(long)
    with qtbot.waitSignals([client.cancelled, client.cancelled], timeout=60000):
        client.cancel()
    for job in (running, queued):
        events = rec.of(job)
        assert events[-1] == ("cancelled", job)
        assert not any(e[0] in ("finished", "failed") for e in events)
        assert len([e for e in events if e[0] == "progress"]) < 200
    assert not any(e[0] == "started" for e in rec.of(queued))
    with qtbot.waitSignal(client.finished, timeout=60000):
        nxt = client.submit(_request(tiny_model_dir))
    assert rec.of(nxt)[-1][0] == "finished"
    # Nothing arrived for the cancelled jobs after their `cancelled` signal. The worker
    # thread's signals reach us in the order it sent them, so anything it sent about the
    # cancelled jobs came before the next job's `finished`, which has arrived.
    assert rec.of(running)[-1] == ("cancelled", running)


def test_failure_is_one_sentence_and_worker_survives(
    qtbot, client: EngineClient, tiny_model_dir: Path, tmp_path: Path
) -> None:
    with qtbot.waitSignal(client.failed, timeout=60000) as blocker:
        client.submit(_request(tmp_path / "missing.safetensors"))
    message = blocker.args[1]
    assert "missing.safetensors" in message and "\n" not in message
    with qtbot.waitSignal(client.failed, timeout=60000) as blocker:
        client.submit(_request(tiny_model_dir, mode="inpaint"), GenerationInputs())
    assert "needs an input image" in blocker.args[1]
    with qtbot.waitSignal(client.finished, timeout=60000):
        client.submit(_request(tiny_model_dir))


def test_client_starts_without_importing_torch() -> None:
    """The window must not wait for torch: only the first job imports it, in the thread."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from PySide6.QtCore import QCoreApplication\n"
        "app = QCoreApplication([])\n"
        "from engine.worker import EngineClient\n"
        "client = EngineClient()\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]\n"
        "assert client.shutdown(5000)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, cwd=root, timeout=60).returncode == 0
    )


def test_engine_that_cannot_start_fails_the_job_and_the_next_one_runs(
    qtbot, client: EngineClient, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.local.engine

    real_init = engine.local.engine.Engine.__init__
    calls = []

    def broken_once(self, *args, **kwargs) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ImportError("a broken install")
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(engine.local.engine.Engine, "__init__", broken_once)
    with qtbot.waitSignal(client.failed, timeout=60000) as failed:
        client.submit(_request(tiny_model_dir))
    assert "engine error" in failed.args[1] and "log" in failed.args[1]
    assert client._thread.isRunning()
    with qtbot.waitSignal(client.finished, timeout=60000) as done:
        client.submit(_request(tiny_model_dir))
    assert done.args[1][0].rgba.shape[:2] == (64, 64)


def test_shutdown_during_a_long_step_keeps_the_thread_alive_until_it_ends(
    qtbot, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import threading

    import engine.local.engine
    from engine.worker import engine_threads_running

    release = threading.Event()
    real_run = engine.local.engine.Engine.run

    def slow_step(self, *args, **kwargs):
        release.wait(30)  # a step that does not look at cancel, like one big UNet call
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(engine.local.engine.Engine, "run", slow_step)
    client = EngineClient()
    with qtbot.waitSignal(client.started, timeout=60000):
        client.submit(_request(tiny_model_dir))
    assert client.shutdown(200) is False
    thread = client._thread
    del client
    gc.collect()  # without the module-level reference this would destroy a running QThread
    assert engine_threads_running()
    release.set()
    assert thread.wait(30000)
    assert not engine_threads_running()


@pytest.mark.parametrize(
    ("requested", "torch_default", "cpus", "expected"),
    [
        (0, 2, 2, 1),  # 2 cores: one for the window, one for the job
        (0, 4, 8, 4),  # hyper-threads: torch's physical-core default already leaves room
        (0, 8, 8, 7),
        (0, 1, 1, 1),  # never zero
        (0, 2, None, 1),  # CPU count unknown: judged from torch's default
        (3, 2, 2, 3),  # the user's setting wins
    ],
)
def test_cpu_threads_leave_a_cpu_to_the_window(requested, torch_default, cpus, expected) -> None:
    assert cpu_threads_beside_ui(requested, torch_default, cpus) == expected


def test_the_cpu_thread_setting_reaches_torch_for_the_next_job(
    qtbot, client: EngineClient, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The engine thread reads the count back from torch after setting it and logs it.
    caplog.set_level(logging.INFO, logger="engine.worker")
    for threads in (3, 1):  # 3: no other test sets it, so the first one always changes it
        client.cpu_threads = threads
        with qtbot.waitSignal(client.finished, timeout=60000):
            client.submit(_request(tiny_model_dir, steps=1))
        assert f"CPU jobs now use {threads} torch thread(s)" in caplog.messages


def test_models_folder_set_after_start_reaches_the_next_job(
    qtbot, client: EngineClient, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Settings > Models folders changed while the engine runs: the next job looks there."""
    import shutil

    folder = tmp_path / "more-models"
    shutil.copytree(tiny_model_dir, folder / "late-tiny")
    rec = _Recorder(client)
    with qtbot.waitSignal(client.failed, timeout=60000):
        missing = client.submit(_request(Path("late-tiny")))
    assert "late-tiny" in rec.of(missing)[-1][2]
    client.extra_dirs = (folder,)
    with qtbot.waitSignal(client.finished, timeout=60000):
        found = client.submit(_request(Path("late-tiny")))
    (result,) = rec.of(found)[-1][2]
    assert result.rgba.shape == (64, 64, 4)
    assert "late-tiny" in result.parameters
