"""Kill -9 during saves: the project file is always a complete old or new version.

A forked child saves two versions of a project in turn, forever; the parent kills it with
SIGKILL at a random moment, then opens the file. Forking (rather than starting a new
interpreter) makes each round cost milliseconds, so the suite runs the issue's 100 rounds.
OVERPAINT_SAVE_KILLS overrides the count for a longer run.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from editor.io.atomic import backup_path
from editor.io.errors import FileError
from editor.io.project import load_ora, save_ora
from editor.model.document import Document

ROUNDS = int(os.environ.get("OVERPAINT_SAVE_KILLS", "100"))


def version(name: str, seed: int) -> Document:
    rng = np.random.default_rng(seed)
    doc = Document(128, 128)
    for i in range(3):
        doc.add_layer(f"{name}{i}", rgba=rng.integers(0, 256, (128, 128, 4), np.uint8))
    return doc


def _save_forever(path: Path, docs: list[Document]) -> None:
    try:
        n = 0
        while True:
            save_ora(docs[n % 2], path)
            n += 1
    finally:
        os._exit(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_during_save_never_leaves_a_broken_file(tmp_path: Path) -> None:
    docs = [version("A", 1), version("B", 2)]
    expected = {doc.layers[0].name[0]: doc.composite_array() for doc in docs}
    path = tmp_path / "project.ora"
    save_ora(docs[0], path)
    seconds = time.perf_counter()
    save_ora(docs[1], path)
    save_time = time.perf_counter() - seconds
    rng = random.Random(1234)
    corrupt, seen = 0, set()
    for round_ in range(ROUNDS):
        pid = os.fork()
        if pid == 0:  # child: never returns into pytest
            sys.stdout.flush()
            _save_forever(path, docs)
        time.sleep(rng.uniform(0.0, 2 * save_time))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        # The backup is made by a link/rename too; checking it every 10th round is enough.
        for candidate in (path, backup_path(path)) if round_ % 10 == 0 else (path,):
            try:
                doc = load_ora(candidate)
            except FileError:
                corrupt += 1
                continue
            which = doc.layers[0].name[0]
            seen.add(which)
            if not np.array_equal(doc.composite_array(), expected[which]):
                corrupt += 1
    print(f"{ROUNDS} kills, save takes {save_time * 1000:.0f} ms, corrupt: {corrupt}")
    assert corrupt == 0
    assert seen == {"A", "B"}  # kills landed at different points of the save cycle
