"""Journey: the Generate dock's results strip says what each button did in the status bar.
Found walking the window: after Accept then "Discard all", the status bar still said
"Added as a layer." (stale: the results were gone and no layer was added); Discard and
Discard all said nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.journeys.waiting import WAIT_MS


def _generate(window, qtbot, samples: int) -> None:
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red circle")
    panel.steps_spin.setValue(2)
    panel.samples_spin.setValue(samples)
    before = window.candidates.count()
    window.actions.generate.trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == before + samples, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.generation.is_busy(), timeout=WAIT_MS)


def test_accept_discard_and_discard_all_each_say_what_they_did(window, qtbot) -> None:
    strip, doc = window.candidates, window.document
    message = window.statusBar().currentMessage
    _generate(window, qtbot, 4)
    layers = len(doc.layers)

    qtbot.mouseClick(strip.accept_button, Qt.MouseButton.LeftButton)
    assert len(doc.layers) == layers + 1 and strip.count() == 3
    assert message() == "Added as a layer."

    strip.select(0)
    qtbot.mouseClick(strip.discard_button, Qt.MouseButton.LeftButton)
    assert strip.count() == 2 and message() == "Discarded 1 result."

    qtbot.mouseClick(strip.discard_all_button, Qt.MouseButton.LeftButton)
    assert strip.count() == 0 and len(doc.layers) == layers + 1
    assert message() == "Discarded 2 results."
    assert not strip.discard_all_button.isEnabled()

    # Generate ▸ Discard All Results says it too; accepted again, the message follows.
    _generate(window, qtbot, 2)
    qtbot.mouseClick(strip.accept_button, Qt.MouseButton.LeftButton)
    assert message() == "Added as a layer."
    window.actions.discard_all.trigger()
    assert strip.count() == 0 and message() == "Discarded 1 result."
