"""A virtual X screen for tests that look at the real window, and the rule for tests
that need system programs (Xvfb, Krita, ...): skip without them, fail under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.ci import skip_or_fail


def require(*tools: str) -> None:
    """Skip the test when a program it needs is missing; under CI, fail it instead, so
    that a CI machine without them cannot pass by skipping."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        skip_or_fail(f"missing {missing} (packaging/install-system-deps.sh installs them)")


@contextmanager
def virtual_display(width: int = 1280, height: int = 900) -> Iterator[str]:
    """Start Xvfb on a free display number and yield the DISPLAY value."""
    require("Xvfb")
    for number in range(40 + os.getpid() % 50, 200):
        if not Path(f"/tmp/.X{number}-lock").exists():
            break
    else:
        raise RuntimeError("no free X display number between 40 and 199")
    socket = Path(f"/tmp/.X11-unix/X{number}")
    # -noreset: by default Xvfb resets when its last client leaves, and a client that
    # connects during the reset (the app, while xdotool polls) is refused.
    proc = subprocess.Popen(
        [
            "Xvfb",
            f":{number}",
            "-noreset",
            "-nolisten",
            "tcp",
            "-screen",
            "0",
            f"{width}x{height}x24",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb did not start on :{number}")
            time.sleep(0.05)
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def screenshot(display: str, out: Path) -> Path:
    require("import")
    subprocess.run(
        ["import", "-display", display, "-window", "root", str(out)],
        check=True,
        timeout=30,
    )
    return out


def wait_for_window(display: str, name: str, timeout: float = 60.0) -> str:
    """Return the X window id of a visible window whose title contains `name`."""
    require("xdotool")
    deadline = time.monotonic() + timeout
    env = {**os.environ, "DISPLAY": display}
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", name],
            capture_output=True,
            text=True,
            env=env,
        )
        ids = result.stdout.split()
        if ids:
            return ids[-1]
        time.sleep(0.25)
    raise TimeoutError(f"no window named {name!r} appeared within {timeout} s")
