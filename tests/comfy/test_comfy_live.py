"""Live painting with ComfyUI servers in Settings runs on the server from its first job,
before anything was generated (real server, real window)."""

from __future__ import annotations

from pathlib import Path

import pytest

from editor.ui.jobs import JobKind
from editor.ui.main_window import MainWindow
from editor.ui.settings import Settings
from tests.comfy.servers import CHECKPOINT, ComfyProcess

pytestmark = pytest.mark.timeout(900)
WAIT_MS = 300_000


def test_live_runs_on_the_server_before_any_generate(
    qtbot, tmp_path: Path, comfy_servers: list[ComfyProcess]
) -> None:
    url = comfy_servers[0].url
    settings = Settings(tmp_path / "settings" / "overpaint.ini")
    settings.qsettings.setValue("servers/urls", [url])
    settings.qsettings.setValue("servers/enabled", True)
    win = MainWindow(settings)
    win.resize(1100, 800)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.servers.model_names() == [CHECKPOINT], timeout=60_000)
        queued: list[tuple] = []
        win.jobs.submitted.connect(lambda _id, kind, servers: queued.append((kind, servers)))
        win.new_document(128, 128, fill=(40, 60, 200, 255))
        live = win.live
        live.panel.steps_spin.setValue(2)
        with qtbot.waitSignal(live.result_shown, timeout=WAIT_MS):
            live.actions[0].trigger()  # the Live action (Ctrl+L)
        assert queued[0] == (JobKind.LIVE, ((url, ""),))
        assert all(kind is JobKind.LIVE for kind, _servers in queued)  # no Generate ran
        # Only the server has this checkpoint: the result says it was made there.
        assert CHECKPOINT in live.result.parameters
        live.set_enabled(False)
    finally:
        win.ask_save_changes = lambda: "discard"
        win.close()
        win.deleteLater()
