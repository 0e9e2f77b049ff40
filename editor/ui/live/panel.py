"""The Live dock's widgets: the Live toggle, live strength and steps, the speed preset,
where the result shows (overlay or side view), Apply and Record.

Only widgets; editor.ui.live.mode.LiveController does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.theme import tidy
from engine.speed_presets import SpeedPreset

DISPLAYS = (("overlay", "Overlay on the canvas"), ("side", "Side view"))
# A light refine, near Krita's 0.3: at 0.5 the demo model erased small strokes, since a
# blob of 110-275 px on the 1024 px start canvas is 14-34 px at its 128 px (60 held-out
# blobs kept: 60% at 0.5, 90% at 0.35; 0.3 kept no more). 0.35 still turns a blob sketch
# into the captioned shape 92% of the time (0.5: 97%, 0.3: 85%; 40 held-out scenes).
DEFAULT_STRENGTH = 0.35
# The fewest steps that keep the demo model's quality. Measured on held-out blob sketches
# (strength 0.5, Euler a): classifier-free guidance doubles each step's work, and guidance
# 1 kept colour, position and kind as well as 7 did (24 sketches, 4 steps: kind 100% vs
# 92%); at guidance 1, 3 steps kept all of them at 100% like 4 (40 sketches), 2 steps
# lost the kind in 3%.
DEFAULT_STEPS = 3
DEFAULT_GUIDANCE = 1.0
VIEW_SIDE = 200  # what the side view asks for
VIEW_MIN = 128  # the least it takes, so the dock's buttons keep their room


class LiveView(QLabel):
    """The side view: the live result fitted into whatever room the dock has. Its size
    never follows the picture, so a result cannot push the docks around."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveView")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(VIEW_MIN, VIEW_MIN)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None

    def sizeHint(self) -> QSize:
        return QSize(VIEW_SIDE, VIEW_SIDE)

    def minimumSizeHint(self) -> QSize:
        return QSize(VIEW_MIN, VIEW_MIN)

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self._fit()

    def _fit(self) -> None:
        if self._image is None:
            self.clear()
        elif self.isVisible():
            pixmap = QPixmap.fromImage(self._image).scaled(
                self.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.setPixmap(pixmap)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit()


class LivePanel(QWidget):
    toggled = Signal(bool)
    settings_changed = Signal()
    display_changed = Signal(str)
    apply_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("livePanel")
        layout = tidy(QVBoxLayout(self))
        self.live_button = QPushButton("Live")
        self.live_button.setObjectName("liveButton")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Live painting: the region is refined as you paint (Ctrl+L)")
        self.live_button.toggled.connect(
            lambda on: self.live_button.setText("Live: on (click to stop)" if on else "Live")
        )
        self.live_button.toggled.connect(self.toggled)
        layout.addWidget(self.live_button)
        # Apply and the view switch sit with the Live button, as in Krita's live toolbar:
        # they stay in view however short the dock (editor.ui.dock_layout).
        row = tidy(QHBoxLayout(), margin=None)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("liveApplyButton")
        self.apply_button.setToolTip("Copy the live result into a new layer")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply_requested)
        self.record_check = QCheckBox("Record")
        self.record_check.setObjectName("liveRecord")
        self.record_check.setToolTip("Keep every live result as a numbered PNG frame")
        self.folder_button = QToolButton(text="…")
        self.folder_button.setObjectName("liveRecordFolder")
        self.folder_button.setToolTip("Folder for the recorded frames")
        self.folder_button.clicked.connect(self._choose_folder)
        row.addWidget(self.apply_button, 1)
        row.addWidget(self.record_check)
        row.addWidget(self.folder_button)
        layout.addLayout(row)
        show_row = tidy(QHBoxLayout(), margin=None)
        self.display_combo = QComboBox()
        self.display_combo.setObjectName("liveDisplay")
        self.display_combo.setToolTip("Where the live result shows")
        for key, text in DISPLAYS:
            self.display_combo.addItem(text, key)
        show_row.addWidget(QLabel("Show"))
        show_row.addWidget(self.display_combo, 1)
        layout.addLayout(show_row)
        self.status_label = QLabel("")
        self.status_label.setObjectName("liveStatus")
        self.status_label.setWordWrap(True)
        self.status_label.hide()
        layout.addWidget(self.status_label)
        self.steering_label = QLabel("")
        self.steering_label.setObjectName("liveSteering")
        self.steering_label.setWordWrap(True)
        self.steering_label.setToolTip(
            "Visible control layers guide the live result; hide one to paint without it"
        )
        self.steering_label.hide()
        layout.addWidget(self.steering_label)
        # The side view comes before the settings: in a short dock the settings scroll.
        self.view = LiveView()
        self.view.hide()
        layout.addWidget(self.view, 1)

        form = tidy(QFormLayout(), margin=None)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setObjectName("liveStrength")
        self.strength_spin.setRange(0.05, 1.0)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setValue(DEFAULT_STRENGTH)
        form.addRow("Live strength", self.strength_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setObjectName("liveSteps")
        self.steps_spin.setRange(1, 30)
        self.steps_spin.setValue(DEFAULT_STEPS)
        self.steps_spin.setToolTip("Denoising steps each live result runs")
        form.addRow("Live steps", self.steps_spin)
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setObjectName("liveGuidance")
        self.guidance_spin.setRange(1.0, 20.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(DEFAULT_GUIDANCE)
        self.guidance_spin.setToolTip(
            "Guidance (CFG) of live results; 1 skips the unguided pass and is twice as fast"
        )
        form.addRow("Live guidance", self.guidance_spin)
        self.speed_combo = QComboBox()
        self.speed_combo.setObjectName("liveSpeed")
        self.speed_combo.setToolTip(
            "A speed LoRA or turbo model's own steps, guidance and sampler; "
            "otherwise the live steps and guidance and the Generate panel's sampler"
        )
        form.addRow("Speed", self.speed_combo)
        layout.addLayout(form)
        self.set_presets([])

        layout.addStretch(0)
        self.record_folder: Path | None = None

        for signal in (
            self.strength_spin.valueChanged,
            self.steps_spin.valueChanged,
            self.guidance_spin.valueChanged,
            self.speed_combo.currentIndexChanged,
        ):
            signal.connect(lambda *_: self.settings_changed.emit())
        self.display_combo.currentIndexChanged.connect(self._display_chosen)

    # Settings ------------------------------------------------------------------------
    def set_presets(self, presets: list[SpeedPreset]) -> None:
        current = self.preset()
        self.speed_combo.blockSignals(True)
        try:
            self.speed_combo.clear()
            self.speed_combo.addItem("Generate panel settings", None)
            for preset in presets:
                self.speed_combo.addItem(preset.name, preset)
            index = self.speed_combo.findText(current.name) if current else -1
            # A turbo model asks for its own settings: pick them unless the user chose.
            if index < 0 and presets and presets[0].distilled:
                index = 1
            self.speed_combo.setCurrentIndex(max(index, 0))
        finally:
            self.speed_combo.blockSignals(False)

    def preset(self) -> SpeedPreset | None:
        data = self.speed_combo.currentData()
        return data if isinstance(data, SpeedPreset) else None

    def values(self) -> dict[str, Any]:
        return {
            "strength": self.strength_spin.value(),
            "steps": self.steps_spin.value(),
            "guidance": self.guidance_spin.value(),
            "preset": self.preset(),
        }

    def display(self) -> str:
        return str(self.display_combo.currentData())

    def set_display(self, key: str) -> None:
        index = self.display_combo.findData(key)
        if index >= 0:
            self.display_combo.setCurrentIndex(index)

    def _display_chosen(self, _index: int) -> None:
        self.view.setVisible(self.display() == "side")
        self.display_changed.emit(self.display())

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the live frames")
        if path:
            self.record_folder = Path(path)
            self.record_check.setChecked(True)

    # Results -------------------------------------------------------------------------
    def show_result(self, image: QImage | None) -> None:
        """The side view's picture (None: empty)."""
        self.apply_button.setEnabled(image is not None)
        if image is None:
            self.view.set_image(None)
            return
        self.view.set_image(image)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))  # an empty line would leave a gap

    def set_steering(self, controls: list[str]) -> None:
        """The layers steering the live result ("Scribble (Layer 2)", "Region prompt
        (Layer 3)"); none: hidden."""
        self.steering_label.setText(f"Steered by: {', '.join(controls)}" if controls else "")
        self.steering_label.setVisible(bool(controls))
