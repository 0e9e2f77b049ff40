"""The window's file operations: open, save, export, import, close, recent files,
clipboard and drops, with their dialogs and messages.

`WindowFiles` is the controller behind File ▸ and Edit ▸ Copy/Paste. The document work
without dialogs lives in `editor.ui.file_ops`; the window's public methods (open_path,
save, export_png, ...) call in here. Two window methods stay hooks that tests replace:
`ask_save_changes()` (the "save changes?" question) and `save_as()`.

It sees the window only through `FilesWindow`, the few things file work needs of it:
the document and where it came from, the settings, the canvas (to paste into view), the
generation recorder (to find an exported result's entry), the messages, and the hooks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QMimeData, QObject, QPointF, QRectF
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox

from editor.io.errors import FileError
from editor.io.export import export_content, write_export
from editor.io.project import load_document, save_ora
from editor.model.snapshot import document_from_snapshot, snapshot
from editor.ui import file_ops
from editor.ui.busy import run_busy
from editor.ui.window_roles import DocumentHost
from engine.request import GenerationRequest

if TYPE_CHECKING:
    from editor.model.document import Document
    from editor.ui.canvas_view import CanvasView
    from engine.history.recorder import BackgroundRecorder

log = logging.getLogger(__name__)

APP_NAME = "Overpaint"
STATUS_MS = 5000


class _Generation(Protocol):
    history: BackgroundRecorder


class FilesWindow(DocumentHost, Protocol):
    """What `WindowFiles` uses of the main window."""

    canvas: CanvasView
    generation: _Generation

    def display_name(self) -> str: ...
    def is_modified(self) -> bool: ...
    def update_title(self) -> None: ...
    def new_document(
        self, width: int, height: int, fill: tuple[int, int, int, int] | None = None
    ) -> None: ...

    # Hooks: tests replace these on the window, so file work calls them there.
    def ask_save_changes(self) -> str: ...
    def save(self, path: Path | str | None = None) -> bool: ...
    def save_as(self, path: Path | str | None = None) -> bool: ...
    def open_path(self, path: Path | str | None) -> bool: ...
    def import_layer(self, path: Path | str | None = None) -> bool: ...


class WindowFiles(QObject):
    """File ▸ operations of one window; every refusal becomes one shown sentence."""

    def __init__(self, window: FilesWindow) -> None:
        super().__init__(window.window())
        self.host = window

    @property
    def _max_pixels(self) -> int:
        return self.host.settings.max_image_pixels()

    def _status(self, text: str) -> None:
        self.host.statusBar().showMessage(text, STATUS_MS)

    # Opening and closing ---------------------------------------------------------------
    def open_path(self, path: Path | str | None) -> bool:
        """Open an image or project; False if cancelled or unreadable (shown to the user)."""
        w = self.host
        path = path or self.ask_path(False, "Open", self.dialog_dir(), file_ops.OPEN_FILTER)
        if not path:
            return False
        path = Path(path)
        # The file is read before the question about unsaved changes: a cut-off or empty
        # file is refused in one sentence without asking the user to give up their work.
        warnings: list[str] = []
        document = self._read(path, warnings)
        if document is None:
            return False
        was_modified = w.is_modified()
        if not self.maybe_save():
            return False
        if was_modified and w.path is not None and w.path.resolve() == path.resolve():
            # Saved over the very file being opened: what it holds now is the saved work.
            warnings.clear()
            document = self._read(path, warnings)
            if document is None:
                return False
        is_project = path.suffix.lower() == file_ops.ORA_SUFFIX
        document.history.start_text = f"Opened {path.name}"
        w.set_document(document, path if is_project else None, path.name)
        w.settings.add_recent_file(path)
        if warnings:
            w.show_error(" ".join(warnings))
        else:
            self._status(f"Opened {path.name}.")
        return True

    def _read(self, path: Path, warnings: list[str]) -> Document | None:
        """The document in `path`, or None after showing why it cannot be opened."""
        try:
            return load_document(path, max_pixels=self._max_pixels, warnings=warnings)
        except FileError as e:
            self.host.show_error(str(e))
        except Exception as e:  # a bad file must never take the window down
            log.exception("opening %s failed", path)
            self.host.show_error(f'"{path.name}" could not be opened ({type(e).__name__}).')
        return None

    def close_document(self) -> bool:
        """File ▸ Close: after asking to save, the picture is closed and a blank canvas
        takes its place (the window stays open, ready for the next picture; Ctrl+Q quits).
        False if the user cancelled."""
        if not self.maybe_save():
            return False
        name = self.host.display_name()
        self.host.new_document(*file_ops.DEFAULT_SIZE, fill=file_ops.BLANK_FILL)
        self._status(f"Closed {name}.")
        return True

    def maybe_save(self) -> bool:
        """Ask to save unsaved changes; False means the user cancelled."""
        w = self.host
        if w.document is None or w.document.history.is_clean():
            return True
        answer = w.ask_save_changes()
        if answer == "save":
            return w.save()
        return answer == "discard"

    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' from a question box."""
        buttons = (
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        answer = QMessageBox.question(
            self.host.window(),
            APP_NAME,
            f"Save the changes to {self.host.display_name()} before closing it?",
            buttons,
            QMessageBox.StandardButton.Save,
        )
        return {
            QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard",
        }.get(answer, "cancel")

    # Saving and exporting --------------------------------------------------------------
    def save(self, path: Path | str | None = None) -> bool:
        w = self.host
        target = Path(path) if path is not None else w.path
        if target is None:
            return w.save_as(None)
        if target.suffix.lower() != file_ops.ORA_SUFFIX:
            target = target.with_suffix(file_ops.ORA_SUFFIX)
        # The copy is taken here, on the UI thread; only it travels to the writer thread.
        snap = snapshot(w.document)
        try:
            run_busy(
                w.window(),
                f"Saving {target.name}…",
                lambda: save_ora(document_from_snapshot(snap), target),
            )
        except FileError as e:  # its message names the file and the cause
            w.show_error(str(e))
            return False
        except OSError as e:
            w.show_error(f'Could not save "{target.name}": {e.strerror or e}.')
            return False
        w.path = target
        w.source_name = target.name
        w.document.history.set_clean()
        w.settings.add_recent_file(target)
        w.update_title()
        self._status(f"Saved {target.name}.")
        return True

    def save_as(self, path: Path | str | None = None) -> bool:
        suggested = self.suggested_path(file_ops.ORA_SUFFIX)
        path = path or self.ask_path(True, "Save As", suggested, file_ops.SAVE_FILTER)
        return self.host.save(Path(path)) if path else False

    def export_png(self, path: Path | str | None = None) -> bool:
        w = self.host
        suggested = self.suggested_path(".png")
        path = path or self.ask_path(True, "Export PNG", suggested, file_ops.EXPORT_FILTER)
        if not path:
            return False
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        content = export_content(w.document, w.document.current_layer)
        mark = w.settings.watermark
        recorder = w.generation.history

        def find_entry(request: GenerationRequest) -> int | None:
            recorder.flush()  # a result accepted a moment ago may still be queued
            return next(iter(recorder.store.find_request(request)), None)

        def write() -> None:
            write_export(path, content, watermark=mark, find_entry=find_entry)

        try:
            run_busy(w.window(), f"Exporting {path.name}…", write)
        except FileError as e:
            w.show_error(str(e))
            return False
        except OSError as e:
            w.show_error(f'Could not export "{path.name}": {e.strerror or e}.')
            return False
        if content.not_single:
            self._status(
                f"Exported {path.name}; {content.not_single}, so `overpaint rerun` cannot "
                "replay it."
            )
        else:
            self._status(f"Exported {path.name}.")
        return True

    def import_layer(self, path: Path | str | None = None) -> bool:
        path = path or self.ask_path(
            False, "Import as Layer", self.dialog_dir(), file_ops.OPEN_FILTER
        )
        if not path:
            return False
        try:
            file_ops.import_layer(self.host.document, Path(path), self._max_pixels)
        except (FileError, ValueError) as e:
            self.host.show_error(str(e))
            return False
        return True

    # Dialogs and recent files ------------------------------------------------------------
    def ask_path(self, save: bool, title: str, start: str, filters: str) -> str:
        """A file dialog; '' when cancelled."""
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        name, _ = ask(self.host.window(), title, start, filters)
        return name

    def dialog_dir(self) -> str:
        recent = self.host.settings.recent_files
        return str(recent[0].parent) if recent else str(Path.home())

    def suggested_path(self, suffix: str) -> str:
        w = self.host
        stem = Path(w.source_name).stem if w.source_name else "Untitled"
        folder = w.path.parent if w.path else Path(self.dialog_dir())
        return str(folder / f"{stem}{suffix}")

    def fill_recent_menu(self, menu: QMenu) -> None:
        settings = self.host.settings
        menu.clear()
        for path in settings.recent_files:
            action = menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.host.open_path(p))
        if not menu.isEmpty():
            menu.addSeparator()
            clear = menu.addAction("Clear Recent Files")
            clear.triggered.connect(settings.clear_recent_files)

    # Clipboard and drops ---------------------------------------------------------------
    def copy(self, merged: bool = False) -> bool:
        doc = self.host.document
        mime = file_ops.copy_mime(doc, merged) if doc is not None else None
        if mime is None:
            return False
        QApplication.clipboard().setMimeData(mime)
        return True

    def paste(self) -> bool:
        return self.paste_mime(QApplication.clipboard().mimeData())

    def paste_mime(self, mime: QMimeData) -> bool:
        try:
            rgba = file_ops.image_from_mime(mime, self._max_pixels)
        except FileError as e:
            self.host.show_error(str(e))
            return False
        if rgba is None:
            self._status("The clipboard holds no image to paste.")
            return False
        doc, canvas = self.host.document, self.host.canvas
        view = QRectF(
            canvas.widget_to_canvas(QPointF(0, 0)),
            canvas.widget_to_canvas(QPointF(canvas.width(), canvas.height())),
        )
        size = (rgba.shape[1], rgba.shape[0])
        at = file_ops.paste_position(doc, size, file_ops.copied_origin(mime), view)
        file_ops.paste_layer(doc, rgba, at)
        return True

    def drop(self, mime: QMimeData, open_instead: bool = False) -> None:
        """Dropped files: a project opens; images become layers of the current picture,
        except on the untouched start-up canvas (or with Ctrl), where the first opens."""
        w = self.host
        paths = file_ops.dropped_paths(mime)
        if not paths:
            if mime.hasImage():
                self.paste_mime(mime)
            return
        blank = w.source_name is None and not w.is_modified()
        first, rest = paths[0], paths[1:]
        if open_instead or blank or first.suffix.lower() == file_ops.ORA_SUFFIX:
            if not w.open_path(first):
                return
        else:
            rest = paths
        for path in rest:
            if path.suffix.lower() != file_ops.ORA_SUFFIX:
                w.import_layer(path)
