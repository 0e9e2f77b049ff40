"""The generation dock: model, prompt, parameters, Generate/Cancel and progress.

Only widgets live here. Building a request from the document is the generation
controller's job; the panel just hands out its settings as one GenerationSettings.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.collapsible import Collapsible
from editor.ui.dock_layout import keep_in_view, scrolling
from editor.ui.generate.inpaint_options import InpaintOptions
from editor.ui.generate.lora_panel import LoraPanel
from editor.ui.generate.status_line import StatusLine
from editor.ui.icons import icon
from editor.ui.theme import PANEL_MARGIN, tidy
from engine.generation_settings import GenerationSettings, parse_values
from engine.inpaint_modes import default_strength
from engine.schedulers import SCHEDULER_NAMES

MODES: tuple[str, ...] = ("auto", "txt2img", "img2img", "inpaint", "fill", "edit")
MODE_LABELS = {
    "auto": "Auto",
    "txt2img": "Text to image",
    "img2img": "Image to image",
    "inpaint": "Inpaint",
    "fill": "Fill (no model)",
    "edit": "Edit (instruction)",  # offered by editor.ui.generate.edit_mode
}
# The empty prompt box says where Generate will paint (engine.region.pick_region's
# sources); "region" alone read as the region layers of Layer > Region Prompt.
PROMPT_HINTS = {
    "canvas": "Prompt: what should appear in the picture",
    "selection": "Prompt: what should appear in the selection",
    "mask": "Prompt: what should appear in the masked area",
    "frame": "Prompt: what should appear in the frame",
}
MAX_SEED = 2**31 - 1
SEED_LOCKED_TIP = "Seed locked: Generate reuses it (click to unlock)"
SEED_UNLOCKED_TIP = "Seed unlocked: each Generate draws a new one (click to lock)"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class PromptEdit(QPlainTextEdit):
    """A prompt box where Tab moves focus on (prompts never need tab characters)."""

    def __init__(self, placeholder: str) -> None:
        super().__init__()
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        self.setMaximumHeight(90)


class GenerationPanel(QWidget):
    generate_requested = Signal()
    cancel_requested = Signal()
    model_changed = Signal(str)
    models_listed = Signal()  # the model picker was filled anew

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("generationPanel")
        # The settings scroll; Generate, Cancel and the progress bar (the status line too)
        # are pinned under them, so opening Advanced (which scrolls it into view) or a short
        # dock never hides them. `body_layout` is the settings' layout, for rows added from
        # outside.
        body = QWidget()
        self.body_layout = layout = tidy(QVBoxLayout(body))

        model_row = tidy(QHBoxLayout(), margin=None)
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelCombo")
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.currentIndexChanged.connect(
            lambda _i: self.model_changed.emit(self.model())
        )
        self.browse_button = browse = QToolButton(text="…")
        browse.setObjectName("browseModelButton")
        browse.setToolTip("Use a model folder or .safetensors file")
        # One folder dialog cannot pick a file too: the button offers both.
        browse.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        browse_menu = QMenu(browse)
        browse_menu.setObjectName("browseModelMenu")
        browse_menu.addAction("Model Folder…", self._browse_model)
        browse_menu.addAction("Model File (.safetensors, .gguf)…", self._browse_model_file)
        browse.setMenu(browse_menu)
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(browse)
        layout.addLayout(model_row)

        self.prompt_hint = PROMPT_HINTS["canvas"]
        self.prompt_edit = PromptEdit(self.prompt_hint)
        self.prompt_edit.setObjectName("promptEdit")
        self.negative_edit = PromptEdit("Negative prompt")
        self.negative_edit.setObjectName("negativePromptEdit")
        self.negative_edit.setMaximumHeight(50)
        layout.addWidget(self.prompt_edit)
        layout.addWidget(self.negative_edit)
        self.lora_panel = LoraPanel()
        self.lora_panel.insert_requested.connect(self.insert_in_prompt)
        self.model_changed.connect(self.lora_panel.set_model)
        self.model_changed.connect(self._forget_other_models_error)
        layout.addWidget(self.lora_panel)

        buttons = tidy(QHBoxLayout(), margin=None)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)

        # The bar is the dock's one status line too (editor.ui.generate.status_line):
        # the steps, the wait before them, results waiting and the last message.
        self.progress_bar = StatusLine()
        self.progress_bar.setObjectName("generationProgress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self._ready = ""  # what waits for the user ("1 result ready: …")
        self._message, self._message_is_error = "", False
        self._error_model: str | None = None  # the model picked when the error came
        self._waiting = ""  # the busy bar's text before the first step
        self._steps = ""  # "Step 3/8 — 5 s left"
        self._show()
        # The rows a model family changes (editor.ui.generate.family_settings) are fields of
        # these forms: guidance here, shift in `advanced_form`.
        self.parameters_form = form = tidy(QFormLayout(), margin=None)
        self.mode_combo = QComboBox()
        for mode in MODES:
            self.mode_combo.addItem(MODE_LABELS[mode], mode)
        form.addRow("Mode", self.mode_combo)

        seed_row = tidy(QHBoxLayout(), margin=None)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setToolTip("The seed of the last Generate; type one to lock it")
        # Unlocked, each Generate draws a new seed (two presses, two pictures); locked,
        # it reuses the one shown. A seed the user types or copies locks it, as in A1111.
        self.seed_lock = QToolButton(text="Lock")
        self.seed_lock.setObjectName("seedLockButton")
        self.seed_lock.setCheckable(True)
        self.seed_lock.setToolTip(SEED_UNLOCKED_TIP)
        self.seed_lock.toggled.connect(self._show_seed_lock)
        self.seed_spin.valueChanged.connect(lambda _v: self.set_seed_locked(True))
        self.dice_button = QToolButton(text="Random")
        self.dice_button.setObjectName("randomSeedButton")
        self.dice_button.setToolTip("Pick a new random seed now")
        self.dice_button.clicked.connect(self.randomize_seed)
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.seed_lock)
        seed_row.addWidget(self.dice_button)
        form.addRow("Seed", seed_row)

        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 150)
        self.steps_spin.setValue(20)
        form.addRow("Steps", self.steps_spin)
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 30.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(7.0)
        form.addRow("Guidance", self.guidance_spin)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.0, 1.0)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setValue(0.75)
        form.addRow("Strength", self.strength_spin)
        layout.addLayout(form)
        # What a new user rarely changes folds away, so the settings above fit the dock at
        # the default window size and these are one click away, not below the fold.
        self.advanced = Collapsible("Advanced: sampler, samples, inpainting")
        self.advanced.setObjectName("advancedSettings")
        self.advanced.header.setObjectName("advancedToggle")
        self.advanced_form = form = tidy(QFormLayout(), margin=None)
        self.advanced.content.addLayout(form)
        self.scheduler_combo = QComboBox()
        self.scheduler_combo.addItems(SCHEDULER_NAMES)
        form.addRow("Scheduler", self.scheduler_combo)
        self.shift_spin = QDoubleSpinBox()
        self.shift_spin.setObjectName("shiftSpin")
        self.shift_spin.setRange(0.0, 20.0)
        self.shift_spin.setSingleStep(0.5)
        self.shift_spin.setSpecialValueText("Model's own")  # 0: the model's own shift
        self.shift_spin.setToolTip(
            "Flow-matching sampler shift: higher spends more steps on the picture's layout"
        )
        form.addRow("Shift", self.shift_spin)
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(1, 8)
        self.samples_spin.setValue(1)
        form.addRow("Samples", self.samples_spin)
        self.inpaint_options = InpaintOptions()
        self.inpaint_options.mode_chosen.connect(self._inpaint_mode_chosen)
        self.advanced.content.addWidget(self.inpaint_options)
        layout.addWidget(self.advanced)
        self.align_labels()

        layout.addStretch(1)
        self.scroll = scrolling(body)
        keep_in_view(self.scroll, self.negative_edit)  # the prompts too, however short
        outer = tidy(QVBoxLayout(self), margin=0)
        outer.addWidget(self.scroll, 1)
        # Messages are the progress bar's text, not rows of their own: the footer keeps
        # its height, so neither the settings' rows nor Generate ever move for one.
        footer = tidy(QVBoxLayout())
        footer.setContentsMargins(PANEL_MARGIN, 0, PANEL_MARGIN, PANEL_MARGIN)
        footer.addWidget(self.progress_bar)
        footer.addLayout(buttons)
        outer.addLayout(footer)
        self._set_icons()

    def _set_icons(self) -> None:
        """Icons for the small buttons, in the current palette's colours (the text
        stays as the fallback should an icon file be missing)."""
        buttons = (
            (self.dice_button, "dice"),
            (self.seed_lock, "lock" if self.seed_locked() else "lock-open"),
            (self.browse_button, "folder"),
        )
        for button, name in buttons:
            button_icon = icon(name, self.palette())
            if not button_icon.isNull():
                button.setIcon(button_icon)
                button.setIconSize(QSize(18, 18))
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._set_icons()

    # Models ------------------------------------------------------------------------
    def set_models(self, models: Sequence[Any], current: str = "") -> None:
        """Fill the picker from engine.models.ModelInfo items (name, path)."""
        self.model_combo.blockSignals(True)
        try:
            self.model_combo.clear()
            for info in models:
                self.model_combo.addItem(str(info.name), str(info.path))
                self.model_combo.setItemData(
                    self.model_combo.count() - 1, str(info.path), Qt.ItemDataRole.ToolTipRole
                )
        finally:
            self.model_combo.blockSignals(False)
        if current:
            self.set_model(current)
        self.lora_panel.set_model(self.model())
        self.models_listed.emit()

    def set_model(self, name_or_path: str) -> None:
        """Select a model by name or path, adding a path that was not discovered."""
        for i in range(self.model_combo.count()):
            if name_or_path in (self.model_combo.itemText(i), self.model_combo.itemData(i)):
                self.model_combo.setCurrentIndex(i)
                return
        self.model_combo.addItem(Path(name_or_path).name or name_or_path, name_or_path)
        self.model_combo.setCurrentIndex(self.model_combo.count() - 1)

    def model(self) -> str:
        data = self.model_combo.currentData()
        return str(data) if data else ""

    def _browse_model(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder")
        if path:
            self.set_model(path)

    def _browse_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model file", "", "Models (*.safetensors *.gguf)"
        )
        if path:
            self.set_model(path)

    # Parameters --------------------------------------------------------------------
    def align_labels(self) -> None:
        """Start the fields of both forms at the same place, however long the longest
        label (the guidance row's is the model family's)."""
        role = QFormLayout.ItemRole.LabelRole
        forms = (self.parameters_form, self.advanced_form)
        items = (form.itemAt(row, role) for form in forms for row in range(form.rowCount()))
        labels = [item.widget() for item in items if item is not None and item.widget()]
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)

    def set_prompt_target(self, source: str) -> None:
        """Where the next Generate paints: "canvas", "selection", "mask" or "frame"."""
        self.prompt_hint = PROMPT_HINTS.get(source, PROMPT_HINTS["canvas"])
        if self.mode() != "edit":  # Edit's own hint says the prompt is an instruction
            self.prompt_edit.setPlaceholderText(self.prompt_hint)

    def randomize_seed(self) -> None:
        """A new random seed in the box; the lock stays as it was."""
        self._show_seed(random.randint(0, MAX_SEED))

    def _show_seed(self, seed: int) -> None:
        # Programmatic: only the user's own edits lock the seed.
        self.seed_spin.blockSignals(True)
        try:
            self.seed_spin.setValue(seed)
        finally:
            self.seed_spin.blockSignals(False)

    def _show_seed_lock(self, locked: bool) -> None:
        # A closed or an open padlock, and a tooltip that says which: the default style
        # draws a checked tool button much like an unchecked one.
        self.seed_lock.setToolTip(SEED_LOCKED_TIP if locked else SEED_UNLOCKED_TIP)
        self.seed_lock.setText("Locked" if locked else "Lock")  # should the icons be missing
        self._set_icons()

    def seed_locked(self) -> bool:
        return self.seed_lock.isChecked()

    def set_seed_locked(self, locked: bool) -> None:
        self.seed_lock.setChecked(locked)

    def next_seed(self) -> int:
        """The seed for the next Generate: the shown one when locked, else a new random
        one, which the box then shows (so the picture's seed is always in view)."""
        if not self.seed_locked():
            self.randomize_seed()
        return self.seed_spin.value()

    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        index = self.mode_combo.findData(mode)
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)

    def settings(self) -> GenerationSettings:
        """The settings as the panel shows them."""
        return GenerationSettings(
            model=self.model(),
            prompt=self.prompt_edit.toPlainText().strip(),
            negative_prompt=self.negative_edit.toPlainText().strip(),
            mode=self.mode(),
            seed=self.seed_spin.value(),
            seed_locked=self.seed_locked(),
            steps=self.steps_spin.value(),
            guidance=self.guidance_spin.value(),
            strength=self.strength_spin.value(),
            scheduler=self.scheduler_combo.currentText(),
            shift=self.shift_spin.value(),
            n_samples=self.samples_spin.value(),
            loras=tuple(self.lora_panel.values()),
            **self.inpaint_options.values(),
        )

    def set_settings(self, settings: GenerationSettings | Mapping[str, Any]) -> None:
        """Show `settings`: all of a GenerationSettings, or only the keys a mapping holds
        ("Use parameters" copies a few); values that do not parse are skipped. An empty
        model or a None strength leave the panel's own."""
        if isinstance(settings, GenerationSettings):
            values = dataclasses.asdict(settings)
        else:
            values = parse_values(settings)
        setters: dict[str, Callable[[Any], object]] = {
            "prompt": self.prompt_edit.setPlainText,
            "negative_prompt": self.negative_edit.setPlainText,
            "mode": self.set_mode,
            "seed": self._show_seed,
            "seed_locked": self.set_seed_locked,
            "steps": self.steps_spin.setValue,
            "guidance": self.guidance_spin.setValue,
            "strength": self.strength_spin.setValue,
            "scheduler": self._set_scheduler,
            "shift": self.shift_spin.setValue,
            "n_samples": self.samples_spin.setValue,
            "model": lambda v: self.set_model(v) if v else None,
            "loras": self.lora_panel.set_values,
        }
        self.inpaint_options.set_values(values)
        for key, value in values.items():
            if key in setters and value is not None:
                setters[key](value)

    def insert_in_prompt(self, text: str) -> None:
        """Insert a LoRA's trigger word at the prompt's cursor, comma-separated."""
        cursor = self.prompt_edit.textCursor()
        before = self.prompt_edit.toPlainText()[: cursor.position()].rstrip()
        cursor.insertText(
            f"{', ' if before and not before.endswith(',') else ' ' if before else ''}{text}"
        )
        self.prompt_edit.setTextCursor(cursor)

    def _inpaint_mode_chosen(self, mode: str) -> None:
        """A chosen inpaint mode brings its own default strength (refine keeps the user's)."""
        self.strength_spin.setValue(default_strength(mode, self.strength_spin.value()))

    def _set_scheduler(self, name: Any) -> None:
        index = self.scheduler_combo.findText(str(name))
        if index >= 0:
            self.scheduler_combo.setCurrentIndex(index)

    # Progress ----------------------------------------------------------------------
    def set_running(self, running: bool, queued: int = 0) -> None:
        """`queued`: jobs waiting behind the running one (Generate adds another)."""
        self.cancel_button.setEnabled(running)
        if running:
            self.generate_button.setText(f"Generate ({queued} queued)" if queued else "Generate")
        else:
            self.generate_button.setText("Generate")
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self._waiting = self._steps = ""
            self._show()

    def set_ready(self, text: str) -> None:
        """What waits for the user while nothing runs ("1 result ready: …"; '' says Idle),
        in the idle bar after the last message."""
        self._ready = text
        self._show()

    def set_waiting(self, text: str) -> None:
        """A busy bar saying `text` while the model loads (no step count yet); it takes
        over from the last message."""
        self.progress_bar.setRange(0, 0)
        self._waiting, self._steps = text, ""
        self._message, self._message_is_error = "", False
        self._show()

    def set_progress(self, step: int, total: int, seconds_left: float | None) -> None:
        if self._waiting:  # the wait is over, and what it said with it
            self._waiting, self._message, self._message_is_error = "", "", False
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(step)
        self._steps = f"Step {step}/{total}"
        if seconds_left is not None:
            self._steps += f" — {format_duration(seconds_left)} left"
        self._show()

    def set_status(self, text: str, error: bool = False) -> None:
        """The last message ('' none): after the steps while a job runs ("4 of 8 steps
        (strength 0.5)"), before what waits once nothing does ("Generation cancelled.").
        An `error` is drawn in the warning colour; the window logs and shows it too."""
        self._message, self._message_is_error = text, bool(text) and error
        self._error_model = self.model() if self._message_is_error else None
        self._show()

    def _forget_other_models_error(self, model: str) -> None:
        """A failed run's error is about the model it ran on (a broken folder, a missing
        file): once another model is picked, it no longer stands in red under it."""
        if self._message_is_error and model != self._error_model:
            self.set_status("")

    def _show(self) -> None:
        """The bar's text from what the panel was told last."""
        if self._waiting:
            self.progress_bar.show_text(self._waiting)
            return
        if self.cancel_button.isEnabled() and self._steps:
            parts = (self._steps, self._message)
            self.progress_bar.show_text(" · ".join(p for p in parts if p), self._message_is_error)
            return
        parts = (self._message, self._ready)
        text = " ".join(p for p in parts if p) or "Idle"
        self.progress_bar.show_text(text, self._message_is_error)
