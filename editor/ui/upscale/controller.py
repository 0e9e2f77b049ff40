"""Image ▸ Upscale… in the window: the dialog, the job on the engine thread, the result.

The dialog only asks; the job then runs as an engine task (through the window's
JobCoordinator, editor.ui.jobs) on the same worker thread and loaded model as
generations, and shows itself like one: the Generate panel's progress bar counts
tiles × steps with the time left, and its Cancel button (or Esc) cancels. The window
stays usable meanwhile. Nothing changes in the document until the job finishes; then one
undo step ("Upscale ×4") scales the image and adds the upscaled picture as a new layer on
top, and the view fits the new size. With "only the selection", the upscaler and refine
run on the selection's box and the new layer keeps only the (scaled) selected pixels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal

from editor.model.document import Document
from editor.model.layer import Layer
from editor.ui.jobs import JobEvents, JobKind
from editor.ui.window_roles import DocumentView
from engine.jobs import build_request
from engine.metadata import PARAMETERS_KEY
from engine.region import resize_mask
from engine.request import Box

if TYPE_CHECKING:
    from editor.ui.canvas_view import CanvasView
    from editor.ui.generate.controller import GenerationController
    from editor.ui.generate.panel import GenerationPanel
    from editor.ui.settings import Settings
    from editor.ui.upscale.dialog import UpscaleChoice, UpscaleDialog
    from engine.upscale.run import UpscaleResult

log = logging.getLogger(__name__)

SELECTION_CONTEXT = 16  # canvas pixels of surroundings the upscaler sees past the selection


@dataclass(frozen=True)
class UpscalePlan:
    """Where the job's crop comes from and where its result goes."""

    document: Document
    choice: UpscaleChoice
    source: Box  # the crop of the composite the engine upscales
    target: Box  # where its result lands on the scaled canvas
    selection: np.ndarray | None  # the selection crop at source, when selection-only


def plan_upscale(doc: Document, choice: UpscaleChoice) -> UpscalePlan:
    """The crop to upscale (the canvas, or the selection's box with some context) and its
    place on the canvas scaled to ``choice``'s size."""
    sx, sy = choice.width / doc.width, choice.height / doc.height
    selection = None
    box = Box(0, 0, doc.width, doc.height)
    bbox = doc.selection_bbox() if choice.selection_only else None
    if bbox is not None:
        pad = SELECTION_CONTEXT
        x0, y0 = max(bbox.x() - pad, 0), max(bbox.y() - pad, 0)
        x1 = min(bbox.x() + bbox.width() + pad, doc.width)
        y1 = min(bbox.y() + bbox.height() + pad, doc.height)
        box = Box(x0, y0, x1 - x0, y1 - y0)
        selection = doc.selection[y0:y1, x0:x1].copy()
    x0, y0 = round(box.x * sx), round(box.y * sy)
    target = Box(x0, y0, round(box.right * sx) - x0, round(box.bottom * sy) - y0)
    return UpscalePlan(doc, choice, box, target, selection)


