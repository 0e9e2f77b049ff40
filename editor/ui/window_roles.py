"""What helpers need of the main window, as small Protocols, so that none imports it.

A helper (file work, recovery, the log-file command) names the role it uses and receives
the window, which fills every role; a test can hand it a small stand-in instead. Each
role lists only what its users call; a helper that needs more names a role of its own
next to it (e.g. `editor.ui.window_files.FilesWindow`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDockWidget, QStatusBar, QWidget

    from editor.model.document import Document
    from editor.ui.settings import Settings


class Messages(Protocol):
    """Tells the user things: the status line and a shown one-sentence error.

    ``window()`` is the window itself (a QWidget), the parent of a helper's dialogs.
    """

    def window(self) -> QWidget: ...
    def statusBar(self) -> QStatusBar: ...
    def show_error(self, text: str) -> None: ...


class DocumentView(Messages, Protocol):
    """Shows one document at a time (None while there is none)."""

    document: Document | None


class DocumentHost(DocumentView, Protocol):
    """Shows one document at a time, with the file it came from and the settings."""

    path: Path | None  # the .ora project (None: never saved as one)
    source_name: str | None  # the file the document came from, for the title
    settings: Settings

    def set_document(self, document: Document, path: Path | None, source: str | None) -> None: ...


class DockHost(Messages, Protocol):
    """Takes docks (a QMainWindow): in a dock area, or as a tab beside a dock it has."""

    layers_dock: QDockWidget

    def addDockWidget(self, area: Qt.DockWidgetArea, dock: QDockWidget) -> None: ...
    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...
