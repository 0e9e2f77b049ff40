"""Journey: Settings ▸ Device lists only the devices this machine has, says why the others
are missing, and Cancel leaves the setting alone.

Found by walking the window: cuda and mps were offered on a machine with neither.
"""

from __future__ import annotations

import sys

import torch
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QDialog, QDialogButtonBox, QLabel

POLL_MS = 50
# The first look imports torch on a helper thread (~2 s here); give up well after that.
GIVE_UP_MS = 15000


def drive_settings(qtbot, window, act) -> dict:
    """Open Settings from the menu; `act(dialog, seen)` runs once the device list is
    final (the dialog may be modal), then the dialog is cancelled with its button."""
    seen: dict = {"waited_ms": 0}

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        waiting = not isinstance(dialog, QDialog) or dialog.windowTitle() != "Settings"
        if not waiting:
            note = dialog.findChild(QLabel, "deviceNote")
            waiting = note is None or note.text() == "Looking for GPUs…"
        if waiting and seen["waited_ms"] < GIVE_UP_MS:
            seen["waited_ms"] += POLL_MS
            QTimer.singleShot(POLL_MS, look)
            return
        if dialog is None:
            seen["closed"] = True
            return
        if not waiting:
            act(dialog, seen)
        buttons = dialog.findChild(QDialogButtonBox)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
        seen["closed"] = True

    QTimer.singleShot(0, look)
    window.actions.settings.trigger()
    qtbot.waitUntil(lambda: seen.get("closed", False), timeout=GIVE_UP_MS + 5000)
    assert seen["waited_ms"] < GIVE_UP_MS, "the device list never became final"
    return seen


def read_devices(dialog: QDialog, seen: dict) -> None:
    combo = dialog.findChild(QComboBox, "deviceCombo")
    seen["devices"] = [combo.itemText(i) for i in range(combo.count())]
    seen["current"] = combo.currentText()
    seen["note"] = dialog.findChild(QLabel, "deviceNote").text()


def test_device_list_holds_only_what_this_machine_has(qtbot, window) -> None:
    seen = drive_settings(qtbot, window, read_devices)

    expected = ["auto", "cpu"]
    if torch.cuda.is_available():
        expected.append("cuda")
    if torch.backends.mps.is_available():
        expected.append("mps")
    assert seen["devices"] == expected
    assert seen["current"] == "auto"
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            assert f"this torch ({torch.__version__}) is a CPU-only build" in seen["note"]
        else:
            assert "No CUDA GPU found" in seen["note"]
    if sys.platform != "darwin":
        assert "mps is for Apple silicon Macs only." in seen["note"]
    assert window.settings.device == "auto"


def test_a_saved_device_this_machine_lacks_is_said_and_cancel_keeps_it(qtbot, window) -> None:
    if torch.cuda.is_available():
        return  # the saved device exists here; the first test covers the list
    window.settings.device = "cuda"

    def pick_cpu(dialog: QDialog, seen: dict) -> None:
        read_devices(dialog, seen)
        dialog.findChild(QComboBox, "deviceCombo").setCurrentText("cpu")

    seen = drive_settings(qtbot, window, pick_cpu)
    assert "cuda" not in seen["devices"] and seen["current"] == "auto"
    assert "The saved device cuda is not on this machine, so auto is chosen." in seen["note"]
    assert window.settings.device == "cuda"  # Cancel changed nothing
