"""Journey 18 (kept beside the ComfyUI fixtures): generate on a local ComfyUI server, stop
the server mid-job, and watch its state turn offline and the job fail with one plain
sentence.

Found walking the window under Xvfb: the failure read "The job stopped with 1 of 1
sample(s) undone because no ComfyUI server is left (http://…: The ComfyUI server at
http://… went away during the job (WebSocketConnectionClosedException))."
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.comfy.servers import CHECKPOINT, ComfyProcess
from tests.comfy.servers import window_settings as _settings

pytestmark = pytest.mark.timeout(600)


def test_a_server_stopped_mid_job_turns_offline_and_the_job_says_so_plainly(
    qtbot,
    tmp_path: Path,
    comfy_cache: Path,
    comfy_checkpoint: Path,
    open_window,
) -> None:
    server = ComfyProcess(comfy_cache, comfy_checkpoint, tmp_path / "comfy").start().wait()
    try:
        win = open_window(_settings(tmp_path, [server.url]))
        host = server.url.split("://")[1]
        qtbot.waitUntil(lambda: win.servers.model_names() == [CHECKPOINT], timeout=30000)
        assert win.servers.texts() == [f"{host}: online"]
        panel = win.generation_panel
        panel.prompt_edit.setPlainText("a red apple")
        panel.steps_spin.setValue(200)  # still running when the server stops
        win.actions.generate.trigger()
        qtbot.waitUntil(lambda: win.servers.texts() == [f"{host}: busy (queue 1)"], timeout=30000)
        server.stop()
        qtbot.waitUntil(lambda: bool(getattr(win, "last_error", "")), timeout=30000)
        qtbot.waitUntil(lambda: win.servers.texts() == [f"{host}: offline"], timeout=10000)
    finally:
        server.stop()
    assert win.last_error == (
        f"The job stopped: the ComfyUI server at {server.url} went away during the job "
        "(the connection closed)."
    )
