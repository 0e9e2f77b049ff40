"""Settings ▸ Device: only the devices this machine has, and a line saying why the
others are not offered.

Finding out imports torch (about 1.5 s), which the window has not loaded before the first
generation; so the first dialog asks on a helper thread and fills the list when the answer
comes, and later dialogs use the kept answer at once. Until it comes the list holds
"auto", "cpu" and the saved choice, so OK keeps the setting as it was.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from editor.ui.background import BackgroundTask, run_in_background
from engine.core.devices import DeviceReport, probe_devices

AUTO = "auto"
CHECKING = "Looking for GPUs…"
POLL_MS = 100
# The answer's usual length: a line for each GPU kind this machine lacks (CUDA, mps).
NOTE_LINES = 2
PROBE_DELAY_MS = 100

_probe: BackgroundTask[None] | None = None
# Set once by the helper thread; widgets poll it, since the answer outlives any one dialog
# (the first dialog may be closed before it comes, the next one uses it at once).
_report: DeviceReport | None = None


def _start_probe() -> None:
    global _probe
    if _probe is None:  # only ever called on the UI thread: no lock needed
        _probe = run_in_background(lambda _task: _run(), name="device-probe")


def _run() -> None:
    global _report
    _report = probe_devices()


class DeviceChoice(QWidget):
    """The device combo and the note under it; `device()` is the choice."""

    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current = current or AUTO
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setObjectName("deviceCombo")
        self.note = QLabel()
        self.note.setObjectName("deviceNote")
        self.note.setWordWrap(True)
        # Room for the answer from the start: the one-line "Looking…" growing into it
        # made the Settings dialog jump under the pointer when the check finished.
        self.note.setMinimumHeight(self.note.fontMetrics().lineSpacing() * NOTE_LINES)
        self.note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.combo)
        layout.addWidget(self.note)
        if _report is not None:
            self._show(_report)
            return
        self._fill((AUTO, "cpu", self._current))
        self.note.setText(CHECKING)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if _report is None:
            # Importing torch holds the interpreter most of the time: let the dialog be
            # drawn first (started during its construction, it took 1.4 s instead of 0.4).
            QTimer.singleShot(PROBE_DELAY_MS, _start_probe)

    def device(self) -> str:
        return self.combo.currentText()

    def checked(self) -> bool:
        """True once the list holds what this machine has."""
        return self.note.text() != CHECKING

    def _poll(self) -> None:
        if _report is not None:
            self._timer.stop()
            self._show(_report)

    def _fill(self, names: tuple[str, ...]) -> None:
        self.combo.clear()
        self.combo.addItems(list(dict.fromkeys(names)))
        self.combo.setCurrentText(self._current if self._current in names else AUTO)

    def _show(self, report: DeviceReport) -> None:
        choice = self.combo.currentText() or self._current
        self._current = choice
        self._fill((AUTO, *report.available))
        lines = list(report.missing)
        if choice not in (AUTO, *report.available):
            lines.append(f"The saved device {choice} is not on this machine, so auto is chosen.")
        self.note.setText("\n".join(lines))