def apply_upscale(plan: UpscalePlan, result: UpscaleResult) -> Layer:
    """One undo step: the image scaled to the new size, the upscaled pixels on top."""
    doc, choice, target = plan.document, plan.choice, plan.target
    rgba = result.rgba
    if plan.selection is not None:
        keep = resize_mask(plan.selection, target.width, target.height).astype(np.uint16)
        rgba = rgba.copy()
        rgba[..., 3] = (rgba[..., 3].astype(np.uint16) * keep // 255).astype(np.uint8)
    name = f"Upscaled {choice.scale_text}" + (" (refined)" if result.tiles else "")
    with doc.history.macro(f"Upscale {choice.scale_text}"):
        doc.scale_image(choice.width, choice.height)
        return doc.accept_patch(
            rgba, target.x, target.y, name=name, metadata={PARAMETERS_KEY: result.parameters}
        )


class UpscaleWindow(DocumentView, Protocol):
    """What `UpscaleController` uses of the main window."""

    settings: Settings
    generation: GenerationController
    generation_panel: GenerationPanel
    canvas: CanvasView

    def activateWindow(self) -> None: ...


class UpscaleController(QObject):
    """Opens the dialog, runs the job as an engine task with its progress in the Generate
    panel, applies or drops its result."""

    applied = Signal(object)  # the new Layer

    def __init__(self, window: UpscaleWindow) -> None:
        super().__init__(window.window())
        self.window = window
        self.dialog: UpscaleDialog | None = None
        self._job: int | None = None
        self._plan: UpscalePlan | None = None
        self._first_step: tuple[float, int] | None = None  # (when, step) for the time left
        self.jobs = window.generation.jobs
        self._events = JobEvents(
            self._on_started, self._on_progress, self._on_finished, self._on_failed,
            self._on_cancelled,
        )  # fmt: skip
        window.generation_panel.cancel_requested.connect(self.cancel)

    def is_running(self) -> bool:
        return self._job is not None

    def open_dialog(self) -> UpscaleDialog | None:
        # Imported on first use: the window opens without the upscale modules.
        from editor.ui.upscale.dialog import UpscaleDialog
        from engine.upscale.upscalers import find_upscalers

        w = self.window
        doc = w.document
        if doc is None:
            return None
        if self._job is not None:
            w.statusBar().showMessage(
                "An upscale is running; wait for it, or cancel it (Esc), then upscale again.",
                5000,
            )
            return None
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            return self.dialog
        try:
            found = find_upscalers(w.settings.model_dirs)
        except OSError as e:
            log.warning("looking for upscalers failed: %s", e)
            found = []
        dialog = UpscaleDialog(
            doc.width, doc.height, found, has_selection=doc.has_selection(), parent=w.window()
        )
        dialog.start_requested.connect(self.start)
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def start(self, choice: UpscaleChoice) -> int | None:
        # the upscale modules (with the local engine's) load on first use: start-up time
        from engine.upscale.run import UpscaleJob, run_upscale

        w, dialog = self.window, self.dialog
        doc = w.document
        if doc is None or self._job is not None:
            if dialog is not None:
                dialog.show_message("An upscale is already running; cancel it first.")
            return None
        plan = plan_upscale(doc, choice)
        params = replace(
            w.generation_panel.settings(), prompt=choice.prompt, strength=choice.strength
        )
        request = build_request(
            "img2img",
            params,
            watermark=w.settings.watermark,
            precision=w.settings.precision,
            options=tuple(sorted(w.settings.engine_options().items())),
        )
        job = UpscaleJob(
            plan.target.width, plan.target.height, request, choice.refine, choice.upscaler
        )
        crop = doc.composite_array(QRect(plan.source.x, plan.source.y,
                                         plan.source.width, plan.source.height))  # fmt: skip
        self._plan, self._first_step = plan, None
        self._job = self.jobs.submit_task(
            JobKind.UPSCALE,
            lambda engine, progress, cancel: run_upscale(engine, crop, job, progress, cancel),
            self._events,
        )
        panel = w.generation_panel
        panel.set_running(True)
        panel.set_waiting("Waiting for the running job…" if w.generation.is_busy()
                          else "Starting the engine…")  # fmt: skip
        w.statusBar().showMessage(
            f"Upscaling to {choice.width} × {choice.height} px"
            f"{' and refining' if choice.refine else ''}; Esc cancels.",
            5000,
        )
        if dialog is not None:
            dialog.accept()
            # Without a window manager (or offscreen) the hidden dialog stays the active
            # window, and the main window's shortcuts, Esc included, would not fire.
            w.activateWindow()
        return self._job

    def cancel(self) -> None:
        if self._job is not None:
            self.jobs.cancel(self._job)
            self.window.generation_panel.set_waiting("Cancelling…")

    def _on_started(self, job_id: int) -> None:
        if job_id == self._job and self._plan is not None:
            refine = self._plan.choice.refine
            panel = self.window.generation_panel
            if not panel.cancel_button.isEnabled():  # a generation that ran first ended
                panel.set_running(True)
            panel.set_waiting("Loading the model…" if refine else "Upscaling…")

    def _on_progress(self, job_id: int, done: int, total: int, _preview: object) -> None:
        if job_id != self._job:
            return
        panel = self.window.generation_panel
        if not panel.cancel_button.isEnabled():  # a generation that ran first ended
            panel.set_running(True)
        # The time left from the steps since the first one: the first includes loading.
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = (now, done)
        start, first = self._first_step
        left = (now - start) / (done - first) * (total - done) if done > first else None
        panel.set_progress(done, total, left)

    def _end(self, job_id: int, status: str, error: bool = False) -> UpscalePlan | None:
        if job_id != self._job:
            return None
        plan, self._job, self._plan = self._plan, None, None
        panel = self.window.generation_panel
        if not self.window.generation.is_busy():  # else its jobs own the panel now
            panel.set_running(False)
        panel.set_status(status, error)
        return plan

    def _on_finished(self, job_id: int, result: object) -> None:
        if job_id != self._job or self._plan is None:
            return
        choice = self._plan.choice
        what = f"{result.upscaler}{', refined' if result.tiles else ''}"
        text = f"Upscaled to {choice.width} × {choice.height} px ({what})."
        plan = self._end(job_id, text)
        if plan is None or plan.document is not self.window.document:
            return  # the picture was closed meanwhile
        layer = apply_upscale(plan, result)
        self.window.canvas.fit()  # the picture is larger now: show all of it
        self.window.statusBar().showMessage(text, 5000)
        self.applied.emit(layer)

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._end(job_id, message, error=True) is not None:
            self.window.show_error(message)

    def _on_cancelled(self, job_id: int) -> None:
        text = "Upscale cancelled; the picture was not changed."
        if self._end(job_id, text) is not None:
            self.window.statusBar().showMessage(text, 5000)

    def _dialog_closed(self, _result: int) -> None:
        self.dialog = None
