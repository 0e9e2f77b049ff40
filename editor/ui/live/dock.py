"""The Live dock: Live mode's panel and controller wired into the main window.

The dock sits under Generate; the "live" action (Ctrl+L) toggles it from anywhere, the
"live_apply" action applies the result on screen. The speed presets are refreshed from
the installed LoRAs whenever the model changes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, QTimer, SignalInstance
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from editor.ui.dock_layout import give_room, keep_in_view, scrolling
from editor.ui.live.mode import LiveController
from editor.ui.live.panel import LivePanel
from editor.ui.window_roles import DockHost
from engine.core.errors import EngineError
from engine.family_defaults import model_settings
from engine.lora.library import discover_loras
from engine.models import resolve_model
from engine.speed_presets import speed_presets

if TYPE_CHECKING:
    from editor.model.document import Document
    from editor.ui.generate.controller import GenerationController
    from editor.ui.generate.panel import GenerationPanel
    from editor.ui.settings import Settings
    from editor.ui.tools_bridge import ToolsBridge

log = logging.getLogger(__name__)
LIVE_SHORTCUT = "Ctrl+L"


def installed_presets(model: str, extra_dirs) -> list:
    """Speed presets for `model` from the LoRA files that fit it (headers only)."""
    try:
        info = resolve_model(model, extra_dirs)
        stems = [lora.name for lora in discover_loras(extra_dirs, info)]
        name = f"{info.name} {Path(info.path).name}"
    except (EngineError, OSError, ValueError) as e:
        log.info("no speed presets for %r: %s", model, e)
        return []
    return speed_presets(stems, name, model_settings(info))


class LiveWindow(DockHost, Protocol):
    """What the Live dock uses of the main window (a QMainWindow: `give_room` resizes
    its dock columns)."""

    document: Document | None
    document_replaced: SignalInstance  # (Document)
    settings: Settings
    generation: GenerationController
    generation_panel: GenerationPanel
    generation_dock: QDockWidget
    tools: ToolsBridge

    def addAction(self, action: QAction) -> None: ...


def add_live_dock(window: LiveWindow) -> tuple[QDockWidget, LiveController]:
    """Create the Live dock under Generate and the Live actions, wired to `window`; the
    controller keeps the actions as `.actions` (toggle, apply)."""
    panel = LivePanel()
    dock = QDockWidget("Live", window.window())
    dock.setObjectName("liveDock")
    scroll = scrolling(panel)
    keep_in_view(scroll, panel.live_button, panel.apply_button, panel.display_combo)
    dock.setWidget(scroll)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    # A tab beside Layers: the Generate dock keeps its height for the prompt and settings
    # (split under it, both needed scrolling at 1280x800); turning Live on shows the tab.
    window.tabifyDockWidget(window.layers_dock, dock)
    window.layers_dock.raise_()
    live = LiveController(panel, window.generation, busy=window.tools.busy, parent=window.window())

    def make_room() -> None:
        chrome = max(dock.height() - scroll.height(), 0)  # title bar
        give_room(window, dock, panel.sizeHint().height() + chrome, window.generation_dock)

    # Shown (its tab raised, Live turned on) or switched between the views, the dock asks
    # its column for the room its panel wants, once the panel has laid itself out: the
    # Generate dock keeps its minimum (its settings scroll) and gets the room back when
    # the side view goes.
    dock.visibilityChanged.connect(lambda shown: QTimer.singleShot(0, make_room) if shown else None)
    panel.display_changed.connect(lambda _display: QTimer.singleShot(0, make_room))

    toggle = QAction("&Live Painting", window.window())
    toggle.setObjectName("action_live")
    toggle.setCheckable(True)
    toggle.setShortcut(QKeySequence(LIVE_SHORTCUT))
    toggle.toggled.connect(live.set_enabled)
    toggle.toggled.connect(lambda on: dock.raise_() if on else None)
    panel.live_button.toggled.connect(toggle.setChecked)
    apply = QAction("&Apply Live Result", window.window())
    apply.setObjectName("action_live_apply")
    apply.triggered.connect(live.apply)
    for action in (toggle, apply):
        window.addAction(action)
    live.actions = (toggle, apply)

    def refresh_presets(model: str) -> None:
        panel.set_presets(installed_presets(model, window.settings.model_dirs))

    window.generation_panel.model_changed.connect(refresh_presets)
    window.document_replaced.connect(live.set_document)
    if window.document is not None:
        live.set_document(window.document)
    live.error.connect(lambda text: window.statusBar().showMessage(text, 5000))
    return dock, live
