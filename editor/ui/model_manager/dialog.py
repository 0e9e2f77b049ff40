"""Generate ▸ Models…: what is installed (name, family, kind, size, path), installing
from the starter list, a web address or Hugging Face repo, or a local file or folder,
and removing to the trash.

Nothing is fetched before the user clicks Install and confirms a box that shows the
disk space the install needs and what is free. Planning (a hub may be asked for the
file list), the transfer and the removal run on a ModelTask thread; the dialog shows
speed and time left and can cancel. The engine's model manager places files
atomically, so a failed or cancelled install leaves nothing in the models folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from editor.ui.model_manager.install_sources import (
    InstallChoice,
    InstallSources,
    family_label,
    model_tree,
)
from editor.ui.model_manager.tasks import ModelTask, Work
from editor.ui.task_status import ask_close_running, attach_task_status, say_finished
from editor.ui.theme import main_button, tidy
from engine.core.paths import user_models_dir
from engine.model_manager.cli import describe
from engine.model_manager.install import DISK_MARGIN, InstallResult, free_space, install, look_up
from engine.model_manager.installed import (
    InstalledModel,
    list_bundled,
    list_installed,
    remove_installed,
)
from engine.model_manager.kinds import KIND_LABELS
from engine.model_manager.sources import Plan
from engine.model_manager.transfer import Progress, human_size

_PROGRESS_STEPS = 1000


def _kind_label(model: InstalledModel) -> str:
    label = KIND_LABELS.get(model.kind, model.kind)
    return f"{label} (bundled)" if model.bundled else label


class ModelsDialog(QDialog):
    """`models_changed` fires after every install or removal (the window re-lists)."""

    models_changed = Signal()

    def __init__(self, extra_dirs: Sequence[Path] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.extra_dirs = tuple(Path(d) for d in extra_dirs)
        self.task: ModelTask | None = None
        self._choice: InstallChoice | None = None
        self._cancel_requested = False
        self._task_label = ""  # what runs, for the close question and the status bar
        self.installed: list[InstalledModel] = []
        layout = tidy(QVBoxLayout(self), margin=None)
        layout.addWidget(self._installed_box(), 3)
        self.sources = InstallSources()
        self.sources.install_button.clicked.connect(self.start_install)
        self.install_button = self.sources.install_button
        layout.addWidget(self.sources, 2)
        # Here, not in InstallSources: only a button inside its dialog can be its default.
        main_button(self.install_button)
        layout.addLayout(self._progress_row())
        self.message = QLabel()
        self.message.setObjectName("modelsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # An install kept running after Close shows here, in the main window.
        self.task_status = attach_task_status(self, "modelsTaskStatus")
        self.resize(860, 640)
        self.refresh()
        self._set_busy(False)

    # Construction -----------------------------------------------------------------------
    def _installed_box(self) -> QGroupBox:
        box = QGroupBox("Installed")
        layout = tidy(QVBoxLayout(box), margin=None)
        self.installed_tree = model_tree(
            ("Name", "Family", "Kind", "Size", "Path"), "installedTree"
        )
        self.installed_tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.installed_tree.itemSelectionChanged.connect(lambda: self._set_busy(self.busy()))
        layout.addWidget(self.installed_tree)
        row = tidy(QHBoxLayout(), margin=None)
        self.remove_button = QPushButton("Move to Trash…")
        self.remove_button.setObjectName("removeModelButton")
        self.remove_button.clicked.connect(self.remove_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.folder_label = QLabel()
        self.folder_label.setObjectName("modelsFolderLabel")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.remove_button)
        row.addWidget(refresh)
        row.addStretch(1)
        row.addWidget(self.folder_label)
        layout.addLayout(row)
        return box

    def _progress_row(self) -> QHBoxLayout:
        row = tidy(QHBoxLayout(), margin=None)
        self.status = QLabel()
        self.status.setObjectName("installStatus")
        self.progress = QProgressBar()
        self.progress.setObjectName("installProgress")
        self.progress.setRange(0, _PROGRESS_STEPS)
        self.progress.setTextVisible(False)  # the status beside it says the percentage
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelInstallButton")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.status, 2)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        for widget in (self.status, self.progress, self.cancel_button):
            # Hidden when idle, but keeping their room: the lists do not jump at each start.
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
        return row

    # State ------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.task is not None

    def running_task(self) -> str | None:
        return self._task_label if self.task is not None else None

    def _set_busy(self, busy: bool) -> None:
        self.install_button.setEnabled(not busy)
        self.remove_button.setEnabled(not busy and bool(self.selected_models()))
        self.cancel_button.setEnabled(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        self.status.setVisible(busy)

    # Installed list ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the models folders (file headers and configs only)."""
        # The bundled ones first: the demo model is what a fresh install generates with.
        self.installed = [*list_bundled(), *list_installed(self.extra_dirs)]
        tree = self.installed_tree
        tree.clear()
        for model in self.installed:
            item = QTreeWidgetItem(
                [
                    model.name,
                    family_label(model.family),
                    _kind_label(model),
                    human_size(model.size),
                    str(model.path),
                ]
            )
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(4, str(model.path))
            if model.bundled:
                item.setToolTip(0, "Ships with Overpaint; it cannot be moved to the trash.")
            item.setData(0, Qt.ItemDataRole.UserRole, str(model.path))
            tree.addTopLevelItem(item)
        folder = user_models_dir()
        self.folder_label.setText(f"{human_size(free_space(folder))} free in {folder}")
        self._set_busy(self.busy())

    def installed_names(self) -> list[str]:
        return [m.name for m in self.installed]

    def select_installed(self, path: Path) -> None:
        tree = self.installed_tree
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == str(path):
                tree.setCurrentItem(item)
                tree.scrollToItem(item)

    # Install ----------------------------------------------------------------------------
    def start_install(self) -> None:
        """Look the source up (off the GUI thread), then ask before fetching anything."""
        if self.busy():
            return
        choice = self.sources.choice()
        if isinstance(choice, str):
            self.message.setText(choice)
            self.message.setStyleSheet("")
            return
        self._choice = choice
        self._task_label = f"installing {choice.title}"
        self.message.clear()
        self.status.setText(f"Looking up {choice.title}…")
        self.progress.setRange(0, 0)  # busy: no size yet
        self._run(lambda _p, _c: look_up(choice.source, choice.file), self._planned)

    def _planned(self, plan: Plan) -> None:
        choice = self._choice
        assert choice is not None
        if self._cancel_requested:
            self._finish("Install cancelled; nothing was downloaded.")
            return
        self._end_task()
        if not self.isVisible():  # closed while looking up: the question needs the dialog
            self.show()
            self.raise_()
        if not self.confirm_install(choice, plan):
            self._finish("Nothing was installed.")
            return
        self.status.setText(f"Installing {plan.name}…")
        self._task_label = f"installing {plan.name}"
        self.progress.setRange(0, _PROGRESS_STEPS)
        self.progress.setValue(0)

        def work(progress, cancel) -> InstallResult:
            return install(
                choice.source,
                choice.file,
                choice.sha256,
                choice.kind,
                choice.link,
                progress=progress,
                cancel=cancel,
                plan=plan,
            )

        self._run(work, self._installed)

    def needed_bytes(self, choice: InstallChoice, plan: Plan) -> int | None:
        if plan.local is not None and choice.link:
            return 0
        return plan.size

    def confirm_install(self, choice: InstallChoice, plan: Plan) -> bool:
        """The box that comes before any byte is fetched: what, from where, how big, and
        the free space. When it cannot fit, it says so and offers no Install."""
        needed = self.needed_bytes(choice, plan)
        folder = user_models_dir()
        free = free_space(folder)
        if choice.licence:  # a starter
            what = choice.title
        elif plan.local is not None or plan.files[0].relpath or plan.name.endswith(".safetensors"):
            what = plan.name
        else:  # e.g. Civitai's /api/download/models/42: the name comes with the file
            what = "the model at this address"
        lines = [f"Install {what}?", f"From: {plan.source or choice.source}"]
        if choice.licence:
            lines.append(f"Licence: {choice.licence} (read it on the model's page before use)")
        if needed is None:
            lines.append("Disk space needed: unknown until the download starts, then checked")
        else:
            lines.append(f"Disk space needed: {human_size(needed)}")
        lines.append(f"Free: {human_size(free)} in {folder}")
        box = QMessageBox(self)
        box.setObjectName("confirmInstallBox")
        box.setWindowTitle("Install Model")
        if needed is not None and needed + DISK_MARGIN > free:
            box.setIcon(QMessageBox.Icon.Warning)
            box.setText("\n".join([*lines, "", "There is not enough free space for it."]))
            box.addButton(QMessageBox.StandardButton.Close)
            box.exec()
            return False
        box.setIcon(QMessageBox.Icon.Question)
        box.setText("\n".join(lines))
        install_button = box.addButton("Install", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(install_button)
        box.exec()
        return box.clickedButton() is install_button

    def _installed(self, result: InstallResult) -> None:
        family = f", {family_label(result.family)}" if result.family else ""
        self._finish(
            f"Installed {result.name} ({KIND_LABELS[result.kind]}{family}, "
            f"{human_size(result.size)}) in {result.path.parent}."
        )
        self.select_installed(result.path)
        self.models_changed.emit()

    def _show_progress(self, p: Progress) -> None:
        self.status.setText(describe(p))  # before the bar moves, so both agree
        if p.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, _PROGRESS_STEPS)
            self.progress.setValue(round(p.fraction * _PROGRESS_STEPS))
        self._show_task_status()

    def _show_task_status(self) -> None:
        """Mirror the dialog's progress in the status bar while the dialog is closed."""
        if self.task_status is not None:
            text = f"{self._task_label[:1].upper()}{self._task_label[1:]}: {self.status.text()}"
            self.task_status.mirror(
                self, self.task is not None, text, self.progress.value(), self.progress.maximum()
            )

    def cancel(self) -> None:
        if self.task is not None:
            self._cancel_requested = True
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling…")
            self.task.cancel()

    # Remove -----------------------------------------------------------------------------
    def selected_models(self) -> list[InstalledModel]:
        paths = {
            item.data(0, Qt.ItemDataRole.UserRole) for item in self.installed_tree.selectedItems()
        }
        return [m for m in self.installed if str(m.path) in paths and not m.bundled]

    def remove_selected(self) -> None:
        models = self.selected_models()
        if not models or self.busy() or not self.confirm_remove(models):
            return
        self.status.setText("Moving to the trash…")
        self._task_label = "moving " + ", ".join(m.name for m in models) + " to the trash"
        self.progress.setRange(0, 0)
        extra = self.extra_dirs

        def work(_progress, _cancel) -> list[InstalledModel]:
            return [remove_installed(str(m.path), extra)[0] for m in models]

        self._run(work, self._removed)

    def confirm_remove(self, models: Sequence[InstalledModel]) -> bool:
        listed = "\n".join(f"{m.name} ({human_size(m.size)}): {m.path}" for m in models)
        what = models[0].name if len(models) == 1 else f"these {len(models)} models"
        box = QMessageBox(self)
        box.setObjectName("confirmRemoveBox")
        box.setWindowTitle("Move to Trash")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(f"Move {what} to the trash?\n\n{listed}\n\nYou can restore it from the trash.")
        trash = box.addButton("Move to Trash", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is trash

    def _removed(self, models: list[InstalledModel]) -> None:
        names = ", ".join(m.name for m in models)
        self._finish(f"Moved {names} to the trash.")
        self.models_changed.emit()

    # Task plumbing ----------------------------------------------------------------------
    def _run(self, work: Work, on_success) -> None:
        task = ModelTask(work)
        self.task = task
        self._cancel_requested = False
        task.progress.connect(self._show_progress)
        task.succeeded.connect(on_success)
        task.failed.connect(lambda text: self._finish(text, error=True))
        task.cancelled.connect(self._finish)
        self._set_busy(True)
        task.start()

    def _end_task(self) -> None:
        if self.task is not None:
            self.task.wait()  # its last signal came: the thread is ending
        self.task = None

    def _finish(self, text: str, error: bool = False) -> None:
        self._end_task()
        self._cancel_requested = False
        self.message.setText(text)
        # Failures stand out from the "Installed …" and "Moved …" lines.
        self.message.setStyleSheet("color: #e0605a; font-weight: bold;" if error else "")
        self.refresh()
        self._set_busy(False)
        self._show_task_status()
        say_finished(self, text)

    def wait_idle(self, ms: int = 30000) -> bool:
        """Cancel what runs and wait for it (closing, quitting)."""
        task = self.task
        if task is None:
            return True
        task.cancel()
        return task.wait(ms)

    def reject(self) -> None:
        """Esc, Close and the window's close button (QDialog's closeEvent calls this).
        With a task running it asks: stop it, keep it running in the background (the
        main window's status bar shows it), or stay open."""
        if (what := self.running_task()) is not None:
            answer = ask_close_running(self, what, "nothing is left half-done")
            if answer == "cancel":
                return
            if answer == "stop":
                self.cancel()  # the thread ends on its own; its end is said in the status bar
        super().reject()
        self._show_task_status()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_task_status()  # reopened: the dialog itself shows the task again


def open_models_dialog(window) -> ModelsDialog:
    """Show the window's Models dialog (one per window), listing its extra models folders;
    installs and removals re-list the window's models."""
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    if dialog is None:
        dialog = ModelsDialog(window.settings.model_dirs, window)
        dialog.models_changed.connect(window.refresh_models)
    else:
        dialog.extra_dirs = tuple(Path(d) for d in window.settings.model_dirs)
        dialog.refresh()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
