"""A separate process that records N entries into a history file (concurrent-writer test).

Usage: python -m tests.history.writer_process DB TAG N GO_FILE — waits for GO_FILE to
appear so two writers start together (it prints "ready" first, once it is waiting), then
prints how many records landed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from engine.history.store import HistoryStore
from engine.request import GenerationRequest


def main() -> None:
    db, tag, n, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = HistoryStore(db)
    pixels = np.full((64, 64, 4), 200, np.uint8)
    print("ready", flush=True)  # imported and open: the test starts both writers at once
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    landed = 0
    for i in range(n):
        request = GenerationRequest(mode="txt2img", prompt=f"{tag} picture number {i}", seed=i)
        if store.record(request, pixels) is not None:
            landed += 1
    warning = store.take_warning()
    store.close()
    print(landed, warning or "")


if __name__ == "__main__":
    main()
