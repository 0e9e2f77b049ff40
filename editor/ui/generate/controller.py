"""The generation request's whole life in the window: GenerationController.

Generate: the panel's settings + the document -> `prepare` (grow the canvas for a frame
drawn past its edge, then engine.jobs builds the request and crops the inputs) -> the
window's JobCoordinator (editor.ui.jobs) and its EngineClient's worker -> progress and
previews on the canvas -> results as candidates -> `accept` lays one into the document as
a layer (one undo step).

The EngineClient (and with it the worker thread) is created on the first job, so a
window that never generates never starts a thread. Only Accept changes the document,
apart from the canvas growth a frame past the edge asks for: it lasts until the result
is accepted (one undo step with it) or dropped (the canvas shrinks back).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
from PySide6.QtCore import QObject, QPoint, QRect, Signal
from PySide6.QtGui import QKeySequence

from editor.model.blending import image_to_rgba
from editor.model.control_layers import layer_control_sources, model_composite
from editor.model.document import Document
from editor.model.layer import Layer
from editor.model.layer_roles import layer_reference_sources, layer_region_sources, regions_problem
from editor.ui.actions import ACTION_TABLE
from editor.ui.canvas_view import CanvasView, rgba_array_to_qimage
from editor.ui.generate.candidates import Candidate, CandidatesStrip
from editor.ui.generate.edit_mode import (
    EDIT,
    EditModeGate,
    edit_job,
    edit_refusal,
    model_can_edit,
    unused_regions_note,
)
from editor.ui.generate.family_settings import FamilySettingsGate, family_settings
from editor.ui.generate.outpaint_growth import CanvasGrowths, Growth
from editor.ui.generate.panel import GenerationPanel
from editor.ui.jobs import JobCoordinator, JobEvents, JobKind
from editor.ui.servers.page import server_urls, servers_enabled
from editor.ui.settings import Settings
from engine.comfy.engine import native_size
from engine.core.errors import EngineError
from engine.generation_settings import GenerationSettings
from engine.history.recorder import BackgroundRecorder, Ticket
from engine.jobs import FILL_NATIVE, JobError, PreparedJob, prepare_job
from engine.metadata import PARAMETERS_KEY, REQUEST_KEY
from engine.models import resolve_model
from engine.reference.regional import runs_per_sample
from engine.request import Box, GenerationInputs, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

DEFAULT_NATIVE = 512
LAYER_NAME_CHARS = 40


@dataclass
class _RunningJob:
    job: PreparedJob
    document: Document
    submitted: float = field(default_factory=time.monotonic)
    first_step_at: float | None = None
    first_step: int = 0
    accept: bool = False  # lay the first result straight into the document
    growths: tuple[Growth, ...] = ()  # canvas growths its result's place depends on
    notes: tuple[str, ...] = ()  # said with its results: what took no part in it


def steps_note(total: int, job: PreparedJob) -> str:
    """What the job's step count `total` is made of, when it is not the steps asked for:
    img2img and inpaint run only the last `strength` of them, and the count runs over
    every picture and every run of one (a reference limited to a region takes two);
    "" when there is nothing to explain."""
    request = job.request
    runs = runs_per_sample(request, job.inputs)
    pictures = max(1, request.n_samples)
    each = total // (pictures * runs)
    parts = [f"{pictures} pictures"] if pictures > 1 else []
    if runs > 1:
        parts.append(f"{runs} runs (a reference limited to a region)")
    if each < request.steps:
        parts.append(f"{each} of {request.steps} steps (strength {request.strength:g})")
    elif parts:
        parts.append(f"{each} steps")
    return " × ".join(parts)


def box_to_rect(box: Box) -> QRect:
    return QRect(box.x, box.y, box.width, box.height)


def request_rect(request: GenerationRequest) -> QRect:
    """Where a job's pixels lie on the canvas: its region, or, for a command-line txt2img
    regenerated from the Generations dock (no region), its own size at the top left."""
    return box_to_rect(request.region or Box(0, 0, request.width, request.height))


# A result without a prompt is named after what was done (as Upscale's "Upscaled 2×"):
# by its inpaint mode, else by its reference pictures, else by its generation mode;
# anything else is "Generated".
UNPROMPTED_INPAINT_NAMES = {
    "remove": "Removed",
    "replace-background": "New background",
    "expand": "Expanded",
    "refine": "Refined",
}
UNPROMPTED_MODE_NAMES = {"fill": "Filled", "outpaint": "Expanded", "img2img": "Refined"}


def layer_name_for(request: GenerationRequest) -> str:
    """A result layer's name: the prompt's first line, shortened; without a prompt, what
    the job did (e.g. "Removed" for an empty-prompt Remove)."""
    # A fill (no model) never reads the prompt, so a prompt left in the box is not its name.
    text = "" if request.mode == "fill" else " ".join(request.prompt.split())
    if not text:
        if request.mode in ("inpaint", "outpaint"):
            text = UNPROMPTED_INPAINT_NAMES.get(request.inpaint_mode, "")
        if not text and request.references:  # the picture said what to draw
            text = "From reference"
        text = text or UNPROMPTED_MODE_NAMES.get(request.mode, "Generated")
    return text if len(text) <= LAYER_NAME_CHARS else text[: LAYER_NAME_CHARS - 1] + "…"


def whole_picture_later(doc: Document) -> Callable[[], np.ndarray]:
    """The document's picture (without control layers) as RGBA, made when called: only a
    shared QImage is taken now, and the history recorder converts it on its thread."""
    if any(layer.control is not None and layer.visible for layer in doc.layers):
        pixels = model_composite(doc, doc.rect())
        return lambda: pixels
    image = doc.composite()
    return lambda: image_to_rgba(image)


def native_size_for(model: str, settings: Settings) -> int:
    """The model's native resolution without loading it (512 when it cannot be told;
    the engine then reports the real problem when the job runs)."""
    # A server's checkpoint: only its file name can tell (engine.comfy.engine.native_size).
    if servers_enabled(settings) and server_urls(settings):
        return native_size(model)
    try:
        return resolve_model(model, settings.model_dirs).native_size
    except (EngineError, OSError, ValueError) as e:
        log.info("native size of %r unknown (%s); using %d", model, e, DEFAULT_NATIVE)
        return DEFAULT_NATIVE


class GenerationController(QObject):
    """The request's life: prepare, submit (through the window's JobCoordinator),
    progress and previews, candidates, accept into the document."""

    error = Signal(str)  # one sentence for the user
    status = Signal(str)
    results_ready = Signal(int)  # number of new candidates
    accepted = Signal(object)  # the new Layer
    history_warning = Signal(str)  # the generation history could not record (one sentence)
    history_changed = Signal()  # an entry was recorded or marked kept (emitted off-thread)

    def __init__(
        self,
        panel: GenerationPanel,
        candidates: CandidatesStrip,
        canvas: CanvasView,
        settings: Settings,
        parent: QObject | None = None,
        jobs: JobCoordinator | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs = jobs if jobs is not None else JobCoordinator(settings, self)
        self.panel = panel
        self.candidates = candidates
        self.canvas = canvas
        self.settings = settings
        self.document: Document | None = None
        self._jobs: dict[int, _RunningJob] = {}
        self._running: int | None = None
        self._loaded_model: str | None = None  # the model of the last job that reached a step
        self._region_settings: WeakKeyDictionary[Document, dict[str, Any]] = WeakKeyDictionary()
        # Every sample goes into the generation history (off the UI thread); Accept marks
        # it kept.
        self.history = BackgroundRecorder(
            enabled=lambda: settings.history_enabled,
            on_warning=self.history_warning.emit,
            on_changed=self.history_changed.emit,
        )
        self._tickets: WeakKeyDictionary[GenerationResult, Ticket] = WeakKeyDictionary()
        self._growths = CanvasGrowths()
        self._growth_needs: WeakKeyDictionary[GenerationResult, tuple[Growth, ...]] = (
            WeakKeyDictionary()
        )
        self._notes: list[str] = []  # the last job's warnings, said with "N results ready"
        panel.generate_requested.connect(self.generate)
        panel.cancel_requested.connect(self.cancel)
        self.edit_gate = EditModeGate(panel, lambda model: model_can_edit(model, settings))
        self.family_gate = FamilySettingsGate(panel, lambda model: family_settings(model, settings))
        candidates.preview_changed.connect(self._show_candidate)
        # A discarded result may leave a canvas growth that nothing needs any more.
        candidates.preview_changed.connect(lambda _candidate: self.release_growths())
        candidates.accept_requested.connect(self.accept)
        candidates.count_changed.connect(self._count_changed)
        # Said, so an earlier "Added as a layer." does not stay in the status bar.
        candidates.discarded.connect(
            lambda n: self.status.emit(f"Discarded {n} result{'' if n == 1 else 's'}.")
        )

        self._events = JobEvents(
            self._on_started, self._on_progress, self._on_finished, self._on_failed,
            self._on_cancelled,
        )  # fmt: skip

    # Client --------------------------------------------------------------------------
    @property
    def client(self):  # engine.worker.EngineClient: the coordinator's, created on first use
        return self.jobs.client

    def has_client(self) -> bool:
        return self.jobs.has_client()

    def is_busy(self) -> bool:
        return bool(self._jobs)

    def pending_jobs(self) -> int:
        return len(self._jobs)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel all jobs and stop the worker thread (on window close)."""
        self.history.close()
        stopped = self.jobs.shutdown(timeout_ms)
        self._jobs.clear()
        self._running = None
        return stopped

    # Jobs ----------------------------------------------------------------------------
    def prepare(
        self, params: GenerationSettings, native: int, precision: str | None = None
    ) -> PreparedJob:
        """The job for the document's region with the panel's `params` (JobError if the
        document cannot make it), in the CPU precision of Settings unless `precision` is
        given. A generation frame drawn past the canvas edge means "extend the picture":
        the canvas grows to hold it first, until the result is accepted or dropped
        (editor.ui.generate.outpaint_growth)."""
        doc = self.document
        if doc is None:
            raise JobError("Open or create an image first, then generate.")
        params = GenerationSettings.coerce(params)  # tests and replays hand a mapping
        problem = regions_problem(doc) or edit_refusal(params.mode, params.model, self.settings)
        if problem:
            raise JobError(problem)
        if params.mode == EDIT:
            return edit_job(
                doc, params, native, self.settings, precision or self.settings.precision
            )
        frame = self._grow_canvas_to_frame(doc)
        try:
            return prepare_job(
                params,
                doc.width,
                doc.height,
                # Control, reference and region layers guide the job; they are not part
                # of the picture it repaints.
                lambda box: model_composite(doc, box_to_rect(box)),
                mask=doc.mask if doc.has_mask() else None,
                selection=doc.selection if doc.has_selection() else None,
                frame=frame,
                native=native,
                options=self.settings.engine_options(),
                watermark=self.settings.watermark,
                controls=layer_control_sources(doc),
                precision=precision or self.settings.precision,
                regions=layer_region_sources(doc),
                references=layer_reference_sources(doc),
            )
        except JobError:
            self.release_growths()  # no job: the canvas goes back to its size
            raise

    def _grow_canvas_to_frame(self, doc: Document) -> Box | None:
        """The frame to generate in, after growing the canvas to hold it."""
        if doc.generation_frame is None or doc.has_mask() or doc.has_selection():
            return doc.generation_frame
        try:
            return self._growths.grow(doc)[0]
        except ValueError:
            raise JobError(
                "The generation frame reaches too far past the picture; draw it closer "
                "to the canvas."
            ) from None

    def release_growths(self) -> None:
        """Undo the canvas growths no running job or waiting result needs any more."""
        in_use = [g for running in self._jobs.values() for g in running.growths]
        for candidate in self.candidates.candidates():
            in_use += self._growth_needs.get(candidate.result, ())
        self._growths.release(in_use)

    def generate(self) -> int | None:
        """Submit a job for the current document; returns its id, None if refused."""
        if self.document is None:
            self.error.emit("Open or create an image first, then generate.")
            return None
        job = self._job_from_panel()
        return None if job is None else self.submit(job)

    def _job_from_panel(self) -> PreparedJob | None:
        self.panel.next_seed()  # a new random seed unless locked; the request records it
        params = self.panel.settings()
        job = self._job_for(params)
        if job is not None:
            self.settings.set_generation_settings(params)
        return job

    def _job_for(
        self, params: GenerationSettings, precision: str | None = None
    ) -> PreparedJob | None:
        # Classical fill loads no model: its region does not depend on one.
        fill = params.mode == "fill"
        native = FILL_NATIVE if fill else native_size_for(params.model, self.settings)
        try:
            return self.prepare(params, native, precision)
        except JobError as e:
            self.error.emit(str(e))
            return None

    def regenerate(
        self,
        request: GenerationRequest,
        accept: bool = False,
        inputs: GenerationInputs | None = None,
    ) -> int | None:
        """Run a recorded request again (from the generation history). With its recorded
        `inputs`, or as a txt2img of its own size (no pixels), it runs exactly as
        recorded, its result at the recorded place; without them, any other mode takes
        its settings and runs on the current picture's region."""
        if self.document is None:
            self.error.emit("Open or create an image first, then generate.")
            return None
        whole = request.region is None or request.region == Box(
            0, 0, request.canvas_width, request.canvas_height
        )
        if inputs is not None:
            job: PreparedJob | None = PreparedJob(request, inputs, "canvas")
        elif request.mode == "txt2img" and whole:
            job = PreparedJob(request, GenerationInputs(), "canvas")
        else:
            # The recorded settings (seed, mode and precision included) on the current
            # picture; the panel stays as the user set it.
            recorded = dataclasses.asdict(request)
            params = self.panel.settings()
            shared = {f.name for f in dataclasses.fields(params)} & recorded.keys()
            params = dataclasses.replace(params, **{k: recorded[k] for k in shared})
            job = self._job_for(params, request.precision)
        return None if job is None else self.submit(job, accept=accept)

    def submit(self, job: PreparedJob, accept: bool = False) -> int:
        """Queue a prepared job for the current document; `accept` lays its first result
        straight into the document (one undo step) instead of offering candidates."""
        assert self.document is not None
        kind = JobKind.FILL if job.request.mode == "fill" else JobKind.GENERATE
        job_id = self.jobs.submit(kind, job.request, job.inputs, self._events)
        growths = self._growths.pending(self.document)
        notes = tuple(unused_regions_note(self.document, job.request.mode))
        self._jobs[job_id] = _RunningJob(
            job, self.document, accept=accept, growths=growths, notes=notes
        )
        self._update_running()
        if self._running is None:
            self.panel.set_waiting("Starting the engine…")
        what = job.request.mode
        if what in ("inpaint", "outpaint"):
            self.panel.inpaint_options.show_picked(job.request.inpaint_mode)
            what = f"{what} ({job.request.inpaint_mode}, strength {job.request.strength:g})"
        self.status.emit(f"Queued {what} job {job_id}.")
        return job_id

    def cancel(self) -> None:
        if self._jobs:
            self.jobs.cancel(None)
            self.status.emit("Cancelling…")

    def _update_running(self) -> None:
        queued = len(self._jobs) - (1 if self._running in self._jobs else 0)
        self.panel.set_running(bool(self._jobs), max(0, queued))

    def _on_started(self, job_id: int) -> None:
        running = self._jobs.get(job_id)
        if running is None:
            return
        self._running = job_id
        self._update_running()
        loaded = running.job.request.model == self._loaded_model
        self.panel.set_waiting("Preparing…" if loaded else "Loading the model…")
        if running.document is self.document:
            self.canvas.set_region(request_rect(running.job.request))

    def _on_progress(self, job_id: int, step: int, total: int, preview: object) -> None:
        running = self._jobs.get(job_id)
        if running is None:
            return
        self._loaded_model = running.job.request.model
        now = time.monotonic()
        if running.first_step_at is None:
            running.first_step_at, running.first_step = now, step
        done = step - running.first_step
        left = None
        if done > 0:
            left = (now - running.first_step_at) / done * (total - step)
        self.panel.set_progress(step, total, left)
        if done == 0 and (note := steps_note(total, running.job)):
            self.panel.set_status(note)  # beside the steps, so that "Step 3/16" makes sense
        if isinstance(preview, np.ndarray) and running.document is self.document:
            rect = request_rect(running.job.request)
            self.canvas.set_preview(rgba_array_to_qimage(preview), rect)

    def _finish(self, job_id: int) -> _RunningJob | None:
        running = self._jobs.pop(job_id, None)
        if job_id == self._running:
            self._running = None
            self.canvas.set_preview(None)
            self.canvas.set_region(None)
        self._update_running()
        return running

    def _on_finished(self, job_id: int, results: object) -> None:
        running = self._finish(job_id)
        if running is None:
            return
        results = list(results or [])
        # The thumbnail shows the result on the whole picture; the inputs make it replayable.
        backdrop = whole_picture_later(running.document)
        for result in results:
            self._growth_needs[result] = running.growths
            self._tickets[result] = self.history.record(
                result.request,
                result.rgba,
                at=(result.x, result.y),
                backdrop=backdrop,
                inputs=running.job.inputs,
            )
        if running.document is not self.document:
            self.release_growths()
            return  # the document was closed meanwhile: nowhere to put the results
        if running.accept and results:
            self.accepted.emit(self.accept_result(results[0]))
            self.history.mark_kept(self._tickets[results[0]])
            said = ["Generated and added as a layer.", *running.notes, *self._mask_kept()]
            self.status.emit(" ".join(said))
            if not self._jobs:  # the steps' note is done with
                self.panel.set_status("")
            return
        self._notes = list(dict.fromkeys(w for r in results for w in getattr(r, "warnings", ())))
        self._notes += running.notes
        for result in results:
            self.candidates.add_result(result, running.document)
        self._say_ready()
        self.release_growths()  # a job without results needs no room for them
        # The notes in full in the status bar: the panel's bar may cut them short.
        said = [f"Generation finished: {len(results)} result(s).", *self._notes]
        self.status.emit(" ".join(said))
        self.results_ready.emit(len(results))

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._finish(job_id) is None:
            return
        self.release_growths()
        self.panel.set_status(message, error=True)
        self.error.emit(message)

    def _on_cancelled(self, job_id: int) -> None:
        if self._finish(job_id) is None:
            return
        self.release_growths()
        self.panel.set_status("Generation cancelled.")
        self.status.emit("Generation cancelled.")

    # Candidates ----------------------------------------------------------------------
    def _say_ready(self) -> None:
        """'N results ready' in the panel's idle bar, kept true as results are accepted or
        dropped, and after it the last job's notes, if any."""
        n = self.candidates.count()
        ready = f"{n} result{'' if n == 1 else 's'} ready: accept one or discard them."
        self.panel.set_ready(" ".join([ready, *self._notes]) if n else "")
        if not self._jobs:  # a message about an earlier job is stale once results change
            self.panel.set_status("")

    def _count_changed(self, _count: int) -> None:
        self._say_ready()

    def _show_candidate(self, candidate: Candidate | None) -> None:
        if candidate is None or candidate.document is not self.document:
            self.canvas.set_overlay(None)
            return
        result = candidate.result
        self.canvas.set_overlay(candidate.image, QPoint(result.x, result.y))

    def accept(self, candidate: Candidate | None = None) -> Layer | None:
        """Make a candidate (default: the selected one) a real layer; one undo step."""
        candidate = candidate or self.candidates.current()
        if candidate is None:
            return None
        if candidate.document is not self.document or self.document is None:
            self.error.emit("That result belongs to a closed image; generate it again.")
            self.candidates.remove(candidate)
            return None
        layer = self.accept_result(candidate.result)
        ticket = self._tickets.get(candidate.result)
        if ticket is not None:
            self.history.mark_kept(ticket)
        # The canvas then shows what was accepted; the others wait unpreviewed.
        self.candidates.remove(candidate, preview_next=False)
        if layer is not None:
            self.accepted.emit(layer)
            self.status.emit(" ".join(["Added as a layer.", *self._mask_kept()]))
        return layer

    def _mask_kept(self) -> list[str]:
        """The sentence saying the mask stays after an accept, when there is one: kept on
        purpose for another run on the same area, as InvokeAI keeps its inpaint mask and
        Krita AI Diffusion its selection."""
        if self.document is None or not self.document.has_mask():
            return []
        key = QKeySequence(ACTION_TABLE["clear_mask"][1][0])
        shortcut = key.toString(QKeySequence.SequenceFormat.NativeText)
        return [f"The mask stays for another run; Clear Mask ({shortcut}) removes it."]

    def accept_result(self, result: GenerationResult) -> Layer:
        """Lay `result` into the document as a new layer named after its prompt, carrying
        its generation metadata (for export and `overpaint rerun`); one undo step, which
        takes back the canvas growth of an outpaint too."""
        doc = self.document
        assert doc is not None
        return self._growths.accept(
            doc,
            self._growth_needs.get(result, ()),
            lambda: doc.accept_patch(
                result.rgba,
                result.x,
                result.y,
                name=layer_name_for(result.request),
                metadata={
                    PARAMETERS_KEY: result.parameters,
                    REQUEST_KEY: result.request.to_json(),
                },
            ),
        )

    @staticmethod
    def _target_signals(document: Document) -> tuple[Any, ...]:
        return (document.mask_changed, document.selection_changed, document.frame_changed)

    def _show_prompt_target(self, *_args: object) -> None:
        """The prompt's hint names what Generate would paint now (the document's
        generation_region order: mask, selection, frame, else the picture)."""
        picked = None if self.document is None else self.document.generation_target()
        self.panel.set_prompt_target(picked[1] if picked else "canvas")

    def set_document(self, document: Document | None) -> None:
        """A new document: the old one's candidates go away and its jobs are cancelled
        (their results would have nowhere to go)."""
        if document is not self.document and self._jobs:
            self.cancel()
        # Region controls are remembered per open document.
        options = self.panel.inpaint_options
        if self.document is not None:
            self._region_settings[self.document] = options.values()
        if document is not None and document in self._region_settings:
            options.set_values(self._region_settings[document])
        if self.document is not None:
            for signal in self._target_signals(self.document):
                signal.disconnect(self._show_prompt_target)
        self.document = document
        if document is not None:
            for signal in self._target_signals(document):
                signal.connect(self._show_prompt_target)
        self._show_prompt_target()
        self.candidates.clear()
        self.canvas.set_preview(None)
        self.canvas.set_region(None)
