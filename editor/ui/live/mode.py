"""Live painting: while Live is on, every change to the live region is refined at a
fixed seed and the live strength, and the newest result shows over the canvas or in
the side view.

The live region is the selection, else the generation frame, else the whole canvas
(the job builder scales it to the model's native size). Changes come from the
document's signals (strokes, undo, layer visibility, selection, frame) and from the
settings, polled each tick; LiveScheduler decides when a job runs. Live results never
touch the document: Apply copies the one on screen into a new layer (one undo step),
Record saves each one as a PNG frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QPoint, QRect, QTimer, Signal

from editor.model.control_layers import (
    active_control_layers,
    layer_control_sources,
    model_composite,
)
from editor.model.document import Document
from editor.model.layer import Layer
from editor.model.layer_roles import layer_reference_sources, layer_region_sources, region_layers
from editor.ui.canvas_view import rgba_array_to_qimage
from editor.ui.generate.controller import GenerationController, box_to_rect, native_size_for
from editor.ui.jobs import JobEvents, JobKind
from editor.ui.live.panel import LivePanel
from editor.ui.live.scheduler import LiveScheduler
from engine.core.paths import user_data_dir
from engine.generation_settings import GenerationSettings
from engine.history.pictures import pixel_hash
from engine.jobs import JobError, PreparedJob, prepare_job
from engine.request import GenerationResult
from engine.speed_presets import live_steps

log = logging.getLogger(__name__)

# Generation-panel settings that live jobs replace with their own.
_NOT_LIVE = ("mode", "steps", "strength", "n_samples", "guidance", "seed_locked")


def _digest(array: np.ndarray | None) -> bytes:
    return b"" if array is None else pixel_hash(array)


def over(rgba: np.ndarray, base: np.ndarray | None) -> np.ndarray:
    """`rgba` laid over `base` (straight alpha, same size); the side view's picture."""
    if base is None or base.shape != rgba.shape:
        return rgba
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgba[..., :3] * a + base[..., :3] * (1.0 - a)
    alpha = np.maximum(rgba[..., 3], base[..., 3])
    return np.dstack([np.round(out).astype(np.uint8), alpha])


class FrameRecorder:
    """Writes live results as numbered PNG frames on a background thread (encoding a
    large region would cost the UI thread a stroke's worth of time)."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.count = 0
        self._pool: ThreadPoolExecutor | None = None

    def start(self, folder: Path) -> None:
        self.folder, self.count = folder, 0

    def save(self, rgba: np.ndarray) -> Path:
        assert self.folder is not None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="overpaint-frames")
        self.count += 1
        path = self.folder / f"frame-{self.count:05d}.png"
        self._pool.submit(_write_png, path, rgba.copy())
        return path

    def flush(self) -> None:
        """Wait for the frames being written (tests, closing)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _write_png(path: Path, rgba: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgba, "RGBA").save(path)
    except OSError:
        log.exception("could not write live frame %s", path)


def default_frames_folder() -> Path:
    return user_data_dir() / "live-frames" / datetime.now().strftime("%Y%m%d-%H%M%S")


