"""An accepted result's layer is named after what was done: its prompt, or without one
(or for a fill, which reads none) the job itself, never a bare "Generated"."""

from __future__ import annotations

from PySide6.QtCore import QRect

WAIT_MS = 120_000


def test_a_fill_is_named_filled_whatever_the_prompt_box_holds(window, qtbot) -> None:
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red apple")  # left over from an earlier run
    window.document.select_rect(QRect(20, 20, 30, 30))
    panel.set_settings({"mode": "fill"})
    with qtbot.waitSignal(window.generation.results_ready, timeout=WAIT_MS):
        window.generate()
    window.accept_candidate()
    assert window.document.current_layer.name == "Filled"
    assert window.layers_panel.list.currentItem().text() == "Filled"
    assert window.undo_action.text() == "&Undo Accept result"
