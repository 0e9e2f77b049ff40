"""Fixtures for the reliability tests: a small copy of the tiny model and a real window
wired to a real EngineClient, with helpers to run one generation and fingerprint the
document."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

WAIT_MS = 120_000
SIDE = 64


def small_model_copy(tiny_model_dir: Path, dest: Path) -> Path:
    """The tiny model with a 64 px native size (sample_size 8), so jobs stay at 64x64."""
    shutil.copytree(tiny_model_dir, dest)
    config = dest / "unet" / "config.json"
    data = json.loads(config.read_text())
    data["sample_size"] = SIDE // 8
    config.write_text(json.dumps(data))
    return dest


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread while a module runs jobs.

    On a CPU shared with other work, torch's spinning worker threads make a 64 px job
    take seconds instead of a fraction of one; with a single thread it is ~0.3 s.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_model_copy(tiny_model_dir, tmp_path_factory.mktemp("small") / "small-sd")


def picture(seed: int = 5) -> np.ndarray:
    rgba = np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, 4), np.uint8)
    rgba[..., 3] = 255
    return rgba


def fingerprint(document) -> tuple:
    """Everything a job could damage: pixels of every layer, mask, history state."""
    return (
        document.composite_array().tobytes(),
        tuple(layer.pixels.tobytes() for layer in document.layers),
        tuple((layer.name, layer.x, layer.y, layer.opacity) for layer in document.layers),
        document.mask.tobytes(),
        document.history.count(),
        document.history.index(),
        document.history.is_clean(),
    )


@pytest.fixture
def engine_window(qtbot, tmp_path: Path, small_model: Path, one_torch_thread):
    """A shown MainWindow with a 64x64 picture and the panel set for 4-step jobs."""
    from PySide6.QtWidgets import QMessageBox

    from editor.model.document import Document
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings

    win = MainWindow(Settings(tmp_path / "config" / "overpaint.ini"))
    win.ask_save_changes = lambda: "discard"
    qtbot.addWidget(win)
    win.show()
    doc = Document(SIDE, SIDE)
    doc.add_layer("Picture", rgba=picture())
    doc.reset_history()
    win.set_document(doc, None, "picture.png")
    set_job(win, small_model)
    yield win
    for box in win.findChildren(QMessageBox):
        box.close()
    win.close()
    assert win.generation.shutdown(30000)
    if win.generation.has_client():
        assert not win.generation.client._thread.isRunning()


def set_job(win, model: Path, steps: int = 4, seed: int = 7) -> None:
    panel = win.generation_panel
    panel.set_model(str(model))
    panel.prompt_edit.setPlainText("a red circle")
    panel.steps_spin.setValue(steps)
    panel.seed_spin.setValue(seed)
    panel.scheduler_combo.setCurrentText("DDIM")


def close_error_boxes(win) -> None:
    from PySide6.QtWidgets import QMessageBox

    for box in win.findChildren(QMessageBox):
        box.close()
