"""Live painting with the step-distilled transformer models (engine.speed_presets): FLUX.1
schnell, the distilled FLUX.2 Klein models and Z-Image Turbo get their own few-step,
guidance-free preset, which Live picks by itself; in the real window a tiny schnell model
paints live with it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.family_defaults import model_settings
from engine.models import inspect_model
from engine.speed_presets import speed_presets
from tests.editor.ui.test_live_mode import TIMEOUT_MS, settle, stroke


def test_the_distilled_models_have_their_own_preset(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    turbo = tmp_path / "z-image-turbo"
    shutil.copytree(tiny_modern_dir("z-image"), turbo)
    expected = {
        "flux-schnell": ("FLUX.1", 4, "Euler"),
        "flux2-klein-distilled": ("FLUX.2 Klein", 4, "Euler"),
        "turbo": ("Z-Image", 8, "Euler"),
    }
    for key, (label, steps, sampler) in expected.items():
        info = inspect_model(turbo if key == "turbo" else tiny_modern_dir(key))
        (preset,) = speed_presets([], info.name, model_settings(info))
        assert preset.name.startswith(f"{label} few steps, no guidance")
        assert (preset.steps, preset.guidance, preset.scheduler) == (steps, 0.0, sampler)
        assert preset.distilled and not preset.lora
    for key in ("flux", "sd3", "flux2-klein"):  # guidance models: none of their own
        info = inspect_model(tiny_modern_dir(key))
        assert speed_presets([], info.name, model_settings(info)) == []


def test_live_paints_with_schnell_in_its_own_preset(
    window, qtbot, tiny_modern_dir: Callable[[str], Path]
) -> None:
    schnell = tiny_modern_dir("flux-schnell")
    window.new_document(96, 96, fill=(40, 60, 200, 255))
    window.generation_panel.set_settings({"model": str(schnell), "prompt": "a red boat", "seed": 5})
    live = window.live
    preset = live.panel.preset()
    assert preset is not None and preset.distilled  # picked by itself
    params = live.live_params()
    assert (params.guidance, params.scheduler) == (0.0, "Euler")
    assert int(params.steps * params.strength) == 4
    with qtbot.waitSignal(live.result_shown, timeout=TIMEOUT_MS):
        live.actions[0].trigger()
    settle(qtbot, live)
    before = live.result.rgba.copy()
    assert live.result.request.model == str(schnell)
    assert live.result.request.scheduler == "Euler"
    stroke(window, [(20, 20), (50, 40), (76, 70)])
    settle(qtbot, live)
    assert np.abs(live.result.rgba.astype(int) - before.astype(int)).mean() > 1.0
    live.set_enabled(False)
