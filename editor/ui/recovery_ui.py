"""The window side of autosave and crash recovery (the logic is in editor.recovery).

A MainWindow creates its RecoveryController in `MainWindow.enable_recovery()` (run_gui
does) and keeps it as `window.recovery`. The controller's Autosaver follows the window's
document through `document_replaced`, names the project file in the recovery sidecar, and
ends cleanly (no file left) when the window closes: MainWindow.closeEvent calls `close()`
once the close is certain, before the event loop can end. `offer()` asks, at start-up,
whether to restore what a crashed editor left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, SignalInstance
from PySide6.QtWidgets import QMessageBox

from editor.io.errors import FileError
from editor.recovery import Autosaver, RecoveryEntry, RecoveryStore, autosave_interval_s
from editor.ui.window_roles import DocumentHost

log = logging.getLogger(__name__)

Ask = Callable[[RecoveryEntry], str]  # -> "recover" | "discard" | "later"


class RecoveryWindow(DocumentHost, Protocol):
    """What recovery uses of the main window: its document, and word when it changes."""

    document_replaced: SignalInstance


class RecoveryController(QObject):
    """Autosave and recovery for one window (created by MainWindow.enable_recovery)."""

    def __init__(self, window: RecoveryWindow, store: RecoveryStore | None = None) -> None:
        super().__init__(window.window())
        self.window = window
        self.store = store or RecoveryStore()
        # Seconds as a float: tests autosave every fraction of a second.
        interval = autosave_interval_s(window.settings.qsettings)
        self.autosaver = Autosaver(self.store, interval, self._describe, self)
        window.document_replaced.connect(self.autosaver.track)
        self.autosaver.failed.connect(lambda text: window.statusBar().showMessage(text, 15000))
        self.autosaver.track(window.document)

    def _describe(self) -> tuple[Path | None, str | None]:
        return self.window.path, self.window.source_name

    def close(self) -> None:
        """The window closes normally (its changes saved or discarded): remove this
        session's recovery files now. Not later from the event loop: closing the last
        window ends that loop, and files left behind would claim a crash on next start."""
        self.autosaver.close()

    def offer(self, ask: Ask | None = None) -> bool:
        """Offer each crashed session's work, newest first; True if one was restored."""
        ask = ask or self.ask
        for entry in self.store.orphans():
            answer = ask(entry)
            if answer == "discard":
                self.store.discard(entry)
            elif answer == "recover" and self.recover(entry):
                return True
        return False

    def recover(self, entry: RecoveryEntry) -> bool:
        warnings: list[str] = []
        try:
            document = self.store.load(entry, warnings)
        except FileError as e:
            log.warning("recovery file %s unreadable: %s", entry.ora_path, e)
            self.window.show_error(f"The autosaved copy of {entry.describe()} is unreadable: {e}")
            return False
        is_project = entry.document_path is not None and entry.document_path.suffix == ".ora"
        document.history.start_text = f"Recovered {entry.source_name or 'untitled picture'}"
        self.window.set_document(
            document, entry.document_path if is_project else None, entry.source_name
        )
        # Restored work is not saved anywhere yet: the title shows it and closing asks.
        document.history.mark_modified()
        # set_document queued the removal of this session's (old) files: let it finish
        # first, or it could delete the adopted ones.
        self.autosaver.wait()
        self.store.adopt(entry, self.autosaver.session)
        if warnings:
            self.window.show_error(" ".join(warnings))
        self.window.statusBar().showMessage(f"Recovered {entry.describe()}.", 10000)
        return True

    def ask(self, entry: RecoveryEntry) -> str:
        box = QMessageBox(self.window.window())
        box.setObjectName("recoveryQuestion")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved work")
        box.setText(
            f"Overpaint did not close normally. Recover the unsaved changes to {entry.describe()}?"
        )
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.exec()
        clicked = box.clickedButton()
        if clicked is recover:
            return "recover"
        return "discard" if clicked is discard else "later"
