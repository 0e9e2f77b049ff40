"""The tools dock: tool buttons, brush size/hardness/opacity, and the two colours."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

MIN_SIZE, MAX_SIZE = 1, 1000


def bigger_size(size: int) -> int:
    """The next brush size for ']' (about 15 % steps, at least 1 px)."""
    return min(MAX_SIZE, max(size + 1, round(size * 1.15)))


def smaller_size(size: int) -> int:
    return max(MIN_SIZE, min(size - 1, round(size / 1.15)))


class ColorButton(QToolButton):
    color_changed = Signal(QColor)

    def __init__(self, color: QColor, tooltip: str) -> None:
        super().__init__()
        self.setToolTip(tooltip)
        self.setFixedSize(32, 32)
        self._color = QColor(color)
        self.clicked.connect(self._choose)
        self._refresh()

    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        if QColor(color) != self._color:
            self._color = QColor(color)
            self._refresh()
            self.color_changed.emit(QColor(color))

    def _refresh(self) -> None:
        self.setStyleSheet(
            f"background-color: {self._color.name()}; border: 1px solid #444; border-radius: 3px;"
        )

    def _choose(self) -> None:
        color = QColorDialog.getColor(self._color, self, "Choose colour")
        if color.isValid():
            self.set_color(color)


class ToolOptions(QWidget):
    """Tool choice and brush settings; emits `changed` whenever a setting changes."""

    changed = Signal()

    def __init__(self, tool_actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolOptions")
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        for i, action in enumerate(tool_actions):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            grid.addWidget(button, i // 2, i % 2)
        layout.addLayout(grid)

        form = QFormLayout()
        self.size_spin = self._slider_row(form, "Size", MIN_SIZE, MAX_SIZE, 20, " px")
        self.hardness_spin = self._slider_row(form, "Hardness", 0, 100, 80, " %")
        self.opacity_spin = self._slider_row(form, "Opacity", 1, 100, 100, " %")
        self.spacing_spin = self._slider_row(form, "Spacing", 1, 100, 10, " %")
        self.smoothing_spin = self._slider_row(form, "Smoothing", 0, 95, 0, " %")
        self.pressure_size_check = QCheckBox("Size")
        self.pressure_size_check.setChecked(True)
        self.pressure_opacity_check = QCheckBox("Opacity")
        pressure = QHBoxLayout()
        for check in (self.pressure_size_check, self.pressure_opacity_check):
            check.toggled.connect(lambda _on: self.changed.emit())
            pressure.addWidget(check)
        form.addRow("Pressure", pressure)
        layout.addLayout(form)

        colours = QHBoxLayout()
        self.fg_button = ColorButton(QColor(0, 0, 0), "Foreground colour")
        self.bg_button = ColorButton(QColor(255, 255, 255), "Background colour")
        swap = QToolButton(text="⇄")
        swap.setToolTip("Swap colours (X)")
        swap.clicked.connect(self.swap_colors)
        for widget in (self.fg_button, self.bg_button, swap):
            colours.addWidget(widget)
        colours.addStretch(1)
        self.fg_button.color_changed.connect(lambda _c: self.changed.emit())
        self.bg_button.color_changed.connect(lambda _c: self.changed.emit())
        layout.addLayout(colours)
        layout.addStretch(1)

    def _slider_row(
        self, form: QFormLayout, label: str, lo: int, hi: int, value: int, suffix: str
    ) -> QSpinBox:
        row = QHBoxLayout()
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(lo, min(hi, 200) if label == "Size" else hi)
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setSuffix(suffix)
        spin.setValue(value)
        slider.setValue(value)
        slider.valueChanged.connect(spin.setValue)
        spin.valueChanged.connect(
            lambda v: (slider.blockSignals(True), slider.setValue(v), slider.blockSignals(False))
        )
        spin.valueChanged.connect(lambda _v: self.changed.emit())
        row.addWidget(slider, 1)
        row.addWidget(spin)
        form.addRow(label, row)
        return spin

    # Values ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.size_spin.value()

    def set_size(self, size: int) -> None:
        self.size_spin.setValue(int(size))

    @property
    def hardness(self) -> float:
        return self.hardness_spin.value() / 100

    @property
    def opacity(self) -> float:
        return self.opacity_spin.value() / 100

    @property
    def spacing(self) -> float:
        return self.spacing_spin.value() / 100

    @property
    def smoothing(self) -> float:
        return self.smoothing_spin.value() / 100

    @property
    def foreground(self) -> QColor:
        return self.fg_button.color()

    @property
    def background(self) -> QColor:
        return self.bg_button.color()

    def set_foreground(self, color: QColor) -> None:
        self.fg_button.set_color(color)

    def values(self) -> dict[str, object]:
        """The settings to remember between sessions."""
        return {
            "size": self.size,
            "hardness": self.hardness_spin.value(),
            "opacity": self.opacity_spin.value(),
            "spacing": self.spacing_spin.value(),
            "smoothing": self.smoothing_spin.value(),
            "pressure_size": int(self.pressure_size_check.isChecked()),
            "pressure_opacity": int(self.pressure_opacity_check.isChecked()),
            "foreground": self.foreground.name(),
            "background": self.background.name(),
        }

    def set_values(self, values: dict[str, object]) -> None:
        """Restore values(); unknown keys and unreadable values are skipped."""
        spins = {
            "size": self.size_spin,
            "hardness": self.hardness_spin,
            "opacity": self.opacity_spin,
            "spacing": self.spacing_spin,
            "smoothing": self.smoothing_spin,
        }
        for key, value in values.items():
            try:
                if key in spins:
                    spins[key].setValue(int(value))
                elif key == "pressure_size":
                    self.pressure_size_check.setChecked(bool(int(value)))
                elif key == "pressure_opacity":
                    self.pressure_opacity_check.setChecked(bool(int(value)))
                elif key in ("foreground", "background") and QColor(str(value)).isValid():
                    button = self.fg_button if key == "foreground" else self.bg_button
                    button.set_color(QColor(str(value)))
            except (TypeError, ValueError):
                continue

    def bigger(self) -> None:
        self.set_size(bigger_size(self.size))

    def smaller(self) -> None:
        self.set_size(smaller_size(self.size))

    def swap_colors(self) -> None:
        fg, bg = self.foreground, self.background
        for button, color in ((self.fg_button, bg), (self.bg_button, fg)):
            button.blockSignals(True)
            button.set_color(color)
            button.blockSignals(False)
        self.changed.emit()
