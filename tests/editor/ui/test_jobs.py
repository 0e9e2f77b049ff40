"""The window's one job coordinator (editor.ui.jobs): every kind of job runs where the
Settings say, from the first job on and after every change, whoever submits it.

Settings are changed through the real Settings dialog (its accept writes them, the
window pushes them); a server on a free port answers nothing, so a job that ran there
fails with its "Could not reach" sentence: that is how the test tells where it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt

from editor.ui.jobs import JobKind
from tests.comfy.servers import free_port

WAIT_MS = 120_000


def change_settings(window, monkeypatch: pytest.MonkeyPatch, edit: Callable) -> None:
    """Settings ▸ change what `edit(dialog)` changes ▸ OK, as the user would."""
    from editor.ui.dialogs import SettingsDialog

    def answer(dialog: SettingsDialog) -> bool:
        edit(dialog)
        dialog.accept()
        return True

    monkeypatch.setattr(SettingsDialog, "exec", answer)
    window.show_settings()


def add_server(url: str) -> Callable:
    def edit(dialog) -> None:
        page = dialog.servers_page
        page.url_edit.setText(url)
        page._add()
        page.enabled_check.setChecked(True)

    return edit


def servers_off(dialog) -> None:
    dialog.servers_page.enabled_check.setChecked(False)


def record_jobs(window) -> list[tuple]:
    """(kind, servers, CPU threads) of each job, as the client holds them when queued."""
    jobs: list[tuple] = []
    window.jobs.submitted.connect(
        lambda _id, kind, servers: jobs.append((kind, servers, window.jobs.client.cpu_threads))
    )
    return jobs


def test_live_runs_on_the_servers_settings_name_before_any_generate(
    window, qtbot, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    jobs = record_jobs(window)
    change_settings(window, monkeypatch, add_server(url))
    window.new_document(96, 96, fill=(40, 60, 200, 255))
    live = window.live
    with qtbot.waitSignal(live.error, timeout=WAIT_MS) as failed:
        live.actions[0].trigger()  # the Live action (Ctrl+L); nothing was generated
    assert failed.args[0] == f"Could not reach the ComfyUI server at {url} (connection refused)."
    assert jobs[0] == (JobKind.LIVE, ((url, ""),), 0)
    assert {kind for kind, _servers, _threads in jobs} == {JobKind.LIVE}
    live.set_enabled(False)

    # Servers off in Settings: the next Live job runs in this process, still without a
    # Generate in between.
    change_settings(window, monkeypatch, servers_off)
    window.generation_panel.set_settings(
        {"model": str(tiny_model_dir), "prompt": "a red boat", "seed": 5, "guidance": 1.0}
    )
    live.panel.steps_spin.setValue(2)
    count = len(jobs)
    with qtbot.waitSignal(live.result_shown, timeout=WAIT_MS):
        live.set_enabled(True)
    assert jobs[count] == (JobKind.LIVE, (), 0)
    assert live.result is not None
    live.set_enabled(False)


def test_a_settings_change_reaches_the_next_job_of_every_kind(
    window, qtbot, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    from editor.ui.train.dialog import TrainDialog

    jobs = record_jobs(window)
    window.new_document(96, 96, fill=(40, 60, 200, 255))
    panel = window.generation_panel
    panel.set_settings(
        {"model": str(tiny_model_dir), "prompt": "a red boat", "steps": 2, "guidance": 1.0}
    )
    with qtbot.waitSignal(window.generation.results_ready, timeout=WAIT_MS):
        window.generate()
    assert jobs == [(JobKind.GENERATE, (), 0)]  # Settings as they were: automatic threads

    change_settings(window, monkeypatch, lambda dialog: dialog.threads_spin.setValue(1))
    window.generation.candidates.clear()
    with qtbot.waitSignal(window.generation.results_ready, timeout=WAIT_MS):
        window.generate()
    window.generation.candidates.clear()
    window.document.select_rect(QRect(20, 20, 30, 30))
    panel.set_settings({"mode": "fill"})
    with qtbot.waitSignal(window.generation.results_ready, timeout=WAIT_MS):
        window.generate()
    window.generation.candidates.clear()
    window.document.select_none()

    qtbot.keyClick(window.canvas, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.AltModifier)  # Image ▸ Upscale…  # fmt: skip
    dialog = window.upscale.dialog
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)

    panel.set_settings({"mode": "auto"})
    window.live.panel.steps_spin.setValue(2)
    with qtbot.waitSignal(window.live.result_shown, timeout=WAIT_MS):
        window.live.set_enabled(True)
    window.live.set_enabled(False)
    assert jobs[1:] == [
        (JobKind.GENERATE, (), 1),
        (JobKind.FILL, (), 1),
        (JobKind.UPSCALE, (), 1),
        (JobKind.LIVE, (), 1),
    ]

    # Training runs on its own thread, on the threads and model folders Settings name at
    # Train (it opens no engine job here: nothing it could borrow is loaded by that name).
    window.actions.train_lora.trigger()
    train = window.findChild(TrainDialog, "trainDialog")
    settings = window.jobs.training_settings(train.settings())
    assert settings.threads == 1
    assert settings.extra_dirs == tuple(window.settings.model_dirs)
    assert settings.precision == window.settings.precision
    train.close()
