"""Autosave and crash recovery: the recovery file, its life cycle, and a real kill -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from editor.io.project import load_ora, save_ora
from editor.model.document import Document
from editor.recovery import (
    DEFAULT_INTERVAL_S,
    SETTINGS_KEY,
    Autosaver,
    RecoveryStore,
    autosave_interval_s,
    recovery_dir,
)
from tests.reliability.recovery_child import paint_stroke

ROOT = Path(__file__).resolve().parents[2]


def painted_document(strokes: int = 3, seed: int = 1) -> Document:
    doc = Document(96, 64)
    doc.add_layer("Background", rgba=np.full((64, 96, 4), 255, np.uint8))
    doc.add_layer("Ink")
    doc.reset_history()
    rng = np.random.default_rng(seed)
    for _ in range(strokes):
        paint_stroke(doc, rng)
    return doc


@pytest.fixture
def autosaver(qapp, tmp_path: Path):
    saver = Autosaver(RecoveryStore(tmp_path / "recovery"), interval_s=0)
    yield saver
    saver.close()


def test_autosave_writes_a_loadable_copy_and_a_clean_save_removes_it(
    autosaver: Autosaver, tmp_path: Path
) -> None:
    doc = painted_document()
    autosaver.track(doc)
    assert autosaver.autosave_now() is not None
    autosaver.wait()
    recovered = load_ora(autosaver.session.ora_path)
    assert [layer.name for layer in recovered.layers] == ["Background", "Ink"]
    assert np.array_equal(recovered.composite_array(), doc.composite_array())
    assert np.array_equal(recovered.layers[1].pixels, doc.layers[1].pixels)
    assert not recovered.has_mask()
    # The inpaint mask is work too: a later autosave keeps it.
    mask = np.zeros((64, 96), np.uint8)
    mask[20:40, 30:70] = 255
    doc.set_mask(mask)
    assert autosaver.autosave_now() is not None
    autosaver.wait()
    assert np.array_equal(load_ora(autosaver.session.ora_path).mask, mask)
    # Nothing new since: no second write.
    assert autosaver.autosave_now() is None
    save_ora(doc, tmp_path / "saved.ora")
    doc.history.set_clean()
    autosaver.wait()
    assert not autosaver.session.ora_path.exists()
    assert not autosaver.session.meta_path.exists()
    assert autosaver.autosave_now() is None  # clean: nothing to keep


def test_an_unmodified_document_is_never_written(autosaver: Autosaver) -> None:
    doc = painted_document(strokes=0)
    autosaver.track(doc)
    assert autosaver.autosave_now() is None
    paint_stroke(doc, np.random.default_rng(3))
    doc.undo()  # back to the saved state
    assert autosaver.autosave_now() is None
    autosaver.wait()
    assert not autosaver.session.ora_path.exists()


def test_the_write_uses_the_snapshot_not_the_live_layers(
    autosaver: Autosaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strokes made while the background write runs are not in that file, and do not tear it."""
    import editor.recovery as recovery

    doc = painted_document()
    expected = doc.composite_array()
    gate, entered = threading.Event(), threading.Event()
    real_write = recovery.write_recovery

    def slow_write(*args: object) -> None:
        entered.set()
        assert gate.wait(10)
        real_write(*args)

    monkeypatch.setattr(recovery, "write_recovery", slow_write)
    autosaver.track(doc)
    assert autosaver.autosave_now() is not None
    assert entered.wait(10)
    rng = np.random.default_rng(9)
    for _ in range(5):  # the UI thread keeps painting into the same arrays
        paint_stroke(doc, rng)
    assert autosaver.autosave_now() is None  # one write at a time
    gate.set()
    autosaver.wait()
    assert np.array_equal(load_ora(autosaver.session.ora_path).composite_array(), expected)
    assert not np.array_equal(doc.composite_array(), expected)
    assert autosaver.autosave_now() is not None  # the later strokes go in the next one
    autosaver.wait()
    assert np.array_equal(
        load_ora(autosaver.session.ora_path).composite_array(), doc.composite_array()
    )


def test_a_failed_autosave_is_reported_and_retried(
    autosaver: Autosaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import editor.io.ora as ora_module

    real_zip = ora_module._write_zip

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ora_module, "_write_zip", disk_full)
    doc = painted_document()
    before = doc.composite_array()
    autosaver.track(doc)
    reported = []
    autosaver.failed.connect(reported.append)
    assert autosaver.autosave_now() is not None
    autosaver.wait()
    assert reported == [autosaver.last_error]
    assert autosaver.last_error.startswith("Autosave failed: ")
    assert "No space left on device" in autosaver.last_error
    assert not autosaver.session.ora_path.exists()
    assert list(autosaver.session.folder.glob("*.tmp")) == []
    assert np.array_equal(doc.composite_array(), before)  # the document is untouched
    monkeypatch.setattr(ora_module, "_write_zip", real_zip)
    assert autosaver.autosave_now() is not None  # same revision, tried again
    autosaver.wait()
    assert autosaver.last_error == ""
    assert autosaver.session.ora_path.is_file()


