"""Dialogs: settings (models folders, watermark, device, undo memory)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.ui.settings import Settings

DEVICES = ("auto", "cpu", "cuda", "mps")


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        layout = QVBoxLayout(self)
        form = QFormLayout()

        folders = QVBoxLayout()
        self.dirs_list = QListWidget()
        self.dirs_list.addItems([str(p) for p in settings.model_dirs])
        row = QHBoxLayout()
        add = QPushButton("Add folder…")
        add.clicked.connect(self._add_dir)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: self.dirs_list.takeItem(self.dirs_list.currentRow()))
        row.addWidget(add)
        row.addWidget(remove)
        folders.addWidget(self.dirs_list)
        folders.addLayout(row)
        form.addRow("Model folders", folders)

        self.watermark_check = QCheckBox("Embed an invisible watermark in generated pixels")
        self.watermark_check.setChecked(settings.watermark)
        form.addRow("Watermark", self.watermark_check)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setCurrentText(settings.device if settings.device in DEVICES else "auto")
        form.addRow("Device", self.device_combo)
        self.low_memory_check = QCheckBox("Low memory (attention slicing, VAE tiling)")
        self.low_memory_check.setChecked(settings.low_memory)
        form.addRow("", self.low_memory_check)
        self.undo_spin = QSpinBox()
        self.undo_spin.setRange(16, 65536)
        self.undo_spin.setSuffix(" MB")
        self.undo_spin.setValue(settings.undo_memory_mb)
        form.addRow("Undo memory", self.undo_spin)
        layout.addLayout(form)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _add_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a models folder")
        if folder:
            self.dirs_list.addItem(folder)

    def accept(self) -> None:
        s = self.settings
        s.model_dirs = [Path(self.dirs_list.item(i).text()) for i in range(self.dirs_list.count())]
        s.watermark = self.watermark_check.isChecked()
        s.device = self.device_combo.currentText()
        s.low_memory = self.low_memory_check.isChecked()
        s.undo_memory_mb = self.undo_spin.value()
        s.sync()
        super().accept()
