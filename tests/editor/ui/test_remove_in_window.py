"""A removal through the real window: the inpainting controls, the worker, the demo model."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from engine.demo.dataset import PALETTE
from tests.seamless_scenes import band_mask, disc_mask, disc_picture, removal_error

WAIT_MS = 180_000


def test_remove_a_disc_with_the_panel_controls(window, qtbot, tmp_path):
    from PIL import Image

    picture, truth = disc_picture(PALETTE["green"])
    path = tmp_path / "disc.png"
    Image.fromarray(picture[..., :3]).save(path)
    assert window.open_path(path)
    doc = window.document
    doc.set_mask(disc_mask())
    panel = window.generation_panel
    panel.set_model("Overpaint demo (shapes)")
    panel.prompt_edit.setPlainText("")
    panel.scheduler_combo.setCurrentText("DPM++ 2M")
    panel.steps_spin.setValue(20)
    panel.seed_spin.setValue(1)
    options = panel.inpaint_options
    # Picking a mode in the panel brings its default strength.
    combo = options.mode_combo
    combo.setCurrentIndex(combo.findData("remove"))
    combo.activated.emit(combo.currentIndex())
    assert panel.strength_spin.value() == 0.3

    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    result = window.candidates.current().result
    assert result.request.inpaint_mode == "remove" and result.request.soft_edges
    window.accept_candidate()
    # Named after what was done, not "Generated", in the Layers list and History too.
    assert doc.current_layer.name == "Removed"
    assert window.layers_panel.list.currentItem().text() == "Removed"
    out = doc.composite_array()[..., :3]
    inside, band = removal_error(out, truth, disc_mask())
    assert inside <= 3.0 and band <= 3.0, (inside, band)
    far = band_mask(disc_mask(), -1000, -49)
    assert np.array_equal(out[far], picture[..., :3][far])
    window.undo()
    assert np.array_equal(doc.composite_array()[..., :3], picture[..., :3])


def test_region_controls_are_remembered_per_document(window):
    options = window.generation_panel.inpaint_options
    first = window.document
    options.set_values({"grow": 12, "context": "whole", "soft_edges": False})
    window.new_document(64, 64)
    options.set_values({"grow": 0, "context": "auto", "soft_edges": True})
    second = window.document
    window.set_document(first, None, None)
    assert options.values()["grow"] == 12 and options.values()["context"] == "whole"
    assert options.values()["soft_edges"] is False
    window.set_document(second, None, None)
    assert options.values()["grow"] == 0
