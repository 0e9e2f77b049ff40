"""The window with ComfyUI servers: the model picker lists what the server offers, and the
Generate panel shows each server's state from background checks (real servers, real Qt).

This module runs after test_comfy_servers.py, whose last test kills the second server.
The state test starts from that (killing it itself when it runs alone), restarts it and
kills it again, so the session pays for one restart.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from editor.ui.main_window import MainWindow
from editor.ui.servers.status import ASKING, UNREACHABLE
from engine.comfy.server import ComfyServer
from engine.comfy.workflow import WorkflowPlan, build_workflow
from engine.core.errors import Cancelled
from engine.request import GenerationRequest
from tests.comfy.extras import write_test_lora
from tests.comfy.servers import CHECKPOINT, ComfyProcess, free_port
from tests.comfy.servers import window_settings as _settings

pytestmark = pytest.mark.timeout(900)


def _combo(win: MainWindow) -> list[str]:
    return win.servers.model_names()


def test_the_model_and_lora_lists_are_the_servers_fetched_off_the_ui_thread(
    qtbot,
    tmp_path: Path,
    comfy_servers: list[ComfyProcess],
    comfy_checkpoint: Path,
    open_window,
) -> None:
    url = comfy_servers[0].url
    write_test_lora(
        comfy_checkpoint, comfy_servers[0].base / "models" / "loras" / "win-lora.safetensors"
    )
    win = open_window(_settings(tmp_path, [url]))
    win.refresh_models()  # also queued by the window; this call must not wait for the net
    # Nothing from the server can be in the picker before the event loop runs: the
    # question went to the health thread, and the picker says it is asking.
    assert _combo(win) == [ASKING] and not win.generation_panel.model_combo.isEnabled()
    qtbot.waitUntil(lambda: _combo(win) == [CHECKPOINT], timeout=30000)
    panel = win.generation_panel
    assert panel.model_combo.isEnabled() and panel.model() == CHECKPOINT
    assert panel.settings().model == CHECKPOINT
    assert not panel.browse_button.isEnabled()  # a local model folder means nothing there
    assert win.servers.texts() == [f"{url.split('://')[1]}: online"]
    # The LoRA list is the server's too (a local LoRA would mean nothing there).
    loras = panel.lora_panel
    assert "win-lora" in [loras.combo.itemData(i) for i in range(loras.combo.count())]
    loras.add("win-lora", 0.7)
    assert panel.settings().loras == (("win-lora", 0.7),)


def test_an_unreachable_server_says_so_in_the_picker_and_the_state(
    qtbot, tmp_path: Path, open_window
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    win = open_window(_settings(tmp_path, [url]))
    qtbot.waitUntil(lambda: _combo(win) == [UNREACHABLE], timeout=15000)
    combo = win.generation_panel.model_combo
    assert not combo.isEnabled() and win.generation_panel.model() == ""
    assert combo.toolTip() == f"Could not reach the ComfyUI server at {url} (connection refused)."
    assert win.servers.texts() == [f"{url.split('://')[1]}: offline"]
    # Servers off again: the local list comes back and the server's state line goes.
    win.settings.qsettings.setValue("servers/enabled", False)
    win.refresh_models()
    assert combo.isEnabled() and UNREACHABLE not in _combo(win)
    assert win.generation_panel.browse_button.isEnabled()
    assert win.generation_panel.lora_panel.remote is None  # local LoRAs again
    assert not win.servers.widget.isVisible()


def test_server_states_follow_a_server_that_dies_and_comes_back_and_show_its_queue(
    qtbot, tmp_path: Path, comfy_servers: list[ComfyProcess], open_window
) -> None:
    a, b = comfy_servers
    if b.alive:  # alone (not after the kill test): kill it here, the restart is the point
        b.kill()
    host_a, host_b = (s.url.split("://")[1] for s in (a, b))
    win = open_window(_settings(tmp_path, [a.url, b.url]))
    qtbot.waitUntil(
        lambda: win.servers.texts() == [f"{host_a}: online", f"{host_b}: offline"], timeout=20000
    )
    assert _combo(win) == [CHECKPOINT]  # the server that answers still offers its models
    b.start()
    b.wait()
    # Reconnected by the background checks alone: nothing in the window asked.
    qtbot.waitUntil(lambda: win.servers.texts()[1] == f"{host_b}: online", timeout=30000)

    # A long job on a: its state turns busy with the queue length, then online again.
    stop = threading.Event()
    graph = build_workflow(
        GenerationRequest("txt2img", prompt="x", steps=200, width=128, height=128, seed=1),
        WorkflowPlan(CHECKPOINT, 128, 128, "euler", "normal"),
    )
    runner = threading.Thread(target=_run_until_cancelled, args=(a.url, graph, stop))
    runner.start()
    try:
        qtbot.waitUntil(
            lambda: win.servers.texts()[0] == f"{host_a}: busy (queue 1)", timeout=30000
        )
    finally:
        stop.set()
        runner.join(60)
    qtbot.waitUntil(lambda: win.servers.texts()[0] == f"{host_a}: online", timeout=30000)

    b.kill()
    # The bound: one check interval (0.5 s here) plus the connection timeout (3 s).
    qtbot.waitUntil(lambda: win.servers.texts()[1] == f"{host_b}: offline", timeout=10000)
    assert win.servers.texts()[0] == f"{host_a}: online"


def _run_until_cancelled(url: str, graph: dict, stop: threading.Event) -> None:
    try:
        ComfyServer(url).run(graph, cancel=stop.is_set)
    except Cancelled:
        pass
