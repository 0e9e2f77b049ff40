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
