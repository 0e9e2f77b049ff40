"""Generate ▸ Train LoRA…: teach a model a new subject or style from a folder of pictures.

The dialog checks the folder as soon as it is chosen (how many pictures, which have a
NAME.txt caption, or the one sentence that says why it cannot be trained on) and keeps
Train disabled until the folder and the concept word are usable. The base models offered
are those training can teach (editor.ui.train.base_models); when none is, it says so.
Training itself is engine.training's `train_lora`, run on a ModelTask thread so the canvas
stays usable; progress (step, loss, time left) and sample pictures come back as signals.
Cancel makes the trainer save a checkpoint, so pressing Train again with the same settings
continues (the line under the LoRA name says whether it will, by the trainer's own rule:
engine.training.checkpoint.continuation, and what changed if not); the fields are kept in
Settings (editor.ui.train.remember), so it continues after a restart too.
The LoRA is written to the user's models/loras/ folder, where the generation panel's
LoRA list finds it once the window re-lists its models (`trained` fires).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import QFileSystemWatcher, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.ui.jobs import JobCoordinator
from editor.ui.model_manager.tasks import ModelTask
from editor.ui.settings import Settings
from editor.ui.task_status import ask_close_running, attach_task_status, say_finished
from editor.ui.theme import main_button, tidy
from editor.ui.train.base_models import base_models
from editor.ui.train.borrow import borrow_loaded_model
from editor.ui.train.pictures import PictureList
from editor.ui.train.remember import keep
from engine.core.errors import EngineError
from engine.core.paths import user_models_dir
from engine.training.checkpoint import continuation
from engine.training.data import DEFAULT_TEMPLATE, caption_for, caption_words, picture_files
from engine.training.settings import PRESETS, TrainingSettings
from engine.training.trainer import work_dir

SAMPLE_SIZE = 192
# A file name the loras folder and the <lora:name> prompt tag both accept.
_NAME_RE = re.compile(r"^[\w][\w .+-]*$")


def loras_dir() -> Path:
    return user_models_dir() / "loras"


def folder_problem(folder: str, concept: str, template: str) -> tuple[int, str | None]:
    """(pictures found, one sentence saying why the folder cannot be trained on or None).

    Only file names and captions are read here (cheap enough to run on every edit);
    an unreadable picture is reported when training starts, before any step runs."""
    if not folder.strip():
        return 0, "Choose a folder holding at least 3 pictures of the concept."
    try:
        files = picture_files(Path(folder))
    except EngineError as e:
        return 0, str(e)
    word = concept.strip().lower()
    if word and len(word.split()) == 1:
        if not any(word in caption_words(caption_for(p, word, template)) for p in files):
            return len(files), (
                f"No caption mentions the concept word {concept.strip()!r}; write it in the "
                "NAME.txt captions or put {concept} in the caption template."
            )
    return len(files), None


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w, _ = rgb.shape
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image)


class TrainDialog(QDialog):
    """`trained(path)` fires when a LoRA file has been written."""

    trained = Signal(str)

    def __init__(
        self,
        models: list[tuple[str, str]] | None = None,
        current_model: str = "",
        extra_dirs: tuple[Path, ...] = (),
        parent: QWidget | None = None,
        jobs: JobCoordinator | None = None,
        settings: Settings | None = None,
    ) -> None:
        """With `settings`, the fields come back as they were last left (remember.keep)."""
        super().__init__(parent)
        # The window's jobs: training borrows its loaded model when it is the same, and
        # runs on the device, threads and model folders its Settings name at Train.
        self.jobs = jobs
        self.setObjectName("trainDialog")
        self.setWindowTitle("Train LoRA")
        self.extra_dirs = tuple(extra_dirs)
        self.task: ModelTask | None = None
        self.result_path: Path | None = None
        self.app_settings = settings  # the Settings file the fields are kept in
        self.folder_gone = ""  # the sentence saying the remembered folder is gone
        layout = tidy(QVBoxLayout(self), margin=None)
        form = QFormLayout()
        layout.addLayout(form)

        folder_row = tidy(QHBoxLayout(), margin=None)
        self.folder_edit = QLineEdit()
        self.folder_edit.setObjectName("trainFolder")
        self.folder_edit.setPlaceholderText("a folder of pictures (NAME.txt beside each: caption)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Pictures", folder_row)
        self.folder_status = QLabel()
        self.folder_status.setObjectName("trainFolderStatus")
        self.folder_status.setWordWrap(True)
        form.addRow("", self.folder_status)
        self.pictures = PictureList()
        self.pictures.setMinimumHeight(250)
        self.pictures.captions_changed.connect(self.check)
        form.addRow("Captions", self.pictures)

        self.concept_edit = QLineEdit()
        self.concept_edit.setObjectName("trainConcept")
        self.concept_edit.setPlaceholderText("one word prompts will use, e.g. star")
        form.addRow("Concept word", self.concept_edit)
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE)
        self.template_edit.setObjectName("trainTemplate")
        self.template_edit.setToolTip(
            "Caption for pictures without a NAME.txt; {concept} becomes the concept word."
        )
        form.addRow("Caption template", self.template_edit)

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("trainModel")
        form.addRow("Base model", self.model_combo)
        self.model_status = QLabel()
        self.model_status.setObjectName("trainModelStatus")
        self.model_status.setWordWrap(True)
        form.addRow("", self.model_status)
        self.no_model = ""  # why no model can be trained, said under the list

        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("trainPreset")
        self.preset_combo.addItems(list(PRESETS))
        self.preset_combo.setCurrentText("normal")
        self.preset_hint = QLabel()
        preset_row = tidy(QHBoxLayout(), margin=None)
        preset_row.addWidget(self.preset_combo)
        preset_row.addWidget(self.preset_hint, 1)
        form.addRow("Preset", preset_row)

        numbers = tidy(QHBoxLayout(), margin=None)
        # 0 = "from the preset": the defaults depend on the device, known only once loaded.
        self.steps_spin = self._spin("trainSteps", 0, 100_000, "preset")
        self.rank_spin = self._spin("trainRank", 0, 256, "preset")
        self.batch_spin = self._spin("trainBatch", 0, 64, "preset")
        self.seed_spin = self._spin("trainSeed", 0, 2**31 - 1, None)
        self.sample_spin = self._spin("trainSampleEvery", 0, 100_000, "never")
        self.sample_spin.setValue(50)
        for label, spin in (
            ("Steps", self.steps_spin),
            ("Rank", self.rank_spin),
            ("Batch", self.batch_spin),
            ("Seed", self.seed_spin),
            ("Sample every", self.sample_spin),
        ):
            numbers.addWidget(QLabel(label))
            numbers.addWidget(spin)
        numbers.addStretch(1)
        form.addRow("", numbers)
        self.flip_box = QCheckBox("Also learn from mirror images (flips)")
        self.flip_box.setObjectName("trainFlip")
        self.flip_box.setChecked(True)
        self.flip_box.setToolTip(
            "Mirror images swap left and right in their captions. Turn off for pictures with "
            "text or a shape that has a handedness."
        )
        form.addRow("", self.flip_box)

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("trainName")
        self.name_edit.setPlaceholderText("the LoRA's name (the concept word if empty)")
        form.addRow("LoRA name", self.name_edit)
        self.out_label = QLabel()
        self.out_label.setObjectName("trainOut")
        self.out_label.setWordWrap(True)
        self.out_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.out_label)

        run_row = tidy(QHBoxLayout(), margin=None)
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.sample_label = QLabel()
        self.sample_label.setObjectName("trainSample")
        self.sample_label.setFixedSize(SAMPLE_SIZE, SAMPLE_SIZE)
        self.sample_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sample_label.setStyleSheet("QLabel { border: 1px solid palette(mid); }")
        self.sample_label.setText("samples\nappear here")
        self.sample_step = 0
        left = tidy(QVBoxLayout(), margin=None)
        left.addWidget(self.progress)
        self.message = QLabel()
        self.message.setObjectName("trainMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left.addWidget(self.message)
        left.addStretch(1)
        run_row.addLayout(left, 1)
        run_row.addWidget(self.sample_label)
        layout.addLayout(run_row)

        buttons = QDialogButtonBox()
        self.train_button = buttons.addButton("Train", QDialogButtonBox.ButtonRole.ActionRole)
        self.train_button.setObjectName("trainButton")
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.setObjectName("trainCancel")
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.reject)
        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout.addWidget(buttons)
        # Return trains (or does nothing while Train is disabled), not Browse….
        main_button(self.train_button)

        for edit in (self.folder_edit, self.concept_edit, self.template_edit, self.name_edit):
            edit.textChanged.connect(self.check)
        # The settings a checkpoint must share to be continued (the line under the name).
        for spin in (self.rank_spin, self.batch_spin, self.seed_spin):
            spin.valueChanged.connect(self.check)
        for combo in (self.model_combo, self.preset_combo):
            combo.currentIndexChanged.connect(self.check)
        self.flip_box.toggled.connect(self.check)
        # Pictures added to or removed from the folder (say, in a file manager) re-check it.
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(lambda _path: self.check())
        self.folder_edit.textChanged.connect(self._watch)
        self.preset_combo.currentTextChanged.connect(self._show_preset)
        self._show_preset()
        # A training kept running after Close shows here, in the main window.
        self.task_status = attach_task_status(self, "trainTaskStatus")
        self.resize(780, 780)
        self.set_models(models or [], current_model)
        if settings is not None:
            self.folder_gone = keep(self, settings)
            self.check()

    def set_models(self, models: list[tuple[str, str]], current: str = "") -> None:
        """Offer those of the (name, path) `models`, and `current`, that LoRA training can
        teach, and say under the list which were left out and why."""
        offer = base_models(models, current)
        self.model_combo.clear()
        for name, path in offer.models:
            self.model_combo.addItem(name, path)
        index = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(max(index, 0) if offer.models else -1)
        self.no_model = offer.problem
        self.model_status.setText(offer.note)
        self.model_status.setVisible(bool(offer.note))
        self.check()

    def _spin(self, name: str, low: int, high: int, special: str | None) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(low, high)
        if special:
            spin.setSpecialValueText(special)
        return spin

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training pictures")
        if folder:
            self.folder_edit.setText(folder)

    def _watch(self, folder: str) -> None:
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if folder.strip() and Path(folder.strip()).is_dir():
            self.watcher.addPath(folder.strip())

    def _show_preset(self) -> None:
        wanted = TrainingSettings(Path(), "x", preset=self.preset_combo.currentText())
        cpu, gpu = wanted.resolved("cpu"), wanted.resolved("cuda")
        self.preset_hint.setText(
            f"CPU: {cpu.steps} steps, rank {cpu.rank} · GPU: {gpu.steps} steps, rank {gpu.rank}"
        )

    # -- checking ----------------------------------------------------------------------

    def lora_name(self) -> str:
        return self.name_edit.text().strip() or self.concept_edit.text().strip()

    def out_path(self) -> Path:
        return loras_dir() / f"{self.lora_name()}.safetensors"

    def problem(self) -> str | None:
        """Why Train cannot start now (one sentence), or None."""
        count, problem = folder_problem(
            self.folder_edit.text(), self.concept_edit.text(), self.template_edit.text()
        )
        if problem:
            return problem
        concept = self.concept_edit.text().strip()
        if not concept:
            return "Type the concept word the prompts will use for it."
        if len(concept.split()) != 1:
            return f"The concept must be one word, not {concept!r}."
        if not _NAME_RE.match(self.lora_name()):
            return "The LoRA name may hold letters, digits, spaces, '.', '+', '-' and '_'."
        return self.no_model or None

    def check(self) -> None:
        count, folder_error = folder_problem(
            self.folder_edit.text(), self.concept_edit.text(), self.template_edit.text()
        )
        problem = self.problem()
        self.pictures.show_folder(
            self.folder_edit.text(), self.concept_edit.text(), self.template_edit.text()
        )
        if self.folder_edit.text().strip():
            self.folder_gone = ""  # a folder chosen: the old one's absence is old news
        if folder_error:
            self.folder_status.setText(self.folder_gone or folder_error)
        else:
            files = picture_files(Path(self.folder_edit.text()))
            captioned = sum(p.with_suffix(".txt").is_file() for p in files)
            if captioned == count:
                how = "each with its NAME.txt caption"
            elif captioned:
                how = f"{captioned} with a NAME.txt caption, the others captioned by the template"
            else:
                how = "all captioned by the template"
            self.folder_status.setText(f"{count} pictures found, {how}.")
        running = self.task is not None
        self.train_button.setEnabled(problem is None and not running)
        self.cancel_button.setEnabled(running)
        if problem is not None:
            # The folder's own problem is already said above; say only the other kind.
            self.out_label.setText("" if folder_error or problem == self.no_model else problem)
            return
        out = self.out_path()
        text = f"The LoRA will be saved as {out}"
        # The trainer's own rule, on the settings Train would start with now.
        found = continuation(work_dir(out), self.run_settings())
        if found.continues:
            text += f"; a cancelled run stopped at step {found.step}, Train continues it"
        elif found.step:
            text += (
                f"; a run with other settings stopped at step {found.step}, Train starts over"
                f" ({', '.join(found.differences)})"
            )
        elif out.exists():
            text += " (replaces the LoRA of that name)"
        self.out_label.setText(text + ".")

    def settings(self) -> TrainingSettings:
        return TrainingSettings(
            images=Path(self.folder_edit.text().strip()),
            concept=self.concept_edit.text().strip(),
            out=self.out_path(),
            model=str(self.model_combo.currentData() or ""),
            preset=self.preset_combo.currentText(),
            steps=self.steps_spin.value() or None,
            rank=self.rank_spin.value() or None,
            batch_size=self.batch_spin.value() or None,
            seed=self.seed_spin.value(),
            template=self.template_edit.text() or DEFAULT_TEMPLATE,
            flip=self.flip_box.isChecked(),
            sample_every=self.sample_spin.value(),
            extra_dirs=self.extra_dirs,
        )

    def run_settings(self) -> TrainingSettings:
        """settings() as Train runs them: on the window's device and model folders."""
        settings = self.settings()
        return self.jobs.training_settings(settings) if self.jobs is not None else settings

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        if self.task is not None or self.problem() is not None:
            return
        if self.app_settings is not None:
            self.app_settings.sync()  # the fields that continue this run, kept should it crash
        settings = self.run_settings()
        jobs = self.jobs
        borrowed = (
            borrow_loaded_model(jobs, settings.model, settings.device, settings.precision)
            if jobs
            else None
        )

        def work(progress, cancel):
            from engine.training.trainer import train_lora  # torch: loaded when first used

            pipe = borrowed(cancel) if borrowed is not None else None
            return train_lora(settings, on_progress=progress, should_cancel=cancel, pipe=pipe)

        self.result_path = None
        self.progress.setRange(0, 0)  # busy until the first step: loading, encoding
        self.progress.setFormat("loading the model and pictures…")
        self.message.setText("")
        self.task = ModelTask(work, self)
        self.task.progress.connect(self._on_progress)
        self.task.succeeded.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        self.task.cancelled.connect(self._on_cancelled)
        self.task.finished.connect(self._on_finished)
        self._set_inputs_enabled(False)
        self.task.start()
        self.check()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.message.setText("Cancelling after this step (a checkpoint is kept)…")

    def _on_progress(self, p) -> None:
        self.progress.setRange(0, p.total)
        self.progress.setValue(p.step)
        loss = f"{p.loss:.4f}" if p.loss is not None else "?"
        self.progress.setFormat(
            f"step {p.step}/{p.total} · loss {loss} · {_minutes(p.seconds_left)} left"
        )
        self._show_task_status()
        if p.sample is not None:
            self.sample_step = p.step
            pixmap = _pixmap(p.sample).scaled(
                SAMPLE_SIZE,
                SAMPLE_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.sample_label.setPixmap(pixmap)
            self.sample_label.setToolTip(f"sample at step {p.step}")

    def _on_done(self, result) -> None:
        self.result_path = Path(result.path)
        self.progress.setRange(0, max(1, result.steps))
        self.progress.setValue(result.steps)
        continued = f", continued from step {result.resumed_from}" if result.resumed_from else ""
        if result.shared_weights:
            continued += ", on the loaded model's weights"
        self.message.setText(
            f"Trained {result.path.stem} in {_minutes(result.seconds)} ({result.steps} steps"
            f"{continued}); it is in the LoRA list as {result.path.stem}."
        )
        say_finished(self, self.message.text())
        self.trained.emit(str(result.path))

    def _on_failed(self, sentence: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.message.setText(sentence)
        say_finished(self, sentence)

    def _on_cancelled(self, sentence: str) -> None:
        self.progress.setFormat(self.progress.format() + " · cancelled")
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.message.setText(sentence)
        say_finished(self, sentence)

    def _on_finished(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.deleteLater()
        self._set_inputs_enabled(True)
        self.check()
        self._show_task_status()

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (
            self.folder_edit,
            self.concept_edit,
            self.template_edit,
            self.model_combo,
            self.preset_combo,
            self.steps_spin,
            self.rank_spin,
            self.batch_spin,
            self.seed_spin,
            self.sample_spin,
            self.flip_box,
            self.name_edit,
        ):
            widget.setEnabled(enabled)

    def running_task(self) -> str | None:
        return f"training the LoRA {self.lora_name()}" if self.task is not None else None

    def wait_idle(self, ms: int = 60000) -> None:
        """Cancel a running training and wait for its thread (closing, quitting, tests)."""
        task = self.task
        if task is not None:
            task.cancel()
            task.wait(ms)
            QApplication.processEvents()

    def _show_task_status(self) -> None:
        """Mirror the training's progress in the status bar while the dialog is closed."""
        if self.task_status is not None:
            text = f"Training {self.lora_name()}: {self.progress.format() or self.message.text()}"
            self.task_status.mirror(
                self, self.task is not None, text, self.progress.value(), self.progress.maximum()
            )

    def reject(self) -> None:
        """Esc, Close and the window's close button (QDialog's closeEvent calls this).
        With a training running it asks: stop it, keep it running in the background (the
        main window's status bar shows it), or stay open."""
        if (what := self.running_task()) is not None:
            answer = ask_close_running(self, what, "a checkpoint is kept to continue")
            if answer == "cancel":
                return
            if answer == "stop":
                self.cancel()  # stops after this step; its end is said in the status bar
        else:
            self.pictures.stop_loading()
        if self.app_settings is not None:
            self.app_settings.sync()
        super().reject()
        self._show_task_status()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_task_status()  # reopened: the dialog itself shows the training again


def open_train_dialog(window) -> TrainDialog:
    """Show the window's Train dialog (one per window); a finished LoRA re-lists the
    window's models so the generation panel's LoRA list offers it."""
    dialog = window.findChild(TrainDialog, "trainDialog")
    panel = window.generation_panel
    combo = panel.model_combo
    models = [(combo.itemText(i), str(combo.itemData(i))) for i in range(combo.count())]
    if dialog is not None and dialog.task is None:
        # Models installed since it was made; the base model chosen in it stays chosen.
        chosen = str(dialog.model_combo.currentData() or "")
        listed = chosen in (path for _name, path in models)
        dialog.set_models(models, chosen if listed else panel.model())
    if dialog is None:
        dialog = TrainDialog(
            models,
            panel.model(),
            tuple(window.settings.model_dirs),
            window,
            jobs=window.jobs,
            settings=window.settings,
        )
        dialog.trained.connect(lambda _path: window.refresh_models())
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
