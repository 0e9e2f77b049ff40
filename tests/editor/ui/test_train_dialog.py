"""Generate ▸ Train LoRA…: the dialog checks the folder at once, trains on a thread with
progress and samples, cancels into a checkpoint that Train continues, and the finished
LoRA appears in the generation panel's LoRA list.

The run uses the settings of tests/training (demo model, rank 4, batch 1, no flips):
a handful of steps, enough to see the whole life cycle, not to learn the star.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from editor.ui.train.dialog import TrainDialog
from engine.core.paths import user_models_dir
from engine.models import DEMO_MODEL_DIR, inspect_model
from engine.request import GenerationRequest
from engine.training.trainer import work_dir
from tests.training.stars import write_star_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _open(window, qtbot):
    panel = window.generation_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() > 0)  # the window lists its models
    panel.set_model(str(DEMO_MODEL_DIR))
    window.actions.train_lora.trigger()
    dialog = window.findChild(TrainDialog, "trainDialog")
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_a_folder_too_small_is_said_at_once_and_train_stays_disabled(
    window, qtbot, tmp_path: Path
) -> None:
    dialog = _open(window, qtbot)
    folder = tmp_path / "two"
    folder.mkdir()
    for i in range(2):
        Image.new("RGB", (40, 30), (200, 30 * i, 0)).save(folder / f"plain-{i}.png")
    dialog.concept_edit.setText("star")
    dialog.folder_edit.setText(str(folder))
    assert "only 2 picture(s)" in dialog.folder_status.text()
    assert "at least 3" in dialog.folder_status.text()
    assert not dialog.train_button.isEnabled()
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    assert dialog.task is None

    # 8 captioned star pictures join the 2 plain ones; the dialog sees the folder change.
    write_star_folder(folder)
    qtbot.waitUntil(
        lambda: dialog.folder_status.text().startswith(
            "10 pictures found, 8 with a NAME.txt caption"
        )
    )
    assert dialog.train_button.isEnabled()
    # No NAME.txt names a comet, and the template for the plain pictures does not either.
    dialog.template_edit.setText("a plain picture")
    dialog.concept_edit.setText("comet")
    assert "No caption mentions the concept word 'comet'" in dialog.folder_status.text()
    assert not dialog.train_button.isEnabled()


def test_train_cancel_continue_and_the_lora_is_listed(window, qtbot, tmp_path: Path) -> None:
    dialog = _open(window, qtbot)
    # A generation first: the window's engine then holds the model that training borrows
    # (in fp32, the precision training picks for the demo model under auto).
    client = window.generation.client
    ended: list[object] = []
    client.finished.connect(lambda _job, results: ended.append(results))
    client.failed.connect(lambda _job, message: ended.append(message))
    client.submit(
        GenerationRequest(
            mode="txt2img", prompt="a red circle", steps=2, width=64, height=64,
            model=str(DEMO_MODEL_DIR), watermark=False, precision="fp32",
        )
    )  # fmt: skip
    qtbot.waitUntil(lambda: bool(ended), timeout=300_000)
    assert isinstance(ended[0], list), ended[0]
    assert dialog.model_combo.currentData() == str(DEMO_MODEL_DIR)
    dialog.folder_edit.setText(str(write_star_folder(tmp_path / "stars")))
    dialog.concept_edit.setText("star")
    dialog.flip_box.setChecked(False)  # the captions say left and right
    dialog.rank_spin.setValue(4)
    dialog.batch_spin.setValue(1)
    dialog.steps_spin.setValue(40)
    dialog.sample_spin.setValue(1000)  # a sample at the last step only
    out = user_models_dir() / "loras" / "star.safetensors"
    assert str(out) in dialog.out_label.text()

    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    task = dialog.task
    assert task is not None and not dialog.train_button.isEnabled()
    worker_steps: list[int] = []
    # Direct: recorded on the worker thread, so it is the trainer's step, not a late repaint.
    task.progress.connect(lambda p: worker_steps.append(p.step), Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: dialog.progress.value() >= 2, timeout=300_000)
    assert re.search(r"step \d+/40 · loss \d\.\d{4} · \S+ left", dialog.progress.format())
    with qtbot.waitSignal(task.cancelled, timeout=60_000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        at_click = max(worker_steps, default=2)
    qtbot.waitUntil(lambda: dialog.task is None)
    stopped = int(re.search(r"cancelled at step (\d+) of 40", dialog.message.text()).group(1))
    assert at_click <= stopped <= at_click + 2
    assert (work_dir(out) / "state.json").is_file() and not out.exists()
    assert f"stopped at step {stopped}, Train continues it" in dialog.out_label.text()
    assert dialog.train_button.isEnabled()
    # Settings the checkpoint must share: changed, the line says Train starts over, and why.
    dialog.rank_spin.setValue(2)
    assert dialog.out_label.text().endswith(
        f"; a run with other settings stopped at step {stopped}, Train starts over "
        "(rank was 4, now 2)."
    )
    dialog.seed_spin.setValue(3)
    assert "(rank was 4, now 2, seed was 0, now 3)." in dialog.out_label.text()
    dialog.rank_spin.setValue(4)
    dialog.seed_spin.setValue(0)  # as they were: it continues again
    assert f"stopped at step {stopped}, Train continues it" in dialog.out_label.text()

    dialog.steps_spin.setValue(stopped + 2)  # the step count may grow or shrink: continues
    with qtbot.waitSignal(dialog.trained, timeout=300_000):
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.task is None)
    assert f"continued from step {stopped}" in dialog.message.text()
    assert "on the loaded model's weights" in dialog.message.text()
    assert out.is_file() and not work_dir(out).exists()
    assert dialog.sample_step == stopped + 2 and not dialog.sample_label.pixmap().isNull()
    loras = window.generation_panel.lora_panel
    names = [loras.combo.itemData(i) for i in range(loras.combo.count())]
    assert "star" in names


def test_only_models_training_can_teach_are_offered(
    window, qtbot, tiny_model_dir: Path, tiny_modern_dir, tmp_path: Path
) -> None:
    panel = window.generation_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() > 0)  # the window lists its models
    flux, sd3 = tiny_modern_dir("flux"), tiny_modern_dir("sd3")
    panel.set_models([inspect_model(p) for p in (flux, tiny_model_dir, sd3)], str(flux))
    window.actions.train_lora.trigger()
    dialog = window.findChild(TrainDialog, "trainDialog")
    combo, status = dialog.model_combo, dialog.findChild(QLabel, "trainModelStatus")
    # The chosen FLUX model is not offered: the SD one is, and the dialog says why.
    assert [combo.itemData(i) for i in range(combo.count())] == [str(tiny_model_dir)]
    assert combo.currentData() == str(tiny_model_dir)
    assert status.isVisible()
    assert status.text() == (
        "2 models not listed: LoRA training works on SD 1.x, SD 2.x and SDXL models "
        "(not their inpainting ones)."
    )
    dialog.close()

    # Only transformer models: reopened, it says so and Train stays disabled, however
    # usable the pictures.
    panel.set_models([inspect_model(flux)], str(flux))
    window.actions.train_lora.trigger()
    assert dialog.isVisible() and combo.count() == 0
    assert status.isVisible() and status.text().startswith(
        "None of your models can be trained: LoRA training works on SD 1.x, SD 2.x and SDXL"
    )
    dialog.folder_edit.setText(str(write_star_folder(tmp_path / "stars")))
    dialog.concept_edit.setText("star")
    assert dialog.folder_status.text().startswith("8 pictures found")
    assert not dialog.train_button.isEnabled()
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    assert dialog.task is None
