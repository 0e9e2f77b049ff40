"""The Generate panel and the Generations dock, walked as a new user walks them: Generate
twice on the start-up canvas, lock the seed, reuse an entry's parameters, restart.

Everything runs for real: the bundled demo model (the window's default) on the engine's
worker thread, the history database, a second MainWindow on the same settings file.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from engine.history.config import database_path
from engine.history.store import HistoryStore
from tests.editor.ui.test_painting import drag
from tests.journeys.waiting import next_result


def _few_steps(window, prompt: str = "a red circle") -> None:
    panel = window.generation_panel
    panel.prompt_edit.setPlainText(prompt)
    panel.steps_spin.setValue(2)


def _generate(window, qtbot) -> object:
    """Press Generate; the new candidate's result."""
    return next_result(qtbot, window, window.actions.generate.trigger)


def _recorded_seeds(window) -> list[int]:
    window.generation.history.flush()
    store = HistoryStore(database_path())
    try:
        return sorted(hit.seed for hit in store.search(""))
    finally:
        store.close()


def test_generate_twice_gives_new_seeds_unless_the_seed_is_locked(window, qtbot):
    panel = window.generation_panel
    assert not panel.seed_lock.isChecked()  # random by default
    _few_steps(window)
    first, second = _generate(window, qtbot), _generate(window, qtbot)
    assert first.request.seed != second.request.seed
    assert (first.seed, second.seed) == (first.request.seed, second.request.seed)
    assert not np.array_equal(first.rgba, second.rgba)
    # The seed actually used is what the history keeps (so it can be replayed) and
    # what the panel shows.
    assert _recorded_seeds(window) == sorted([first.seed, second.seed])
    assert panel.seed_spin.value() == second.seed

    qtbot.mouseClick(panel.seed_lock, Qt.MouseButton.LeftButton)
    assert panel.seed_lock.isChecked()
    third, fourth = _generate(window, qtbot), _generate(window, qtbot)
    assert third.seed == fourth.seed == second.seed
    assert np.array_equal(third.rgba, fourth.rgba)
    assert np.array_equal(third.rgba, second.rgba)


def test_use_parameters_keeps_auto_across_a_restart_and_locks_the_seed(window, qtbot, settings):
    from editor.ui.main_window import MainWindow

    panel = window.generation_panel
    _few_steps(window, "a blue square")
    assert panel.mode() == "auto"
    recorded = _generate(window, qtbot)
    window.candidates.discard_current()

    dock = window.generations_panel
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=5000)
    _few_steps(window, "something else")
    panel.steps_spin.setValue(3)
    dock.select(0)
    dock.actions["use"].trigger()
    assert panel.prompt_edit.toPlainText() == "a blue square"
    assert panel.steps_spin.value() == 2
    assert panel.mode() == "auto"
    # The copied seed is locked, so Generate makes that picture again.
    assert panel.seed_lock.isChecked() and panel.seed_spin.value() == recorded.seed
    again = _generate(window, qtbot)
    assert again.seed == recorded.seed and np.array_equal(again.rgba, recorded.rgba)

    # Regenerate replays the entry at its recorded seed, whatever the panel holds.
    qtbot.mouseClick(panel.seed_lock, Qt.MouseButton.LeftButton)
    panel.seed_spin.setValue(recorded.seed + 1)
    dock.select(0)
    replayed = next_result(qtbot, window, dock.actions["regenerate"].trigger)
    assert replayed.seed == recorded.seed and np.array_equal(replayed.rgba, recorded.rgba)
    assert panel.mode() == "auto"

    window.ask_save_changes = lambda: "discard"
    window.close()
    restarted = MainWindow(settings)
    try:
        assert restarted.generation_panel.mode() == "auto"
        assert restarted.generation_panel.prompt_edit.toPlainText() == "a blue square"
    finally:
        restarted.ask_save_changes = lambda: "discard"
        restarted.close()
        restarted.deleteLater()


def test_the_generations_dock_lists_each_entry_as_it_is_recorded(window, qtbot):
    dock = window.generations_panel
    assert dock.model.rowCount() == 0
    _few_steps(window, "a green triangle")
    _generate(window, qtbot)
    window.generation.history.flush()
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=3000)
    assert dock.status.text() == "1 generation"
    assert dock.search_box.text() == ""

    window.accept_candidate()  # Accept marks the entry kept: the dock shows it too
    window.generation.history.flush()
    qtbot.waitUntil(lambda: dock.model.hits[0].kept, timeout=3000)
    assert dock.model.data(dock.model.index(0, 0)).startswith("★ ")


def test_auto_is_txt2img_on_an_untouched_or_uniform_canvas(window, qtbot, png_path):
    _few_steps(window)
    assert window.generation_panel.mode() == "auto"
    assert _generate(window, qtbot).request.mode == "txt2img"  # the white start canvas
    window.candidates.clear()

    # A canvas filled with one colour (the fill tool, one click) is still a blank page.
    qtbot.keyClick(window.canvas, Qt.Key.Key_G)
    window.tool_options.set_foreground(QColor(30, 90, 200))
    drag(qtbot, window, [(40, 40)])
    assert (window.document.composite_array()[..., :3] == (30, 90, 200)).all()
    assert _generate(window, qtbot).request.mode == "txt2img"
    window.candidates.clear()

    # A brush stroke is content: Auto repaints the picture around it.
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    window.tool_options.set_foreground(QColor(250, 200, 0))
    window.tool_options.set_size(30)
    drag(qtbot, window, [(30, 30), (90, 60)])
    assert _generate(window, qtbot).request.mode == "img2img"
    window.candidates.clear()

    window.ask_save_changes = lambda: "discard"
    assert window.open_path(png_path)  # a photo-like picture
    assert _generate(window, qtbot).request.mode == "img2img"
