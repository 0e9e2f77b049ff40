"""The window's view of its ComfyUI servers: a state line per server under the model
picker, and the picker filled with the servers' models, grouped under a header per family
(their checkpoints, and the diffusion models of the transformer families).

The checks run on engine.comfy.health.HealthMonitor's thread (no network call on the UI
thread); its reports cross to the UI thread as a queued signal. When generation goes
through servers the model picker lists what the online servers offer; before the first
answer it says so, and when no server answers it says that instead of listing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, Signal, SignalInstance
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from editor.ui.servers.page import configured_servers
from editor.ui.theme import tidy
from engine.comfy import health
from engine.comfy.health import HealthMonitor, ServerState, offered_loras, offered_models
from engine.comfy.server_models import ServerModel
from engine.lora.library import LoraInfo

if TYPE_CHECKING:
    from editor.ui.generate.panel import GenerationPanel
    from editor.ui.settings import Settings

log = logging.getLogger(__name__)

ASKING = "Asking the server for its models…"
UNREACHABLE = "No server reachable: no models"
_COLOURS = {"online": "#3fb950", "busy": "#d29922", "offline": "#f85149", "checking": "#8b949e"}


@dataclass(frozen=True)
class _Entry:
    """What GenerationPanel.set_models reads: a name and the value the job gets."""

    name: str
    path: str


def state_line(state: ServerState) -> str:
    host = state.url.split("://", 1)[-1]
    return f"{host}: {state.label}"


class ServerStatusWidget(QWidget):
    """One line per server: a coloured dot, the host and online / offline / busy (queue)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("serverStatus")
        self._layout = tidy(QVBoxLayout(self), margin=None)
        self.labels: list[QLabel] = []
        self.hide()

    def show_states(self, states: list[ServerState]) -> None:
        while len(self.labels) > len(states):
            self.labels.pop().deleteLater()
        while len(self.labels) < len(states):
            label = QLabel()
            label.setObjectName("serverStateLabel")
            label.setTextFormat(Qt.TextFormat.RichText)
            self._layout.addWidget(label)
            self.labels.append(label)
        for label, state in zip(self.labels, states, strict=True):
            colour = _COLOURS[state.label.split(" ")[0].rstrip("…")]
            label.setText(f'<span style="color:{colour}">●</span> {state_line(state)}')
            tip = state.error or (
                f"ComfyUI {state.version} on {state.device}, {len(state.checkpoints)} checkpoint(s), "
                f"{len(state.diffusion_models)} diffusion model(s)"
                if state.online
                else "Not checked yet"
            )
            label.setToolTip(tip)
        self.setVisible(bool(states))

    def texts(self) -> list[str]:
        """The lines as plain text (what a reader sees, without the dot)."""
        return [label.text().split("</span> ", 1)[-1] for label in self.labels]


class _Generation(Protocol):
    error: SignalInstance  # a job failed: the servers are asked again


class ServersWindow(Protocol):
    """What `ServerController` uses of the main window."""

    settings: Settings
    generation_panel: GenerationPanel
    generation: _Generation

    def window(self) -> QWidget: ...


