"""Session fixtures: ComfyUI built once per machine, two servers started for the session;
and windows that generate on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.comfy.servers import ComfyProcess, build_comfy, test_checkpoint


@pytest.fixture(scope="session")
def comfy_cache() -> Path:
    return build_comfy()


@pytest.fixture(scope="session")
def comfy_checkpoint(comfy_cache: Path) -> Path:
    return test_checkpoint(comfy_cache)


@pytest.fixture(scope="session")
def comfy_servers(
    comfy_cache: Path, comfy_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ComfyProcess]]:
    """Two servers (at most two: the machines here have 2 cores), stopped at the end."""
    servers = [
        ComfyProcess(comfy_cache, comfy_checkpoint, tmp_path_factory.mktemp(f"comfy{i}"))
        for i in range(2)
    ]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def open_window(qtbot, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """Opens main windows with the given Settings (health checks every 0.5 s) and closes
    them at the end, checking that their server checks stopped."""
    from editor.ui.main_window import MainWindow  # Qt: only for the window tests
    from engine.comfy import health

    monkeypatch.setattr(health, "CHECK_SECONDS", 0.5)
    windows: list[MainWindow] = []

    def make(settings: object) -> MainWindow:
        win = MainWindow(settings)
        win.resize(1100, 800)
        win.show()
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.ask_save_changes = lambda: "discard"
        win.close()
        win.deleteLater()
        assert win.servers.monitor is None, "the health checks outlived the window"
