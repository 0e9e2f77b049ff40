"""editor.ui.background: work off the UI thread, its news delivered on the UI thread."""

from __future__ import annotations

import threading

import pytest
import shiboken6
from PySide6.QtWidgets import QWidget

from editor.ui import background
from editor.ui.background import run_in_background

TIMEOUT_MS = 10_000


def test_result_and_progress_arrive_in_order_on_the_ui_thread(qtbot) -> None:
    seen: list[tuple[str, object, bool]] = []
    ui = threading.current_thread()

    def work(task) -> str:
        assert threading.current_thread() is not ui
        for i in range(3):
            task.report(i)
        return "done"

    def note(kind: str):
        return lambda value: seen.append((kind, value, threading.current_thread() is ui))

    task = run_in_background(work, on_done=note("done"), on_progress=note("progress"))
    qtbot.waitUntil(lambda: len(seen) == 4, timeout=TIMEOUT_MS)
    assert seen == [("progress", 0, True), ("progress", 1, True), ("progress", 2, True)] + [
        ("done", "done", True)
    ]
    assert task.result() == "done" and not task.is_running()


def test_an_error_reaches_on_error_and_result_raises_it(qtbot) -> None:
    errors: list[BaseException] = []

    def work(_task) -> None:
        raise OSError("the disk is full")

    task = run_in_background(
        work, on_done=lambda _v: pytest.fail("no result"), on_error=errors.append
    )
    qtbot.waitUntil(lambda: bool(errors), timeout=TIMEOUT_MS)
    assert str(errors[0]) == "the disk is full"
    with pytest.raises(OSError, match="disk is full"):
        task.result()


def test_cancel_stops_the_work_and_silences_its_callbacks(qtbot) -> None:
    started, stopped = threading.Event(), threading.Event()
    calls: list[object] = []

    def work(task) -> str:
        started.set()
        while not task.cancelled():
            task.report("tick")
            stopped.wait(0.001)  # a loop that looks at cancel between pieces of work
        stopped.set()
        return "stopped"

    task = run_in_background(work, on_done=calls.append, on_progress=calls.append)
    assert started.wait(10)
    task.cancel()
    assert task.wait(10) and task.result() == "stopped"
    # The end is the task's last delivery; once it is handled, nothing else can come.
    qtbot.waitUntil(lambda: task not in background._live, timeout=TIMEOUT_MS)
    assert calls == []


def test_no_callback_reaches_a_deleted_owner(qtbot) -> None:
    owner = QWidget()
    release = threading.Event()
    calls: list[object] = []
    task = run_in_background(lambda _t: release.wait(10), on_done=calls.append, owner=owner)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(owner), timeout=TIMEOUT_MS)
    release.set()
    assert task.wait(10)
    qtbot.waitUntil(lambda: task not in background._live, timeout=TIMEOUT_MS)
    assert calls == []


def test_wait_gives_the_result_without_the_event_loop(qtbot) -> None:
    task = run_in_background(lambda _t: 6 * 7)
    assert task.wait(10)
    assert task.result() == 42
    qtbot.waitUntil(lambda: task not in background._live, timeout=TIMEOUT_MS)
