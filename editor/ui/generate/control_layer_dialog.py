"""Layer ▸ Control Layer… and Layer ▸ Make Control from Layer…

The first marks the current layer as a control (kind, strength, step range) or makes it a
normal layer again: one undo step. The second runs a preprocessor (OpenCV, on a helper
thread) over the current layer and adds the result above it as a new control layer that
already holds its control image. Each kind's one-line description (engine.control.spec)
is shown under the kind, where the user picks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from editor.model.control_layers import set_layer_control
from editor.model.control_role import ControlRole
from editor.ui.busy import run_busy
from engine.control.preprocess import preprocess
from engine.control.spec import CONTROL_KINDS

if TYPE_CHECKING:
    from editor.ui.window_roles import DocumentView

# Kinds a preprocessor can make from a picture (depth and pose need estimator models,
# which are not downloaded; inpaint uses the picture itself).
PREPROCESSED_KINDS = ("scribble", "lineart", "softedge", "canny")
NORMAL = ""  # the kind combo's entry for "not a control layer"
# A made control layer is opaque (lines on black); half opacity keeps the picture in view
# (opacity does not change the control).
MADE_LAYER_OPACITY = 0.5


def _spin(value: float, top: float, step: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, top)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setValue(value)
    return spin


class ControlLayerDialog(QDialog):
    """Kind (or none), strength and step range; `role()` is the choice."""

    # Each kind's one-line description, shown where it is picked (a subclass for another
    # layer role names its own).
    DESCRIPTIONS: dict[str, str] = CONTROL_KINDS

    def __init__(
        self,
        role: ControlRole | None,
        parent: QWidget | None = None,
        kinds: tuple[str, ...] = tuple(CONTROL_KINDS),
        allow_normal: bool = True,
        title: str = "Control Layer",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("controlLayerDialog")
        self.setWindowTitle(title)
        start = role or ControlRole(kinds[0])
        form = QFormLayout(self)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("controlKindCombo")
        if allow_normal:
            self.kind_combo.addItem("None (a normal layer)", NORMAL)
        for kind in kinds:
            self.kind_combo.addItem(kind.capitalize(), kind)
            self.kind_combo.setItemData(
                self.kind_combo.count() - 1, self.DESCRIPTIONS[kind], Qt.ItemDataRole.ToolTipRole
            )
        self.description = QLabel()
        self.description.setObjectName("controlKindDescription")
        self.description.setWordWrap(True)
        self.description.setMinimumWidth(320)
        # Room for the longest description, so a word-wrapped one is never cut off.
        self.description.setMinimumHeight(3 * self.description.fontMetrics().lineSpacing())
        self.strength_spin = _spin(start.strength, 2.0, 0.05)
        self.strength_spin.setObjectName("controlStrengthSpin")
        # Fractions of the steps, as the command line's START:END and the saved files have
        # them: labelled "From step 0.2", they read as step numbers.
        self.start_spin = _spin(start.start, 1.0, 0.05)
        self.start_spin.setObjectName("roleStartSpin")
        self.start_spin.setToolTip(
            "When the layer starts to act, as a fraction of the steps: 0 is the first "
            "step, 0.5 halfway through."
        )
        self.end_spin = _spin(start.end, 1.0, 0.05)
        self.end_spin.setObjectName("roleEndSpin")
        self.end_spin.setToolTip(
            "When it stops acting, as a fraction of the steps: 1 is the last step; 0.8 "
            "leaves the last fifth of the steps to the prompt alone."
        )
        self.prepared_check = QCheckBox("The layer already holds the control image")
        self.prepared_check.setToolTip(
            "On: the layer is used as it is (e.g. lines on black). Off: the kind's "
            "preprocessor runs on it first (strokes, or a picture for canny/lineart)."
        )
        self.prepared_check.setChecked(start.prepared)
        form.addRow("Kind", self.kind_combo)
        form.addRow(self.description)
        form.addRow("Strength", self.strength_spin)
        form.addRow("Start (fraction of the steps)", self.start_spin)
        form.addRow("End (fraction of the steps)", self.end_spin)
        form.addRow("", self.prepared_check)
        self.problem = QLabel()
        self.problem.setObjectName("controlProblem")
        self.problem.setWordWrap(True)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.kind_combo.currentIndexChanged.connect(self._update)
        for spin in (self.strength_spin, self.start_spin, self.end_spin):
            spin.valueChanged.connect(self._update)
        index = self.kind_combo.findData(
            role.kind if role else (NORMAL if allow_normal else kinds[0])
        )
        self.kind_combo.setCurrentIndex(max(index, 0))
        self._update()

    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def role(self) -> ControlRole | None:
        if self.kind() == NORMAL:
            return None
        return ControlRole(
            self.kind(),
            round(self.strength_spin.value(), 2),
            round(self.start_spin.value(), 2),
            round(self.end_spin.value(), 2),
            self.prepared_check.isChecked(),
        )

    def _update(self) -> None:
        kind = self.kind()
        control = kind != NORMAL
        self.description.setText(self.DESCRIPTIONS.get(kind, "The layer is part of the picture."))
        for widget in (self.strength_spin, self.start_spin, self.end_spin, self.prepared_check):
            widget.setEnabled(control)
        role = self.role()
        problem = role.problem() if role is not None else None
        self.problem.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)


def edit_control_layer(window: DocumentView) -> ControlLayerDialog | None:
    """Open the dialog for the current layer (window-modal; applied on OK)."""
    doc = window.document
    layer = doc.current_layer if doc is not None else None
    if layer is None:
        window.statusBar().showMessage("Choose a layer to make a control layer.", 5000)
        return None
    dialog = ControlLayerDialog(layer.control, window.window())

    def apply() -> None:
        if doc.contains(layer):
            set_layer_control(doc, layer, dialog.role())

    dialog.accepted.connect(apply)
    dialog.open()
    return dialog


def make_control_from_layer(window: DocumentView) -> ControlLayerDialog | None:
    """Ask for a kind, then add the current layer's control image as a new control layer."""
    doc = window.document
    layer = doc.current_layer if doc is not None else None
    if layer is None or layer.is_empty():
        window.statusBar().showMessage("Choose a layer with pixels to make a control from.", 5000)
        return None
    dialog = ControlLayerDialog(
        None,
        window.window(),
        PREPROCESSED_KINDS,
        allow_normal=False,
        title="Make Control from Layer",
    )
    dialog.prepared_check.hide()
    dialog.accepted.connect(lambda: add_control_from_layer(window, layer, dialog.role()))
    dialog.open()
    return dialog


def add_control_from_layer(window: DocumentView, layer, role: ControlRole | None):
    """The preprocessed `layer` (its bounds) as a new control layer above it; one undo step.
    The preprocessor runs on a helper thread, on a copy of the pixels."""
    doc = window.document
    if doc is None or role is None or not doc.contains(layer):
        return None
    rgba = layer.to_rgba()
    role = ControlRole(role.kind, role.strength, role.start, role.end, prepared=True)
    lines = run_busy(
        window.window(), "Making the control image…", lambda: preprocess(role.spec(), rgba)
    )
    made = doc.add_layer(
        f"{layer.name} ({role.kind})",
        rgba=lines,
        x=layer.x,
        y=layer.y,
        index=doc.index_of(layer) + 1,
        text="Make control from layer",
        opacity=MADE_LAYER_OPACITY,
        control=role,
    )
    doc.set_current_layer(made)
    return made
