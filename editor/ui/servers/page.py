"""The Servers part of Settings: generate on ComfyUI servers instead of this machine.

The server URLs and the on/off switch live in the settings file; tokens go to the
platform keyring (engine/comfy/tokens.py), never into the settings file. "Test" asks
each server for its version, device, queue and models, off the UI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.background import run_in_background
from engine.comfy import tokens
from engine.comfy.pool import ServerPool
from engine.comfy.server import normalise_url, plain_http_warning

ENABLED_KEY = "servers/enabled"
URLS_KEY = "servers/urls"


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def server_urls(settings: Any) -> list[str]:
    return _as_list(settings.qsettings.value(URLS_KEY))


def servers_enabled(settings: Any) -> bool:
    value = settings.qsettings.value(ENABLED_KEY, False)
    return str(value).lower() in ("1", "true", "yes", "on")


def configured_servers(settings: Any) -> tuple[tuple[str, str], ...]:
    """(url, token) pairs the next job runs on; () runs it in this process."""
    if not servers_enabled(settings):
        return ()
    return tuple((url, tokens.get_token(url)) for url in server_urls(settings))


class ServersPage(QWidget):
    """URL list, optional token per URL, Test button, and the switch that uses them."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.enabled_check = QCheckBox("Generate on these ComfyUI servers instead of this machine")
        self.enabled_check.setChecked(servers_enabled(settings))
        layout.addWidget(self.enabled_check)
        self.url_list = QListWidget()
        self.url_list.setObjectName("serverList")
        self.url_list.setMaximumHeight(90)
        self._tokens: dict[str, str] = {}
        for url in server_urls(settings):
            self.url_list.addItem(url)
        layout.addWidget(self.url_list)
        row = QHBoxLayout()
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("http://127.0.0.1:8188")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("token (optional)")
        add = QPushButton("Add")
        add.clicked.connect(self._add)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: self.url_list.takeItem(self.url_list.currentRow()))
        self.test_button = QPushButton("Test")
        self.test_button.clicked.connect(self.test)
        # Each field as wide as its example: at equal shares the address's was cut to
        # "http://127.0.0.1:8…"; the address gets the extra room.
        for edit, stretch in ((self.url_edit, 3), (self.token_edit, 1)):
            example = edit.placeholderText() + "00"  # + the frame and text margins
            edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance(example))
            row.addWidget(edit, stretch)
        for w in (add, remove, self.test_button):
            row.addWidget(w)
        layout.addLayout(row)
        self.status = QLabel("" if tokens.keyring_available() else
                             "No keyring found: tokens are kept only until Overpaint quits.")  # fmt: skip
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

    def urls(self) -> list[str]:
        return [self.url_list.item(i).text() for i in range(self.url_list.count())]

    def _add(self) -> None:
        text = self.url_edit.text().strip()
        if not text:
            return
        url = normalise_url(text)
        if url not in self.urls():
            self.url_list.addItem(QListWidgetItem(url))
        self._tokens[url] = self.token_edit.text()
        self.url_edit.clear()
        self.token_edit.clear()
        warning = plain_http_warning(url)
        if warning:
            self.status.setText(warning)

    def test(self) -> None:
        """Check every listed server in the background; the report lands in the label."""
        urls = self.urls()
        if not urls:
            self.status.setText("Add a server URL first.")
            return
        self.test_button.setEnabled(False)
        self.status.setText("Testing…")
        pairs = [(u, self._tokens.get(u, tokens.get_token(u))) for u in urls]
        # Owned by the page: a report for a closed Settings dialog goes nowhere.
        run_in_background(
            lambda _task: ServersPage._run_test(pairs),
            self._show_report,
            lambda exc: self._show_report(str(exc)),
            owner=self,
            name="overpaint-server-test",
        )

    @staticmethod
    def _run_test(pairs: list[tuple[str, str]]) -> str:
        """One line per server (the worker thread: touches no widget)."""
        lines = []
        for server, info, error in ServerPool(pairs).check_all():
            if info is None:
                lines.append(str(error))
            else:
                lines.append(
                    f"{server.url}: ComfyUI {info.version} on {info.device}, "
                    f"{len(info.checkpoints)} checkpoint(s), queue {info.queue}."
                )
        return "\n".join(lines)

    def _show_report(self, text: str) -> None:
        self.status.setText(text)
        self.test_button.setEnabled(True)

    def apply(self) -> None:
        """Store the list and switch in the settings, tokens in the keyring."""
        q = self.settings.qsettings
        q.setValue(URLS_KEY, self.urls())
        q.setValue(ENABLED_KEY, self.enabled_check.isChecked())
        for url, token in self._tokens.items():
            if url in self.urls():
                tokens.set_token(url, token)
