"""The layers dock: list (top layer first) with visibility, name, opacity and blend mode.

Every edit goes through a Document method, so each is one undo step; the list rebuilds
from the document's signals with widget signals blocked (a one-way loop, no echoes).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.model.blending import BLEND_MODES
from editor.ui.icons import action_icon, action_name
from editor.ui.layer_badges import role_look
from editor.ui.theme import PANEL_SPACING, tidy

THUMB = 40
MIN_ROWS = 6  # rows the list always has room for
UID_ROLE = Qt.ItemDataRole.UserRole
BADGE_ROLE = Qt.ItemDataRole.UserRole + 1  # the text of the row's badge (a layer role's)
PLACE_ROLE = Qt.ItemDataRole.UserRole + 2  # the layer's bounds its thumbnail shows


def layer_thumbnail(layer, canvas: QRect) -> QIcon:  # layer: editor.model.layer.Layer
    """The layer as it lies on the picture (`canvas`), over a small checkerboard
    (transparency shows as in the canvas), on a THUMB-square tile so that every row's name
    starts at the same place. Every row is the picture's shape: a layer that covers part
    of it (a generated patch, a restored role layer) shows in its place, not blown up to
    the tile, and what lies off the picture is not shown, as Krita and Photoshop do."""
    tile = QPixmap(THUMB, THUMB)
    tile.fill(Qt.GlobalColor.transparent)
    painter = QPainter(tile)
    size = canvas.size().scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)
    if canvas.isEmpty() or size.isEmpty():
        size = QSize(THUMB, THUMB)
    x, y = (THUMB - size.width()) // 2, (THUMB - size.height()) // 2
    cell = 5
    for cy in range(0, size.height(), cell):
        for cx in range(0, size.width(), cell):
            light = (cx // cell + cy // cell) % 2 == 0
            colour = QColor(255, 255, 255) if light else QColor(204, 204, 204)
            w, h = min(cell, size.width() - cx), min(cell, size.height() - cy)
            painter.fillRect(x + cx, y + cy, w, h, colour)
    if not layer.is_empty() and layer.bounds().intersects(canvas):
        # Drawn through the one mapping of the picture onto the tile, so that the same
        # pixels give the same thumbnail whatever the layer's bounds (a patch or a layer
        # over the whole picture).
        painter.save()
        painter.translate(x, y)
        painter.scale(size.width() / canvas.width(), size.height() / canvas.height())
        painter.setClipRect(QRect(0, 0, canvas.width(), canvas.height()))
        painter.drawImage(layer.x - canvas.x(), layer.y - canvas.y(), layer.qimage())
        painter.restore()
    painter.setPen(QColor(0, 0, 0, 90))
    painter.drawRect(x, y, size.width() - 1, size.height() - 1)
    look = role_look(layer)
    if look is not None:
        _draw_badge(painter, look.badge, look.colour)
    painter.end()
    return QIcon(tile)


def _draw_badge(painter: QPainter, text: str, colour: QColor) -> None:
    """The layer role's short name in a coloured box along the thumbnail's bottom."""
    font = painter.font()
    font.setPixelSize(10)
    font.setBold(True)
    painter.setFont(font)
    box = QRect(0, THUMB - 13, THUMB, 13)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(box, 3, 3)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def _badge_text(layer) -> str | None:
    look = role_look(layer)
    return None if look is None else look.badge


def _style_row(item: QListWidgetItem, layer) -> None:
    """A role layer's row is tinted and says what it does in its tooltip."""
    look = role_look(layer)
    if look is None:
        item.setData(Qt.ItemDataRole.BackgroundRole, None)
        item.setToolTip("")
        return
    item.setBackground(look.tint)
    item.setToolTip(look.tooltip)


