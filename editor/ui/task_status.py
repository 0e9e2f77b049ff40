"""A dialog's long task (an install, a training run) kept running after the dialog was
closed: the question asked on closing, and the task's progress in the main window's
status bar, with a button that reopens the dialog on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QToolButton,
    QWidget,
)

from editor.ui.theme import tidy

QWIDGETSIZE_MAX = 16_777_215  # Qt's "no limit" for a widget's size
FINISHED_MS = 15_000  # how long the status bar keeps saying how a background task ended


def ask_close_running(dialog: QDialog, what: str, stop_means: str) -> str:
    """Ask what closing the dialog does to the task it runs (`what`: "installing X"):
    "stop", "keep" or "cancel" (the dialog stays open)."""
    box = QMessageBox(dialog)
    box.setObjectName("closeRunningBox")
    box.setWindowTitle(dialog.windowTitle())
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(
        f"Overpaint is still {what}. Stop it ({stop_means}), or keep it running in the "
        "background, with its progress in the status bar?"
    )
    keep = box.addButton("Keep Running", QMessageBox.ButtonRole.AcceptRole)
    stop = box.addButton("Stop", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    return "keep" if clicked is keep else "stop" if clicked is stop else "cancel"


@runtime_checkable
class RunsTask(Protocol):
    def running_task(self) -> str | None:
        """What the dialog's task is doing ("installing X"), None when none runs."""

    def cancel(self) -> None: ...


def ask_quit_running(window: QMainWindow) -> bool:
    """Before the window closes: True when none of its dialogs runs a task, or the user
    chose to stop them (they are cancelled); False keeps the window open. Quitting would otherwise stop an
    install or a training kept running in the background without a word."""
    dialogs = [d for d in window.findChildren(QDialog) if isinstance(d, RunsTask)]
    running = [what for dialog in dialogs if (what := dialog.running_task())]
    if not running:
        return True
    box = QMessageBox(window)
    box.setObjectName("quitRunningBox")
    box.setWindowTitle("Quit Overpaint")
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"Overpaint is still {' and '.join(running)}. Quit and stop it?")
    quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is not quit_button:
        return False
    for dialog in dialogs:
        dialog.cancel()
    return True


class TaskStatus(QWidget):
    """The status bar entry of one dialog's task: what it does, a small bar, and Show."""

    def __init__(self, name: str, reopen: Callable[[], None]) -> None:
        super().__init__()
        self.setObjectName(name)
        layout = tidy(QHBoxLayout(self), margin=0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumWidth(120)
        self.bar.setMaximumHeight(14)
        self.show_button = QToolButton()
        self.show_button.setText("Show")
        self.show_button.setToolTip("Open the dialog of this task")
        self.show_button.clicked.connect(reopen)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.show_button)
        self.hide()

    def setVisible(self, visible: bool) -> None:
        # QStatusBar takes its height from every widget in it, hidden ones too: this
        # hidden entry's Show button made the main window's status bar grow and every
        # dock jump a few pixels when the Models or Train dialog was first opened.
        self.setMaximumHeight(QWIDGETSIZE_MAX if visible else 0)
        super().setVisible(visible)

    def mirror(self, dialog: QDialog, running: bool, text: str, value: int, maximum: int) -> None:
        """Show the dialog's task here while it runs with the dialog closed; else hide."""
        if not running or dialog.isVisible():
            self.hide()
            return
        self.set_progress(text, value, maximum)
        self.show()

    def set_progress(self, text: str, value: int, maximum: int) -> None:
        """maximum 0: busy, with no measure of how far."""
        self.label.setText(text)
        self.bar.setRange(0, maximum)
        self.bar.setValue(value)


def attach_task_status(dialog: QDialog, name: str) -> TaskStatus | None:
    """A hidden TaskStatus in the status bar of the dialog's main window (None when the
    dialog has no main window, e.g. opened on its own)."""
    window = dialog.parentWidget()
    if not isinstance(window, QMainWindow):
        return None

    def reopen() -> None:
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    status = TaskStatus(name, reopen)
    window.statusBar().insertPermanentWidget(0, status)
    return status


def say_finished(dialog: QDialog, text: str) -> None:
    """How a task ended, in the status bar, when its dialog is closed."""
    window = dialog.parentWidget()
    if isinstance(window, QMainWindow) and not dialog.isVisible():
        window.statusBar().showMessage(text, FINISHED_MS)
