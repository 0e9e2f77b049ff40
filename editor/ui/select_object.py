"""Magic Wand and Select Object in the window, and Image ▸ Remove Background.

The tools themselves are in editor.tools.object_tools; this controller gives them what
needs the window: the wand's options in the tools dock (tolerance, contiguous,
anti-aliased edge), and the segmentation model. When Select Object is picked (or a click
needs it), the model is found, loaded and the picture's embedding computed by one
background task (editor.ui.background): the window never waits on it. A click made
meanwhile is answered when the embedding arrives; the model keeps it for those pixels,
so later clicks only run the mask decoder. Pixels that change while the tool is chosen
are embedded again once they have been still for a moment.

Remove Background selects the picture's main subject (the model when one is installed,
else GrabCut) off the UI thread, then either puts the subject on a new layer with the
rest transparent (the other layers hidden, one undo step), or masks the background and
runs Generate with the "Replace background" inpaint mode and the panel's prompt.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QRect, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QMessageBox,
    QSpinBox,
    QStatusBar,
    QWidget,
)

from editor.model.document import Document
from editor.tools.base import Tool
from editor.tools.object_tools import MagicWandTool, SelectObjectTool
from editor.ui.background import BackgroundTask, run_in_background
from editor.ui.theme import tidy
from engine.core.errors import EngineError
from engine.select.objects import DEFAULT_TOLERANCE, cut_out, subject_mask
from engine.select.segmenter import Segmenter, load_segmenter, resolve_segmenter

if TYPE_CHECKING:
    from editor.ui.actions import Actions
    from editor.ui.generate.panel import GenerationPanel
    from editor.ui.settings import Settings
    from editor.ui.tool_options import ToolOptions
    from editor.ui.tools_bridge import ToolsBridge

log = logging.getLogger(__name__)

STATUS_MS = 6000
# After the pixels change, the picture is embedded again once they have been still this
# long (a brush stroke is many changes).
REEMBED_MS = 800
CHOICES = ("transparent", "replace")
WAND_SETTINGS = "wand"  # the Settings group that keeps the wand's options


class SelectWindow(Protocol):
    """What the controller uses of the main window."""

    document: Document | None
    document_replaced: Signal
    tools: ToolsBridge
    tool_options: ToolOptions
    actions: Actions
    settings: Settings
    generation_panel: GenerationPanel

    def statusBar(self) -> QStatusBar: ...
    def generate(self) -> int | None: ...
    def show_error(self, text: str) -> None: ...


class WandOptions(QWidget):
    """The magic wand's settings, shown in the tools dock while it is chosen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("wandOptions")
        form = tidy(QFormLayout(self), margin=0)
        self.tolerance_spin = QSpinBox()
        self.tolerance_spin.setRange(0, 255)
        self.tolerance_spin.setValue(DEFAULT_TOLERANCE)
        self.tolerance_spin.setToolTip("How far each colour channel may be from the clicked one")
        form.addRow("Tolerance", self.tolerance_spin)
        checks = QHBoxLayout()
        self.contiguous_check = QCheckBox("Contiguous")
        self.contiguous_check.setChecked(True)
        self.contiguous_check.setToolTip("Only pixels connected to the clicked one")
        self.antialias_check = QCheckBox("Anti-alias")
        self.antialias_check.setChecked(True)
        self.antialias_check.setToolTip("A one-pixel soft edge")
        checks.addWidget(self.contiguous_check)
        checks.addWidget(self.antialias_check)
        form.addRow(checks)

    def values(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance_spin.value(),
            "contiguous": self.contiguous_check.isChecked(),
            "antialias": self.antialias_check.isChecked(),
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """The options kept in Settings (INI values come back as strings); junk is ignored."""
        try:
            self.tolerance_spin.setValue(int(saved.get("tolerance", DEFAULT_TOLERANCE)))
        except (TypeError, ValueError):
            pass
        for key, check in (
            ("contiguous", self.contiguous_check),
            ("antialias", self.antialias_check),
        ):
            if key in saved:
                check.setChecked(str(saved[key]).lower() in ("1", "true"))

    def apply_to(self, wand: MagicWandTool) -> None:
        wand.tolerance = self.tolerance_spin.value()
        wand.contiguous = self.contiguous_check.isChecked()
        wand.antialias = self.antialias_check.isChecked()


class SelectObjectController(QObject):
    """Owns the segmentation model's loading and embedding, and Remove Background."""

    def __init__(self, window: SelectWindow) -> None:
        super().__init__(window)  # type: ignore[arg-type]
        self.window = window
        self.segmenter: Segmenter | None = None
        self._task: BackgroundTask | None = None
        self._remove_task: BackgroundTask | None = None
        self._watched: Document | None = None
        self._reembed = QTimer(self)
        self._reembed.setSingleShot(True)
        self._reembed.setInterval(REEMBED_MS)
        self._reembed.timeout.connect(self._pixels_settled)
        self.wand_options = WandOptions()
        options = window.tool_options
        layout = options.layout()
        layout.insertWidget(layout.indexOf(options.selection_row) + 1, self.wand_options)
        self.wand_options.setVisible(False)
        self.wand_options.restore(window.settings.group(WAND_SETTINGS))
        self.wand_options.tolerance_spin.valueChanged.connect(lambda _v: self._sync_wand())
        for check in (self.wand_options.contiguous_check, self.wand_options.antialias_check):
            check.toggled.connect(lambda _on: self._sync_wand())
        window.actions.tool_wand.toggled.connect(self._wand_chosen)
        window.actions.tool_select_object.toggled.connect(self._object_chosen)
        window.document_replaced.connect(lambda _doc: self._attach())
        self._attach()

    # ------------------------------------------------------------------ tools
    def _tool(self, name: str) -> Tool | None:
        return self.window.tools.tool(name)

    def _attach(self) -> None:
        """Give the (new) document's tools the model and the wand's options, and watch
        its pixels."""
        tool = self._tool("select_object")
        if isinstance(tool, SelectObjectTool):
            tool.segmenter = self.segmenter
            tool.on_needs_embedding = self.prepare
        self._sync_wand()
        doc = self.window.document
        if doc is not self._watched:
            if self._watched is not None:
                self._watched.changed.disconnect(self._pixels_changed)
            self._watched = doc
            if doc is not None:
                doc.changed.connect(self._pixels_changed)

    def _pixels_changed(self, _rect: QRect) -> None:
        """New pixels: with a model and Select Object chosen, embed them again soon, so the
        next click finds the embedding ready."""
        if self.segmenter is not None and self.window.tools.name == "select_object":
            self._reembed.start()

    def _pixels_settled(self) -> None:
        if self.window.tools.name == "select_object":
            self.prepare()

    def _sync_wand(self) -> None:
        self.window.settings.set_group(WAND_SETTINGS, self.wand_options.values())
        wand = self._tool("wand")
        if isinstance(wand, MagicWandTool):
            self.wand_options.apply_to(wand)

    def _wand_chosen(self, on: bool) -> None:
        self.wand_options.setVisible(on)

    def _object_chosen(self, on: bool) -> None:
        tool = self._tool("select_object")
        if isinstance(tool, SelectObjectTool):
            tool.forget()
        if on:
            self.prepare()

    # ------------------------------------------------------------------ the model
    def busy(self) -> bool:
        return self._task is not None

    def prepare(self) -> None:
        """Find and load the segmentation model and embed the picture, off the UI
        thread; without a model, Select Object keeps using GrabCut."""
        doc = self.window.document
        if doc is None or self._task is not None:
            return
        rgb = np.ascontiguousarray(doc.composite_array()[..., :3])
        dirs = tuple(self.window.settings.model_dirs)

        def work(_task: BackgroundTask) -> Segmenter | None:
            folder = resolve_segmenter("auto", dirs)
            if folder is None:
                return None
            segmenter = load_segmenter(folder)
            segmenter.embed(rgb)
            return segmenter

        self._task = run_in_background(
            work, self._ready, self._failed, owner=self, name="overpaint-select-object"
        )

    def _ready(self, segmenter: Segmenter | None) -> None:
        self._task = None
        self.segmenter = segmenter
        self._attach()
        tool = self._tool("select_object")
        if segmenter is not None:
            self.window.statusBar().showMessage(
                f"Select Object uses {segmenter.folder.name}.", STATUS_MS
            )
        if isinstance(tool, SelectObjectTool) and tool.pending is not None:
            tool.apply_pending()
            if tool.refusal:
                self.window.statusBar().showMessage(tool.refusal, STATUS_MS)

    def _failed(self, error: BaseException) -> None:
        self._task = None
        log.error("preparing the segmentation model failed: %s", error)
        self.segmenter = None
        self._attach()
        text = str(error) if isinstance(error, EngineError) else "The segmentation model failed."
        self.window.statusBar().showMessage(f"{text} Select Object uses GrabCut.", STATUS_MS)
        tool = self._tool("select_object")
        if isinstance(tool, SelectObjectTool) and tool.pending is not None:
            tool.apply_pending()

    # ------------------------------------------------------------------ remove background
    def ask_remove_background(self) -> None:
        """Image ▸ Remove Background…: ask how, then do it."""
        box = QMessageBox(self.window)  # type: ignore[arg-type]
        box.setWindowTitle("Remove Background")
        box.setText("Select the main subject, then:")
        clear = box.addButton("Make the Rest Transparent", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace with the Prompt", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is clear:
            self.remove_background("transparent")
        elif box.clickedButton() is replace:
            self.remove_background("replace")

    def remove_background(self, choice: str) -> BackgroundTask | None:
        """Select the subject off the UI thread, then apply ``choice`` ("transparent" or
        "replace"); returns the task (None when refused, with the reason shown)."""
        if choice not in CHOICES:
            raise ValueError(f"unknown choice {choice!r}; expected one of {CHOICES}")
        doc = self.window.document
        if doc is None or self._remove_task is not None:
            return None
        if choice == "replace" and not self.window.generation_panel.settings().prompt.strip():
            self.window.show_error("Write the new background in the prompt first.")
            return None
        rgba = doc.composite_array()
        if not rgba[..., 3].any():
            self.window.show_error("The picture is empty: there is no subject to keep.")
            return None
        segmenter = self.segmenter
        self.window.statusBar().showMessage("Finding the main subject…", STATUS_MS)

        def work(_task: BackgroundTask) -> np.ndarray:
            return subject_mask(rgba, segmenter)

        def done(mask: np.ndarray) -> None:
            self._remove_task = None
            if self.window.document is doc:
                self._apply_removal(doc, choice, rgba, mask)

        def failed(error: BaseException) -> None:
            self._remove_task = None
            log.error("remove background failed: %s", error)
            text = str(error) if isinstance(error, EngineError) else ""
            self.window.show_error(text or "Remove Background failed; see the log file.")

        self._remove_task = run_in_background(work, done, failed, owner=self)
        return self._remove_task

    def _apply_removal(
        self, doc: Document, choice: str, rgba: np.ndarray, mask: np.ndarray
    ) -> None:
        if not (mask >= 128).any():
            self.window.show_error("No subject was found; select it with Select Object (O).")
            return
        if choice == "transparent":
            with doc.history.macro("Remove background"):
                for layer in doc.layers:
                    if layer.visible:
                        doc.set_layer_properties(layer, visible=False)
                doc.add_layer("Subject", cut_out(rgba, mask), index=len(doc.layers))
            return
        doc.set_mask(255 - mask, "Mask the background")
        self.window.generation_panel.inpaint_options.set_values(
            {"inpaint_mode": "replace-background"}
        )
        self.window.generate()
