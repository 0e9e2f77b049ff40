"""The tools dock: a compact grid of tool icons (as in Krita's toolbox), the chosen
tool's own options (brush size/hardness/opacity for the painting tools, the selection
modes for the selection tools), and the two colours."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.icons import action_icon, action_name, icon
from editor.ui.theme import PANEL_SPACING, tidy

MIN_SIZE, MAX_SIZE = 1, 1000
TOOL_BUTTON = 32  # px, square; icons are drawn at 22 px inside
TOOL_ICON = 22
# One row per kind of tool, as Krita groups its toolbox; a tool not listed goes last.
TOOL_ROWS: tuple[tuple[str, ...], ...] = (
    ("brush", "eraser", "mask", "mask_eraser"),
    ("move", "picker", "fill", "wand"),
    ("select_rect", "select_ellipse", "lasso", "select_object", "frame"),
)


# How a new selection combines with the current one: (mode, button text, keys).
SELECTION_MODES: tuple[tuple[str, str, str], ...] = (
    ("replace", "Replace", ""),
    ("add", "Add", "Shift"),
    ("subtract", "Subtract", "Alt or Ctrl"),
    ("intersect", "Intersect", "Shift+Alt or Shift+Ctrl"),
)
# The brush rows each tool uses, as Krita and GIMP show only the chosen tool's options;
# a tool not listed (move, picker, the selection tools) uses none of them.
BRUSH_ROWS = ("size", "hardness", "opacity", "spacing", "smoothing", "pressure")
TOOL_BRUSH_ROWS: dict[str, tuple[str, ...]] = {
    "brush": BRUSH_ROWS,
    "eraser": BRUSH_ROWS,
    "mask": BRUSH_ROWS,
    "mask_eraser": BRUSH_ROWS,
    "fill": ("opacity",),  # the fill is laid at the brush's opacity
}

SELECTION_KEYS_TIP = (
    "Hold while you drag: Shift adds, Alt subtracts, Shift+Alt intersects "
    "(Ctrl for Alt where the window manager takes Alt+drag)."
)


def bigger_size(size: int) -> int:
    """The next brush size for ']' (about 15 % steps, at least 1 px)."""
    return min(MAX_SIZE, max(size + 1, round(size * 1.15)))


def smaller_size(size: int) -> int:
    return max(MIN_SIZE, min(size - 1, round(size / 1.15)))


class ColorButton(QToolButton):
    color_changed = Signal(QColor)

    def __init__(self, color: QColor, tooltip: str) -> None:
        super().__init__()
        self.setToolTip(tooltip)
        self.setFixedSize(32, 32)
        self._color = QColor(color)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover)  # repaint the frame on hover
        self.clicked.connect(self._choose)

    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        if QColor(color) != self._color:
            self._color = QColor(color)
            self.update()
            self.color_changed.emit(QColor(color))

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted rather than styled: a style sheet would pin the frame colour, and this
        # one follows the theme (the text colour at half strength shows around black on
        # the dark theme and around white on the light one).
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        edge = QColor(self.palette().color(QPalette.ColorRole.WindowText))
        edge.setAlpha(255 if self.hasFocus() or self.underMouse() else 128)
        painter.setPen(edge)
        painter.setBrush(self._color)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        painter.end()

    def _choose(self) -> None:
        color = QColorDialog.getColor(self._color, self, "Choose colour")
        if color.isValid():
            self.set_color(color)


class ToolButton(QToolButton):
    """A toolbox button drawn as in Krita: a flat icon, the chosen tool on the highlight
    colour (its icon in the highlighted-text colour), a soft hover background."""

    def __init__(self, action: QAction) -> None:
        super().__init__()
        self.setDefaultAction(action)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.setAutoRaise(True)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover)
        self.setFixedSize(TOOL_BUTTON, TOOL_BUTTON)
        self.setIconSize(QSize(TOOL_ICON, TOOL_ICON))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        box = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        mode = QIcon.Mode.Normal
        if not self.isEnabled():
            mode = QIcon.Mode.Disabled
        elif self.isChecked():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(box, 4, 4)
            mode = QIcon.Mode.Selected
        elif self.underMouse() or self.isDown():
            hover = QColor(palette.color(QPalette.ColorRole.WindowText))
            hover.setAlpha(60 if self.isDown() else 30)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(hover)
            painter.drawRoundedRect(box, 4, 4)
        if self.hasFocus():
            painter.setPen(palette.color(QPalette.ColorRole.Highlight))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box, 4, 4)
        size = self.iconSize()
        pixmap = self.icon().pixmap(size, self.devicePixelRatioF(), mode)
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        painter.drawPixmap(QRectF(x, y, size.width(), size.height()), pixmap, QRectF(pixmap.rect()))
        painter.end()


class ToolOptions(QWidget):
    """Tool choice and brush settings; emits `changed` whenever a setting changes."""

    changed = Signal()
    # Whether the chosen tool has a brush size ('[' and ']' follow it).
    size_applies = Signal(bool)

    def __init__(self, tool_actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolOptions")
        self.tool_actions = list(tool_actions)
        self.tool_buttons: list[QToolButton] = []
        layout = tidy(QVBoxLayout(self))
        layout.addLayout(self._toolbox(self.tool_actions))
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)

        self.brush_form = form = tidy(QFormLayout(), margin=None)
        self.size_spin = self._slider_row(form, "Size", MIN_SIZE, MAX_SIZE, 20, " px")
        self.hardness_spin = self._slider_row(form, "Hardness", 0, 100, 80, " %")
        self.opacity_spin = self._slider_row(form, "Opacity", 1, 100, 100, " %")
        self.spacing_spin = self._slider_row(form, "Spacing", 1, 100, 10, " %")
        self.smoothing_spin = self._slider_row(form, "Smoothing", 0, 95, 0, " %")
        self.pressure_size_check = QCheckBox("Size")
        self.pressure_size_check.setChecked(True)
        self.pressure_opacity_check = QCheckBox("Opacity")
        pressure = QHBoxLayout()
        pressure.setSpacing(PANEL_SPACING * 2)
        for check in (self.pressure_size_check, self.pressure_opacity_check):
            check.toggled.connect(lambda _on: self.changed.emit())
            pressure.addWidget(check)
        form.addRow("Pressure", pressure)
        self._brush_row_index = dict(zip(BRUSH_ROWS, range(form.rowCount()), strict=True))
        self.tool_name = "brush"
        layout.addLayout(form)
        layout.addWidget(self._selection_modes())
        # One width for every number box, so the sliders end in one column.
        spins = (self.size_spin, self.hardness_spin, self.opacity_spin, self.spacing_spin,
                 self.smoothing_spin)  # fmt: skip
        width = max(spin.sizeHint().width() for spin in spins)
        for spin in spins:
            spin.setFixedWidth(width)

        colours = tidy(QHBoxLayout(), margin=None)
        self.fg_button = ColorButton(QColor(0, 0, 0), "Foreground colour")
        self.bg_button = ColorButton(QColor(255, 255, 255), "Background colour")
        self.swap_button = swap = QToolButton()
        swap.setObjectName("swapColorsButton")
        swap.setText("⇄")  # shown only if the icon file is missing
        swap.setAutoRaise(True)
        swap.setIconSize(QSize(TOOL_ICON - 4, TOOL_ICON - 4))
        swap.setToolTip("Swap colours (X)")
        swap.clicked.connect(self.swap_colors)
        for widget in (self.fg_button, self.bg_button, swap):
            colours.addWidget(widget)
        colours.addStretch(1)
        self.fg_button.color_changed.connect(lambda _c: self.changed.emit())
        self.bg_button.color_changed.connect(lambda _c: self.changed.emit())
        layout.addLayout(colours)
        layout.addStretch(1)
        self._set_icons()

    def _toolbox(self, actions: list[QAction]) -> QGridLayout:
        """Small icon-only buttons in rows of related tools; names and shortcuts are in
        the tooltips (the actions' own, e.g. "Brush (B)")."""
        grid = QGridLayout()
        grid.setSpacing(2)
        grid.setContentsMargins(0, 0, 0, 0)
        by_tool = {action_name(a).removeprefix("tool_"): a for a in actions}
        rows = [[by_tool.pop(t) for t in row if t in by_tool] for row in TOOL_ROWS]
        rows.append(list(by_tool.values()))
        columns = max(len(row) for row in rows)
        for r, row in enumerate(r for r in rows if r):
            for c, action in enumerate(row):
                button = ToolButton(action)
                button.setObjectName(f"toolButton_{action_name(action).removeprefix('tool_')}")
                grid.addWidget(button, r, c)
                self.tool_buttons.append(button)
        grid.setColumnStretch(columns, 1)  # keep the buttons together on the left
        return grid

    def _selection_modes(self) -> QWidget:
        """Krita's mode buttons for the selection tools; the held keys override the
        chosen one for a drag, and the label names the operation in force."""
        self.selection_row = row = QWidget()
        box = tidy(QVBoxLayout(row), margin=0)
        self.selection_mode_label = QLabel()
        self.selection_mode_label.setToolTip(SELECTION_KEYS_TIP)
        # Two by two: the tools dock is narrow.
        buttons = QGridLayout()
        buttons.setSpacing(2)
        self.selection_group = QButtonGroup(row)
        self.selection_buttons: dict[str, QToolButton] = {}
        for i, (mode, text, keys) in enumerate(SELECTION_MODES):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setToolTip(f"{text} ({keys} while dragging)" if keys else text)
            self.selection_group.addButton(button)
            self.selection_buttons[mode] = button
            buttons.addWidget(button, i // 2, i % 2)
        buttons.setColumnStretch(2, 1)
        self._chosen_selection_mode = "replace"
        self.selection_buttons["replace"].setChecked(True)
        self.selection_group.buttonClicked.connect(self._selection_mode_clicked)
        box.addWidget(self.selection_mode_label)
        box.addLayout(buttons)
        row.setVisible(False)
        self.show_selection_mode("replace")
        return row

    def _selection_mode_clicked(self, button: QToolButton) -> None:
        for mode, b in self.selection_buttons.items():
            if b is button:
                self._chosen_selection_mode = mode
        self.show_selection_mode(self._chosen_selection_mode)

    @property
    def selection_mode(self) -> str:
        """The mode chosen with the buttons: what a drag without modifier keys does."""
        return self._chosen_selection_mode

    def show_selection_mode(self, mode: str, keys: str = "") -> None:
        """Name ``mode`` as the operation in force (``keys``: the held keys causing it)."""
        text = dict((m, t) for m, t, _k in SELECTION_MODES)[mode]
        self.selection_mode_label.setText(
            f"Selection: {text}" + (f" ({keys} held)" if keys else "")
        )
        self.selection_buttons[mode].setChecked(True)

    def set_selection_tool(self, active: bool) -> None:
        """Show the selection modes only while a combining selection tool is chosen."""
        self.selection_row.setVisible(active)

    def show_tool(self, name: str) -> None:
        """Show the brush rows that tool ``name`` uses and hide the others."""
        self.tool_name = name
        rows = TOOL_BRUSH_ROWS.get(name, ())
        for row, index in self._brush_row_index.items():
            self.brush_form.setRowVisible(index, row in rows)
        self.size_applies.emit(self.has_size)

    @property
    def has_size(self) -> bool:
        """Whether the chosen tool paints with the brush size."""
        return "size" in TOOL_BRUSH_ROWS.get(self.tool_name, ())

    def shown_rows(self) -> list[str]:
        """The brush rows shown now, by name (what the dock offers for this tool)."""
        return [r for r, i in self._brush_row_index.items() if self.brush_form.isRowVisible(i)]

    def _set_icons(self) -> None:
        """(Re)colour the icons for the current palette (the theme may change live)."""
        palette = self.palette()
        for action in self.tool_actions:
            tool_icon = action_icon(action_name(action), palette)
            if not tool_icon.isNull():
                action.setIcon(tool_icon)
        swap = icon("swap-colors", palette)
        if not swap.isNull():
            self.swap_button.setIcon(swap)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._set_icons()

    def _slider_row(
        self, form: QFormLayout, label: str, lo: int, hi: int, value: int, suffix: str
    ) -> QSpinBox:
        row = QHBoxLayout()
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(lo, min(hi, 200) if label == "Size" else hi)
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setSuffix(suffix)
        spin.setValue(value)
        slider.setValue(value)
        slider.valueChanged.connect(spin.setValue)
        spin.valueChanged.connect(
            lambda v: (slider.blockSignals(True), slider.setValue(v), slider.blockSignals(False))
        )
        spin.valueChanged.connect(lambda _v: self.changed.emit())
        row.addWidget(slider, 1)
        row.addWidget(spin)
        form.addRow(label, row)
        return spin

    # Values ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.size_spin.value()

    def set_size(self, size: int) -> None:
        self.size_spin.setValue(int(size))

    @property
    def hardness(self) -> float:
        return self.hardness_spin.value() / 100

    @property
    def opacity(self) -> float:
        return self.opacity_spin.value() / 100

    @property
    def spacing(self) -> float:
        return self.spacing_spin.value() / 100

    @property
    def smoothing(self) -> float:
        return self.smoothing_spin.value() / 100

    @property
    def foreground(self) -> QColor:
        return self.fg_button.color()

    @property
    def background(self) -> QColor:
        return self.bg_button.color()

    def set_foreground(self, color: QColor) -> None:
        self.fg_button.set_color(color)

    def values(self) -> dict[str, object]:
        """The settings to remember between sessions."""
        return {
            "size": self.size,
            "hardness": self.hardness_spin.value(),
            "opacity": self.opacity_spin.value(),
            "spacing": self.spacing_spin.value(),
            "smoothing": self.smoothing_spin.value(),
            "pressure_size": int(self.pressure_size_check.isChecked()),
            "pressure_opacity": int(self.pressure_opacity_check.isChecked()),
            "foreground": self.foreground.name(),
            "background": self.background.name(),
        }

    def set_values(self, values: dict[str, object]) -> None:
        """Restore values(); unknown keys and unreadable values are skipped."""
        spins = {
            "size": self.size_spin,
            "hardness": self.hardness_spin,
            "opacity": self.opacity_spin,
            "spacing": self.spacing_spin,
            "smoothing": self.smoothing_spin,
        }
        for key, value in values.items():
            try:
                if key in spins:
                    spins[key].setValue(int(value))
                elif key == "pressure_size":
                    self.pressure_size_check.setChecked(bool(int(value)))
                elif key == "pressure_opacity":
                    self.pressure_opacity_check.setChecked(bool(int(value)))
                elif key in ("foreground", "background") and QColor(str(value)).isValid():
                    button = self.fg_button if key == "foreground" else self.bg_button
                    button.set_color(QColor(str(value)))
            except (TypeError, ValueError):
                continue

    def bigger(self) -> None:
        if self.has_size:  # a hidden size would change unseen
            self.set_size(bigger_size(self.size))

    def smaller(self) -> None:
        if self.has_size:
            self.set_size(smaller_size(self.size))

    def swap_colors(self) -> None:
        fg, bg = self.foreground, self.background
        for button, color in ((self.fg_button, bg), (self.bg_button, fg)):
            button.blockSignals(True)
            button.set_color(color)
            button.blockSignals(False)
        self.changed.emit()
