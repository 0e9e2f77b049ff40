"""Bundled monochrome SVG icons, recoloured to the palette's text colour.

The SVGs in resources/icons are drawn in black; each icon is rendered and then filled
with the text colour of the current palette (normal, and the disabled one), so the same
files serve the dark and the light theme. Widgets call `icon(name, palette)` again on a
palette change (see `ToolOptions.changeEvent`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from engine.core.paths import RESOURCES

ICON_DIR = RESOURCES / "icons"
# Rendered pixel sizes; Qt picks the closest (the larger ones serve high-DPI screens).
SIZES = (16, 22, 24, 32, 44, 48, 64)

# Tool name (editor.ui.tools_bridge.TOOL_NAMES) -> icon file stem.
TOOL_ICONS: dict[str, str] = {
    "brush": "tool-brush",
    "eraser": "tool-eraser",
    "mask": "tool-mask",
    "mask_eraser": "tool-mask-eraser",
    "move": "tool-move",
    "picker": "tool-picker",
    "fill": "tool-fill",
    "select_rect": "tool-select-rect",
    "select_ellipse": "tool-select-ellipse",
    "lasso": "tool-lasso",
    "wand": "tool-wand",
    "select_object": "tool-select-object",
    "frame": "tool-frame",
}

# Action name (editor.ui.actions.ACTION_TABLE) -> icon for buttons in the panels.
ACTION_ICONS: dict[str, str] = {
    **{f"tool_{tool}": stem for tool, stem in TOOL_ICONS.items()},
    "add_layer": "layer-add",
    "duplicate_layer": "layer-duplicate",
    "delete_layer": "layer-delete",
    "merge_down": "layer-merge-down",
    "raise_layer": "layer-raise",
    "lower_layer": "layer-lower",
    "swap_colors": "swap-colors",
}


def icon_path(name: str) -> Path:
    return ICON_DIR / f"{name}.svg"


@lru_cache(maxsize=256)
def _tinted(name: str, size: int, rgba: int) -> QImage:
    # Cached by colour: re-tinting on every palette change must stay cheap.
    renderer = QSvgRenderer(str(icon_path(name)))
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    if not renderer.isValid():
        return image
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    # Keep the drawing's coverage (alpha), replace its colour.
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
    painter.fillRect(image.rect(), QColor.fromRgba(rgba))
    painter.end()
    return image


def tinted_pixmap(name: str, size: int, color: QColor) -> QPixmap:
    """The icon `name` drawn in `color`, `size` pixels square."""
    return QPixmap.fromImage(_tinted(name, size, color.rgba()))


def icon(name: str, palette: QPalette | None = None) -> QIcon:
    """A QIcon from resources/icons/`name`.svg in the palette's text colours.

    Normal/active/selected use the button text colour (the highlighted text colour when
    selected); disabled uses the disabled text colour, so greyed tools look greyed.
    """
    if palette is None:
        palette = QApplication.palette()
    if not icon_path(name).is_file():
        return QIcon()
    group, role = QPalette.ColorGroup, QPalette.ColorRole
    colours = {
        QIcon.Mode.Normal: palette.color(group.Active, role.ButtonText),
        QIcon.Mode.Active: palette.color(group.Active, role.ButtonText),
        QIcon.Mode.Selected: palette.color(group.Active, role.HighlightedText),
        QIcon.Mode.Disabled: palette.color(group.Disabled, role.ButtonText),
    }
    result = QIcon()
    for mode, colour in colours.items():
        for size in SIZES:
            result.addPixmap(tinted_pixmap(name, size, colour), mode)
    return result


def action_icon(action_name: str, palette: QPalette | None = None) -> QIcon:
    """The icon for an action by its ACTION_TABLE name (null if it has none)."""
    stem = ACTION_ICONS.get(action_name)
    return icon(stem, palette) if stem else QIcon()


def action_name(action: QAction) -> str:
    """An action's ACTION_TABLE name, from the object name create_actions gives it."""
    return action.objectName().removeprefix("action_")
