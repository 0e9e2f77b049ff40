"""The inpainting controls of the generation dock: mode, mask growth, feather, context,
colour match and soft edges: the inpainting fields of GenerationSettings, under their
names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.ui.theme import tidy
from engine.inpaint_modes import INPAINT_MODES, describe

MODE_LABELS = {
    "auto": "Auto",
    "add": "Add content",
    "remove": "Remove",
    "replace-background": "Replace background",
    "expand": "Expand",
    "refine": "Refine",
}
CONTEXT_LABELS = {
    "auto": "Automatic",
    "mask": "Mask box",
    "pixels": "Mask box +",
    "whole": "Whole picture",
}
AUTO_FEATHER = -1  # the feather spin box's "Auto" value


class InpaintOptions(QGroupBox):
    """Inpainting settings; `mode_chosen` fires when the user picks a mode (not auto)."""

    mode_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Inpainting", parent)
        self.setObjectName("inpaintOptions")
        form = tidy(QFormLayout(self), margin=None)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("inpaintModeCombo")
        for mode in INPAINT_MODES:
            self.mode_combo.addItem(MODE_LABELS[mode], mode)
            index = self.mode_combo.count() - 1
            self.mode_combo.setItemData(index, describe(mode).capitalize() + ".", 3)  # tooltip
        self.mode_combo.setToolTip(
            "Auto picks a mode from the mask, the pixels under it and the prompt, with that "
            "mode's strength; Refine keeps the strength you set."
        )
        self.mode_combo.activated.connect(self._mode_activated)
        # Auto's choice goes on a line of its own under the combo: beside it, "→ Replace
        # background" made the dock scroll sideways and cut off the Cancel button.
        self.picked_label = QLabel("")
        self.picked_label.setObjectName("inpaintPickedLabel")
        self.picked_label.hide()
        mode_column = tidy(QVBoxLayout(), margin=None)
        mode_column.setSpacing(2)
        mode_column.addWidget(self.mode_combo)
        mode_column.addWidget(self.picked_label)
        form.addRow("Inpaint", mode_column)

        self.grow_spin = QSpinBox()
        self.grow_spin.setRange(-200, 200)
        self.grow_spin.setSuffix(" px")
        self.grow_spin.setToolTip("Grow the mask (or, negative, shrink it) before repainting.")
        form.addRow("Grow mask", self.grow_spin)
        self.feather_spin = QSpinBox()
        self.feather_spin.setRange(AUTO_FEATHER, 200)
        self.feather_spin.setSpecialValueText("Auto")
        self.feather_spin.setSuffix(" px")
        self.feather_spin.setValue(AUTO_FEATHER)
        self.feather_spin.setToolTip(
            "How far the repaint fades out around the mask (Auto: a tenth of its size)."
        )
        form.addRow("Feather", self.feather_spin)

        context_row = tidy(QHBoxLayout(), margin=None)
        self.context_combo = QComboBox()
        for key, label in CONTEXT_LABELS.items():
            self.context_combo.addItem(label, key)
        self.context_combo.setToolTip("How much of the picture around the mask the model sees.")
        self.context_spin = QSpinBox()
        self.context_spin.setRange(0, 4096)
        self.context_spin.setValue(64)
        self.context_spin.setSuffix(" px")
        self.context_combo.currentIndexChanged.connect(self._context_changed)
        context_row.addWidget(self.context_combo, 1)
        context_row.addWidget(self.context_spin)
        form.addRow("Context", context_row)
        self._context_changed()

        self.color_check = QCheckBox("Match colours")
        self.color_check.setChecked(True)
        self.color_check.setToolTip("Match the repainted colours to the pixels around the mask.")
        self.soft_check = QCheckBox("Soft edges")
        self.soft_check.setChecked(True)
        self.soft_check.setToolTip(
            "Soft inpainting: the repaint fades into the picture. Off: a hard-edged mask."
        )
        checks = tidy(QHBoxLayout(), margin=None)
        checks.addWidget(self.color_check)
        checks.addWidget(self.soft_check)
        checks.addStretch(1)
        form.addRow("", checks)

    def _set_picked(self, text: str) -> None:
        self.picked_label.setText(text)
        self.picked_label.setVisible(bool(text))

    def _mode_activated(self, _index: int) -> None:
        self._set_picked("")
        mode = str(self.mode_combo.currentData())
        if mode != "auto":
            self.mode_chosen.emit(mode)

    def _context_changed(self) -> None:
        self.context_spin.setVisible(self.context_combo.currentData() == "pixels")

    def show_picked(self, mode: str) -> None:
        """Tell the user which mode Auto picked for the last job."""
        if self.mode_combo.currentData() == "auto":
            self._set_picked(f"→ {MODE_LABELS.get(mode, mode)}")

    def values(self) -> dict[str, Any]:
        context = str(self.context_combo.currentData())
        feather = self.feather_spin.value()
        return {
            "inpaint_mode": str(self.mode_combo.currentData()),
            "grow": self.grow_spin.value(),
            "feather": None if feather == AUTO_FEATHER else feather,
            "context": str(self.context_spin.value()) if context == "pixels" else context,
            "color_match": self.color_check.isChecked(),
            "soft_edges": self.soft_check.isChecked(),
        }

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show the inpainting fields in `values` (parsed, see GenerationSettings); an
        inpaint mode or context the combo does not offer is skipped."""
        if "inpaint_mode" in values:
            index = self.mode_combo.findData(values["inpaint_mode"])
            if index >= 0:
                self.mode_combo.setCurrentIndex(index)
                self._set_picked("")
        if "grow" in values:
            self.grow_spin.setValue(values["grow"])
        if "feather" in values:
            feather = values["feather"]
            self.feather_spin.setValue(AUTO_FEATHER if feather is None else feather)
        if "context" in values:
            context = values["context"]
            if context.isdigit():  # pixels around the mask
                self.context_spin.setValue(int(context))
                context = "pixels"
            index = self.context_combo.findData(context)
            if index >= 0:
                self.context_combo.setCurrentIndex(index)
        if "color_match" in values:
            self.color_check.setChecked(values["color_match"])
        if "soft_edges" in values:
            self.soft_check.setChecked(values["soft_edges"])
