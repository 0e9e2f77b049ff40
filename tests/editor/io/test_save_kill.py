"""Kill -9 during saves: the project file is always a complete old or new version, and
the temporary files killed saves leave go away with the next save, open or autosave.

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

from editor.io.errors import FileError
from editor.io.project import load_ora, save_ora
from editor.model.document import Document
from engine.core.atomic_write import atomic_write, backup_path

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
    left = _temporaries(path)
    print(f"{ROUNDS} kills, save takes {save_time * 1000:.0f} ms, corrupt: {corrupt}")
    assert corrupt == 0
    assert seen == {"A", "B"}  # kills landed at different points of the save cycle
    # Each save sweeps the litter of the killed ones before it: at most the last killed
    # save's temporary (and its backup staging link) can be left.
    assert len(left) <= 2, left


def _temporaries(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*"))


def _kill_until_litter(path: Path, docs: list[Document], save_time: float, rng: random.Random):
    for _ in range(60):
        pid = os.fork()
        if pid == 0:
            sys.stdout.flush()
            _save_forever(path, docs)
        time.sleep(rng.uniform(0.2 * save_time, 3 * save_time))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if litter := _temporaries(path):
            return litter
    pytest.fail("no kill landed inside a save")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_next_save_open_or_autosave_removes_what_killed_saves_left(tmp_path: Path) -> None:
    from editor.model.snapshot import snapshot
    from editor.recovery import RecoveryStore, write_recovery

    docs = [version("A", 1), version("B", 2)]
    path = tmp_path / "project.ora"
    save_ora(docs[0], path)
    seconds = time.perf_counter()
    save_ora(docs[1], path)
    save_time = time.perf_counter() - seconds
    session = RecoveryStore(tmp_path / "recovery").new_session()
    operations = {
        "save": lambda: save_ora(docs[0], path),
        "open": lambda: load_ora(path),
        "autosave": lambda: write_recovery(snapshot(docs[1]), session, path, path.name),
    }
    rng = random.Random(99)
    try:
        for name, operation in operations.items():
            _kill_until_litter(path, docs, save_time, rng)
            operation()
            assert _temporaries(path) == [], name
    finally:
        session.release()
    assert {p.name for p in tmp_path.iterdir()} == {"project.ora", "project.ora.bak", "recovery"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_running_save_keeps_its_temporary_while_others_sweep(tmp_path: Path) -> None:
    """Another process saves, opens and autosaves the same project while a save is half
    written: the half-written temporary survives, and that save then completes."""
    from editor.model.snapshot import snapshot
    from editor.recovery import RecoveryStore, write_recovery

    docs = [version("A", 1), version("B", 2)]
    path, source = tmp_path / "project.ora", tmp_path / "b.ora"
    save_ora(docs[0], path)
    save_ora(docs[1], source, keep_backup=False)
    data = source.read_bytes()
    started_r, started_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a save that stops halfway until told to go on
        code = 1
        try:
            with atomic_write(path, keep_backup=True) as tmp, open(tmp, "wb") as fh:
                fh.write(data[: len(data) // 2])
                fh.flush()
                os.write(started_w, b"1")
                os.read(go_r, 1)
                fh.write(data[len(data) // 2 :])
            code = 0
        finally:
            os._exit(code)
    session = RecoveryStore(tmp_path / "recovery").new_session()
    try:
        assert os.read(started_r, 1) == b"1"
        (running,) = _temporaries(path)
        save_ora(docs[0], path)
        assert load_ora(path).layers[0].name == "A0"
        write_recovery(snapshot(docs[0]), session, path, path.name)
        assert running.is_file()
        assert running.stat().st_size == len(data) // 2
    finally:
        os.write(go_w, b"1")
        _, status = os.waitpid(pid, 0)
        session.release()
    assert os.waitstatus_to_exitcode(status) == 0
    assert load_ora(path).layers[0].name == "B0"
    assert _temporaries(path) == []