class LiveController(QObject):
    """Runs Live mode for the window's document (see module docstring)."""

    result_shown = Signal(int)  # the canvas-state version the result on screen was made from
    error = Signal(str)

    def __init__(
        self,
        panel: LivePanel,
        generation: GenerationController,
        busy: Callable[[], bool] = lambda: False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self.generation = generation
        self.canvas = generation.canvas
        self.document: Document | None = None
        self._busy = busy
        self.scheduler = LiveScheduler(
            self._start_job,
            self._cancel_job,
            lambda: not busy(),
            self._settings_changed,
            parent=self,
        )
        self.result: GenerationResult | None = None  # the live result on screen
        self._base: np.ndarray | None = None  # the input crop it was made from
        self.recorder = FrameRecorder()
        self.jobs_submitted = 0
        # job id -> (job, its input key); the key of the input of the result on screen
        self._jobs: dict[int, tuple[PreparedJob, tuple]] = {}
        self._shown_input: tuple | None = None
        self._links: list[tuple[Any, Callable[..., None]]] = []
        self._region: QRect | None = None
        self._settings_key: str | None = None
        self._native: dict[str, int] = {}
        # Shared with Generate: the window's one coordinator and engine client.
        self.jobs = generation.jobs
        self._events = JobEvents(
            finished=self._on_finished, failed=self._on_failed, cancelled=self._on_cancelled
        )
        self.actions: tuple = ()  # (toggle, apply) QActions, set by the window's dock
        panel.toggled.connect(self.set_enabled)
        panel.display_changed.connect(lambda _d: self._display())
        panel.apply_requested.connect(self.apply)
        panel.record_check.toggled.connect(self._record_toggled)

    # Switching -----------------------------------------------------------------------
    def is_enabled(self) -> bool:
        return self.scheduler.is_running()

    def set_enabled(self, on: bool) -> None:
        if self.panel.live_button.isChecked() != on:
            self.panel.live_button.setChecked(on)  # comes back here through `toggled`
            return
        if on == self.is_enabled():
            return
        if on:
            if self.document is None:
                self.panel.live_button.setChecked(False)
                return
            self._shown_input = None
            self._settings_key = self._settings_snapshot()
            self.panel.set_status("Live: paint, and the region follows.")
            self.scheduler.start()
        else:
            self.scheduler.stop()
            self._jobs.clear()
            self._set_result(None)
            self.panel.set_status("")

    def shutdown(self) -> None:
        self.set_enabled(False)
        self.recorder.flush()

    def set_document(self, document: Document | None) -> None:
        for signal, slot in self._links:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        self._links = []
        self.document = document
        self._region = None
        self._set_result(None)
        if document is None:
            self.set_enabled(False)
            return
        notice = self._notice
        self._links = [
            (document.changed, self._canvas_changed),
            (document.layers_changed, notice),
            (document.layer_properties_changed, notice),
            (document.selection_changed, notice),
            (document.size_changed, notice),
            (document.frame_changed, notice),
        ]
        for signal, slot in self._links:
            signal.connect(slot)
        self._notice()

    def _notice(self, *_args: object) -> None:
        self.scheduler.notice_change()
        self._hide_stale_overlay()
        self._show_steering()

    def steering_layers(self) -> list[Layer]:
        """The visible control layers with pixels in the live region: those that steer the
        live result (as engine.control.jobs.layer_controls picks them for a refine)."""
        doc = self.document
        if doc is None:
            return []
        rect = self._region if self._region is not None else doc.rect()
        return [
            layer
            for layer in active_control_layers(doc)
            # An inpaint control needs a repaint mask; a live refine has none.
            if layer.control.kind != "inpaint" and layer.to_rgba(rect)[..., 3].any()
        ]

    def _show_steering(self) -> None:
        names = [
            f"{layer.control.kind.capitalize()} ({layer.name})" for layer in self.steering_layers()
        ]
        names += [f"Region prompt ({layer.name})" for layer in self._steering_regions()]
        self.panel.set_steering(names)

    def _steering_regions(self) -> list[Layer]:
        """The visible region layers with pixels in the live region (as
        engine.regions.jobs.layer_regions picks them)."""
        doc = self.document
        if doc is None:
            return []
        rect = self._region if self._region is not None else doc.rect()
        return [layer for layer in region_layers(doc) if layer.to_rgba(rect)[..., 3].any()]

    def _canvas_changed(self, rect: QRect) -> None:
        # Paint outside the live region's context cannot change the live input.
        if self._region is None or self._region.intersects(rect):
            self.scheduler.notice_change()
            self._hide_stale_overlay()

    def _overlay_fits(self) -> bool:
        """Whether the result may lie over the canvas: it was made from the canvas as it
        is, and no stroke is in progress. Otherwise the overlay would hide the strokes the
        user is painting (Krita keeps live results off the canvas for the same reason);
        the side view keeps showing the newest result meanwhile."""
        policy = self.scheduler.policy
        return not self._busy() and policy.shown_version >= policy.version

    def _hide_stale_overlay(self) -> None:
        if self.result is not None and self.panel.display() == "overlay":
            self.canvas.set_overlay(None)

    def _settings_snapshot(self) -> str:
        params = self.generation.panel.settings().to_dict()
        shared = {k: v for k, v in params.items() if k not in _NOT_LIVE}
        return repr((sorted(shared.items()), sorted(self.panel.values().items())))

    def _settings_changed(self) -> bool:
        key = self._settings_snapshot()
        changed, self._settings_key = key != self._settings_key, key
        return changed

    # Jobs ----------------------------------------------------------------------------
    def live_params(self) -> GenerationSettings:
        """The Generate panel's settings turned into a live refine."""
        params = self.generation.panel.settings()
        live = self.panel.values()
        preset = live["preset"]
        strength = float(live["strength"])
        denoise = preset.steps if preset is not None else int(live["steps"])
        params = replace(
            params,
            mode="img2img",
            strength=strength,
            steps=live_steps(denoise, strength),
            n_samples=1,
            guidance=float(live["guidance"]),
        )
        if preset is not None:
            params = replace(params, guidance=preset.guidance, scheduler=preset.scheduler)
            if preset.lora:
                tag = f"<lora:{preset.lora}:{preset.lora_weight:g}>"
                params = replace(params, prompt=f"{params.prompt} {tag}".strip())
        return params

    def _native_size(self, model: str) -> int:
        if model not in self._native:
            self._native[model] = native_size_for(model, self.generation.settings)
        return self._native[model]

    def prepare(self) -> PreparedJob:
        """The live job for the document as it is now (JobError if there is none)."""
        doc = self.document
        if doc is None:
            raise JobError("Open or create an image first.")
        params = self.live_params()
        options = {**self.generation.settings.engine_options(), "live": True}
        return prepare_job(
            params,
            doc.width,
            doc.height,
            # As for Generate: control layers steer the refine, they are not painted into it.
            lambda box: model_composite(doc, box_to_rect(box)),
            selection=doc.selection if doc.has_selection() else None,
            frame=doc.generation_frame,
            native=self._native_size(params.model),
            options=options,
            watermark=False,
            controls=layer_control_sources(doc),
            precision=self.generation.settings.precision,
            regions=layer_region_sources(doc),
            references=layer_reference_sources(doc),
        )

    def _start_job(self) -> int | None:
        try:
            job = self.prepare()
        except JobError as e:
            self.panel.set_status(str(e))
            return None
        key = (job.request.to_json(), _digest(job.inputs.image), _digest(job.inputs.mask))
        if key == self._shown_input:
            # e.g. hide then show a layer: the result on screen fits again (the scheduler
            # marks it current once this returns).
            QTimer.singleShot(0, self._display)
            return None
        self._region = box_to_rect(job.request.region) if job.request.region else None
        self._show_steering()  # painting on a control layer can make it steer
        try:
            job_id = self.jobs.submit(JobKind.LIVE, job.request, job.inputs, self._events)
        except RuntimeError:  # the window is closing: the engine was shut down
            self.scheduler.timer.stop()
            return None
        self._jobs[job_id] = (job, key)
        self.jobs_submitted += 1
        return job_id

    def _cancel_job(self, job_id: int) -> None:
        self.jobs.cancel(job_id)

    def _on_finished(self, job_id: int, results: object) -> None:
        if not self.scheduler.owns(job_id):
            return
        job, key = self._jobs.pop(job_id, (None, None))
        results = list(results or [])
        if self.scheduler.job_finished(job_id) and results and job is not None:
            self._shown_input = key
            self._set_result(results[0], job)
            self.panel.set_status("")
            self.result_shown.emit(self.scheduler.policy.shown_version)

    def _on_failed(self, job_id: int, message: str) -> None:
        if self.scheduler.owns(job_id):
            self._jobs.pop(job_id, None)
            self.scheduler.job_ended(job_id)
            self.panel.set_status(message)
            self.error.emit(message)

    def _on_cancelled(self, job_id: int) -> None:
        if self.scheduler.owns(job_id):
            self._jobs.pop(job_id, None)
            self.scheduler.job_ended(job_id)

    # Showing ---------------------------------------------------------------------------
    def _set_result(self, result: GenerationResult | None, job: PreparedJob | None = None) -> None:
        self.result = result
        self._base = job.inputs.image if job is not None else None
        if result is not None and self.panel.record_check.isChecked():
            if self.recorder.folder is None:
                self.recorder.start(self.panel.record_folder or default_frames_folder())
            self.recorder.save(over(result.rgba, self._base))
        self._display()

    def _display(self) -> None:
        result = self.result
        if result is None:
            self.canvas.set_overlay(None)
            self.panel.show_result(None)
            return
        if self.panel.display() == "overlay":
            image = rgba_array_to_qimage(result.rgba)
            if self._overlay_fits():
                self.canvas.set_overlay(image, QPoint(result.x, result.y))
            else:
                self.canvas.set_overlay(None)
            self.panel.show_result(image)
        else:
            self.canvas.set_overlay(None)
            self.panel.show_result(rgba_array_to_qimage(over(result.rgba, self._base)))

    def _record_toggled(self, on: bool) -> None:
        if on:
            self.recorder.start(self.panel.record_folder or default_frames_folder())
            self.panel.set_status(f"Recording live frames into {self.recorder.folder}.")
        else:
            self.recorder.flush()
            self.recorder.folder = None

    def apply(self) -> Layer | None:
        """Copy the live result on screen into a new layer: one undo step."""
        if self.result is None or self.document is None:
            return None
        return self.generation.accept_result(self.result)