class _LayerList(QListWidget):
    """A list whose drag-and-drop reorders layers in the document, not list items.

    The drop is turned into `moved(from_row, to_row)`; the panel moves the layer (one undo
    step) and rebuilds the list from the document, so Qt's own row moving is skipped, on
    both ends of the drag (see `startDrag`).
    """

    moved = Signal(int, int)  # from row, to row
    ROW_FORMAT = "application/x-qabstractitemmodeldatalist"  # what a dragged row carries

    def _accept_rows(self, event: QDropEvent | QDragMoveEvent | QDragEnterEvent) -> bool:
        # Only dragged layer rows are ours; dropped files go on to the main window.
        if event.mimeData().hasFormat(self.ROW_FORMAT):
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()
            return True
        event.ignore()
        return False

    def startDrag(self, supported: Qt.DropAction) -> None:
        # Qt's own startDrag deletes the selected rows once a drag ends in a move: by then
        # the drop has rebuilt the list and selected the moved layer, so its row vanished
        # (issue 27). The document owns the order; the list only shows it.
        item = self.currentItem()
        if item is None:
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData([item]))
        drag.setPixmap(item.icon().pixmap(self.iconSize()))
        drag.exec(Qt.DropAction.MoveAction, Qt.DropAction.MoveAction)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._accept_rows(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accept_rows(event):
            super().dragMoveEvent(event)  # draws the drop indicator, may reject ...
            self._accept_rows(event)  # ... so accept again: our own rows always move

    def dropEvent(self, event: QDropEvent) -> None:
        if not event.mimeData().hasFormat(self.ROW_FORMAT):
            event.ignore()
            return
        source = self.currentRow()
        index = self.indexAt(event.position().toPoint())
        target = index.row() if index.isValid() else self.count() - 1
        event.accept()
        if source >= 0 and target >= 0 and source != target:
            self.moved.emit(source, target)


def _rows_height(view: QListWidget, rows: int) -> int:
    """The height `view` needs to show `rows` layer rows, in its style and font."""
    view.addItem(QListWidgetItem(QIcon(QPixmap(THUMB, THUMB)), "Layer"))
    row = view.sizeHintForRow(0) + 2 * view.spacing()
    view.takeItem(0)
    return rows * row + 2 * view.frameWidth()


class LayersPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layersPanel")
        self.document = None
        layout = tidy(QVBoxLayout(self))
        form = tidy(QFormLayout(), margin=None)
        self.blend_combo = QComboBox()
        self.blend_combo.setObjectName("blendCombo")
        for name, (_mode, _ora, label) in BLEND_MODES.items():
            self.blend_combo.addItem(label, name)
        self.blend_combo.currentIndexChanged.connect(self._blend_changed)
        blend_row = tidy(QHBoxLayout(), margin=None)
        blend_row.addWidget(self.blend_combo, 1)
        form.addRow("Blend", blend_row)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setObjectName("opacitySlider")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.valueChanged.connect(self._opacity_changed)
        form.addRow("Opacity", self.opacity_slider)
        self.alpha_lock_check = QCheckBox("Lock alpha")
        self.alpha_lock_check.setObjectName("alphaLockCheck")
        self.alpha_lock_check.setToolTip("Paint only where the layer already has pixels")
        self.alpha_lock_check.toggled.connect(self._alpha_lock_changed)
        blend_row.addWidget(self.alpha_lock_check)  # beside Blend: a row more for the list
        layout.addLayout(form)

        self.list = _LayerList()
        self.list.setObjectName("layersList")
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(1)
        # At least MIN_ROWS layers show, however tall the Generate dock above would be.
        self.list.setMinimumHeight(_rows_height(self.list, MIN_ROWS))
        # Long names (result layers are named after their prompt) end in "…", no
        # sideways scrolling.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemChanged.connect(self._item_changed)
        self.list.moved.connect(self._moved)
        layout.addWidget(self.list, 1)

        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(PANEL_SPACING // 2)
        layout.addLayout(self.buttons)
        self._icon_buttons: list[tuple[QToolButton, str]] = []

    def add_button(self, action: QAction, label: str) -> QToolButton:
        """A compact button for a layer action (the menu shows the long name): its icon,
        or `label` where the action has none."""
        button = QToolButton(text=label)
        button.setObjectName(f"layerButton_{action_name(action)}")
        button.setAutoRaise(True)
        button.setIconSize(QSize(20, 20))
        button.setToolTip(action.toolTip() or action.text().replace("&", ""))
        button.clicked.connect(action.trigger)
        self.buttons.addWidget(button)
        self._icon_buttons.append((button, action_name(action)))
        self._set_icon(button, action_name(action))
        return button

    def add_context_actions(self, actions: list[QAction]) -> None:
        """Actions offered by right-clicking a layer (e.g. Control Layer…)."""
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for action in actions:
            self.list.addAction(action)

    def _set_icon(self, button: QToolButton, name: str) -> None:
        button_icon = action_icon(name, self.palette())
        if not button_icon.isNull():
            button.setIcon(button_icon)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: recolour
            for button, name in self._icon_buttons:
                self._set_icon(button, name)

    # Document binding -----------------------------------------------------------------
    def set_document(self, document) -> None:  # document: editor.model.document.Document
        if self.document is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        self.document = document
        if document is not None:
            for signal, slot in self._connections():
                signal.connect(slot)
        self.refresh()

    def _connections(self):
        doc = self.document
        return (
            (doc.layers_changed, self.refresh),
            (doc.layer_properties_changed, self._properties_changed),
            (doc.current_layer_changed, self._current_changed),
            (doc.changed, self._pixels_changed),
        )

    def _layer_at_row(self, row: int):
        layers = self.document.layers if self.document is not None else ()
        index = len(layers) - 1 - row
        return layers[index] if 0 <= index < len(layers) else None

    def _row_of(self, layer) -> int:
        """The list row of a layer, -1 if it is not (or no longer) in the document."""
        try:
            return len(self.document.layers) - 1 - self.document.index_of(layer)
        except ValueError:
            return -1

    def refresh(self) -> None:
        self.list.blockSignals(True)
        try:
            self.list.clear()
            if self.document is None:
                return
            for layer in reversed(self.document.layers):
                item = QListWidgetItem(layer.name)
                self._set_thumbnail(item, layer)
                item.setData(UID_ROLE, layer.uid)
                item.setData(BADGE_ROLE, _badge_text(layer))
                item.setFlags(
                    item.flags()
                    | Qt.ItemFlag.ItemIsUserCheckable
                    | Qt.ItemFlag.ItemIsEditable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
                item.setCheckState(
                    Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked
                )
                _style_row(item, layer)
                self.list.addItem(item)
            current = self.document.current_layer
            if current is not None:
                self.list.setCurrentRow(self._row_of(current))
        finally:
            self.list.blockSignals(False)
        self._sync_controls()
        self._thumbs_dirty = False

    def _sync_controls(self) -> None:
        layer = self.document.current_layer if self.document is not None else None
        controls = (self.blend_combo, self.opacity_slider, self.alpha_lock_check)
        for widget in controls:
            widget.blockSignals(True)
            widget.setEnabled(layer is not None)
        try:
            if layer is not None:
                self.blend_combo.setCurrentIndex(self.blend_combo.findData(layer.blend_mode))
                self.opacity_slider.setValue(round(layer.opacity * 100))
                self.alpha_lock_check.setChecked(layer.alpha_locked)
        finally:
            for widget in controls:
                widget.blockSignals(False)

    def _properties_changed(self, layer) -> None:
        row = self._row_of(layer)
        item = self.list.item(row)
        if item is not None:
            self.list.blockSignals(True)
            item.setText(layer.name)
            item.setCheckState(Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked)
            badge = _badge_text(layer)
            if badge != item.data(BADGE_ROLE):
                self._set_thumbnail(item, layer)  # the badge comes, goes or changes
            elif item.data(PLACE_ROLE) != layer.bounds():
                # Moved: the thumbnail shows where it lies (a hidden layer's move changes
                # no pixel, so nothing else marks it).
                self._thumbs_dirty = True
            item.setData(BADGE_ROLE, badge)
            _style_row(item, layer)
            self.list.blockSignals(False)
        if layer is self.document.current_layer:
            self._sync_controls()

    def _current_changed(self, layer) -> None:
        if layer is not None:
            self.list.blockSignals(True)
            self.list.setCurrentRow(self._row_of(layer))
            self.list.blockSignals(False)
        self._sync_controls()

    def _pixels_changed(self, _rect: object) -> None:
        # Thumbnails refresh when the stroke is over (on the history step), not per dab.
        self._thumbs_dirty = True

    def refresh_thumbnails(self) -> None:
        if self.document is None or not getattr(self, "_thumbs_dirty", False):
            return
        self._thumbs_dirty = False
        for row in range(self.list.count()):
            layer = self._layer_at_row(row)
            if layer is not None:
                self._set_thumbnail(self.list.item(row), layer)

    def _set_thumbnail(self, item: QListWidgetItem, layer) -> None:
        item.setIcon(layer_thumbnail(layer, self.document.rect()))
        item.setData(PLACE_ROLE, layer.bounds())

    # Widget -> document ---------------------------------------------------------------
    def _row_changed(self, row: int) -> None:
        layer = self._layer_at_row(row)
        if layer is not None:
            self.document.set_current_layer(layer)

    def _item_changed(self, item: QListWidgetItem) -> None:
        layer = self._layer_at_row(self.list.row(item))
        if layer is None:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        name = item.text().strip() or layer.name
        changes = {}
        if visible != layer.visible:
            changes["visible"] = visible
        if name != layer.name:
            changes["name"] = name
        if changes:
            self.document.set_layer_properties(layer, **changes)

    def rename_current(self) -> None:
        """Layer ▸ Rename Layer… (F2): the current layer's name opens for editing in its
        row; the dock comes forward first, since a list behind the History tab or closed
        cannot show the editor. The edited name is one undo step (`_item_changed`)."""
        item = self.list.currentItem()
        if item is None:
            return
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        self.list.scrollToItem(item)
        self.list.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.list.editItem(item)

    def _moved(self, from_row: int, to_row: int) -> None:
        layer = self._layer_at_row(from_row)
        if layer is None:
            return
        self.document.move_layer(layer, len(self.document.layers) - 1 - to_row)
        self.refresh()

    def move_current(self, to_row: int) -> None:
        """Reorder as a drag would (used by tests and keyboard moves)."""
        from_row = self.list.currentRow()
        if from_row >= 0 and from_row != to_row:
            self._moved(from_row, to_row)

    def _blend_changed(self, _index: int) -> None:
        layer = self.document.current_layer if self.document is not None else None
        if layer is not None:
            self.document.set_layer_properties(layer, blend_mode=self.blend_combo.currentData())

    def _alpha_lock_changed(self, locked: bool) -> None:
        layer = self.document.current_layer if self.document is not None else None
        if layer is not None:
            self.document.set_layer_properties(layer, alpha_locked=locked)

    def _opacity_changed(self, value: int) -> None:
        layer = self.document.current_layer if self.document is not None else None
        if layer is not None:
            self.document.set_layer_properties(layer, opacity=value / 100)
