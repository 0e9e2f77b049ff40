"""The Generate panel shows each model family's own settings (editor.ui.generate
.family_settings), in the real window with tiny models built at test time: distilled
guidance for FLUX dev, CFG for SD 3.5 and Qwen-Image, few steps and no guidance for
schnell and turbo models, flow-matching samplers with a shift for the transformer
families, and the SD samplers back for an SD model."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from engine.family_defaults import settings_for
from engine.jobs import build_request
from engine.models import inspect_model
from engine.schedulers import FLOW_SCHEDULER_NAMES, SCHEDULER_NAMES


def _rows(panel) -> dict[str, object]:
    form = panel.parameters_form
    combo = panel.scheduler_combo
    return {
        "guidance": form.labelForField(panel.guidance_spin).text()
        if form.isRowVisible(panel.guidance_spin)
        else None,
        "negative": panel.negative_edit.isEnabled(),
        "shift": panel.advanced_form.isRowVisible(panel.shift_spin),
        "samplers": tuple(combo.itemText(i) for i in range(combo.count())),
        "steps": panel.steps_spin.value(),
        "value": panel.guidance_spin.value(),
    }


def test_each_family_shows_its_own_settings(
    window, qtbot, tiny_model_dir: Path, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    turbo = tmp_path / "z-image-turbo"
    shutil.copytree(tiny_modern_dir("z-image"), turbo)
    folders = {
        "sd": tiny_model_dir,
        "dev": tiny_modern_dir("flux"),
        "schnell": tiny_modern_dir("flux-schnell"),
        "sd3": tiny_modern_dir("sd3"),
        "qwen": tiny_modern_dir("qwen-image"),
        "turbo": turbo,
    }
    panel = window.generation_panel
    panel.set_models([inspect_model(p) for p in folders.values()], str(tiny_model_dir))
    sd = _rows(panel)
    assert sd["guidance"] == "CFG scale" and sd["negative"] and not sd["shift"]
    assert sd["samplers"] == SCHEDULER_NAMES

    panel.set_model(str(folders["dev"]))
    dev = _rows(panel)
    assert dev == {
        "guidance": "Distilled guidance", "negative": False, "shift": True,
        "samplers": FLOW_SCHEDULER_NAMES, "steps": 28, "value": 3.5,
    }  # fmt: skip
    assert panel.scheduler_combo.currentText() == "Euler"
    assert panel.negative_edit.placeholderText() == "This model takes no negative prompt"

    panel.set_model(str(folders["schnell"]))
    schnell = _rows(panel)
    assert schnell["guidance"] is None and schnell["steps"] == 4 and schnell["value"] == 0.0
    assert not schnell["negative"] and schnell["shift"]

    for key, label, steps, value in (("sd3", "SD 3.5", 28, 3.5), ("qwen", "Qwen", 50, 4.0)):
        panel.set_model(str(folders[key]))
        rows = _rows(panel)
        assert rows["guidance"] == "CFG scale" and rows["negative"], label
        assert (rows["steps"], rows["value"]) == (steps, value)
        assert rows["samplers"] == FLOW_SCHEDULER_NAMES and rows["shift"]

    panel.set_model(str(folders["turbo"]))
    turbo_rows = _rows(panel)
    assert turbo_rows["guidance"] is None and turbo_rows["steps"] == 8
    assert turbo_rows["value"] == 0.0 and not turbo_rows["negative"]

    # The chosen sampler and shift reach the job's settings.
    panel.set_model(str(folders["sd3"]))
    panel.scheduler_combo.setCurrentText("Euler Beta")
    panel.shift_spin.setValue(3.0)
    settings = panel.settings()
    assert (settings.scheduler, settings.shift, settings.steps) == ("Euler Beta", 3.0, 28)
    request = build_request("txt2img", settings)
    assert (request.scheduler, request.shift) == ("Euler Beta", 3.0)
    assert panel.shift_spin.text() == "3.00"
    panel.shift_spin.setValue(0.0)
    assert panel.shift_spin.text() == "Model's own"

    # Back to SD: its samplers, CFG and numbers, no shift.
    panel.set_model(str(tiny_model_dir))
    assert _rows(panel) == {
        "guidance": "CFG scale", "negative": True, "shift": False,
        "samplers": SCHEDULER_NAMES, "steps": 20, "value": 7.0,
    }  # fmt: skip
    assert panel.scheduler_combo.currentText() == "Euler a"


def test_a_restored_session_keeps_its_numbers(window, tiny_modern_dir) -> None:
    """The numbers change with the family, not when the window shows a saved model."""
    from editor.ui.generate.family_settings import FamilySettingsGate
    from engine.generation_settings import GenerationSettings

    panel = window.generation_panel
    flux = tiny_modern_dir("flux")
    panel.set_models([inspect_model(flux)], str(flux))
    panel.set_settings(GenerationSettings(model=str(flux), steps=13, guidance=2.0, shift=1.5))
    gate = FamilySettingsGate(panel, lambda _model: settings_for("flux", "dev", "distilled"))
    assert gate.current is not None
    assert (panel.steps_spin.value(), panel.guidance_spin.value()) == (13, 2.0)
    assert panel.shift_spin.value() == 1.5
