"""The generation panel's LoRA list: only LoRAs that fit the model, weights, on/off,
trigger words into the prompt, and the request the job builder makes from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from editor.ui.generate.panel import GenerationPanel
from engine.core.paths import user_models_dir
from engine.jobs import image_composite, prepare_job
from engine.models import inspect_model
from tests.lora_files import build_tiny_lora, write_header_only_lora


def test_lora_list_weights_triggers_and_request(qtbot, tiny_model_dir: Path) -> None:
    folder = user_models_dir() / "loras"
    tags = json.dumps({"set": {"inkwash": 5, "bold": 2}})
    build_tiny_lora(tiny_model_dir, folder / "ink.safetensors", metadata={"ss_tag_frequency": tags})
    write_header_only_lora(folder / "xl-only.safetensors", 2048)
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.set_models([inspect_model(tiny_model_dir)])
    loras = panel.lora_panel
    # The SDXL LoRA does not fit the tiny SD1-style model, so it is not offered.
    assert [loras.combo.itemData(i) for i in range(loras.combo.count())] == ["ink"]

    qtbot.mouseClick(loras.add_button, Qt.MouseButton.LeftButton)
    (row,) = loras.rows
    row.slider.setValue(-150)
    assert panel.settings().loras == (("ink", -1.5),)
    panel.prompt_edit.setPlainText("a harbour")
    panel.prompt_edit.moveCursor(panel.prompt_edit.textCursor().MoveOperation.End)
    trigger = next(b for b in row.findChildren(type(loras.add_button)) if b.text() == "inkwash")
    qtbot.mouseClick(trigger, Qt.MouseButton.LeftButton)
    assert panel.prompt_edit.toPlainText() == "a harbour, inkwash"

    settings = dataclasses.replace(panel.settings(), mode="img2img")
    job = prepare_job(settings, 64, 64, image_composite(np.zeros((64, 64, 4), np.uint8) + 255))
    assert job.request.loras == (("ink", -1.5),)
    row.enabled_box.setChecked(False)  # off: not applied, but kept in the list
    assert panel.settings().loras == () and len(loras.rows) == 1
    panel.set_settings({"loras": [["ink", 0.5]]})  # as an INI file hands it back
    assert panel.settings().loras == (("ink", 0.5),)
