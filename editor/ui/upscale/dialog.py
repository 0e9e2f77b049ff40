"""Image ▸ Upscale…: the size, the upscaler and the optional refine.

The dialog only gathers settings: Upscale hands them to `editor.ui.upscale.controller` and
closes. The job then runs like a generation, its progress and Cancel in the Generate
panel (Esc cancels too), while the window stays usable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.model.document import MAX_CANVAS_SIDE
from editor.ui.theme import main_button
from engine.upscale.run import DEFAULT_REFINE_STRENGTH, MAX_SIDE

CUSTOM = 0.0  # the scale combo's data for "a size"


@dataclass(frozen=True)
class UpscaleChoice:
    """What the user asked for in the dialog."""

    width: int  # the whole canvas's new size
    height: int
    scale_text: str  # "×2", "×4" or "1024×768", for the undo step's name
    upscaler: str  # an upscaler folder, or "lanczos"
    refine: bool
    strength: float
    prompt: str
    selection_only: bool


class UpscaleDialog(QDialog):
    start_requested = Signal(object)  # UpscaleChoice; the receiver closes the dialog

    def __init__(
        self,
        width: int,
        height: int,
        upscalers: list[Path],
        prompt: str = "",
        has_selection: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("upscaleDialog")
        self.setWindowTitle("Upscale")
        self._source = (width, height)
        self._has_selection = has_selection
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.scale_combo = QComboBox()
        for text, data in (("×2", 2.0), ("×4", 4.0), ("To a size", CUSTOM)):
            self.scale_combo.addItem(text, data)
        form.addRow("Upscale", self.scale_combo)
        self.width_spin, self.height_spin = self._spin(width * 2), self._spin(height * 2)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        self.size_label = QLabel()
        self.size_label.setObjectName("upscaleSizeLabel")
        form.addRow("", self.size_label)

        self.upscaler_combo = QComboBox()
        for folder in upscalers:
            self.upscaler_combo.addItem(f"Stable Diffusion x4 ({folder.name})", str(folder))
        self.upscaler_combo.addItem("Lanczos (no model)", "lanczos")
        self.upscaler_combo.setToolTip(
            "The x4 upscaler adds detail but is slow on a CPU; install it from the Models "
            "dialog. Lanczos is instant."
        )
        form.addRow("Upscaler", self.upscaler_combo)

        self.refine_check = QCheckBox("Refine after upscaling")
        self.refine_check.setToolTip(
            "Repaint the upscaled picture lightly, tile by tile at the model's size, with "
            "the model chosen in the Generate panel. Tile edges are blended so none shows."
        )
        form.addRow("", self.refine_check)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.05, 1.0)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setValue(DEFAULT_REFINE_STRENGTH)
        form.addRow("Refine strength", self.strength_spin)
        # Empty, not the Generate panel's prompt: every tile is refined with it, and a
        # subject named there came back once per tile, a grid of small copies over the
        # picture (the demo model drew a triangle in each tile of a flat green picture).
        self.prompt_edit = QLineEdit(prompt)
        self.prompt_edit.setPlaceholderText("optional: a style or texture, not the subject")
        self.prompt_edit.setToolTip(
            "Every tile is refined with this prompt, so a subject named here is drawn again "
            "in each tile. Leave it empty, or name a look that fits everywhere "
            '("sharp, detailed", "oil painting").'
        )
        form.addRow("Prompt", self.prompt_edit)

        self.selection_check = QCheckBox("Only the selection gets the upscaler and refine")
        self.selection_check.setEnabled(has_selection)
        self.selection_check.setChecked(has_selection)
        self.selection_check.setToolTip(
            "The whole picture is scaled; the selected part is upscaled (and refined) with "
            "the model, which costs only its area."
        )
        form.addRow("", self.selection_check)

        self.status_label = QLabel()
        self.status_label.setObjectName("upscaleStatus")
        self.status_label.setWordWrap(True)
        self.status_label.hide()
        layout.addWidget(self.status_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = QPushButton("Upscale")
        self.start_button.setObjectName("upscaleStart")
        self.buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.start_button.clicked.connect(self._start)
        layout.addWidget(self.buttons)
        main_button(self.start_button)  # Return upscales, not Cancel

        self.scale_combo.currentIndexChanged.connect(self._update)
        self.width_spin.valueChanged.connect(self._width_changed)
        self.height_spin.valueChanged.connect(self._height_changed)
        self.refine_check.toggled.connect(self._update)
        self._update()

    @staticmethod
    def _spin(value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(1, min(MAX_SIDE, MAX_CANVAS_SIDE))
        spin.setSuffix(" px")
        spin.setValue(value)
        return spin

    # Size ---------------------------------------------------------------------------
    def _linked(self, spin: QSpinBox, value: float) -> None:
        spin.blockSignals(True)
        spin.setValue(max(1, round(value)))
        spin.blockSignals(False)
        self._update()

    def _width_changed(self, width: int) -> None:
        w, h = self._source
        self._linked(self.height_spin, width * h / w)

    def _height_changed(self, height: int) -> None:
        w, h = self._source
        self._linked(self.width_spin, height * w / h)

    def chosen_size(self) -> tuple[int, int]:
        scale = float(self.scale_combo.currentData())
        if scale == CUSTOM:
            return self.width_spin.value(), self.height_spin.value()
        w, h = self._source
        return round(w * scale), round(h * scale)

    def _update(self) -> None:
        custom = float(self.scale_combo.currentData()) == CUSTOM
        for widget in (self.width_spin, self.height_spin):
            widget.setEnabled(custom)
        w, h = self.chosen_size()
        self.size_label.setText(f"{self._source[0]} × {self._source[1]} → {w} × {h} px")
        refine = self.refine_check.isChecked()
        self.strength_spin.setEnabled(refine)
        self.prompt_edit.setEnabled(refine)

    # The choice ---------------------------------------------------------------------------
    def choice(self) -> UpscaleChoice:
        w, h = self.chosen_size()
        scale = float(self.scale_combo.currentData())
        return UpscaleChoice(
            width=w,
            height=h,
            scale_text=f"×{scale:g}" if scale != CUSTOM else f"{w}×{h}",
            upscaler=str(self.upscaler_combo.currentData()),
            refine=self.refine_check.isChecked(),
            strength=self.strength_spin.value(),
            prompt=self.prompt_edit.text().strip(),
            selection_only=self.selection_check.isChecked() and self._has_selection,
        )

    def _start(self) -> None:
        self.start_requested.emit(self.choice())

    def show_message(self, text: str) -> None:
        """Why the job could not start (the dialog stays open)."""
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))
