"""The generation history in the real window: every sample recorded, Accept marks it
kept, and the Generations dock's actions regenerate, fill the panel, add layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.cli import main as cli
from engine.history.config import database_path
from engine.history.store import HistoryStore

WAIT_MS = 120_000


def _hits(query: str):
    store = HistoryStore(database_path())
    try:
        return store.search(query)
    finally:
        store.close()


def test_samples_are_recorded_kept_on_accept_and_regenerated_as_layers(
    window, qtbot, tiny_model_dir
):
    panel = window.generation_panel
    panel.set_model(str(tiny_model_dir))
    panel.set_mode("txt2img")
    panel.prompt_edit.setPlainText("a lighthouse at dusk")
    panel.steps_spin.setValue(2)
    panel.samples_spin.setValue(2)
    window.generate()
    qtbot.waitUntil(lambda: window.candidates.count() == 2, timeout=WAIT_MS)
    window.generation.history.flush()
    hits = _hits("lighthous*")
    assert len(hits) == 2 and not any(h.kept for h in hits)

    layer = window.accept_candidate()
    window.generation.history.flush()
    assert sorted(h.kept for h in _hits("lighthouse")) == [False, True]
    accepted = window.document.current_layer.to_rgba(window.document.rect())

    # The dock finds it; "Add as layer" for an entry without a file regenerates it exactly.
    dock = window.generations_panel
    dock.search_box.setText("lighthouse")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 2, timeout=5000)
    kept_row = next(r for r in range(2) if dock.model.hits[r].kept)
    dock.select(kept_row)
    layers = len(window.document.layers)
    dock.actions["layer"].trigger()
    qtbot.waitUntil(lambda: len(window.document.layers) == layers + 1, timeout=WAIT_MS)
    again = window.document.current_layer.to_rgba(window.document.rect())
    assert np.array_equal(again, accepted) and layer is not None

    dock.actions["use"].trigger()
    assert panel.prompt_edit.toPlainText() == "a lighthouse at dusk"


def test_the_cli_records_unless_told_not_to(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = ["txt2img", "--prompt", "a quiet harbour", "--model", str(tiny_model_dir),
            "--steps", "2", "--width", "64", "--height", "64", "--seed", "3"]  # fmt: skip
    assert cli([*base, "--out", str(tmp_path / "a.png")]) == 0
    assert cli([*base, "--no-history", "--out", str(tmp_path / "b.png")]) == 0
    hits = _hits("harbour")
    assert len(hits) == 1 and hits[0].kept and hits[0].path == str(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (64, 64)
