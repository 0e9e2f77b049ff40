"""Layer ▸ Region Prompt… and Layer ▸ Reference Layer…

The first gives the current layer a regional prompt (prompt, negative prompt, and whether
the layer is also painted into the picture) or takes it away; the second marks it as a
reference picture (kind, strength, step range, and the region layer it is limited to, or
the whole picture) or makes it a normal layer again. Each is one undo step. A layer
without pixels cannot be a region: one sentence, nothing changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QWidget,
)

from editor.model.control_role import ControlRole
from editor.model.layer_roles import empty_region_problem, set_layer_reference, set_layer_region
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.ui.generate.control_layer_dialog import NORMAL, ControlLayerDialog
from engine.reference.spec import REFERENCE_KINDS

if TYPE_CHECKING:
    from editor.model.layer import Layer
    from editor.ui.window_roles import DocumentView

STATUS_MS = 5000
WHOLE_PICTURE = "Whole picture"  # the region choice of a reference that is not limited


def _prompt_box(text: str, placeholder: str, lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit(text)
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)  # prompts never need tab characters
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 12)
    return box


class RegionPromptDialog(QDialog):
    """Prompt, negative prompt and "also painted"; `role()` is the choice (None: remove)."""

    def __init__(self, role: RegionRole | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("regionPromptDialog")
        self.setWindowTitle("Region Prompt")
        self._removed = False
        start = role or RegionRole("")
        form = QFormLayout(self)
        intro = QLabel(
            "Where this layer has pixels, the prompt below is added to the Generate "
            "panel's prompt; elsewhere the panel's prompt applies alone."
        )
        intro.setWordWrap(True)
        intro.setMinimumWidth(360)
        form.addRow(intro)
        self.prompt_edit = _prompt_box(start.prompt, "What this region should show", 3)
        self.prompt_edit.setObjectName("regionPromptEdit")
        self.negative_edit = _prompt_box(start.negative_prompt, "What it should not show", 2)
        self.negative_edit.setObjectName("regionNegativeEdit")
        self.painted_check = QCheckBox("Also paint this layer into the picture")
        self.painted_check.setObjectName("regionPaintedCheck")
        self.painted_check.setToolTip(
            "Off: the layer only marks the region and the model never sees its pixels. "
            "On: its pixels are part of the picture the model repaints too."
        )
        self.painted_check.setChecked(start.painted)
        form.addRow("Prompt", self.prompt_edit)
        form.addRow("Negative", self.negative_edit)
        form.addRow("", self.painted_check)
        self.problem = QLabel()
        self.problem.setObjectName("regionProblem")
        self.problem.setWordWrap(True)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.remove_button = self.buttons.addButton(
            "Remove Region", QDialogButtonBox.ButtonRole.DestructiveRole
        )
        self.remove_button.setObjectName("removeRegionButton")
        self.remove_button.setVisible(role is not None)
        self.remove_button.clicked.connect(self.remove)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.prompt_edit.textChanged.connect(self._update)
        # Changing a region's prompt usually adds to it: typing goes after the old words.
        self.prompt_edit.moveCursor(QTextCursor.MoveOperation.End)
        self._update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Return is a new line in the prompt boxes, so Ctrl+Return (the Generate panel's
        # key) is OK, as a user who has just typed a prompt reaches for it.
        ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if ctrl and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled():
                self.accept()
            event.accept()
            return
        super().keyPressEvent(event)

    def remove(self) -> None:
        """Accept with no region: the layer becomes a normal layer."""
        self._removed = True
        self.accept()

    def role(self) -> RegionRole | None:
        if self._removed:
            return None
        return RegionRole(
            self.prompt_edit.toPlainText().strip(),
            self.negative_edit.toPlainText().strip(),
            self.painted_check.isChecked(),
        )

    def _update(self) -> None:
        role = self.role()
        problem = role.problem() if role is not None else None
        self.problem.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)


class ReferenceLayerDialog(ControlLayerDialog):
    """Kind (or none), strength, step range and region of a reference layer; `regions`
    are the names of the document's region layers it can be limited to, `hidden` those of
    them no visible region layer has (listed, marked: a job refuses them until shown)."""

    DESCRIPTIONS = REFERENCE_KINDS

    def __init__(
        self,
        role: ReferenceRole | None,
        parent: QWidget | None = None,
        regions: Sequence[str] = (),
        hidden: Collection[str] = (),
    ) -> None:
        # The base dialog reads a role's kind, strength and step range, which both share.
        shown = (
            None if role is None else ControlRole(role.kind, role.strength, role.start, role.end)
        )
        super().__init__(shown, parent, tuple(REFERENCE_KINDS), title="Reference Layer")
        self.setObjectName("referenceLayerDialog")
        self.prepared_check.hide()
        self.region_combo = QComboBox()
        self.region_combo.setObjectName("referenceRegionCombo")
        self.region_combo.setToolTip(
            "A region layer limits the reference to where that layer has pixels; the "
            "picture outside stays as it is without the reference."
        )
        self.region_combo.addItem(WHOLE_PICTURE, "")
        current = role.region if role is not None else ""
        for name in dict.fromkeys([*regions, *([current] if current else [])]):
            # A region renamed or removed since stays listed, so OK does not drop it.
            if name not in regions:
                label = f"{name} (no such region layer)"
            else:
                label = f"{name} (hidden)" if name in hidden else name
            self.region_combo.addItem(label, name)
        self.region_combo.setCurrentIndex(self.region_combo.findData(current))
        layout = self.layout()
        assert isinstance(layout, QFormLayout)
        # Under the step range, above the problem line and the buttons.
        layout.insertRow(layout.rowCount() - 2, "Region", self.region_combo)
        self.kind_combo.currentIndexChanged.connect(self._enable_region)
        self._enable_region()
        if role is None:  # asked for on a normal layer: it is to become a reference
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(next(iter(REFERENCE_KINDS))))

    def _enable_region(self) -> None:
        self.region_combo.setEnabled(self.kind() != NORMAL)

    def role(self) -> ReferenceRole | None:  # type: ignore[override]
        if self.kind() == NORMAL:
            return None
        return ReferenceRole(
            self.kind(),
            round(self.strength_spin.value(), 2),
            round(self.start_spin.value(), 2),
            round(self.end_spin.value(), 2),
            self._region(),
        )

    def _region(self) -> str:
        # The base dialog asks for the role while it is built, before the region combo.
        combo = getattr(self, "region_combo", None)
        return str(combo.currentData() or "") if combo is not None else ""


def _current_layer(window: DocumentView, refusal: str) -> Layer | None:
    doc = window.document
    layer = doc.current_layer if doc is not None else None
    if layer is None:
        window.statusBar().showMessage(refusal, STATUS_MS)
    return layer


def _apply(window: DocumentView, setter, layer: Layer, role) -> None:
    doc = window.document
    if doc is None or not doc.contains(layer):
        return
    try:
        setter(doc, layer, role)
    except ValueError as e:  # the layer changed while the dialog was open
        window.statusBar().showMessage(str(e), STATUS_MS)


def edit_region_prompt(window: DocumentView) -> RegionPromptDialog | None:
    """Open the region dialog for the current layer (window-modal; applied on OK)."""
    layer = _current_layer(window, "Choose a layer to give a region prompt.")
    if layer is None:
        return None
    problem = empty_region_problem(layer)
    if problem and layer.region_prompt is None:
        window.statusBar().showMessage(problem, STATUS_MS)
        return None
    dialog = RegionPromptDialog(layer.region_prompt, window.window())
    dialog.accepted.connect(lambda: _apply(window, set_layer_region, layer, dialog.role()))
    dialog.open()
    return dialog


def edit_reference_layer(window: DocumentView) -> ReferenceLayerDialog | None:
    """Open the reference dialog for the current layer (window-modal; applied on OK)."""
    layer = _current_layer(window, "Choose a layer to make a reference layer.")
    if layer is None:
        return None
    layers = window.document.layers if window.document is not None else []
    regions = [other for other in layers if other.region_prompt is not None]
    shown = {other.name for other in regions if other.visible}
    names = [other.name for other in regions]
    hidden = {name for name in names if name not in shown}
    dialog = ReferenceLayerDialog(layer.reference, window.window(), names, hidden)
    dialog.accepted.connect(lambda: _apply(window, set_layer_reference, layer, dialog.role()))
    dialog.open()
    return dialog
