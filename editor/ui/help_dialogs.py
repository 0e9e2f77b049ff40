"""The Help menu's windows: Keyboard Shortcuts (a filterable list read from the window's
own actions, so it always shows the keys that work), the User Guide (the README, shipped
with the package and shown offline) and Show Log File."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QSortFilterProxyModel, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QKeySequence,
    QStandardItem,
    QStandardItemModel,
    QTextCursor,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QMenu,
    QMessageBox,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.core.log_setup import log_file
from engine.core.paths import RESOURCES

if TYPE_CHECKING:
    from editor.ui.window_roles import Messages

log = logging.getLogger(__name__)

# The README, linked into resources/ so the wheel carries it (package data).
USER_GUIDE = RESOURCES / "user-guide.md"
# Opens a file or web address in the desktop's program for it. Tests replace it: the
# real one would start an external application.
open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl

_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)\s*")  # pictures not shipped with the guide


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _keys(action: QAction) -> str:
    native = QKeySequence.SequenceFormat.NativeText
    return ", ".join(k.toString(native) for k in action.shortcuts() if not k.isEmpty())


def _place(action: QAction) -> str:
    """Where an action outside the menus lives: the dock that holds it, else the window."""
    parent = action.parent()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parent()
    return _plain(parent.windowTitle()) if isinstance(parent, QDockWidget) else ""


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(command, keys, menu) for every action with a key: the menu bar's, in menu order,
    then any other action of the window that has one."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def add(action: QAction, where: str) -> None:
        if id(action) in seen or action.isSeparator():
            return
        seen.add(id(action))
        keys = _keys(action)
        if keys:
            rows.append((_plain(action.text()), keys, where))

    def visit(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                visit(action.menu(), f"{path} ▸ {_plain(action.text())}")
            else:
                add(action, path)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            visit(top.menu(), _plain(top.text()))
    for action in window.findChildren(QAction):
        add(action, _place(action))
    return rows


class ShortcutsDialog(QDialog):
    """Every key of the window; typing in the filter keeps the rows that match it (a
    command's words or a key such as "ctrl+z")."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 520)
        self.filter = QLineEdit(placeholderText="Filter: a command or a key (e.g. undo, ctrl+z)")
        self.filter.setObjectName("shortcutsFilter")
        self.filter.setClearButtonEnabled(True)
        self.source = QStandardItemModel(0, 3, self)
        self.source.setHorizontalHeaderLabels(["Command", "Keys", "Menu"])
        self.rows = QSortFilterProxyModel(self)
        self.rows.setSourceModel(self.source)
        self.rows.setFilterKeyColumn(-1)  # any column
        self.rows.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.textChanged.connect(self.rows.setFilterFixedString)
        self.table = QTableView()
        self.table.setObjectName("shortcutsTable")
        self.table.setModel(self.rows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.reload(window)

    def reload(self, window: QWidget) -> None:
        self.source.removeRows(0, self.source.rowCount())
        for row in shortcut_rows(window):
            self.source.appendRow([QStandardItem(text) for text in row])

    def visible_rows(self) -> list[tuple[str, str, str]]:
        """The rows the filter leaves, as shown."""
        model = self.rows
        return [
            tuple(model.index(r, c).data() for c in range(3))  # type: ignore[misc]
            for r in range(model.rowCount())
        ]


class UserGuideDialog(QDialog):
    """The README as a formatted page, with its section titles as a list to jump to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userGuideDialog")
        self.setWindowTitle("Overpaint User Guide")
        self.resize(900, 700)
        self.browser = QTextBrowser()
        self.browser.setObjectName("userGuideText")
        self.browser.setOpenLinks(False)  # relative links lead to files not shipped
        # A long path or address in the prose breaks anywhere rather than widening the page.
        self.browser.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.browser.anchorClicked.connect(self._follow)
        self.sections = QListWidget()
        self.sections.setObjectName("userGuideSections")
        self.sections.currentTextChanged.connect(self.jump_to)
        split = QSplitter()
        split.addWidget(self.sections)
        split.addWidget(self.browser)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 680])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        layout.addWidget(buttons)
        self._load()

    def _load(self) -> None:
        try:
            text = USER_GUIDE.read_text(encoding="utf-8")
        except OSError:
            log.warning("user guide missing at %s", USER_GUIDE, exc_info=True)
            self.browser.setPlainText(
                "The user guide is not installed with this copy of Overpaint; it is the "
                "README on the project's page."
            )
            return
        self.browser.setMarkdown(_IMAGE.sub("", text))
        _wrap_code_blocks(self.browser.document())
        fenced = False
        for line in text.splitlines():
            if line.startswith("```"):
                fenced = not fenced  # a shell comment in a code block is no heading
            if fenced:
                continue
            # The title first: the list's first entry (current when it takes the
            # focus) then means "the top", not a jump into the middle.
            if match := re.match(r"(#{1,3}) (.+)", line):
                indent = "    " * max(0, len(match.group(1)) - 2)
                self.sections.addItem(indent + match.group(2).strip().strip("`"))

    def jump_to(self, title: str) -> None:
        """Scroll so the section `title` starts at the top of the page."""
        title = title.strip()
        document = self.browser.document()
        block = document.begin()
        while block.isValid():
            if block.blockFormat().headingLevel() and block.text().strip() == title:
                bar = self.browser.verticalScrollBar()
                bar.setValue(bar.maximum())  # so the heading can land at the top
                cursor = self.browser.textCursor()
                cursor.setPosition(block.position())
                self.browser.setTextCursor(cursor)
                self.browser.ensureCursorVisible()
                return
            block = block.next()

    def _follow(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            open_url(url)


def _wrap_code_blocks(document: QTextDocument) -> None:
    """Let code blocks wrap at the page's width. Qt's Markdown reader marks their lines
    unbreakable, so one long command widened the whole page and, with the page, its prose:
    the guide scrolled sideways and the rest of a long line was out of sight."""
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    block = document.begin()
    while block.isValid():
        form = block.blockFormat()
        if form.nonBreakableLines():
            form.setNonBreakableLines(False)
            cursor.setPosition(block.position())
            cursor.setBlockFormat(form)
        block = block.next()
    cursor.endEditBlock()


def _reused(window: QWidget, cls: type[QDialog], name: str, make: Callable[[], QDialog]):
    dialog = window.findChild(cls, name) or make()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def open_shortcuts(window: QWidget) -> ShortcutsDialog:
    dialog = _reused(window, ShortcutsDialog, "shortcutsDialog", lambda: ShortcutsDialog(window))
    dialog.reload(window)  # docks and the live mode may have added actions since
    dialog.filter.clear()
    dialog.filter.setFocus()
    return dialog


def open_user_guide(window: QWidget) -> UserGuideDialog:
    dialog = _reused(window, UserGuideDialog, "userGuideDialog", lambda: UserGuideDialog(window))
    dialog.browser.setFocus()  # arrows and Page Down scroll the page
    return dialog


def show_log_file(window: Messages) -> QUrl | None:
    """Open the log file in the desktop's text viewer; returns the address opened."""
    path = log_file()
    for handler in logging.getLogger().handlers:
        handler.flush()
    try:
        if not path.exists():  # nothing logged yet (or logging set up elsewhere)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    except OSError as e:
        log.warning("cannot create the log file %s: %s", path, e)
        window.show_error(f"The log file {path} cannot be created ({e.strerror or e}).")
        return None
    url = QUrl.fromLocalFile(str(path))
    if open_url(url):
        window.statusBar().showMessage(f"Log file: {path}", 8000)
    else:
        QMessageBox.information(
            window.window(), "Log File", f"No program here opens the log file; it is at {path}."
        )
    return url
