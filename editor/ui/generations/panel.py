"""The Generations dock: search the generation history as you type, in a thumbnail grid.

(The "History" dock is the undo history; this one lists engine.history entries.)
The panel only reads the store and says what the person asked for through signals; the
window decides what "Use parameters", "Regenerate", "Add as layer" and "Open file" do.
Dragging a thumbnail carries the file's URL when the file is still there, else the
thumbnail as image data, plus the entry id under ENTRY_MIME so a window that knows it
can regenerate the full picture instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QAction, QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.theme import tidy
from engine.history.store import Entry, HistoryStore, Hit
from engine.request import MODES  # every mode the history records, Fill and Edit too

ENTRY_MIME = "application/x-overpaint-generation"
ICON = 96
SEARCH_DELAY_MS = 200
RESULT_LIMIT = 200
HIT_ROLE = Qt.ItemDataRole.UserRole
ALL_MODES = "All modes"

Index = QModelIndex | QPersistentModelIndex


def _tooltip(hit: Hit) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.created))
    lines = [hit.prompt]
    if hit.negative_prompt:
        lines.append(f"Negative: {hit.negative_prompt}")
    lines.append(f"{hit.mode}, {hit.width}x{hit.height}, seed {hit.seed}, {hit.model or 'default'}")
    if hit.loras:
        lines.append(f"LoRA: {', '.join(hit.loras)}")
    lines.append(when + (", kept" if hit.kept else ""))
    if hit.path:
        lines.append(hit.path if hit.exists else f"{hit.path} (moved or deleted)")
    return "\n".join(lines)


class GenerationsModel(QAbstractListModel):
    """The current hits; thumbnails are read from the store when first shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: HistoryStore | None = None
        self.hits: list[Hit] = []
        self._pixmaps: dict[int, QPixmap] = {}

    def set_hits(self, hits: Sequence[Hit]) -> None:
        self.beginResetModel()
        self.hits = list(hits)
        keep = {h.id for h in self.hits}
        self._pixmaps = {k: v for k, v in self._pixmaps.items() if k in keep}
        self.endResetModel()

    def rowCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.hits)

    def pixmap(self, hit: Hit) -> QPixmap:
        if hit.id not in self._pixmaps:
            data = self.store.thumbnail(hit.id) if self.store is not None else None
            image = QImage.fromData(data) if data else QImage()
            self._pixmaps[hit.id] = QPixmap.fromImage(image) if not image.isNull() else QPixmap()
        return self._pixmaps[hit.id]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.hits):
            return None
        hit = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ("★ " if hit.kept else "") + " ".join(hit.prompt.split())
        if role == Qt.ItemDataRole.DecorationRole:
            # An icon, so the view scales it to its icon size (a pixmap is drawn as is).
            return QIcon(self.pixmap(hit))
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(hit)
        if role == Qt.ItemDataRole.ForegroundRole and hit.path and not hit.exists:
            return QPalette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        if role == HIT_ROLE:
            return hit
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "application/x-qt-image", ENTRY_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        if not rows:
            return mime
        hit = self.hits[rows[0]]
        if hit.exists and hit.path:
            mime.setUrls([QUrl.fromLocalFile(hit.path)])
        else:
            pixmap = self.pixmap(hit)
            if not pixmap.isNull():
                mime.setImageData(pixmap.toImage())
        mime.setData(ENTRY_MIME, json.dumps({"id": hit.id}).encode())
        mime.setText(hit.prompt)
        return mime


