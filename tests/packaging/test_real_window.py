"""Launch `overpaint IMAGE` as a real process on a virtual screen and look at it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.packaging.xvfb import screenshot, virtual_display, wait_for_window


def _count(shot: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(np.abs(shot.astype(int) - colour) <= 6, axis=-1).sum())


def test_window_shows_the_opened_image(tmp_path: Path) -> None:
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:, :160] = (255, 0, 255)  # magenta half
    picture[:, 160:] = (0, 200, 0)  # green half
    image_path = tmp_path / "two-halves.png"
    Image.fromarray(picture).save(image_path)

    with virtual_display() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        app = subprocess.Popen(
            [sys.executable, "-m", "editor.app", str(image_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            try:
                wait_for_window(display, "two-halves.png")
            except TimeoutError:
                app.kill()
                raise AssertionError(app.communicate(timeout=20)[0]) from None
            # The first paint lands some time after the window maps: look until both
            # halves are on screen, or give up after a deadline.
            deadline = time.monotonic() + 30
            while True:
                shot = np.asarray(
                    Image.open(screenshot(display, tmp_path / "shot.png")).convert("RGB")
                )
                magenta, green = _count(shot, (255, 0, 255)), _count(shot, (0, 200, 0))
                if (magenta > 2000 and green > 2000) or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
        finally:
            app.terminate()
            output = app.communicate(timeout=20)[0]
        # Still running when we asked it to quit, and it quit on SIGTERM (no crash).
        assert app.returncode in (0, -15), output

    # At any zoom the canvas shows both halves of the picture as large blocks.
    assert magenta > 2000, f"magenta pixels on screen: {magenta}\n{output}"
    assert green > 2000, f"green pixels on screen: {green}\n{output}"