class ServerController(QObject):
    """Starts the health checks for the servers Settings names, shows their states and
    fills the model picker from them. Owned by the main window."""

    reported = Signal(object)  # list[ServerState], from the monitor's thread

    def __init__(self, window: ServersWindow) -> None:
        super().__init__(window.window())
        self.window = window
        self.widget = ServerStatusWidget()
        panel_layout = window.generation_panel.body_layout
        panel_layout.insertWidget(1, self.widget)  # right under the model picker
        self.monitor: HealthMonitor | None = None
        self.servers: tuple[tuple[str, str], ...] = ()
        self.states: list[ServerState] = []
        self._offered: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._local_model = ""  # the local model chosen before servers took over
        self._closed = False
        self.reported.connect(self._on_states, Qt.ConnectionType.QueuedConnection)
        window.generation.error.connect(lambda _text: self.check_soon())

    # Servers --------------------------------------------------------------------------
    def refresh_models(self) -> bool:
        """Follow Settings > Servers. True when the servers own the model picker (its
        list comes with the next report); False when the caller lists local models."""
        servers = configured_servers(self.window.settings)
        if servers != self.servers:
            self._restart(servers)
        return bool(servers)

    def _restart(self, servers: tuple[tuple[str, str], ...]) -> None:
        panel = self.window.generation_panel
        if self.monitor is not None:
            self.monitor.stop(timeout=0)  # never block the UI; its late reports are dropped
            self.monitor = None
        if servers and not self.servers:
            self._local_model = self.window.settings.model
        elif not servers and self.servers:
            panel.set_models([], "")  # the servers' names must not stay in a local list
            panel.model_combo.setEnabled(True)
            panel.browse_button.setEnabled(True)
            self.window.settings.model = self._local_model
            panel.lora_panel.remote = None
            panel.lora_panel.set_model(panel.model())
        self.servers, self._offered, self.states = servers, None, []
        if not servers:
            self.widget.show_states([])
            return
        panel.lora_panel.remote = []  # nothing until the servers say
        self._placeholder(ASKING, "")
        monitor = HealthMonitor(servers, lambda s: self._report(monitor, s), health.CHECK_SECONDS)
        self.monitor = monitor
        self.widget.show_states(monitor.states())
        monitor.start()

    def _report(self, monitor: HealthMonitor, states: list[ServerState]) -> None:
        # On the monitor's thread: only hand over, and never to a closed window.
        if self._closed or monitor is not self.monitor:
            return
        try:
            self.reported.emit((monitor, states))
        except RuntimeError:  # the window is gone
            pass

    def _on_states(self, report: tuple[HealthMonitor, list[ServerState]]) -> None:
        monitor, states = report
        if self._closed or monitor is not self.monitor:
            return
        self.states = states
        self.widget.show_states(states)
        self._fill_models(states)

    def _fill_models(self, states: list[ServerState]) -> None:
        offered = offered_models(states)
        loras = offered_loras(states)
        if (offered, loras) == self._offered:
            return
        self._offered = (offered, loras)
        panel = self.window.generation_panel
        # Their LoRAs by file stem (what <lora:NAME:w> names); the family is unknown here.
        panel.lora_panel.remote = [
            LoraInfo(PurePath(name).stem, Path(name), None) for name in loras
        ]
        if not offered:
            errors = [s.error for s in states if s.error]
            reason = " ".join(errors) or "The servers offer no checkpoint."
            online = any(s.online for s in states)
            text = "The server offers no checkpoint" if online else UNREACHABLE
            self._placeholder(text, reason)
            return
        chosen = panel.model() or self.window.settings.model
        names = [model.name for model in offered]
        panel.set_models([_Entry(n, n) for n in names], chosen if chosen in names else "")
        add_family_headers(panel.model_combo, offered)
        panel.model_combo.setEnabled(True)
        panel.model_combo.setToolTip("")
        panel.browse_button.setEnabled(False)  # a local folder means nothing to a server

    def _placeholder(self, text: str, tooltip: str) -> None:
        """A picker that says why it lists nothing (and offers nothing to pick)."""
        panel = self.window.generation_panel
        panel.set_models([_Entry(text, "")], "")
        panel.model_combo.setEnabled(False)
        panel.model_combo.setToolTip(tooltip)
        panel.browse_button.setEnabled(False)

    def check_soon(self) -> None:
        if self.monitor is not None:
            self.monitor.check_soon()

    def shutdown(self) -> None:
        """Stop the checks (window close); waits a moment for a round in flight."""
        self._closed = True
        if self.monitor is not None:
            self.monitor.stop(timeout=2.0)
            self.monitor = None

    def texts(self) -> list[str]:
        return self.widget.texts()

    def model_names(self) -> list[str]:
        """The picker's models (not its family headers)."""
        combo = self.window.generation_panel.model_combo
        return [combo.itemText(i) for i in range(combo.count()) if not _is_header(combo, i)]

    def model_groups(self) -> list[tuple[str, list[str]]]:
        """The picker as the user sees it: each family header and the models under it."""
        combo = self.window.generation_panel.model_combo
        groups: list[tuple[str, list[str]]] = []
        for i in range(combo.count()):
            if _is_header(combo, i):
                groups.append((combo.itemText(i), []))
            elif groups:
                groups[-1][1].append(combo.itemText(i))
        return groups


def add_family_headers(combo: QComboBox, models: Sequence[ServerModel]) -> None:
    """A header row (bold, not selectable) above each family's models; `models` are the
    combo's items in order, grouped by family (engine.comfy.server_models)."""
    combo.blockSignals(True)
    try:
        starts = [i for i, m in enumerate(models) if i == 0 or m.label != models[i - 1].label]
        for i in reversed(starts):
            combo.insertItem(i, models[i].label)
            item = combo.model().item(i)  # a QStandardItemModel's row
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            font = item.font()
            font.setBold(True)
            item.setFont(font)
    finally:
        combo.blockSignals(False)


def _is_header(combo: QComboBox, index: int) -> bool:
    return combo.itemData(index) is None
