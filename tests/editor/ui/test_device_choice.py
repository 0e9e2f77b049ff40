"""Settings ▸ Device without a GPU to hand: the list follows the machine's report (here a
report as a CUDA machine gives it), and until the report comes the saved choice stays.
The real report of this machine is checked in tests/journeys/test_settings_device.py."""

from __future__ import annotations

import pytest

from editor.ui import device_choice
from editor.ui.dialogs import SettingsDialog
from engine.core.devices import DeviceReport

CUDA_MACHINE = DeviceReport(("cpu", "cuda"), ("mps is for Apple silicon Macs only.",))


def devices(dialog: SettingsDialog) -> list[str]:
    combo = dialog.device_combo
    return [combo.itemText(i) for i in range(combo.count())]


def test_a_cuda_machine_offers_cuda_and_keeps_it_chosen(
    qtbot, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_choice, "_report", CUDA_MACHINE)
    settings.device = "cuda"
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert devices(dialog) == ["auto", "cpu", "cuda"]
    assert dialog.device_combo.currentText() == "cuda"
    assert dialog.device_choice.note.text() == "mps is for Apple silicon Macs only."
    dialog.device_combo.setCurrentText("cpu")
    dialog.accept()
    assert settings.device == "cpu"


def test_until_the_machine_answers_the_saved_choice_stays(
    qtbot, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_choice, "_report", None)
    settings.device = "mps"
    dialog = SettingsDialog(settings)  # not shown: the probe does not start
    qtbot.addWidget(dialog)
    assert devices(dialog) == ["auto", "cpu", "mps"]
    assert not dialog.device_choice.checked()
    assert dialog.device_choice.note.text() == "Looking for GPUs…"
    dialog.accept()
    assert settings.device == "mps"

    # The answer arrives while a dialog is open: the list becomes the machine's.
    settings.device = "mps"
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    monkeypatch.setattr(device_choice, "_report", CUDA_MACHINE)
    qtbot.waitUntil(dialog.device_choice.checked, timeout=2000)
    assert devices(dialog) == ["auto", "cpu", "cuda"]
    assert dialog.device_combo.currentText() == "auto"
    assert dialog.device_choice.note.text().endswith(
        "The saved device mps is not on this machine, so auto is chosen."
    )
