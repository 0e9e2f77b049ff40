"""An editor session with the network cut off, reporting what tried to reach it.

Run by tests/reliability/test_privacy.py in a fresh interpreter (so no offline switch
set by the test suite, and no module imported before the guard, can hide a connection):

    python -m tests.reliability.privacy_child MODEL_DIR WORK_DIR

Every socket connect/DNS lookup that is not a local (AF_UNIX) socket is recorded and
refused. All log records at DEBUG level are kept. The session opens an image, paints,
generates on the given model (one good job, one job whose UNet raises, one with a
missing model), accepts a result, saves a project, exports a PNG and reopens it. A JSON
report goes to stdout as the last line.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

ATTEMPTS: list[str] = []


def _guard() -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        ATTEMPTS.append(f"connect {address!r}")
        raise OSError("network blocked by the privacy test")

    def connect_ex(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect_ex(self, address)
        ATTEMPTS.append(f"connect_ex {address!r}")
        return 111

    def getaddrinfo(host, *args, **kwargs):
        ATTEMPTS.append(f"getaddrinfo {host!r}")
        raise socket.gaierror("network blocked by the privacy test")

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = lambda host: getaddrinfo(host)


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def main(model: Path, work: Path) -> None:
    _guard()
    keep = Keep()
    keep.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG, handlers=[keep])

    import numpy as np
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from editor.ui.application import create_application
    from editor.ui.main_window import MainWindow

    app = create_application()
    win = MainWindow()
    win.ask_save_changes = lambda: "discard"
    win.show()
    win.enable_recovery()
    picture = work / "in.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(picture)
    assert win.open_path(picture)
    win.document.set_mask(np.pad(np.full((20, 20), 255, np.uint8), 22))
    panel = win.generation_panel
    panel.set_model(str(model))
    panel.prompt_edit.setPlainText("a blue square")
    panel.steps_spin.setValue(4)
    panel.scheduler_combo.setCurrentText("DDIM")

    ends: dict[int, str] = {}

    def run() -> str:
        job = win.generate()
        client = win.generation.client
        for signal, name in ((client.finished, "finished"), (client.failed, "failed")):
            signal.connect(lambda j, *_a, n=name: ends.setdefault(j, n))
        client.cancelled.connect(lambda j: ends.setdefault(j, "cancelled"))
        deadline = time.monotonic() + 300
        while job not in ends and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        return ends.get(job, "timeout")

    outcomes = [run()]
    unet = win.generation.client._thread.engine._base.unet

    def explode(*_args, **_kwargs) -> None:
        raise RuntimeError("injected fault")

    handle = unet.register_forward_pre_hook(explode, with_kwargs=True)
    outcomes.append(run())
    handle.remove()
    panel.set_model(str(work / "no-such-model"))
    outcomes.append(run())
    panel.set_model(str(model))
    outcomes.append(run())
    accepted = win.accept_candidate() is not None
    win.save(work / "project.ora")
    win.export_png(work / "out.png")
    reopened = win.open_path(work / "out.png")
    QApplication.processEvents()
    win.close()
    print(
        json.dumps(
            {
                "attempts": ATTEMPTS,
                "outcomes": outcomes,
                "accepted": accepted,
                "reopened": reopened,
                "records": keep.records,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
