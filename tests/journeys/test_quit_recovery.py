"""Journey: quit with unsaved changes, answer Discard, start again: no recovery question.
After a kill, the next start does ask.

Found by walking the window: after the 60 s autosave had written, Ctrl+Q and Discard
left the recovery files behind (their removal was queued for an event loop that had
already ended), so every next start claimed a crash. A recovery question must mean a
crash, or users learn to ignore it. Each run is the real editor (`run_gui`) in its own
process, with this test's data and settings folders (tests/journeys/quit_child.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from editor.recovery import recovery_dir

ROOT = Path(__file__).resolve().parents[2]


def start(mode: str) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.journeys.quit_child", mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def lines_until(proc: subprocess.Popen, last: str, timeout: float = 60) -> list[str]:
    """The child's output lines up to the one starting with `last` (or its end)."""
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith(last):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        proc.kill()
        pytest.fail(f"the editor did not print {last} in time; it printed {lines}")
    return lines


def run(mode: str) -> list[str]:
    proc = start(mode)
    lines = lines_until(proc, "CLOSED")
    assert proc.wait(30) == 0, lines
    return lines


def offered(lines: list[str]) -> list[str]:
    return [line.split()[1] for line in lines if line.startswith("OFFERED")]


def test_quit_and_discard_leaves_no_recovery_and_the_next_start_asks_nothing() -> None:
    lines = run("quit")
    autosaved = next(line for line in lines if line.startswith("AUTOSAVED")).split()[1:]
    assert any(name.endswith(".ora") for name in autosaved)  # the autosave had written
    assert lines[-1] == "CLOSED 0"
    assert list(recovery_dir().iterdir()) == []

    assert offered(run("start")) == []


def test_after_a_kill_the_next_start_offers_the_autosaved_work() -> None:
    crashed = start("crash")
    try:
        lines = lines_until(crashed, "READY")
        assert lines[-1] == "READY", lines
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait()
    autosaved = next(line for line in lines if line.startswith("AUTOSAVED")).split()[1:]
    session = Path(next(name for name in autosaved if name.endswith(".ora"))).stem

    assert offered(run("start")) == [session]