def test_running_sessions_are_not_orphans_but_ended_ones_are(qapp, tmp_path: Path) -> None:
    store = RecoveryStore(tmp_path / "recovery")
    live = Autosaver(store, 0)
    crashed = Autosaver(store, 0)
    try:
        for saver in (live, crashed):
            saver.track(painted_document())
            saver.autosave_now()
            saver.wait()
        assert store.orphans() == []  # both locked by this (running) process
        # What a crash leaves: files on disk, the lock's owner gone.
        crashed._timer.stop()
        crashed.session.release()
        orphans = store.orphans()
        assert [e.session for e in orphans] == [crashed.session.session_id]
        store.discard(orphans[0])
        assert store.orphans() == [] and not crashed.session.ora_path.exists()
        assert live.session.ora_path.exists()
    finally:
        live.close()
        crashed._executor.shutdown()


def test_interval_comes_from_qsettings(tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    qs = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert autosave_interval_s(qs) == DEFAULT_INTERVAL_S == 60
    qs.setValue(SETTINGS_KEY, 5)
    assert autosave_interval_s(qs) == 5
    qs.setValue(SETTINGS_KEY, "junk")
    assert autosave_interval_s(qs) == DEFAULT_INTERVAL_S
    assert recovery_dir() == Path(os.environ["OVERPAINT_DATA_DIR"]) / "recovery"


# ---------------------------------------------------------------- with the real window


@pytest.fixture
def make_window(qtbot, tmp_path: Path):
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings

    windows = []

    def make(interval: float = 0):
        settings = Settings(tmp_path / "config" / "overpaint.ini")
        settings.qsettings.setValue(SETTINGS_KEY, interval)
        win = MainWindow(settings)
        win.ask_save_changes = lambda: "discard"  # no modal dialog, ever
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.ask_save_changes = lambda: "discard"
        win.close()
        recovery = getattr(win, "recovery", None)
        if recovery is not None:
            recovery.autosaver.close()


def test_window_close_discard_leaves_no_recovery_file(make_window, qtbot) -> None:

    win = make_window()
    autosaver = win.enable_recovery().autosaver
    paint_stroke(win.document, np.random.default_rng(0))
    autosaver.autosave_now()
    autosaver.wait()
    assert autosaver.session.ora_path.is_file()
    win.ask_save_changes = lambda: "cancel"
    win.close()  # refused inside close() itself: nothing about it is left for later
    assert win.isVisible() and autosaver.interval_ms == 0 and not autosaver._closed
    win.ask_save_changes = lambda: "discard"
    win.close()
    qtbot.waitUntil(lambda: autosaver._closed)
    assert list(autosaver.session.folder.iterdir()) == []


def test_opening_another_file_drops_the_old_recovery(make_window, tmp_path: Path) -> None:

    win = make_window()
    autosaver = win.enable_recovery().autosaver
    paint_stroke(win.document, np.random.default_rng(0))
    autosaver.autosave_now()
    autosaver.wait()
    other = tmp_path / "other.ora"
    save_ora(painted_document(), other)
    win.ask_save_changes = lambda: "discard"
    assert win.open_path(other)
    autosaver.wait()
    assert not autosaver.session.ora_path.exists()
    paint_stroke(win.document, np.random.default_rng(1))
    autosaver.autosave_now()
    autosaver.wait()
    entry_meta = autosaver.session.meta_path.read_text()
    assert str(other) in entry_meta  # the sidecar names the project being edited


def _start_child(mode: str, tmp_path: Path, interval: float) -> subprocess.Popen:
    config = tmp_path / "child-config"
    config.mkdir(exist_ok=True)
    (config / "overpaint.ini").write_text(f"[recovery]\nautosave_seconds={interval}\n")
    env = dict(
        os.environ,
        OVERPAINT_SETTINGS=str(config / "overpaint.ini"),
        QT_QPA_PLATFORM="offscreen",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.recovery_child", mode, str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen, timeout: float = 90) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        proc.kill()
        pytest.fail("the editor child did not answer in time")
    return box[0]


def test_sigkill_after_strokes_then_restart_recovers_them(make_window, tmp_path: Path) -> None:

    child = _start_child("strokes", tmp_path, interval=0.2)
    try:
        line = _read_line(child)
        assert line.startswith("READY"), line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    expected = np.load(tmp_path / "expected.npy")
    assert (expected[..., :3] != 255).any()  # the strokes are really in there

    # "Restart": a new editor finds the orphan and offers it.
    win = make_window()
    controller = win.enable_recovery()
    assert not np.array_equal(win.document.composite_array(), expected)
    offered = []
    assert controller.offer(lambda entry: offered.append(entry) or "recover")
    assert len(offered) == 1 and offered[0].source_name is None
    assert np.array_equal(win.document.composite_array(), expected)
    assert win.is_modified() and "*" in win.windowTitle()
    assert win.history_panel.list.item(0).text() == "Recovered untitled picture"
    # Adopted: a second crash would still find it; this editor's lock hides it now.
    assert controller.store.orphans() == []
    assert controller.autosaver.session.ora_path.is_file()


def test_sigkill_at_random_moments_leaves_a_readable_recovery_file(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = RecoveryStore(Path(os.environ["OVERPAINT_DATA_DIR"]) / "recovery")
    for round_ in range(int(os.environ.get("OVERPAINT_RECOVERY_KILLS", "2"))):
        child = _start_child("busy", tmp_path, interval=0)
        try:
            for _ in range(1 + round_):
                assert _read_line(child).startswith("WROTE")
            time.sleep(rng.uniform(0, 0.3))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        orphans = store.orphans()
        assert len(orphans) == 1
        doc = store.load(orphans[0])  # never a broken file: FileError would fail the test
        assert (doc.width, doc.height) == (orphans[0].width, orphans[0].height)
        assert len(doc.layers) == 1
        store.discard(orphans[0])
        # Nothing else stays behind: no stale lock, no half-written temporary file.
        assert store.orphans() == [] and list(store.folder.iterdir()) == []


def test_a_killed_session_leaves_nothing_behind_once_swept(tmp_path: Path) -> None:
    folder = tmp_path / "recovery"
    code = (
        "import sys, time; from pathlib import Path; from editor.recovery import RecoveryStore;"
        "s = RecoveryStore(Path(sys.argv[1])).new_session();"
        "(s.folder / ('.' + s.session_id + '.ora.x1y2.tmp')).write_bytes(b'half a zip');"
        "print(s.session_id, flush=True); time.sleep(120)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        session = _read_line(child).strip()
        store = RecoveryStore(folder)
        assert store.orphans() == []
        assert len(list(folder.iterdir())) == 2  # alive: its lock and temporary file stay
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert store.orphans() == []  # nothing to recover...
    assert list(folder.iterdir()) == []  # ...and its leftovers are gone
    assert session


def test_a_garbled_lock_does_not_hide_a_crashed_session(qapp, tmp_path: Path) -> None:
    store = RecoveryStore(tmp_path / "recovery")
    saver = Autosaver(store, 0)
    saver.track(painted_document())
    saver.autosave_now()
    saver.wait()
    saver._timer.stop()
    saver.session.release()
    (store.folder / f"{saver.session.session_id}.lock").write_bytes(b"\x00garbage\n")
    assert [e.session for e in store.orphans()] == [saver.session.session_id]
    saver._executor.shutdown()


def test_recovered_work_survives_a_slow_cleanup(
    make_window, qapp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the recovered document queues removal of the session's old files; the
    adopted recovery file must not be caught by it, however late it runs."""
    import editor.recovery as recovery

    crashed = Autosaver(RecoveryStore(), 0)
    doc = painted_document()
    crashed.track(doc)
    crashed.autosave_now()
    crashed.wait()
    crashed._timer.stop()
    crashed.session.release()  # what a crash leaves
    crashed._executor.shutdown()

    real_remove = recovery.RecoverySession.remove_files

    def slow_remove(self) -> None:
        time.sleep(0.3)
        real_remove(self)

    monkeypatch.setattr(recovery.RecoverySession, "remove_files", slow_remove)
    win = make_window()
    controller = win.enable_recovery()
    assert controller.offer(lambda entry: "recover")
    controller.autosaver.wait()
    adopted = controller.autosaver.session.ora_path
    assert adopted.is_file()
    assert np.array_equal(load_ora(adopted).composite_array(), doc.composite_array())


def test_an_unusable_recovery_folder_does_not_stop_the_editor(
    make_window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("OVERPAINT_DATA_DIR", str(blocker))
    win = make_window()
    controller = win.enable_recovery()  # no exception
    assert controller.offer(lambda entry: "recover") is False
    paint_stroke(win.document, np.random.default_rng(0))
    controller.autosaver.autosave_now()
    controller.autosaver.wait()
    assert controller.autosaver.last_error.startswith("Autosave failed: ")
    assert win.statusBar().currentMessage() == controller.autosaver.last_error
    assert blocker.read_text().startswith("a file")


def test_autosave_interval_in_the_settings_dialog(
    make_window, monkeypatch: pytest.MonkeyPatch
) -> None:
    from editor.ui.dialogs import SettingsDialog

    win = make_window(interval=60)
    autosaver = win.enable_recovery().autosaver
    assert autosaver.interval_ms == 60_000 and win.settings.autosave_seconds == 60
    choice = [5]

    def answer(dialog: SettingsDialog) -> int:  # the user edits the field and clicks OK
        dialog.autosave_spin.setValue(choice[0])
        dialog.accept()
        return 1

    monkeypatch.setattr(SettingsDialog, "exec", answer)
    win.show_settings()
    assert autosaver.interval_ms == 5000 and win.settings.autosave_seconds == 5
    choice[0] = 0
    win.show_settings()
    assert autosaver.interval_ms == 0  # off
