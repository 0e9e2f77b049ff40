from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.history.store import HistoryStore
from engine.request import GenerationRequest


def request(prompt: str, **changes: object) -> GenerationRequest:
    return GenerationRequest(mode="txt2img", prompt=prompt).replace(**changes)


def picture(colour: tuple[int, int, int] = (200, 40, 30), size: int = 96) -> np.ndarray:
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = 255
    return rgba


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(tmp_path / "history.sqlite3")
    yield s
    s.close()


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` unwritable: its mode, and for root (whom modes do not stop) the
    immutable attribute. Skips the test where neither works."""
    os.chmod(folder, 0o555)
    immutable = False
    try:
        if _writable(folder):
            immutable = (
                subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
            )
            if not immutable or _writable(folder):
                pytest.skip("cannot make a folder read-only here")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        os.chmod(folder, 0o755)
