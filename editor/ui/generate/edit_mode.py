"""Edit mode in the Generate panel: an instruction ("make the sky stormy") edits the
selection, or else the whole picture, with the models that edit by instruction.

The panel's prompt is the instruction; visible reference layers are the extra input
pictures (editor.model.layer_roles). The mode is offered only while the chosen model can
edit (engine.models.ModelInfo.can_edit, or a ComfyUI server's file name); a saved Edit
mode with a model that cannot is refused in one sentence when Generate is pressed, never
switched away behind the user's back. The result lands as a layer like any other job's,
through the feathered paste-back that keeps pixels outside the selection as they were.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QStandardItemModel

from editor.model.array_rects import box_to_rect
from editor.model.control_layers import model_composite
from editor.model.document import Document
from editor.model.layer_roles import layer_reference_sources, region_layers
from editor.ui.generate.family_settings import chosen_model
from editor.ui.generate.panel import GenerationPanel
from editor.ui.settings import Settings
from engine.generation_settings import GenerationSettings
from engine.jobs import PreparedJob, prepare_edit_job
from engine.model_families import EDIT_MODELS
from engine.models import family_can_edit

EDIT = "edit"
INSTRUCTION_HINT = "Instruction: what to change, e.g. make the sky stormy"
# An edit repaints its selection from noise, with the picture as the model's context.
EDIT_STRENGTH = 1.0
NOT_OFFERED = f"Edit needs a model that edits by instruction: {EDIT_MODELS}."


def model_can_edit(model: str, settings: Settings) -> bool:
    """Whether `model` edits by instruction, told without loading it."""
    known = chosen_model(model, settings)
    return known is not None and family_can_edit(known[0])


def edit_refusal(mode: str, model: str, settings: Settings) -> str | None:
    """One sentence when an Edit job cannot run with `model`, else None."""
    if mode != EDIT or model_can_edit(model, settings):
        return None
    return (
        f"Edit needs a model that edits by instruction ({EDIT_MODELS}); pick one, or "
        "choose another mode."
    )


def unused_regions_note(doc: Document, mode: str) -> list[str]:
    """What the results' status adds when an Edit runs beside visible region layers: the
    edit models read one instruction, and no engine gives them regional prompts."""
    if mode != EDIT or not region_layers(doc):
        return []
    return [
        "Region layers do not steer an Edit, so this edit was made without them; hide them "
        "to stop this note."
    ]


def edit_job(
    doc: Document, params: GenerationSettings, native: int, settings: Settings, precision: str
) -> PreparedJob:
    """The Edit job for `doc`: the selection, or else the inpaint mask, or else the whole
    picture is edited (a generation frame plays no part); the visible reference layers
    are its extra pictures. JobError (one sentence) when the document cannot make it."""
    area = doc.selection if doc.has_selection() else doc.mask if doc.has_mask() else None
    return prepare_edit_job(
        params,
        doc.width,
        doc.height,
        # As for Generate: guide-only layers are not part of the picture that is edited.
        lambda box: model_composite(doc, box_to_rect(box)),
        selection=area,
        references=layer_reference_sources(doc),
        native=native,
        options=settings.engine_options(),
        watermark=settings.watermark,
        precision=precision,
    )


class EditModeGate(QObject):
    """Keeps the panel's Edit entry enabled exactly while its model can edit, and the
    prompt's hint saying it is an instruction while Edit is chosen."""

    def __init__(self, panel: GenerationPanel, can_edit: Callable[[str], bool]) -> None:
        super().__init__(panel)
        self.panel, self._can_edit = panel, can_edit
        self._was_editing: bool | None = None  # None: not looked yet (settings restore)
        panel.model_changed.connect(self.update)
        panel.models_listed.connect(self.update)
        panel.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self.update()
        self._mode_changed()

    def offered(self) -> bool:
        item = self._edit_item()
        return item is not None and item.isEnabled()

    def _edit_item(self):
        model = self.panel.mode_combo.model()
        index = self.panel.mode_combo.findData(EDIT)
        return model.item(index) if isinstance(model, QStandardItemModel) and index >= 0 else None

    def update(self, *_args: object) -> None:
        item = self._edit_item()
        if item is None:
            return
        can = self._can_edit(self.panel.model())
        item.setEnabled(can)
        item.setData(
            "Edit the selection (or the whole picture) by an instruction in the prompt; "
            "visible reference layers are extra pictures."
            if can
            else NOT_OFFERED,
            Qt.ItemDataRole.ToolTipRole,
        )

    def _mode_changed(self, *_args: object) -> None:
        editing = self.panel.mode() == EDIT
        self.panel.prompt_edit.setPlaceholderText(
            INSTRUCTION_HINT if editing else self.panel.prompt_hint
        )
        if editing and self._was_editing is False:  # chosen now: the edit's own strength
            self.panel.strength_spin.setValue(EDIT_STRENGTH)
        self._was_editing = editing
