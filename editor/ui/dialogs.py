"""Dialogs: settings (theme, models folders, watermark, device, CPU precision, CPU threads,
undo memory) and the image/canvas size dialog."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.ui.device_choice import DeviceChoice
from editor.ui.settings import Settings
from editor.ui.theme import THEMES, apply_theme
from engine.core.precision import PRECISIONS
from engine.models import split_model_problems

# The CPU precision choices as the Settings list shows them.
PRECISION_CHOICES = tuple((p, "Auto (recommended)" if p == "auto" else p) for p in PRECISIONS)


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        layout = QVBoxLayout(self)
        form = QFormLayout()

        self.theme_combo = QComboBox()
        self.theme_combo.setObjectName("themeCombo")
        for name, label in THEMES.items():
            self.theme_combo.addItem(label, name)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(settings.theme)))
        form.addRow("Theme", self.theme_combo)

        folders = QVBoxLayout()
        self.dirs_list = QListWidget()
        self.dirs_list.addItems([str(p) for p in settings.model_dirs])
        self.dirs_list.setMaximumHeight(110)
        row = QHBoxLayout()
        add = QPushButton("Add folder…")
        add.clicked.connect(self._add_dir)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_dir)
        row.addWidget(add)
        row.addWidget(remove)
        folders.addWidget(self.dirs_list)
        folders.addLayout(row)
        # ComfyUI's and Forge's split files: a transformer whose text encoder or VAE is
        # not where Overpaint looks makes no model; say which part and where.
        self.dirs_problems = QLabel()
        self.dirs_problems.setObjectName("modelFolderProblems")
        self.dirs_problems.setWordWrap(True)
        folders.addWidget(self.dirs_problems)
        self._check_dirs()
        form.addRow("Model folders", folders)

        self.watermark_check = QCheckBox(
            "Embed an invisible watermark in generated images and their exports"
        )
        self.watermark_check.setChecked(settings.watermark)
        form.addRow("Watermark", self.watermark_check)
        history_row = QHBoxLayout()
        self.history_check = QCheckBox("Keep every generation in a searchable history")
        self.history_check.setChecked(settings.history_enabled)
        self.clear_history_button = QPushButton("Clear History…")
        self.clear_history_button.clicked.connect(self._clear_history)
        history_row.addWidget(self.history_check, 1)
        history_row.addWidget(self.clear_history_button)
        form.addRow("History", history_row)
        # Only the devices this machine has; a line under the list says why others are not.
        self.device_choice = DeviceChoice(settings.device, self)
        self.device_combo = self.device_choice.combo
        form.addRow("Device", self.device_choice)
        self.low_memory_check = QCheckBox("Low memory (attention slicing, VAE tiling)")
        self.low_memory_check.setChecked(settings.low_memory)
        form.addRow("", self.low_memory_check)
        self.precision_combo = QComboBox()
        self.precision_combo.setObjectName("precisionCombo")
        for name, label in PRECISION_CHOICES:
            self.precision_combo.addItem(label, name)
        self.precision_combo.setCurrentIndex(
            max(0, self.precision_combo.findData(settings.precision))
        )
        self.precision_combo.setToolTip(
            "Auto: bf16 where this processor computes it faster, else fp32 (measured once).\n"
            "bf16 on a processor without bf16 hardware runs slower than fp32.\n"
            "GPUs always run in fp16. Takes effect on the next job."
        )
        form.addRow("CPU precision", self.precision_combo)
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, max(os.cpu_count() or 1, settings.cpu_threads))
        self.threads_spin.setSpecialValueText("Automatic (leave one for the window)")
        self.threads_spin.setValue(settings.cpu_threads)
        form.addRow("CPU threads", self.threads_spin)
        self.undo_spin = QSpinBox()
        self.undo_spin.setRange(16, 65536)
        self.undo_spin.setSuffix(" MB")
        self.undo_spin.setValue(settings.undo_memory_mb)
        form.addRow("Undo memory", self.undo_spin)
        self.max_image_spin = QSpinBox()
        self.max_image_spin.setRange(1, 1024)
        self.max_image_spin.setSuffix(" megapixels")
        self.max_image_spin.setValue(settings.max_image_megapixels)
        form.addRow("Largest image to open", self.max_image_spin)
        self.autosave_spin = QSpinBox()
        self.autosave_spin.setRange(0, 3600)
        self.autosave_spin.setSuffix(" s")
        self.autosave_spin.setSpecialValueText("Off")
        self.autosave_spin.setValue(settings.autosave_seconds)
        form.addRow("Autosave unsaved work every", self.autosave_spin)
        from editor.ui.servers.page import ServersPage  # cheap: hoist once dialogs.py settles (#23)

        self.servers_page = ServersPage(settings)
        form.addRow("Servers", self.servers_page)
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
            self._check_dirs()

    def _remove_dir(self) -> None:
        self.dirs_list.takeItem(self.dirs_list.currentRow())
        self._check_dirs()

    def _check_dirs(self) -> None:
        dirs = [Path(self.dirs_list.item(i).text()) for i in range(self.dirs_list.count())]
        problems = split_model_problems(dirs)
        self.dirs_problems.setText("\n".join(problems))
        self.dirs_problems.setVisible(bool(problems))

    def _clear_history(self) -> None:
        from engine.history.config import open_history  # cheap: hoist once dialogs.py settles (#23)

        answer = QMessageBox.question(
            self,
            "Clear History",
            "Delete every entry of the generation history? Output files stay where they are.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        store = open_history(force=True)
        try:
            store.clear()
            warning = store.take_warning()
        finally:
            store.close()
        if warning:
            QMessageBox.warning(self, "Clear History", warning)

    def accept(self) -> None:
        s = self.settings
        s.history_enabled = self.history_check.isChecked()
        s.theme = str(self.theme_combo.currentData())
        apply_theme(s.theme)  # live: every widget gets the new palette now
        s.model_dirs = [Path(self.dirs_list.item(i).text()) for i in range(self.dirs_list.count())]
        s.watermark = self.watermark_check.isChecked()
        s.device = self.device_combo.currentText()
        s.low_memory = self.low_memory_check.isChecked()
        s.precision = str(self.precision_combo.currentData())
        s.cpu_threads = self.threads_spin.value()
        s.undo_memory_mb = self.undo_spin.value()
        s.max_image_megapixels = self.max_image_spin.value()
        s.autosave_seconds = self.autosave_spin.value()
        self.servers_page.apply()
        s.sync()
        super().accept()


class SizeDialog(QDialog):
    """New image / canvas size: width, height, and (for a resize) where the old picture
    goes; `margins()` gives the expansion per side for outpainting."""

    ANCHORS = ("top-left", "top", "top-right", "left", "centre", "right",
               "bottom-left", "bottom", "bottom-right")  # fmt: skip

    def __init__(
        self, title: str, width: int, height: int, anchor: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._old = (width, height)
        form = QFormLayout(self)
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin, value in ((self.width_spin, width), (self.height_spin, height)):
            spin.setRange(1, 32768)
            spin.setSuffix(" px")
            spin.setValue(value)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        self.anchor_combo = QComboBox()
        self.anchor_combo.addItems(self.ANCHORS)
        self.anchor_combo.setCurrentText("centre")
        if anchor:
            form.addRow("Picture at", self.anchor_combo)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def size(self) -> tuple[int, int]:  # type: ignore[override]
        return self.width_spin.value(), self.height_spin.value()

    def offset(self) -> tuple[int, int]:
        """Where the old picture's top-left lands in the new canvas."""
        w, h = self.size()
        ow, oh = self._old
        col = self.ANCHORS.index(self.anchor_combo.currentText()) % 3
        row = self.ANCHORS.index(self.anchor_combo.currentText()) // 3
        return ((w - ow) * col) // 2, ((h - oh) * row) // 2
