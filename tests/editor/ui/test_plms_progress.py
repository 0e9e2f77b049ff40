"""What the Generate dock shows for PLMS, which evaluates its first step twice: the bar
counts the steps asked for and ends full, on the real tiny pipeline."""

from __future__ import annotations

from pathlib import Path

from tests.editor.ui.test_generation import WAIT_MS, prepare
from tests.editor.ui.test_painting import open_at_100


def test_plms_bar_counts_the_steps_asked_for(window, qtbot, png_path, tiny_model_dir: Path):
    # img2img at strength 0.5 of 8 steps: 4 steps, which PLMS runs in 5 evaluations.
    open_at_100(window, png_path)
    prepare(window, tiny_model_dir, steps=8)
    panel = window.generation_panel
    panel.scheduler_combo.setCurrentText("PLMS")
    panel.strength_spin.setValue(0.5)
    bar = panel.progress_bar
    progress = []
    assert window.generate() is not None
    window.generation.client.progress.connect(
        lambda *a: progress.append((*a[1:3], bar.value(), bar.maximum(), bar.format()))
    )
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    request = window.candidates.current().result.request
    assert (request.mode, request.scheduler, request.steps) == ("img2img", "PLMS", 8)
    assert [p[:2] for p in progress] == [(step, 4) for step in range(1, 5)]
    assert progress[-1][2] == progress[-1][3] == 4  # the bar ends full, never past it
    assert progress[-1][4].startswith("Step 4/4")
    # "Step 2/4 — 1 s left · 4 of 8 steps (strength 0.5)": 5 of 8 before.
    assert {p[4].partition(" · ")[2] for p in progress} == {"4 of 8 steps (strength 0.5)"}
