"""The memory-capped undo history."""

from __future__ import annotations

import numpy as np

from editor.model import Document
from editor.model.undo import Command, History


class Holder(Command):
    def __init__(self, name: str, nbytes: int, log: list[str]) -> None:
        self.text, self._n, self.log = name, nbytes, log

    def redo(self) -> None:
        self.log.append(f"redo {self.text}")

    def undo(self) -> None:
        self.log.append(f"undo {self.text}")

    def nbytes(self) -> int:
        return self._n


def test_oldest_steps_are_dropped_when_over_the_memory_cap():
    history = History(undo_limit_mb=1)
    log: list[str] = []
    for i in range(5):
        history.push(Holder(f"step {i}", 400 * 1024, log))
    assert history.undo_bytes() <= 1024 * 1024
    assert history.texts() == ["step 3", "step 4"]
    assert log == [f"redo step {i}" for i in range(5)]
    # Lowering the cap drops more, but always keeps the newest step undoable.
    history.undo_limit_mb = 0.1
    assert history.texts() == ["step 4"]
    assert history.undo() and log[-1] == "undo step 4"
    assert not history.can_undo()


def test_clean_state_tracks_saves_and_signals():
    history = History()
    states: list[bool] = []
    history.clean_changed.connect(states.append)
    log: list[str] = []
    history.push(Holder("a", 0, log))
    history.set_clean()
    history.push(Holder("b", 0, log))
    assert not history.is_clean()
    history.undo()
    assert history.is_clean()
    history.push(Holder("c", 0, log))  # the saved state can no longer be reached by redo
    history.undo()
    assert history.is_clean()
    assert states == [False, True, False, True, False, True]


def test_macro_groups_pushes_into_one_named_step():
    history = History()
    log: list[str] = []
    with history.macro("Paste"):
        history.push(Holder("a", 10, log))
        history.push(Holder("b", 20, log))
    assert history.texts() == ["Paste"] and history.undo_bytes() == 30
    history.undo()
    assert log[-2:] == ["undo b", "undo a"]
    assert history.redo_text() == "Paste"


def test_document_undo_limit_applies_to_real_strokes():
    from editor.tools.brush import BrushSettings, BrushTool

    doc = Document(1024, 1024, undo_limit_mb=0.5)
    doc.add_layer()
    tool = BrushTool(doc, BrushSettings(size=30))
    for i in range(12):
        tool.begin(10, 30 + i * 80)
        tool.move(1000, 30 + i * 80)
        tool.end()
    assert doc.undo_bytes() <= 0.5 * 1024 * 1024
    kept = doc.history.count()
    assert 1 <= kept < 13
    while doc.undo():
        pass
    # Undoing all kept strokes leaves the earliest (dropped) strokes on the layer.
    alpha = doc.layers[0].pixels[..., 3] if doc.layers else np.zeros(1)
    assert alpha[30, 500] == 255 and alpha[30 + 11 * 80, 500] == 0


def test_take_top_lifts_only_the_newest_step_and_keeps_it_applied():
    history = History()
    log: list[str] = []
    first, second = Holder("first", 0, log), Holder("second", 0, log)
    history.push(first)
    history.set_clean()
    history.push(second)
    assert not history.take_top(first)  # not the newest: nothing changes
    assert history.texts() == ["first", "second"]
    assert history.take_top(second)
    assert history.texts() == ["first"] and log == ["redo first", "redo second"]
    with history.macro("both"):
        history.push(second, applied=True)
        history.push(Holder("third", 0, log))
    assert history.texts() == ["first", "both"] and not history.is_clean()
    history.undo()
    assert log[-2:] == ["undo third", "undo second"]


def test_drop_top_undoes_the_newest_step_and_leaves_no_redo():
    history = History()
    log: list[str] = []
    first, second = Holder("first", 0, log), Holder("second", 0, log)
    history.push(first)
    history.set_clean()
    history.push(second)
    assert not history.drop_top(first)
    assert history.drop_top(second)
    assert log[-1] == "undo second"
    assert history.texts() == ["first"] and not history.can_redo()
    assert history.is_clean()  # back at the saved state
    assert not history.drop_top(second)
