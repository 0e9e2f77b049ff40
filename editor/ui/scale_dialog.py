"""Image ▸ Scale Image: the new width and height, linked by the picture's aspect ratio.

With "Keep aspect ratio" on (the default, as in Krita's Scale Image dialog), changing one
side recomputes the other from the size the dialog opened with, so rounding does not
drift while the user types.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from editor.model.document import MAX_CANVAS_SIDE

MIN_SIDE = 1


class ScaleImageDialog(QDialog):
    def __init__(self, width: int, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scaleImageDialog")
        self.setWindowTitle("Scale Image")
        self._ratio = width / height
        form = QFormLayout(self)
        self.width_spin = self._spin(width)
        self.height_spin = self._spin(height)
        self.keep_aspect = QCheckBox("Keep aspect ratio")
        self.keep_aspect.setChecked(True)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        form.addRow("", self.keep_aspect)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.width_spin.valueChanged.connect(self._width_changed)
        self.height_spin.valueChanged.connect(self._height_changed)

    @staticmethod
    def _spin(value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(MIN_SIDE, MAX_CANVAS_SIDE)
        spin.setSuffix(" px")
        spin.setValue(value)
        return spin

    def _linked(self, spin: QSpinBox, value: float) -> None:
        if self.keep_aspect.isChecked():
            spin.blockSignals(True)
            spin.setValue(max(MIN_SIDE, round(value)))
            spin.blockSignals(False)

    def _width_changed(self, width: int) -> None:
        self._linked(self.height_spin, width / self._ratio)

    def _height_changed(self, height: int) -> None:
        self._linked(self.width_spin, height * self._ratio)

    def chosen_size(self) -> tuple[int, int]:
        return self.width_spin.value(), self.height_spin.value()
