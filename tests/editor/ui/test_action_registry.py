"""Every action is bound, in one registry, to a method of the controller that owns it; and
the file controller needs only what its Protocol names of the window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QStatusBar, QWidget

from editor.model.document import Document
from editor.ui.actions import ACTION_TABLE
from editor.ui.menus import ACTIONS, action_owners
from editor.ui.window_files import WindowFiles


def test_every_action_has_one_entry_in_the_registry() -> None:
    assert set(ACTIONS) == set(ACTION_TABLE)


def test_every_registered_method_exists_on_its_owner(window) -> None:
    owners = action_owners(window)
    missing = [
        f"{name}: {owner}.{method}"
        for name, (owner, method, _args) in ACTIONS.items()
        if not callable(getattr(owners[owner], method, None))
    ]
    assert not missing


def test_an_action_runs_the_method_its_owner_has_when_it_fires(window) -> None:
    # Looked up when fired: a method replaced on the owner (a test's hook) is what runs.
    calls = []
    window.files.paste = lambda: calls.append("paste")
    window.actions.paste.trigger()
    window.actions.select_all.trigger()
    assert calls == ["paste"]
    assert window.document.has_selection()


class _Host(QWidget):
    """A stand-in window: only what FilesWindow names, no MainWindow."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.document = Document(32, 24)
        self.path = None
        self.source_name = None
        self.settings = settings
        self.errors: list[str] = []
        self._bar = QStatusBar(self)

    def statusBar(self) -> QStatusBar:
        return self._bar

    def show_error(self, text: str) -> None:
        self.errors.append(text)


def test_window_files_works_for_any_window_with_what_it_uses(qtbot, settings, tmp_path) -> None:
    host = _Host(settings)
    qtbot.addWidget(host)
    files = WindowFiles(host)
    picture = tmp_path / "dot.png"
    Image.fromarray(np.full((5, 7, 4), 200, np.uint8)).save(picture)

    assert files.maybe_save()  # nothing unsaved: no question asked
    assert files.import_layer(picture)
    assert [layer.name for layer in host.document.layers] == ["dot"]
    assert not files.import_layer(Path(tmp_path / "missing.png"))
    assert len(host.errors) == 1 and "missing.png" in host.errors[0]
    assert files.dialog_dir() == str(Path.home())
