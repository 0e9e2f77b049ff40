"""The LoRA list of the generation panel: LoRAs that fit the chosen model, each added
with an on/off switch, a weight slider (-2..2) and its trigger words, which a click
inserts into the prompt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.theme import tidy
from engine.core.errors import ModelError
from engine.lora.library import MAX_WEIGHT, MIN_WEIGHT, LoraInfo, discover_loras
from engine.models import resolve_model

_STEPS = 100  # slider steps per 1.0 of weight


class LoraRow(QWidget):
    changed = Signal()
    remove_requested = Signal()
    insert_requested = Signal(str)

    def __init__(self, info: LoraInfo, weight: float = 1.0) -> None:
        super().__init__()
        self.info = info
        self.setObjectName(f"loraRow:{info.name}")
        layout = tidy(QVBoxLayout(self), margin=None)
        top = tidy(QHBoxLayout(), margin=None)
        self.enabled_box = QCheckBox(info.name)
        self.enabled_box.setChecked(True)
        self.enabled_box.setToolTip(str(info.path))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(int(MIN_WEIGHT * _STEPS), int(MAX_WEIGHT * _STEPS))
        self.spin = QDoubleSpinBox()
        self.spin.setRange(MIN_WEIGHT, MAX_WEIGHT)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        remove = QToolButton(text="✕")
        remove.setToolTip(f"Remove {info.name}")
        remove.clicked.connect(self.remove_requested)
        top.addWidget(self.enabled_box, 1)
        top.addWidget(self.spin)
        top.addWidget(remove)
        layout.addLayout(top)
        layout.addWidget(self.slider)
        self.slider.valueChanged.connect(lambda v: self.spin.setValue(v / _STEPS))
        self.spin.valueChanged.connect(self._spin_changed)
        self.enabled_box.toggled.connect(lambda _on: self.changed.emit())
        if info.trigger_words:
            words = tidy(QHBoxLayout(), margin=None)
            words.addWidget(QLabel("Triggers:"))
            for word in info.trigger_words:
                button = QToolButton(text=word)
                button.setToolTip(f"Insert “{word}” into the prompt")
                button.clicked.connect(lambda _c=False, w=word: self.insert_requested.emit(w))
                words.addWidget(button)
            words.addStretch(1)
            layout.addLayout(words)
        self.set_weight(weight)

    def _spin_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * _STEPS))
        self.slider.blockSignals(False)
        self.changed.emit()

    def set_weight(self, weight: float) -> None:
        self.spin.setValue(max(MIN_WEIGHT, min(MAX_WEIGHT, float(weight))))

    def weight(self) -> float:
        return round(self.spin.value(), 2)

    def enabled(self) -> bool:
        return self.enabled_box.isChecked()


class LoraPanel(QWidget):
    """LoRAs for the next generation; `values()` gives the enabled (name, weight) pairs."""

    changed = Signal()
    insert_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loraPanel")
        self.extra_dirs: tuple[Path, ...] = ()
        self._available: list[LoraInfo] = []
        # The ComfyUI servers' LoRAs when generation runs there (editor.ui.servers.status).
        self.remote: list[LoraInfo] | None = None
        self.rows: list[LoraRow] = []
        layout = tidy(QVBoxLayout(self), margin=0)  # lined up with the panel's rows
        add_row = tidy(QHBoxLayout(), margin=None)
        self.combo = QComboBox()
        self.combo.setObjectName("loraCombo")
        self.add_button = QToolButton(text="Add LoRA")
        self.add_button.setObjectName("addLoraButton")
        self.add_button.clicked.connect(lambda: self.add(self.combo.currentData()))
        add_row.addWidget(QLabel("LoRA"))
        add_row.addWidget(self.combo, 1)
        add_row.addWidget(self.add_button)
        layout.addLayout(add_row)
        self.rows_layout = tidy(QVBoxLayout(), margin=None)
        layout.addLayout(self.rows_layout)
        self._fill_combo()

    def set_model(self, model_path: str) -> None:
        """List the LoRAs that fit the model at `model_path` (all, if it is unreadable)."""
        if self.remote is not None:  # generation runs on servers: theirs, not ours
            self._available = list(self.remote)
            self._fill_combo()
            return
        try:
            model = resolve_model(model_path, self.extra_dirs)
        except ModelError:
            model = None
        self._available = discover_loras(self.extra_dirs, model)
        self._fill_combo()

    def _fill_combo(self) -> None:
        self.combo.clear()
        for info in self._available:
            label = (
                info.name if not info.trigger_words else f"{info.name} ({info.trigger_words[0]}…)"
            )
            self.combo.addItem(label, info.name)
        self.combo.setEnabled(bool(self._available))
        self.add_button.setEnabled(bool(self._available))
        if not self._available:
            self.combo.addItem("No LoRAs for this model")

    def info_for(self, name: str) -> LoraInfo | None:
        lowered = str(name).lower()
        return next((i for i in self._available if i.name.lower() == lowered), None)

    def add(self, name: str | None, weight: float = 1.0, enabled: bool = True) -> LoraRow | None:
        if not name:
            return None
        for row in self.rows:
            if row.info.name.lower() == str(name).lower():
                row.set_weight(weight)
                return row
        info = self.info_for(name) or LoraInfo(str(name), Path(str(name)), None)
        row = LoraRow(info, weight)
        row.enabled_box.setChecked(enabled)
        row.changed.connect(self.changed)
        row.insert_requested.connect(self.insert_requested)
        row.remove_requested.connect(lambda r=row: self.remove(r))
        self.rows.append(row)
        self.rows_layout.addWidget(row)
        self.changed.emit()
        return row

    def remove(self, row: LoraRow) -> None:
        if row in self.rows:
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()
            self.changed.emit()

    def values(self) -> list[tuple[str, float]]:
        return [(r.info.name, r.weight()) for r in self.rows if r.enabled()]

    def set_values(self, loras: Sequence[Sequence[object]]) -> None:
        for row in list(self.rows):
            self.remove(row)
        for item in loras or ():
            name, weight = item[0], item[1]
            self.add(str(name), float(weight))
