"""The Overpaint main window: canvas in the middle, tools, layers and generation docks.

The window assembles the parts and routes its actions; the work lives in them:
file operations in `editor.ui.window_files` (WindowFiles), the generation request's
life in `editor.ui.generate.controller` (GenerationController), menus in `editor.ui.menus`,
autosave in `editor.ui.recovery_ui` (created by `enable_recovery`).

Public API (run_gui, tests, benchmarks and recovery drive the window through these):
    MainWindow(settings=None)           settings: editor.ui.settings.Settings (QSettings)
    open_path(path) -> bool             open an image or .ora (asks to save changes first)
    new_document(w, h, fill), set_document(doc, path, source_name), close_document()
    save(path=None) / save_as(path) / export_png(path) -> bool
    import_layer(path) -> bool, paste() -> bool, copy(merged) -> bool, drop(mime)
    generate() -> job id | None, cancel(), accept_candidate() -> Layer | None
    set_tool(name)                      names in editor.ui.tools_bridge.TOOL_NAMES
    document, path, source_name, is_modified(), document_replaced(doc) signal
    canvas (CanvasView), tools (ToolsBridge), tool_options, layers_panel,
    generation_panel, candidates, jobs (JobCoordinator: every engine job, its client
    created on first use), generation (GenerationController: .client is jobs' client;
    .prepare(params, native) builds a job), files
    (WindowFiles), actions (by name, see editor.ui.actions), recent_menu
    enable_recovery(store=None) -> RecoveryController, kept as .recovery (None until then)
    ask_save_changes() -> 'save'|'discard'|'cancel' (replace it to answer without a dialog)
    last_error: the last message shown to the user ('' if none)
    size_label, zoom_label, position_label: the status bar's canvas size, zoom, pointer
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMimeData, QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMainWindow, QMessageBox, QWidget

from editor.model.document import Document
from editor.model.layer import Layer
from editor.ui import file_ops
from editor.ui.actions import Actions, create_actions
from editor.ui.canvas_binding import CanvasBinding
from editor.ui.canvas_keys import CanvasKeys
from editor.ui.canvas_view import CanvasView
from editor.ui.dialogs import SettingsDialog, SizeDialog
from editor.ui.dock_layout import scrolling
from editor.ui.generate.candidates import CandidatesStrip
from editor.ui.generate.controller import GenerationController
from editor.ui.generate.panel import GenerationPanel
from editor.ui.generations.dock import add_generations_dock
from editor.ui.generations.panel import ENTRY_MIME, GenerationHistoryPanel
from editor.ui.jobs import JobCoordinator
from editor.ui.layers_panel import LayersPanel
from editor.ui.live.dock import add_live_dock
from editor.ui.menus import connect_actions, create_menus
from editor.ui.recovery_ui import RecoveryController
from editor.ui.scale_dialog import ScaleImageDialog
from editor.ui.select_object import SelectObjectController
from editor.ui.servers.status import ServerController
from editor.ui.settings import Settings
from editor.ui.task_status import ask_quit_running
from editor.ui.tool_options import ToolOptions
from editor.ui.tools_bridge import TOOL_NAMES, ToolsBridge
from editor.ui.undo_panel import HistoryPanel
from editor.ui.upscale.controller import UpscaleController
from editor.ui.wheel_guard import install_wheel_guard
from editor.ui.window_files import APP_NAME, WindowFiles
from engine import __version__
from engine.models import discover_models

if TYPE_CHECKING:
    from editor.recovery import RecoveryStore

log = logging.getLogger(__name__)

DEFAULT_SIZE = file_ops.DEFAULT_SIZE
STATUS_MS = 5000
# How long closing waits for the engine thread to see its cancelled job. Between two steps
# it stops in milliseconds; importing torch or loading a model cannot be interrupted (5-8 s
# measured on 2 busy cores), and run_gui ends the process without that thread instead.
QUIT_ENGINE_WAIT_MS = 2000


class MainWindow(QMainWindow):
    document_replaced = Signal(object)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        install_wheel_guard()  # the wheel scrolls docks, not the fields it passes over
        self.settings = settings or Settings()
        self.document: Document | None = None
        self.path: Path | None = None  # the .ora project (None: never saved as a project)
        self.source_name: str | None = None  # the file the document came from, for the title
        self.last_error = ""
        self.recovery: RecoveryController | None = None
        self._binding: CanvasBinding | None = None
        # (signal, slot) pairs on the current document, undone when it is replaced.
        self._document_links: list[tuple[Any, Callable[..., None]]] = []

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
        self.canvas_keys = CanvasKeys(self, self.canvas)  # Space pans from the docks too
        self.history_panel.can_jump = lambda: not self.tools.busy()
        self.history_panel.jumped.connect(
            lambda text: self.statusBar().showMessage(text, STATUS_MS)
        )
        self.files = WindowFiles(self)
        # Every engine job of this window (editor.ui.jobs): one client, the Settings pushed.
        self.jobs = JobCoordinator(self.settings, self)
        self.generation = GenerationController(
            self.generation_panel, self.candidates, self.canvas, self.settings, self, self.jobs
        )
        self.generation.error.connect(self.show_error)
        self.generations_dock = add_generations_dock(self)
        self.generations_panel: GenerationHistoryPanel = self.generations_dock.widget()
        self.live_dock, self.live = add_live_dock(self)  # Live painting (editor.ui.live.mode)
        self.generation.status.connect(lambda text: self.statusBar().showMessage(text, STATUS_MS))
        self.upscale = UpscaleController(self)  # Image > Upscale… (editor.ui.upscale.controller)
        self.select_object = SelectObjectController(self)  # wand, Select Object, Remove Bg
        self.servers = ServerController(self)  # ComfyUI servers' states and models
        self.recent_menu = create_menus(self)
        self.recent_menu.aboutToShow.connect(lambda: self.files.fill_recent_menu(self.recent_menu))
        self.tool_group = QActionGroup(self)
        for action in self.tool_actions:
            self.tool_group.addAction(action)
        self._create_status_bar()
        connect_actions(self)
        self.default_layout = self.saveState()  # before a saved one replaces it
        self._load_settings()
        self.new_document(*DEFAULT_SIZE, fill=file_ops.BLANK_FILL)
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

    def _create_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        # The right column (Generate over Layers) runs down to the status bar, the Results
        # strip sits under the canvas: both right docks need the height more than it does.
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        tools = scrolling(self.tool_options)
        self.tools_dock = self._dock("Tools", "toolsDock", tools, left)
        # The panel scrolls its settings itself, its Generate button pinned under them.
        self.generation_dock = self._dock(
            "Generate", "generationDock", self.generation_panel, right
        )
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.results_dock = self._dock("Results", "resultsDock", self.candidates, bottom)
        self.layers_dock = self._dock("Layers", "layersDock", self.layers_panel, right)
        self.history_dock = self._dock("History", "historyDock", self.history_panel, right)
        self.tabifyDockWidget(self.layers_dock, self.history_dock)
        self.layers_dock.raise_()
        # The generation settings need their full height more than the layer list does.
        self._size_docks()
        for name, label in (("add_layer", "+"), ("duplicate_layer", "Dup"),
                            ("delete_layer", "−"), ("raise_layer", "↑"),
                            ("lower_layer", "↓"), ("merge_down", "⤓")):  # fmt: skip
            self.layers_panel.add_button(getattr(self.actions, name), label)
        self.layers_panel.buttons.addStretch(1)

    def _size_docks(self) -> None:
        self.resizeDocks(
            [self.generation_dock, self.layers_dock], [520, 240], Qt.Orientation.Vertical
        )

    def reset_layout(self) -> None:
        """View > Reset Layout: every dock back where a fresh start puts it."""
        for dock in self.findChildren(QDockWidget):
            dock.setFloating(False)
        self.restoreState(self.default_layout)
        self._size_docks()

    def _create_status_bar(self) -> None:
        self.size_label = QLabel("")
        self.size_label.setObjectName("canvasSizeLabel")
        self.zoom_label = QLabel("")
        self.zoom_label.setObjectName("zoomLabel")
        self.position_label = QLabel("")
        self.position_label.setObjectName("cursorPositionLabel")
        for label in (self.position_label, self.size_label, self.zoom_label):
            self.statusBar().addPermanentWidget(label)
        self.canvas.zoom_changed.connect(self._show_zoom)
        self.canvas.cursor_moved.connect(self._show_position)
        self._show_zoom(self.canvas.zoom)

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")

    def _show_position(self, pos: QPointF) -> None:
        self.position_label.setText(f"{int(pos.x())}, {int(pos.y())}")

    def _show_size(self, *_args: object) -> None:
        doc = self.document
        self.size_label.setText(f"{doc.width} × {doc.height} px" if doc is not None else "")

    # Settings -------------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings
        geometry, state = s.window_geometry(), s.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:  # a first start: the screen's room up to 1600x1000, never under 1280x860
            room = self.screen().availableSize().boundedTo(QSize(1600, 1000))
            self.resize(room.expandedTo(QSize(1280, 860)))
        if state is not None:
            self.restoreState(state)
        self.generation_panel.set_settings(s.generation_settings())
        self.generation_panel.advanced.set_expanded(s.generate_advanced, reveal=False)
        self.tool_options.set_values(s.group("brush"))
        if s.model:
            self.generation_panel.set_model(s.model)
        self.generation_panel.model_changed.connect(self._model_chosen)

    def _model_chosen(self, model: str) -> None:
        self.settings.model = model

    def save_settings(self) -> None:
        s = self.settings
        s.set_window_layout(self.saveGeometry(), self.saveState())
        s.set_generation_settings(self.generation_panel.settings())
        s.generate_advanced = self.generation_panel.advanced.expanded()
        s.set_group("brush", self.tool_options.values())
        s.model = self.generation_panel.model()
        s.sync()

    def refresh_models(self) -> None:
        """List the models the engine can find (file reads only, no torch)."""
        if self.servers.refresh_models():  # the servers' checkpoints, fetched off-thread
            return
        try:
            models = discover_models(self.settings.model_dirs)
        except OSError as e:
            log.warning("model discovery failed: %s", e)
            models = []
        current = self.generation_panel.model() or self.settings.model
        self.generation_panel.lora_panel.extra_dirs = tuple(self.settings.model_dirs)
        self.generation_panel.set_models(models, current)

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.jobs.apply_settings()  # the next job of every kind runs where chosen
            self.refresh_models()
            if self.document is not None:
                self.document.history.undo_limit_mb = self.settings.undo_memory_mb
            if self.recovery is not None:
                self.recovery.autosaver.set_interval(self.settings.autosave_seconds)

    # Recovery ---------------------------------------------------------------------------
    def enable_recovery(self, store: RecoveryStore | None = None) -> RecoveryController:
        """Autosave this window's document and offer crash recovery (see recovery_ui);
        run_gui turns it on, tests on their own store."""
        if self.recovery is None:
            self.recovery = RecoveryController(self, store)
        return self.recovery

    # Documents ------------------------------------------------------------------------
    def set_document(self, document: Document, path: Path | None, source: str | None) -> None:
        """Show `document` (replacing the current one without asking)."""
        if self._binding is not None:
            self._binding.disconnect_all()
            self._binding.deleteLater()
        for signal, slot in self._document_links:
            signal.disconnect(slot)
        self.document = document
        self.path = Path(path) if path is not None else None
        self.source_name = source
        document.history.undo_limit_mb = self.settings.undo_memory_mb
        self._binding = CanvasBinding(self.canvas, document, self)
        self.layers_panel.set_document(document)
        self.history_panel.set_history(document.history)
        self.tools.set_document(document)
        self.generation.set_document(document)
        self._document_links = [
            (document.history.changed, self._history_changed),
            (document.size_changed, self._show_size),
        ]
        for signal, slot in self._document_links:
            signal.connect(slot)
        self._history_changed()
        self._show_size()
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
        if not self.maybe_save():
            return
        dialog = SizeDialog("New Image", *self.settings.new_image_size, anchor=False, parent=self)
        if dialog.exec():
            self.settings.new_image_size = dialog.size()
            self.new_document(*dialog.size(), fill=file_ops.BLANK_FILL)

    def ask_canvas_size(self) -> None:
        """Resize or expand the canvas (one undo step); growing it makes room to outpaint."""
        doc = self.document
        dialog = SizeDialog("Canvas Size", doc.width, doc.height, anchor=True, parent=self)
        if dialog.exec():
            self.edit("resize_canvas", *dialog.size(), *dialog.offset())

    def ask_scale_image(self) -> None:
        """Image > Scale Image: resample every layer, the mask and the selection (one undo
        step)."""
        doc = self.document
        dialog = ScaleImageDialog(doc.width, doc.height, parent=self)
        if dialog.exec():
            self.edit("scale_image", *dialog.chosen_size())

    def ask_selection_radius(self, method: str, label: str) -> None:
        if self.document is None or not self.document.has_selection():
            self.statusBar().showMessage("Select something first.", STATUS_MS)
            return
        radius, ok = QInputDialog.getInt(self, APP_NAME, f"{label} (pixels):", 8, 1, 1000)
        if ok:
            self.edit(method, radius)

    # Edits on the picture ---------------------------------------------------------------
    def clear_selected(self) -> bool:
        """Edit > Clear (Del): erase the selected pixels of the current layer (all of it
        without a selection)."""
        return self._paint_edit("clear_selected", "Nothing to clear on this layer.")

    def fill_with_foreground(self) -> bool:
        """Edit > Fill with Foreground Colour (Shift+Backspace): the selection (or the
        whole layer) of the current layer."""
        c = self.tool_options.foreground
        color = (c.red(), c.green(), c.blue())
        return self._paint_edit("fill_selected", "Nothing to fill on this layer.", color)

    def selection_from_mask(self) -> None:
        """Select > Select from Mask: the mask's painted pixels become the selection."""
        if self.document is not None and not self.document.has_mask():
            self.statusBar().showMessage("Paint a mask first (M).", STATUS_MS)
            return
        self.edit("selection_from_mask")

    def _paint_edit(self, method: str, nothing: str, *args: object) -> bool:
        if self.document is None or self.tools.busy():
            return False
        if self.document.current_layer is None:
            self.statusBar().showMessage("Choose a layer first.", STATUS_MS)
            return False
        changed = bool(self.edit(method, *args))
        if not changed:
            self.statusBar().showMessage(nothing, STATUS_MS)
        return changed

    def edit(self, method: str, *args: object) -> object:
        """Run a Document edit, turning a refusal (ValueError) into a status message."""
        if self.document is None:
            return None
        try:
            return getattr(self.document, method)(*args)
        except ValueError as e:
            self.statusBar().showMessage(str(e).capitalize() + ".", STATUS_MS)
            return None

    # Files (editor.ui.window_files) -------------------------------------------------------
    def open_path(self, path: Path | str | None) -> bool:
        """Open an image or project; False if cancelled or unreadable (shown to the user)."""
        return self.files.open_path(path)

    def close_document(self) -> bool:
        """File > Close (Ctrl+W): after asking to save, a blank canvas replaces the
        picture; the window stays open. False if the user cancelled."""
        return self.files.close_document()

    def maybe_save(self) -> bool:
        """Ask to save unsaved changes; False means the user cancelled."""
        return self.files.maybe_save()

    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' (tests replace this to answer without a dialog)."""
        return self.files.ask_save_changes()

    def save(self, path: Path | str | None = None) -> bool:
        return self.files.save(path)

    def save_as(self, path: Path | str | None = None) -> bool:
        return self.files.save_as(path)

    def export_png(self, path: Path | str | None = None) -> bool:
        return self.files.export_png(path)

    def import_layer(self, path: Path | str | None = None) -> bool:
        return self.files.import_layer(path)

    def copy(self, merged: bool = False) -> bool:
        return self.files.copy(merged)

    def paste(self) -> bool:
        return self.files.paste()

    def drop(self, mime: QMimeData, open_instead: bool = False) -> None:
        """Dropped files or image data (see WindowFiles.drop). A Generations thumbnail
        without a file is its entry: added as a layer in full, as its Add as layer button
        does, not its thumbnail's few pixels pasted."""
        if not file_ops.dropped_paths(mime):
            entry = self.generations_panel.dropped_entry(mime)
            if entry is not None:
                self.generations_panel.add_as_layer.emit(entry)
                return
        self.files.drop(mime, open_instead)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if file_ops.dropped_paths(mime) or mime.hasImage() or mime.hasFormat(ENTRY_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self.drop(event.mimeData(), open_instead=ctrl)
        event.acceptProposedAction()

    # Title and undo -------------------------------------------------------------------
    def display_name(self) -> str:
        return self.source_name or "Untitled"

    def is_modified(self) -> bool:
        return self.document is not None and not self.document.history.is_clean()

    def update_title(self) -> None:
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
        self.update_title()
        self.layers_panel.refresh_thumbnails()

    def undo(self) -> None:
        if self.document is not None and not self.tools.busy():
            step = self.document.history.undo_text()
            if self.document.undo():
                # As Krita and Photoshop do: a step whose change is out of sight (a layer
                # property, a dock behind a tab) would otherwise go unnoticed.
                self.statusBar().showMessage(f"Undid: {step}", STATUS_MS)

    def redo(self) -> None:
        if self.document is not None and not self.tools.busy():
            step = self.document.history.redo_text()
            if self.document.redo():
                self.statusBar().showMessage(f"Redid: {step}", STATUS_MS)

    # Tools ----------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.tools.set_tool(name)
        action = getattr(self.actions, f"tool_{name}", None)
        if action is not None:
            action.setChecked(True)

    # Generation (editor.ui.generate.controller) ---------------------------------------------------
    def generate(self) -> int | None:
        return self.generation.generate()

    def cancel(self) -> None:
        """Esc: drop the gesture in progress, else cancel the running and queued jobs."""
        if not self.tools.cancel():
            self.cancel_generation()

    def cancel_generation(self) -> None:
        self.generation.cancel()
        self.upscale.cancel()  # an upscale runs as a job too (editor.ui.upscale.controller)

    def accept_candidate(self) -> Layer | None:
        return self.generation.accept()

    # Messages and closing -------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Tell the user what went wrong in one sentence, without blocking."""
        self.last_error = text
        self.statusBar().showMessage(text, 15000)
        # A bug hit at every step of a job (or a failure repeated) would stack one box
        # per time; the one still open already says it.
        for open_box in self.findChildren(QMessageBox, "errorMessage"):
            if open_box.isVisible() and open_box.text() == text:
                return
        box = QMessageBox(
            QMessageBox.Icon.Warning, APP_NAME, text, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("errorMessage")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"{APP_NAME} {__version__}\nA layered canvas editor that repaints regions with "
            "Stable Diffusion.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if not ask_quit_running(self) or not self.maybe_save():
            event.ignore()
            return
        self.save_settings()
        # Hide first: what follows waits for threads, and a window that stays on screen
        # meanwhile looks hung.
        self.hide()
        if self.recovery is not None:
            self.recovery.close()  # now: quitting may end the event loop before it idles
        self.live.shutdown()
        self.servers.shutdown()
        # The generation log is written out before this returns; only the engine's wait is
        # bounded, as the user's work no longer depends on it.
        if not self.generation.shutdown(timeout_ms=QUIT_ENGINE_WAIT_MS):
            log.info("the engine is still loading or in a step; quitting without it")
        event.accept()

    def sizeHint(self) -> QSize:
        return QSize(1280, 860)
