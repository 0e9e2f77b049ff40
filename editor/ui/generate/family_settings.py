"""The Generate panel's settings per model family: what the guidance box is (CFG, FLUX's
distilled guidance, or none for schnell and turbo models), whether there is a negative
prompt, the samplers on offer (the flow-matching ones, with a shift, for FLUX, SD 3.5,
Qwen-Image, Z-Image and Chroma), and the steps and guidance each family starts from.

The values (engine.family_defaults) are put in when the chosen model's family changes, not
when the window opens: a saved session keeps its own numbers. The rows themselves follow
the model at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject

from editor.ui.generate.panel import GenerationPanel
from editor.ui.servers.page import server_urls, servers_enabled
from editor.ui.settings import Settings
from engine.comfy.server_models import family_from_name
from engine.core.errors import EngineError
from engine.family_defaults import FamilySettings, settings_for
from engine.models import resolve_model

log = logging.getLogger(__name__)

NEGATIVE_HINT = "Negative prompt"
NO_NEGATIVE_HINT = "This model takes no negative prompt"


def chosen_model(model: str, settings: Settings) -> tuple[str, str, str | None] | None:
    """(family, name, guidance kind or None) of the panel's `model`, told without loading
    it; None when it cannot be told."""
    if servers_enabled(settings) and server_urls(settings):
        # A server's file: only its name can tell (engine.comfy.server_models).
        return family_from_name(model) or "sd1", model, None
    try:
        info = resolve_model(model, settings.model_dirs)
    except (EngineError, OSError, ValueError) as e:
        log.info("the family of %r is unknown (%s)", model, e)
        return None
    return info.family, info.name, info.guidance


def family_settings(model: str, settings: Settings) -> FamilySettings:
    """The settings of `model`, told without loading it (SD's when it cannot be told)."""
    known = chosen_model(model, settings)
    return settings_for(*known) if known is not None else settings_for("sd1", model)


class FamilySettingsGate(QObject):
    """Keeps the panel's guidance, negative prompt, sampler and shift rows those of the
    chosen model's family."""

    def __init__(self, panel: GenerationPanel, describe: Callable[[str], FamilySettings]) -> None:
        super().__init__(panel)
        self.panel, self._describe = panel, describe
        self.current: FamilySettings | None = None
        panel.model_changed.connect(self.update)
        panel.models_listed.connect(self.update)
        self.update()

    def update(self, *_args: object) -> None:
        family = self._describe(self.panel.model())
        changed = self.current is not None and self.current.key != family.key
        self.current = family
        self._show_rows(family)
        if changed:  # another family: its own numbers (a restored session keeps its own)
            self.panel.steps_spin.setValue(family.steps)
            self.panel.guidance_spin.setValue(family.guidance_value)
            self.panel.shift_spin.setValue(0.0)
            self._set_sampler(family.sampler)

    def _show_rows(self, family: FamilySettings) -> None:
        panel = self.panel
        form = panel.parameters_form
        label = form.labelForField(panel.guidance_spin)
        if label is not None and family.guidance_label:
            label.setText(family.guidance_label)
            panel.align_labels()
        form.setRowVisible(panel.guidance_spin, family.guidance != "none")
        if family.guidance == "none":
            # Few-step models run without guidance; 0 turns classifier-free guidance off.
            panel.guidance_spin.setValue(0.0)
        panel.guidance_spin.setToolTip(
            f"{family.label}: a guidance value built into the model, not classifier-free "
            "guidance (no negative prompt)"
            if family.guidance == "distilled"
            else "Classifier-free guidance: how closely the picture follows the prompt"
        )
        panel.negative_edit.setEnabled(family.negative_prompt)
        panel.negative_edit.setPlaceholderText(
            NEGATIVE_HINT if family.negative_prompt else NO_NEGATIVE_HINT
        )
        panel.advanced_form.setRowVisible(panel.shift_spin, family.shift)
        combo = panel.scheduler_combo
        names = tuple(combo.itemText(i) for i in range(combo.count()))
        if names != family.samplers:
            current = combo.currentText()
            combo.blockSignals(True)
            try:
                combo.clear()
                combo.addItems(family.samplers)
            finally:
                combo.blockSignals(False)
            self._set_sampler(current if current in family.samplers else family.sampler)

    def _set_sampler(self, name: str) -> None:
        index = self.panel.scheduler_combo.findText(name)
        if index >= 0:
            self.panel.scheduler_combo.setCurrentIndex(index)
