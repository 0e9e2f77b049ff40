"""The Overpaint main window: canvas in the middle, tools, layers and generation docks.

Public API (run_gui, tests, benchmarks and recovery drive the window through these):
    MainWindow(settings=None)           settings: editor.ui.settings.Settings (QSettings)
    open_path(path) -> bool             open an image or .ora (asks to save changes first)
    new_document(w, h, fill), set_document(doc, path, source_name)
    save(path=None) / save_as(path) / export_png(path) -> bool
    import_layer(path) -> bool, paste() -> bool, copy(merged) -> bool, drop(mime)
    generate() -> job id | None, cancel(), accept_candidate() -> Layer | None
    set_tool(name)                      names in editor.ui.tools_bridge.TOOL_NAMES
    document, path, source_name, is_modified(), document_replaced(doc) signal
    canvas (CanvasView), tools (ToolsBridge), tool_options, layers_panel,
    generation_panel, candidates, generation (GenerationController: .client is the
    EngineClient, created on first use), actions (by name, see editor.ui.actions)
    ask_save_changes() -> 'save'|'discard'|'cancel' (replace it to answer without a dialog)
    last_error: the last message shown to the user ('' if none)
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from editor.io.errors import FileError
from editor.io.export import export_inputs, export_rgba_png
from editor.io.project import load_document, save_ora
from editor.model.document import Document
from editor.model.snapshot import document_from_snapshot, snapshot
from editor.ui import file_ops
from editor.ui.actions import Actions, create_actions
from editor.ui.busy import run_busy
from editor.ui.candidates import Candidate, CandidatesStrip
from editor.ui.canvas_binding import CanvasBinding
from editor.ui.canvas_view import CanvasView
from editor.ui.engine_bridge import GenerationController, box_to_rect
from editor.ui.generation_panel import GenerationPanel
from editor.ui.history_panel import HistoryPanel
from editor.ui.job_builder import JobError, PreparedJob, prepare_job
from editor.ui.layers_panel import LayersPanel
from editor.ui.settings import Settings
from editor.ui.tool_options import ToolOptions
from editor.ui.tools_bridge import TOOL_NAMES, ToolsBridge

log = logging.getLogger(__name__)

APP_NAME = "Overpaint"
DEFAULT_SIZE = (1024, 1024)
LAYER_NAME_CHARS = 40


def layer_name_for(prompt: str) -> str:
    """A result layer's name: the prompt's first line, shortened."""
    text = " ".join(prompt.split()) or "Generated"
    return text if len(text) <= LAYER_NAME_CHARS else text[: LAYER_NAME_CHARS - 1] + "…"


class MainWindow(QMainWindow):
    document_replaced = Signal(object)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings or Settings()
        self.document: Document | None = None
        self.path: Path | None = None  # the .ora project (None: never saved as a project)
        self.source_name: str | None = None  # the file the document came from, for the title
        self.last_error = ""
        self._binding: CanvasBinding | None = None
        self._history_connected = None

        self.canvas = CanvasView()
        self.setCentralWidget(self.canvas)
        self.setAcceptDrops(True)
        self.actions: Actions = create_actions(self)
        self._create_undo_actions()

        self.tool_actions = [getattr(self.actions, f"tool_{name}") for name in TOOL_NAMES]
        self.tool_options = ToolOptions(self.tool_actions)
        self.layers_panel = LayersPanel()
        self.history_panel = HistoryPanel()
        self.generation_panel = GenerationPanel()
        self.candidates = CandidatesStrip()
        self._create_docks()
        self.tools = ToolsBridge(self.canvas, self.tool_options, self)
        self.history_panel.can_jump = lambda: not self.tools.busy()
        self.generation = GenerationController(
            self.generation_panel,
            self.candidates,
            self.canvas,
            self.settings,
            self._prepare_job,
            self._accept_candidate,
            self,
        )
        self.generation.error.connect(self.show_error)
        self.generation.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self._create_menus()
        self._create_status_bar()
        self._connect_actions()
        self._load_settings()
        self.new_document(*DEFAULT_SIZE, fill=(255, 255, 255, 255))
        # Model discovery reads files only (no torch); do it once the window shows.
        QTimer.singleShot(0, self.refresh_models)

    # Construction ---------------------------------------------------------------------
    def _create_undo_actions(self) -> None:
        self.undo_action = QAction("&Undo", self)
        self.undo_action.setObjectName("action_undo")
        self.undo_action.setShortcut("Ctrl+Z")
        self.redo_action = QAction("&Redo", self)
        self.redo_action.setObjectName("action_redo")
        self.redo_action.setShortcuts(["Ctrl+Shift+Z", "Ctrl+Y"])
        self.undo_action.triggered.connect(self.undo)
        self.redo_action.triggered.connect(self.redo)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    @staticmethod
    def _scrolling(widget: QWidget) -> QScrollArea:
        """Docks scroll rather than force a window taller than small laptop screens."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(widget)
        return scroll

    def _create_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        tools = self._scrolling(self.tool_options)
        self.tools_dock = self._dock("Tools", "toolsDock", tools, left)
        generate = self._scrolling(self.generation_panel)
        self.generation_dock = self._dock("Generate", "generationDock", generate, right)
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.results_dock = self._dock("Results", "resultsDock", self.candidates, bottom)
        self.layers_dock = self._dock("Layers", "layersDock", self.layers_panel, right)
        self.history_dock = self._dock("History", "historyDock", self.history_panel, right)
        self.tabifyDockWidget(self.layers_dock, self.history_dock)
        self.layers_dock.raise_()
        for name, label in (("add_layer", "+"), ("duplicate_layer", "Dup"),
                            ("delete_layer", "−"), ("merge_down", "⤓")):  # fmt: skip
            self.layers_panel.add_button(getattr(self.actions, name), label)
        self.layers_panel.buttons.addStretch(1)

    def _create_menus(self) -> None:
        a = self.actions
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (a.new, a.open):
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        for action in (a.import_layer, None, a.save, a.save_as, a.export, None, a.quit):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit = bar.addMenu("&Edit")
        for action in (self.undo_action, self.redo_action, None, a.copy, a.copy_merged, a.paste,
                       None, a.settings):  # fmt: skip
            edit.addSeparator() if action is None else edit.addAction(action)
        select = bar.addMenu("&Select")
        for action in (a.select_all, a.select_none, a.invert_selection, a.grow_selection,
                       a.shrink_selection, a.feather_selection, None, a.clear_mask,
                       a.invert_mask, a.mask_from_selection):  # fmt: skip
            select.addSeparator() if action is None else select.addAction(action)
        bar.addMenu("&Image").addAction(a.canvas_size)
        view = bar.addMenu("&View")
        for action in (a.zoom_in, a.zoom_out, a.fit, a.actual_size, None, a.toggle_mask):
            view.addSeparator() if action is None else view.addAction(action)
        view.addSeparator()
        for dock in (self.tools_dock, self.generation_dock, self.layers_dock, self.history_dock,
                     self.results_dock):  # fmt: skip
            view.addAction(dock.toggleViewAction())
        tools = bar.addMenu("&Tools")
        for action in (*self.tool_actions, None, a.brush_smaller, a.brush_bigger, a.swap_colors):
            tools.addSeparator() if action is None else tools.addAction(action)
        layer = bar.addMenu("&Layer")
        for action in (a.add_layer, a.duplicate_layer, a.delete_layer, a.merge_down, a.flatten):
            layer.addAction(action)
        gen = bar.addMenu("&Generate")
        for action in (a.generate, a.cancel, a.clear_frame, None, a.accept_candidate,
                       a.discard_candidate, a.discard_all):  # fmt: skip
            gen.addSeparator() if action is None else gen.addAction(action)
        bar.addMenu("&Help").addAction(a.about)
        self.tool_group = QActionGroup(self)
        for action in self.tool_actions:
            self.tool_group.addAction(action)

    def _create_status_bar(self) -> None:
        self.position_label = QLabel("")
        self.zoom_label = QLabel("")
        self.statusBar().addPermanentWidget(self.position_label)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.cursor_moved.connect(self._show_position)

    def _show_position(self, pos: QPointF) -> None:
        self.position_label.setText(f"{int(pos.x())}, {int(pos.y())}")

    def _connect_actions(self) -> None:
        a = self.actions
        c = self.canvas
        connections = {
            "new": self.ask_new_document,
            "canvas_size": self.ask_canvas_size,
            "grow_selection": lambda: self._ask_selection_radius("grow_selection", "Grow by"),
            "shrink_selection": lambda: self._ask_selection_radius("shrink_selection", "Shrink by"),
            "feather_selection": lambda: self._ask_selection_radius("feather_selection", "Feather"),
            "open": lambda: self.open_path(None),
            "import_layer": lambda: self.import_layer(None),
            "save": lambda: self.save(),
            "save_as": lambda: self.save_as(None),
            "export": lambda: self.export_png(None),
            "quit": self.close,
            "copy": lambda: self.copy(merged=False),
            "copy_merged": lambda: self.copy(merged=True),
            "paste": self.paste,
            "select_all": lambda: self._edit("select_all"),
            "select_none": lambda: self._edit("select_none"),
            "invert_selection": lambda: self._edit("invert_selection"),
            "clear_mask": lambda: self._edit("clear_mask"),
            "invert_mask": lambda: self._edit("invert_mask"),
            "mask_from_selection": lambda: self._edit("mask_from_selection"),
            "toggle_mask": c.set_mask_visible,
            "settings": self.show_settings,
            "zoom_in": lambda: c.zoom_in(),
            "zoom_out": lambda: c.zoom_out(),
            "fit": c.fit,
            "actual_size": c.actual_size,
            "brush_smaller": self.tool_options.smaller,
            "brush_bigger": self.tool_options.bigger,
            "swap_colors": self.tool_options.swap_colors,
            "add_layer": lambda: self._edit("add_layer"),
            "duplicate_layer": lambda: self._edit("duplicate_layer"),
            "delete_layer": lambda: self._edit("delete_layer"),
            "merge_down": lambda: self._edit("merge_down"),
            "flatten": lambda: self._edit("flatten"),
            "generate": self.generate,
            "clear_frame": lambda: self.document.set_generation_frame(None),
            "cancel": self.cancel,
            "accept_candidate": self.accept_candidate,
            "discard_candidate": self.candidates.discard_current,
            "discard_all": self.candidates.clear,
            "about": self._about,
        }
        for name, slot in connections.items():
            getattr(a, name).triggered.connect(slot)
        for name in TOOL_NAMES:
            getattr(a, f"tool_{name}").triggered.connect(lambda _c=False, n=name: self.set_tool(n))
        a.toggle_mask.setChecked(True)
        a.tool_brush.setChecked(True)

    # Settings -------------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings
        geometry, state = s.window_geometry(), s.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 860)
        if state is not None:
            self.restoreState(state)
        self.generation_panel.set_params(s.generation_params())
        self.tool_options.set_values(s.group("brush"))
        if s.model:
            self.generation_panel.set_model(s.model)
        self.generation_panel.model_changed.connect(self._model_chosen)

    def _model_chosen(self, model: str) -> None:
        self.settings.model = model

    def save_settings(self) -> None:
        s = self.settings
        s.set_window_layout(self.saveGeometry(), self.saveState())
        s.set_generation_params(self.generation_panel.params())
        s.set_group("brush", self.tool_options.values())
        s.model = self.generation_panel.model()
        s.sync()

    def refresh_models(self) -> None:
        """List the models the engine can find (file reads only, no torch)."""
        from engine.models import discover_models

        try:
            models = discover_models(self.settings.model_dirs)
        except OSError as e:
            log.warning("model discovery failed: %s", e)
            models = []
        current = self.generation_panel.model() or self.settings.model
        self.generation_panel.set_models(models, current)

    def show_settings(self) -> None:
        from editor.ui.dialogs import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.refresh_models()
            if self.document is not None:
                self.document.history.undo_limit_mb = self.settings.undo_memory_mb
            recovery = getattr(self, "recovery", None)  # editor.ui.recovery_ui
            if recovery is not None:
                recovery.autosaver.set_interval(self.settings.autosave_seconds)

    # Documents ------------------------------------------------------------------------
    def set_document(self, document: Document, path: Path | None, source: str | None) -> None:
        """Show `document` (replacing the current one without asking)."""
        if self._binding is not None:
            self._binding.disconnect_all()
            self._binding.deleteLater()
        if self._history_connected is not None:
            self._history_connected.changed.disconnect(self._history_changed)
        self.document = document
        self.path = Path(path) if path is not None else None
        self.source_name = source
        document.history.undo_limit_mb = self.settings.undo_memory_mb
        self._binding = CanvasBinding(self.canvas, document, self)
        self.layers_panel.set_document(document)
        self.history_panel.set_history(document.history)
        self.tools.set_document(document)
        self.generation.set_document(document)
        document.history.changed.connect(self._history_changed)
        self._history_connected = document.history
        self._history_changed()
        self.document_replaced.emit(document)

    def new_document(
        self,
        width: int,
        height: int,
        fill: tuple[int, int, int, int] | None = None,
        ask: bool = False,
    ) -> None:
        if ask and not self.maybe_save():
            return
        self.set_document(file_ops.new_document(width, height, fill), None, None)

    def ask_new_document(self) -> None:
        from editor.ui.dialogs import SizeDialog

        if not self.maybe_save():
            return
        dialog = SizeDialog("New Image", *DEFAULT_SIZE, anchor=False, parent=self)
        if dialog.exec():
            self.new_document(*dialog.size(), fill=(255, 255, 255, 255))

    def ask_canvas_size(self) -> None:
        """Resize or expand the canvas (one undo step); growing it makes room to outpaint."""
        from editor.ui.dialogs import SizeDialog

        doc = self.document
        dialog = SizeDialog("Canvas Size", doc.width, doc.height, anchor=True, parent=self)
        if dialog.exec():
            try:
                doc.resize_canvas(*dialog.size(), *dialog.offset())
            except ValueError as e:
                self.show_error(str(e).capitalize() + ".")

    def _ask_selection_radius(self, method: str, label: str) -> None:
        from PySide6.QtWidgets import QInputDialog

        if self.document is None or not self.document.has_selection():
            self.statusBar().showMessage("Select something first.", 5000)
            return
        radius, ok = QInputDialog.getInt(self, APP_NAME, f"{label} (pixels):", 8, 1, 1000)
        if ok:
            getattr(self.document, method)(radius)

    def open_path(self, path: Path | str | None) -> bool:
        """Open an image or project; False if cancelled or unreadable (shown to the user)."""
        path = path or self.ask_path(False, "Open", self._dialog_dir(), file_ops.OPEN_FILTER)
        if not path:
            return False
        path = Path(path)
        if not self.maybe_save():
            return False
        warnings: list[str] = []
        try:
            document = load_document(
                path, max_pixels=self.settings.max_image_pixels(), warnings=warnings
            )
        except FileError as e:
            self.show_error(str(e))
            return False
        except Exception as e:  # a bad file must never take the window down
            log.exception("opening %s failed", path)
            self.show_error(f'"{path.name}" could not be opened ({type(e).__name__}).')
            return False
        is_project = path.suffix.lower() == file_ops.ORA_SUFFIX
        self.set_document(document, path if is_project else None, path.name)
        self.settings.add_recent_file(path)
        if warnings:
            self.show_error(" ".join(warnings))
        else:
            self.statusBar().showMessage(f"Opened {path.name}.", 5000)
        return True

    def maybe_save(self) -> bool:
        """Ask to save unsaved changes; False means the user cancelled."""
        if self.document is None or self.document.history.is_clean():
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' (tests replace this to answer without a dialog)."""
        buttons = (
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        answer = QMessageBox.question(
            self,
            APP_NAME,
            f"Save the changes to {self.display_name()} before closing it?",
            buttons,
            QMessageBox.StandardButton.Save,
        )
        return {
            QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard",
        }.get(answer, "cancel")

    def save(self, path: Path | str | None = None) -> bool:
        target = Path(path) if path is not None else self.path
        if target is None:
            return self.save_as(None)
        if target.suffix.lower() != file_ops.ORA_SUFFIX:
            target = target.with_suffix(file_ops.ORA_SUFFIX)
        snap = snapshot(self.document)
        try:
            run_busy(
                self,
                f"Saving {target.name}…",
                lambda: save_ora(document_from_snapshot(snap), target),
            )
        except FileError as e:  # its message names the file and the cause
            self.show_error(str(e))
            return False
        except OSError as e:
            self.show_error(f'Could not save "{target.name}": {e.strerror or e}.')
            return False
        self.path = target
        self.source_name = target.name
        self.document.history.set_clean()
        self.settings.add_recent_file(target)
        self._update_title()
        self.statusBar().showMessage(f"Saved {target.name}.", 5000)
        return True

    def save_as(self, path: Path | str | None = None) -> bool:
        suggested = self._suggested_path(file_ops.ORA_SUFFIX)
        path = path or self.ask_path(True, "Save As", suggested, file_ops.SAVE_FILTER)
        return self.save(Path(path)) if path else False

    def export_png(self, path: Path | str | None = None) -> bool:
        suggested = self._suggested_path(".png")
        path = path or self.ask_path(True, "Export PNG", suggested, file_ops.EXPORT_FILTER)
        if not path:
            return False
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        rgba, parameters, request = export_inputs(self.document, self.document.current_layer)
        mark = self.settings.watermark

        def write() -> None:
            export_rgba_png(path, rgba, parameters, request, watermark=mark)

        try:
            run_busy(self, f"Exporting {path.name}…", write)
        except FileError as e:
            self.show_error(str(e))
            return False
        except OSError as e:
            self.show_error(f'Could not export "{path.name}": {e.strerror or e}.')
            return False
        self.statusBar().showMessage(f"Exported {path.name}.", 5000)
        return True

    def import_layer(self, path: Path | str | None = None) -> bool:
        path = path or self.ask_path(
            False, "Import as Layer", self._dialog_dir(), file_ops.OPEN_FILTER
        )
        if not path:
            return False
        try:
            file_ops.import_layer(self.document, Path(path), self.settings.max_image_pixels())
        except (FileError, ValueError) as e:
            self.show_error(str(e))
            return False
        return True

    def ask_path(self, save: bool, title: str, start: str, filters: str) -> str:
        """A file dialog; '' when cancelled."""
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        name, _ = ask(self, title, start, filters)
        return name

    def _dialog_dir(self) -> str:
        recent = self.settings.recent_files
        return str(recent[0].parent) if recent else str(Path.home())

    def _suggested_path(self, suffix: str) -> str:
        stem = Path(self.source_name).stem if self.source_name else "Untitled"
        folder = self.path.parent if self.path else Path(self._dialog_dir())
        return str(folder / f"{stem}{suffix}")

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if not self.recent_menu.isEmpty():
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear Recent Files")
            clear.triggered.connect(self.settings.clear_recent_files)

    # Title and undo -------------------------------------------------------------------
    def display_name(self) -> str:
        return self.source_name or "Untitled"

    def is_modified(self) -> bool:
        return self.document is not None and not self.document.history.is_clean()

    def _update_title(self) -> None:
        star = "*" if self.is_modified() else ""
        if self.source_name is None and not star:
            self.setWindowTitle(APP_NAME)
        else:
            self.setWindowTitle(f"{self.display_name()}{star} — {APP_NAME}")

    def _history_changed(self) -> None:
        history = self.document.history
        undo, redo = history.undo_text(), history.redo_text()
        self.undo_action.setEnabled(history.can_undo())
        self.redo_action.setEnabled(history.can_redo())
        self.undo_action.setText(f"&Undo {undo}" if undo else "&Undo")
        self.redo_action.setText(f"&Redo {redo}" if redo else "&Redo")
        self._update_title()
        self.layers_panel.refresh_thumbnails()

    def undo(self) -> None:
        if self.document is not None and not self.tools.busy():
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None and not self.tools.busy():
            self.document.redo()

    def _edit(self, method: str) -> None:
        """Run a Document edit, turning a refusal (ValueError) into a status message."""
        if self.document is None:
            return
        try:
            getattr(self.document, method)()
        except ValueError as e:
            self.statusBar().showMessage(str(e).capitalize() + ".", 5000)

    # Tools ----------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.tools.set_tool(name)
        action = getattr(self.actions, f"tool_{name}", None)
        if action is not None:
            action.setChecked(True)

    # Clipboard and drops --------------------------------------------------------------
    def copy(self, merged: bool = False) -> bool:
        image = file_ops.copy_image(self.document, merged) if self.document else None
        if image is None or image.isNull():
            return False
        QApplication.clipboard().setImage(image)
        return True

    def paste(self) -> bool:
        return self._paste_mime(QApplication.clipboard().mimeData())

    def _paste_mime(self, mime) -> bool:  # noqa: ANN001 - QMimeData
        try:
            rgba = file_ops.image_from_mime(mime, self.settings.max_image_pixels())
        except FileError as e:
            self.show_error(str(e))
            return False
        if rgba is None:
            self.statusBar().showMessage("The clipboard holds no image to paste.", 5000)
            return False
        file_ops.paste_layer(self.document, rgba)
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if file_ops.dropped_paths(event.mimeData()) or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self.drop(event.mimeData(), open_instead=ctrl)
        event.acceptProposedAction()

    def drop(self, mime, open_instead: bool = False) -> None:  # noqa: ANN001 - QMimeData
        """Dropped files: a project opens; images become layers of the current picture,
        except on the untouched start-up canvas (or with Ctrl), where the first opens."""
        paths = file_ops.dropped_paths(mime)
        if not paths:
            if mime.hasImage():
                self._paste_mime(mime)
            return
        blank = self.source_name is None and not self.is_modified()
        first, rest = paths[0], paths[1:]
        if open_instead or blank or first.suffix.lower() == file_ops.ORA_SUFFIX:
            if not self.open_path(first):
                return
        else:
            rest = paths
        for path in rest:
            if path.suffix.lower() != file_ops.ORA_SUFFIX:
                self.import_layer(path)

    # Generation -----------------------------------------------------------------------
    def _grow_canvas_to_frame(self) -> None:
        """A generation frame drawn past the canvas edge means "extend the picture": grow
        the canvas to hold it (one undo step), so the job outpaints the new strip."""
        doc = self.document
        frame = doc.generation_frame
        if frame is None or doc.has_mask() or doc.has_selection():
            return
        left, top = max(0, -frame.x), max(0, -frame.y)
        right, bottom = max(0, frame.right - doc.width), max(0, frame.bottom - doc.height)
        if left or top or right or bottom:
            try:
                doc.expand_canvas(left, top, right, bottom)
            except ValueError:
                raise JobError(
                    "The generation frame reaches too far past the picture; draw it closer "
                    "to the canvas."
                ) from None

    def _prepare_job(self, params: dict, native: int) -> PreparedJob:
        self._grow_canvas_to_frame()
        doc = self.document
        return prepare_job(
            params,
            doc.width,
            doc.height,
            lambda box: doc.composite_array(box_to_rect(box)),
            mask=doc.mask if doc.has_mask() else None,
            selection=doc.selection if doc.has_selection() else None,
            frame=doc.generation_frame,
            native=native,
            options=self.settings.engine_options(),
            watermark=self.settings.watermark,
        )

    def _accept_candidate(self, candidate: Candidate):
        result = candidate.result
        return self.document.accept_patch(
            result.rgba,
            result.x,
            result.y,
            name=layer_name_for(result.request.prompt),
            metadata={
                "parameters": result.parameters,
                "overpaint_request": result.request.to_json(),
            },
        )

    def generate(self) -> int | None:
        return self.generation.generate()

    def cancel(self) -> None:
        """Esc: drop the gesture in progress, else cancel the running and queued jobs."""
        if not self.tools.cancel():
            self.cancel_generation()

    def cancel_generation(self) -> None:
        self.generation.cancel()

    def accept_candidate(self):
        return self.generation.accept()

    # Messages and closing -------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Tell the user what went wrong in one sentence, without blocking."""
        self.last_error = text
        self.statusBar().showMessage(text, 15000)
        box = QMessageBox(
            QMessageBox.Icon.Warning, APP_NAME, text, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("errorMessage")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _about(self) -> None:
        from engine import __version__

        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"{APP_NAME} {__version__}\nA layered canvas editor that repaints regions with "
            "Stable Diffusion.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.maybe_save():
            event.ignore()
            return
        self.save_settings()
        # Cancel is checked between steps; one step of a big model on a CPU can take
        # many seconds. Hide first so the wait does not look like a hung window.
        self.hide()
        if not self.generation.shutdown(timeout_ms=60_000):
            log.error("the engine thread is still busy; closing anyway")
        event.accept()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1280, 860)
