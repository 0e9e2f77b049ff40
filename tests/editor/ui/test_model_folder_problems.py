"""Settings ▸ Model folders pointed at a ComfyUI models/ folder: its split files make
models in the window's list, and a transformer whose part is missing gets one sentence
under the folders naming the part and where Overpaint looked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from editor.ui.dialogs import SettingsDialog
from editor.ui.settings import Settings
from tests.tiny_split import write_split


def test_settings_names_the_missing_part_of_a_comfyui_folder(
    qtbot, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    models = tmp_path / "ComfyUI" / "models"
    write_split(tiny_modern_dir("z-image"), "z-image", models, "z_image_turbo")
    write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev", skip=("clip_l",))
    settings = Settings()
    settings.model_dirs = [models]
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    label = dialog.dirs_problems
    assert not label.isHidden()
    assert label.text() == (
        "flux1-dev.safetensors is a FLUX.1 transformer without its CLIP-L text encoder "
        f"(clip_l); Overpaint looked in {models / 'diffusion_models' / 'text_encoders'}, "
        f"{models / 'diffusion_models' / 'clip'}, "
        f"{models / 'diffusion_models' / 'text_encoder'}, {models / 'text_encoders'}, "
        f"{models / 'clip'}, {models / 'text_encoder'}: put the file there."
    )
    dialog.dirs_list.setCurrentRow(0)
    dialog._remove_dir()
    assert label.isHidden() and label.text() == ""


def test_a_gguf_model_of_a_comfyui_folder_paints_in_the_window(
    window, qtbot, tiny_modern_dir: Callable[[str], Path], tmp_path: Path, monkeypatch
) -> None:
    """Settings' folder is a ComfyUI models/ folder: its GGUF transformer with the text
    encoders and VAE beside it is a model in the Generate panel, and a job with it lands
    as a layer (configuration from a cached reference snapshot)."""
    import shutil

    from PySide6.QtCore import Qt

    from tests.tiny_split import write_gguf

    hub = tmp_path / "hub" / "models--black-forest-labs--FLUX.1-schnell" / "snapshots" / "a"
    shutil.copytree(tiny_modern_dir("flux-schnell"), hub)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    models = tmp_path / "ComfyUI" / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev")
    gguf = write_gguf(transformer, models / "unet" / "flux1-dev-Q8_0.gguf")
    transformer.unlink()
    window.settings.model_dirs = [models]
    window.jobs.apply_settings()
    window.refresh_models()
    panel = window.generation_panel
    names = [panel.model_combo.itemText(i) for i in range(panel.model_combo.count())]
    assert "flux1-dev-Q8_0" in names
    panel.model_combo.setCurrentIndex(names.index("flux1-dev-Q8_0"))
    assert panel.model() == str(gguf)
    window.new_document(64, 64, fill=(255, 255, 255, 255))
    panel.prompt_edit.setPlainText("a red square")
    panel.steps_spin.setValue(2)
    layers = len(window.document.layers)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=300_000)
    result = window.candidates.current().result
    assert result.request.model == str(gguf) and result.request.mode == "txt2img"
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    assert len(window.document.layers) == layers + 1


def test_a_model_too_big_for_memory_is_one_message_and_the_window_stays_live(
    window, qtbot, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """A FLUX.1 transformer whose file claims twice this machine's memory (a sparse
    file): the job ends in the refusal's sentence before anything loads, the document is
    untouched and the next stroke paints."""
    import numpy as np
    import psutil
    from PySide6.QtCore import Qt

    from tests.editor.ui.test_painting import drag
    from tests.tiny_split import write_sparse_transformer

    models = tmp_path / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-huge")
    transformer.unlink()
    write_sparse_transformer(transformer, psutil.virtual_memory().total // 2, "F32")
    window.new_document(64, 64, fill=(255, 255, 255, 255))
    panel = window.generation_panel
    panel.set_model(str(transformer))
    panel.prompt_edit.setPlainText("a red square")
    before = window.document.composite_array()
    with qtbot.waitSignal(window.generation.error, timeout=120_000) as blocker:
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    message = blocker.args[0]
    assert message.startswith("flux1-huge needs about ") and "this machine has" in message
    assert message.count(";") == 1 and "\n" not in message
    assert window.statusBar().currentMessage() == message
    assert np.array_equal(window.document.composite_array(), before)
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    drag(qtbot, window, [(10, 10), (40, 30)])
    assert not np.array_equal(window.document.composite_array(), before)
