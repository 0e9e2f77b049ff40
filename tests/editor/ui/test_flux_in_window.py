"""A FLUX.1 model in the real window, through the worker: a scribble control layer guides
it with a FLUX ControlNet installed in the models folder's controlnet/, a LoRA from its
loras/ applies, and the flow sampler's schedule and shift chosen in the panel are what the
result records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.editor.ui.test_control_layers import mark_with_dialog, paint_scribble
from tests.editor.ui.test_generation import WAIT_MS
from tests.editor.ui.test_painting import open_at_100
from tests.tiny_modern_extras import build_flux_controlnet, flux_loras


@pytest.fixture(scope="module")
def flux_root(
    tiny_modern_dir: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A models folder with controlnet/flux_scribble_tiny and loras/flux-kohya."""
    root = tmp_path_factory.mktemp("flux-models")
    transformer = tiny_modern_dir("flux") / "transformer"
    build_flux_controlnet(transformer, root / "controlnet" / "flux_scribble_tiny")
    flux_loras(root / "loras")
    return root


def test_flux_with_a_control_layer_a_lora_and_a_shift(
    window, qtbot, png_path: Path, tiny_modern_dir: Callable[[str], Path], flux_root: Path
) -> None:
    window.settings.model_dirs = [flux_root]
    open_at_100(window, png_path)
    paint_scribble(qtbot, window)
    mark_with_dialog(window)
    panel = window.generation_panel
    panel.set_model(str(tiny_modern_dir("flux")))
    panel.prompt_edit.setPlainText("a square")
    panel.steps_spin.setValue(2)
    panel.seed_spin.setValue(1234)
    panel.scheduler_combo.setCurrentText("Euler Karras")
    panel.shift_spin.setValue(2.5)
    panel.lora_panel.set_values([("flux-kohya", 0.8)])

    count = window.candidates.count()
    assert window.generate() is not None
    qtbot.waitUntil(lambda: window.candidates.count() == count + 1, timeout=WAIT_MS)
    result = window.candidates.candidates()[-1].result
    request = result.request
    assert [(c.kind, c.model) for c in request.controls] == [("scribble", "flux_scribble_tiny")]
    assert request.loras == (("flux-kohya", 0.8),)
    assert (request.scheduler, request.shift) == ("Euler Karras", 2.5)
    assert "Sampler: Euler Karras," in result.parameters and "Shift: 2.5" in result.parameters
    assert "flux-kohya: " in result.parameters  # its Lora hash