class GenerationHistoryPanel(QWidget):
    """Search box, filters and a thumbnail grid over a HistoryStore."""

    use_parameters = Signal(object)  # Entry: fill the generation panel, its references
    regenerate = Signal(object)  # Entry: queue its request, with its inputs, as it is
    add_as_layer = Signal(object)  # Entry: its file as a layer, or regenerate when gone
    open_file = Signal(str)  # the output file's path (only offered when it exists)

    def __init__(self, store: HistoryStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("generationHistoryPanel")
        self.store: HistoryStore | None = None
        # Asked before "Clear history"; tests replace it.
        self.confirm: Callable[[str], bool] = self._ask
        layout = tidy(QVBoxLayout(self))

        self.search_box = QLineEdit()
        self.search_box.setObjectName("generationSearch")
        self.search_box.setPlaceholderText("Search prompts, models, LoRAs…")
        self.search_box.setClearButtonEnabled(True)
        layout.addWidget(self.search_box)

        filters = tidy(QHBoxLayout(), margin=0)
        self.mode_box = QComboBox()
        self.mode_box.addItems([ALL_MODES, *MODES])
        self.kept_box = QCheckBox("Kept only")
        filters.addWidget(self.mode_box)
        filters.addWidget(self.kept_box)
        filters.addStretch(1)
        layout.addLayout(filters)

        self.model = GenerationsModel(self)
        self.view = QListView()
        self.view.setObjectName("generationGrid")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setIconSize(QSize(ICON, ICON))
        self.view.setGridSize(QSize(ICON + 16, ICON + 40))
        self.view.setUniformItemSizes(True)
        self.view.setWordWrap(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        layout.addWidget(self.view, 1)

        self.status = QLabel()
        self.status.setObjectName("generationStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.actions: dict[str, QAction] = {}
        buttons = tidy(QHBoxLayout(), margin=0)
        for name, text, slot in (
            ("use", "Use parameters", self._use),
            ("regenerate", "Regenerate", self._regenerate),
            ("layer", "Add as layer", self._add_layer),
            ("open", "Open file", self._open),
        ):
            action = QAction(text, self)
            action.triggered.connect(slot)
            self.actions[name] = action
            button = QToolButton()
            button.setDefaultAction(action)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.clear_action = QAction("Clear history…", self)
        self.clear_action.triggered.connect(self.clear_history)
        layout.addLayout(buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.search_box.textChanged.connect(self.schedule_refresh)
        self.search_box.returnPressed.connect(self.refresh)
        self.mode_box.currentIndexChanged.connect(self.refresh)
        self.kept_box.toggled.connect(self.refresh)
        self.view.selectionModel().selectionChanged.connect(self._update_actions)
        self.view.activated.connect(self._use)
        self.view.customContextMenuRequested.connect(self._menu)
        self.set_store(store)

    # Store and search ---------------------------------------------------------------
    def set_store(self, store: HistoryStore | None) -> None:
        self.store = store
        self.model.store = store
        self.refresh()

    def schedule_refresh(self) -> None:
        """Search again shortly (typing, or a generation just recorded)."""
        self._timer.start()

    def refresh(self) -> None:
        self._timer.stop()
        if self.store is None:
            self.model.set_hits([])
            self.status.setText("The generation history is off.")
            self._update_actions()
            return
        mode = self.mode_box.currentText()
        hits = self.store.search(
            self.search_box.text(),
            RESULT_LIMIT,
            mode=None if mode == ALL_MODES else mode,
            kept_only=self.kept_box.isChecked(),
            prefix_last=True,
        )
        self.model.set_hits(hits)
        warning = self.store.take_warning()
        if warning:
            self.status.setText(warning)
        elif not hits:
            self.status.setText(
                "No generations match." if self._filtered() else "No generations yet."
            )
        else:
            more = "+" if len(hits) == RESULT_LIMIT else ""
            self.status.setText(f"{len(hits)}{more} generation{'s' if len(hits) != 1 else ''}")
        self._update_actions()

    def _filtered(self) -> bool:
        return (
            bool(self.search_box.text().strip())
            or self.kept_box.isChecked()
            or (self.mode_box.currentIndex() > 0)
        )

    # Selection and actions ----------------------------------------------------------
    def current_hit(self) -> Hit | None:
        index = self.view.currentIndex()
        selected = self.view.selectionModel().isSelected(index) if index.isValid() else False
        return self.model.data(index, HIT_ROLE) if selected else None

    def current_entry(self) -> Entry | None:
        hit = self.current_hit()
        if hit is None or self.store is None:
            return None
        entry = self.store.get(hit.id)
        warning = self.store.take_warning()
        if warning:
            self.status.setText(warning)
        return entry

    def dropped_entry(self, mime: QMimeData) -> Entry | None:
        """The history entry a thumbnail dragged from this dock carries, else None."""
        if self.store is None or not mime.hasFormat(ENTRY_MIME):
            return None
        try:
            entry_id = int(json.loads(bytes(mime.data(ENTRY_MIME).data()))["id"])
        except (ValueError, KeyError, TypeError):
            return None
        entry = self.store.get(entry_id)
        warning = self.store.take_warning()
        if warning:
            self.status.setText(warning)
        return entry

    def select(self, row: int) -> None:
        self.view.setCurrentIndex(self.model.index(row, 0))

    def _update_actions(self) -> None:
        hit = self.current_hit()
        for name in ("use", "regenerate", "layer"):
            self.actions[name].setEnabled(hit is not None)
        self.actions["open"].setEnabled(hit is not None and hit.exists)
        if hit is not None and hit.path and not hit.exists:
            self.actions["open"].setToolTip("The file was moved or deleted.")
        else:
            self.actions["open"].setToolTip("Open the output file")

    def _use(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.use_parameters.emit(entry)

    def _regenerate(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.regenerate.emit(entry)

    def _add_layer(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.add_as_layer.emit(entry)

    def _open(self) -> None:
        hit = self.current_hit()
        if hit is not None and hit.exists and hit.path:
            self.open_file.emit(hit.path)

    def _menu(self, pos) -> None:  # pos: QPoint
        menu = QMenu(self)
        for action in self.actions.values():
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.clear_action)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _ask(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Clear history", text)
        return answer == QMessageBox.StandardButton.Yes

    def clear_history(self) -> bool:
        """Delete every entry, after asking."""
        if self.store is None or not self.confirm(
            "Delete every recorded generation, its thumbnail and parameters? "
            "Output files stay where they are."
        ):
            return False
        ok = self.store.clear()
        self.refresh()
        return ok
