"""Journey: quitting ends the process promptly, and loses nothing on the way.

Found by walking the window under Xvfb: after Ctrl+Q and Discard the window went away at
once, but the process stayed 2-20 s longer. Closing waited up to 60 s for the engine
thread (which cannot stop while torch imports or a model loads), then Python spent
seconds unloading torch. Closing during a generation must cancel the job (it ends as
cancelled, short of its last step), let the thread finish, keep the generation log as it
was, and log nothing worse than info; the `overpaint` entry point then ends the process
without Python's teardown, with its exit code, its output and its log file complete.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.history.config import database_path
from engine.history.store import HistoryStore
from engine.worker import ENGINE_THREAD
from tests.editor.ui.conftest import running_threads
from tests.editor.ui.test_painting import drag
from tests.journeys.waiting import WAIT_MS

ROOT = Path(__file__).resolve().parents[2]

# The thread must be gone well within this; closing itself waits at most
# main_window.QUIT_ENGINE_WAIT_MS. Generous: the machines running the tests are busy.
THREAD_END_MS = 30_000
OWN_LOGGERS = ("editor", "engine", "overpaint")  # libraries' deprecation notes aside


def _recorded() -> int:
    store = HistoryStore(database_path())
    try:
        return len(store.search(""))
    finally:
        store.close()


def _answer_discard(answered: list[str]) -> None:
    """Click Discard in the save question once it is up (it runs its own event loop)."""
    box = QApplication.activeModalWidget()
    if not isinstance(box, QMessageBox):
        QTimer.singleShot(20, lambda: _answer_discard(answered))
        return
    answered.append(box.text())
    box.button(QMessageBox.StandardButton.Discard).click()


def test_ctrl_q_and_discard_during_a_generation_cancels_it_and_ends_the_engine_thread(
    window, qtbot, caplog
) -> None:
    caplog.set_level(logging.INFO)
    drag(qtbot, window, [(100, 100), (300, 220), (500, 300)])  # an unsaved change
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red circle")
    panel.steps_spin.setValue(panel.steps_spin.maximum())  # still running when we quit
    recorded_before = _recorded()

    window.actions.generate.trigger()
    client = window.generation.client
    steps: list[tuple[int, int, int]] = []
    ends: dict[str, list[int]] = {"finished": [], "cancelled": [], "failed": []}
    client.progress.connect(lambda job, step, total, _preview: steps.append((job, step, total)))
    client.finished.connect(lambda job, _results: ends["finished"].append(job))
    client.cancelled.connect(ends["cancelled"].append)
    client.failed.connect(lambda job, _text: ends["failed"].append(job))
    qtbot.waitUntil(lambda: bool(steps), timeout=WAIT_MS)  # the model is loaded, steps run
    job_id = steps[0][0]
    (engine_thread,) = [t for t in running_threads() if t.objectName() == ENGINE_THREAD]

    answered: list[str] = []
    QTimer.singleShot(0, lambda: _answer_discard(answered))
    QTest.keyClick(window.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)

    assert answered and "Save the changes" in answered[0]
    assert not window.isVisible()
    qtbot.waitUntil(lambda: not engine_thread.isRunning(), timeout=THREAD_END_MS)
    # The job was stopped, not run to its end: the engine reports it cancelled.
    qtbot.waitUntil(lambda: job_id in ends["cancelled"], timeout=THREAD_END_MS)
    assert ends["finished"] == [] and ends["failed"] == []
    last_job, last_step, total = steps[-1]
    assert last_job == job_id and last_step < total
    assert window.candidates.count() == 0
    # The log of generations is intact: nothing recorded for the cancelled job.
    assert _recorded() == recorded_before
    problems = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.split(".")[0] in OWN_LOGGERS
    ]
    assert problems == [], [r.getMessage() for r in problems]


# The real entry point with the user's session replaced: the event loop ends at once,
# after a log line and output that nothing flushed.
ENTRY_POINT_THEN_QUIT = """
import logging, sys
from PySide6.QtWidgets import QApplication

def session(*_args):
    logging.getLogger("overpaint").info("the user quit")
    sys.stdout.write("BYE")
    return 3

QApplication.exec = session
from editor.app import main
sys.exit(main([]))
"""


def test_the_entry_point_ends_with_its_exit_code_output_and_log_complete(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        QT_QPA_PLATFORM="offscreen",
        OVERPAINT_DATA_DIR=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_THEN_QUIT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "BYE"
    log_text = (tmp_path / "data" / "logs" / "overpaint.log").read_text(encoding="utf-8")
    assert "Overpaint" in log_text and "the user quit" in log_text
