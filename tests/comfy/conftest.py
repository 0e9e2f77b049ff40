"""Session fixtures: ComfyUI built once per machine, two servers started for the session."""

from __future__ import annotations

from collections.abc import Iterator
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
