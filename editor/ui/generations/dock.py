"""The Generations dock: the generation history panel wired into the window.

The panel (editor.ui.generations.panel) only emits what the user asked for; this
module turns those requests into window actions: fill the generation panel, queue the
recorded request again on the input pictures the history kept for it, add the picture
as a layer (from its file, or regenerated when the file is gone) and open the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from editor.ui.generations.panel import GenerationHistoryPanel
from editor.ui.generations.restored_layers import restore_layers, stored_inputs
from editor.ui.window_roles import DockHost
from engine.history.config import open_history
from engine.history.pictures import needs_pictures
from engine.history.replay import MissingInputsError, recorded_job
from engine.history.store import Entry

if TYPE_CHECKING:
    from editor.model.document import Document
    from editor.ui.generate.controller import GenerationController
    from editor.ui.generate.panel import GenerationPanel

# View ▸ Generations: the browsers' key for their history (Firefox's sidebar, Chrome's
# page), as the dock is the log of generations.
GENERATIONS_SHORTCUT = "Ctrl+H"

# What "Use parameters" copies from an entry into the Generate panel.
USED_PARAMETERS = (
    "prompt", "negative_prompt", "seed", "steps", "guidance", "scheduler", "strength",
    "loras", "model",
)  # fmt: skip


class GenerationsWindow(DockHost, Protocol):
    """What the Generations dock uses of the main window."""

    history_dock: QDockWidget
    generation: GenerationController
    generation_panel: GenerationPanel
    document: Document | None

    def import_layer(self, path: Path | str | None = None) -> bool: ...
    def open_path(self, path: Path | str | None) -> bool: ...


def add_generations_dock(window: GenerationsWindow) -> QDockWidget:
    """Create the Generations dock beside Layers and History, wired to `window`."""
    panel = GenerationHistoryPanel(open_history(force=True))
    dock = QDockWidget("Generations", window.window())
    dock.setObjectName("generationsDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.history_dock, dock)
    window.layers_dock.raise_()

    generation = window.generation

    def use_parameters(entry: Entry) -> None:
        """Copy the entry's settings and lock its seed, so Generate makes that picture
        again; the mode and the inpainting choices stay as the user set them (a recorded
        mode is what Auto resolved to, and would stick across restarts). Its controls,
        regions and references come back as layers, or a sentence says why not."""
        recorded = dataclasses.asdict(entry.request)
        settings = window.generation_panel
        settings.set_settings({key: recorded[key] for key in USED_PARAMETERS})
        settings.set_seed_locked(True)
        note = restore_layers(window.document, entry, stored_inputs(panel.store, entry))
        said = " ".join(
            filter(None, ["Parameters copied to the Generate panel, seed locked.", note])
        )
        if note:
            panel.status.setText(note)
        window.statusBar().showMessage(said, 15000 if note else 5000)

    def rerun(entry: Entry, accept: bool = False) -> None:
        """Queue the entry's request on the pixels it first ran on (kept in the history),
        so its result is the same; one sentence when the history lacks them."""
        store = panel.store
        try:
            if store is None:
                raise MissingInputsError("The generation history is not open.")
            job = recorded_job(store, entry)
        except MissingInputsError as e:
            panel.status.setText(str(e))
            window.show_error(str(e))
            return
        inputs = job.inputs if needs_pictures(job.request) else None
        generation.regenerate(job.request, accept=accept, inputs=inputs)

    def add_as_layer(entry: Entry) -> None:
        if entry.hit.exists and entry.hit.path:
            window.import_layer(entry.hit.path)
        else:
            rerun(entry, accept=True)

    panel.use_parameters.connect(use_parameters)
    panel.regenerate.connect(rerun)
    panel.add_as_layer.connect(add_as_layer)
    panel.open_file.connect(window.open_path)
    # The list follows the recorder (results are recorded on its thread, after they
    # show), and catches up when the dock is shown (the command line records too).
    generation.history_changed.connect(panel.schedule_refresh)
    dock.visibilityChanged.connect(lambda shown: shown and panel.schedule_refresh())
    generation.history_warning.connect(lambda text: window.statusBar().showMessage(text, 15000))
    return dock
