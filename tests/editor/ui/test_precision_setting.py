"""Settings ▸ CPU precision: saved like the other settings, and every request the window
builds (Generate, Live, Upscale's refine) asks for it; a job records what it computed in.

fp32 is the choice the job test makes, so it passes on any processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from editor.ui.dialogs import SettingsDialog
from editor.ui.settings import Settings
from tests.editor.ui.test_generation import WAIT_MS, prepare
from tests.editor.ui.test_painting import open_at_100


def choose(settings: Settings, precision: str, qtbot) -> SettingsDialog:
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    combo = dialog.precision_combo
    combo.setCurrentIndex(combo.findData(precision))
    dialog.accept()
    return dialog


def test_the_choice_is_offered_explained_and_kept(qtbot, settings: Settings) -> None:
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    combo = dialog.precision_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "Auto (recommended)", "fp32", "bf16",
    ]  # fmt: skip
    assert combo.currentText() == "Auto (recommended)"  # a new user's choice
    assert "bf16 where this processor computes it faster, else fp32" in combo.toolTip()
    dialog.reject()

    choose(settings, "bf16", qtbot)
    fresh = Settings(settings.path)  # what the next start reads
    assert fresh.precision == "bf16"
    again = SettingsDialog(fresh)
    qtbot.addWidget(again)
    assert again.precision_combo.currentText() == "bf16"
    # A hand-edited value the engine would refuse reads as auto.
    fresh.qsettings.setValue("engine/precision", "fp8")
    assert Settings(settings.path).precision == "auto"


def test_a_generate_job_records_the_chosen_precision(
    window, qtbot, png_path: Path, tiny_model_dir: Path
) -> None:
    open_at_100(window, png_path)
    prepare(window, tiny_model_dir)
    choose(window.settings, "fp32", qtbot)

    qtbot.mouseClick(window.generation_panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    result = window.candidates.current().result
    assert result.request.precision == "fp32"
    assert "Precision: fp32," in result.parameters

    # A change takes effect on the next job, wherever the window builds it.
    choose(window.settings, "bf16", qtbot)
    params = window.generation_panel.settings()
    assert window.generation.prepare(params, 64).request.precision == "bf16"
    assert window.live.prepare().request.precision == "bf16"


def test_regenerating_a_recorded_job_keeps_its_precision(
    window, qtbot, png_path: Path, tiny_model_dir: Path
) -> None:
    open_at_100(window, png_path)
    prepare(window, tiny_model_dir, steps=2)
    window.generation_panel.set_mode("img2img")
    choose(window.settings, "bf16", qtbot)  # asked for, so used on any processor
    assert window.generate() is not None
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    first = window.candidates.current().result
    assert first.request.precision == "bf16"
    window.generation.candidates.clear()
    window.generation.history.flush()
    choose(window.settings, "fp32", qtbot)  # the setting now differs from the record

    # The Generations dock replays the entry on the pixels it first ran on...
    dock = window.generations_panel
    dock.search_box.setText("boat")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=5000)
    dock.select(0)
    dock.actions["regenerate"].trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    replayed = window.candidates.current().result
    assert replayed.request.precision == "bf16"
    assert np.array_equal(replayed.rgba, first.rgba)
    window.generation.candidates.clear()

    # ...and a recorded request without its pixels runs on the picture as it is, still
    # in the recorded precision.
    assert window.generation.regenerate(first.request) is not None
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    again = window.candidates.current().result
    assert again.request.precision == "bf16"
    assert np.array_equal(again.rgba, first.rgba)
