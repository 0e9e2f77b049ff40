"""The Train dialog's last choices, kept in the Settings file's [train] group.

Cancel leaves a checkpoint that Train continues only with the same pictures and settings
(engine.training.checkpoint's run key) and the same LoRA name (where it is kept), so
after a restart the dialog comes back with every field as it was left: the folder, the
concept word, the template, the base model, the preset, the numbers, flips and the name.
A folder gone since is not put back; the dialog says so in one sentence instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor.ui.settings import Settings

if TYPE_CHECKING:
    from editor.ui.train.dialog import TrainDialog

TRAIN_SETTINGS = "train"


def _texts(dialog: TrainDialog) -> dict[str, Any]:
    return {
        "folder": dialog.folder_edit,
        "concept": dialog.concept_edit,
        "template": dialog.template_edit,
        "name": dialog.name_edit,
    }


def _spins(dialog: TrainDialog) -> dict[str, Any]:
    return {
        "steps": dialog.steps_spin,
        "rank": dialog.rank_spin,
        "batch": dialog.batch_spin,
        "seed": dialog.seed_spin,
        "sample_every": dialog.sample_spin,
    }


def values(dialog: TrainDialog) -> dict[str, Any]:
    """The dialog's fields as the Settings group stores them."""
    data: dict[str, Any] = {key: edit.text() for key, edit in _texts(dialog).items()}
    data.update({key: spin.value() for key, spin in _spins(dialog).items()})
    data["model"] = str(dialog.model_combo.currentData() or "")
    data["preset"] = dialog.preset_combo.currentText()
    data["flip"] = dialog.flip_box.isChecked()
    return data


def save(dialog: TrainDialog, settings: Settings) -> None:
    settings.set_group(TRAIN_SETTINGS, values(dialog))


def restore(dialog: TrainDialog, settings: Settings) -> str:
    """Put the stored fields back; returns the sentence saying the stored folder is gone
    ('' when it is there, or none was stored). Values an older or hand-edited file holds
    wrongly are left at the dialog's defaults."""
    stored = settings.group(TRAIN_SETTINGS)
    gone = ""
    for key, edit in _texts(dialog).items():
        text = stored.get(key)
        if not isinstance(text, str):
            continue
        if key == "folder" and text.strip() and not Path(text.strip()).is_dir():
            gone = (
                f"The picture folder {text.strip()} used last time is gone (moved or "
                "deleted); choose the folder of pictures again."
            )
            continue
        edit.setText(text)
    for key, spin in _spins(dialog).items():
        try:
            number = int(stored[key])
        except (KeyError, TypeError, ValueError):
            continue
        if spin.minimum() <= number <= spin.maximum():
            spin.setValue(number)
    index = dialog.model_combo.findData(str(stored.get("model") or ""))
    if index >= 0:  # a model removed since: the one the window has chosen stays
        dialog.model_combo.setCurrentIndex(index)
    if dialog.preset_combo.findText(str(stored.get("preset") or "")) >= 0:
        dialog.preset_combo.setCurrentText(str(stored["preset"]))
    if "flip" in stored:
        dialog.flip_box.setChecked(str(stored["flip"]).lower() in ("1", "true", "yes", "on"))
    return gone


def keep(dialog: TrainDialog, settings: Settings) -> str:
    """Restore the stored fields, then store every change as it is made (a window closed
    with the dialog open keeps them too: it syncs its Settings on closing). Returns
    restore's sentence about a folder that is gone."""
    gone = restore(dialog, settings)
    for edit in _texts(dialog).values():
        edit.textChanged.connect(lambda _text: save(dialog, settings))
    for spin in _spins(dialog).values():
        spin.valueChanged.connect(lambda _value: save(dialog, settings))
    for combo in (dialog.model_combo, dialog.preset_combo):
        combo.currentIndexChanged.connect(lambda _index: save(dialog, settings))
    dialog.flip_box.toggled.connect(lambda _on: save(dialog, settings))
    return gone
