"""The window's look: tool icons with shortcut tooltips, the dark default theme, and the
Light choice in Settings surviving a restart."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QToolButton

from editor.ui.tools_bridge import TOOL_NAMES


@pytest.fixture
def restore_look(qapp):
    """Themes change the whole application: put the test process's look back after."""
    style, palette = qapp.style().name(), QPalette(qapp.palette())
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setProperty("overpaintTheme", None)


def window_lightness(widget) -> int:
    return widget.palette().color(QPalette.ColorRole.Window).lightness()


def icon_ink(button: QToolButton) -> list[int]:
    """Lightness of the opaque pixels of a button's icon, as drawn in the normal state."""
    image = button.icon().pixmap(22, 22).toImage()
    values = []
    for y in range(image.height()):
        for x in range(image.width()):
            colour = image.pixelColor(x, y)
            if colour.alpha() > 200:
                values.append(colour.lightness())
    return values


def tool_button(window, name: str) -> QToolButton:
    button = window.tool_options.findChild(QToolButton, f"toolButton_{name}")
    assert button is not None, f"no button for the {name} tool"
    return button


def test_every_tool_button_has_an_icon_and_names_its_shortcut(window) -> None:
    rows = set()
    for name in TOOL_NAMES:
        button = tool_button(window, name)
        action = getattr(window.actions, f"tool_{name}")
        assert not button.icon().isNull()
        assert len(icon_ink(button)) > 20, f"the {name} icon draws nothing"
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        assert shortcut and button.toolTip().endswith(f"({shortcut})"), button.toolTip()
        assert button.toolButtonStyle().name == "ToolButtonIconOnly"
        assert button.width() <= 40 and button.height() <= 40
        rows.add(button.y())
    # Compact, like Krita's toolbox: a few rows of small buttons, not one per tool.
    assert len(rows) <= 3
    # Layer buttons show icons too, with their action's tooltip.
    add = window.layers_panel.findChild(QToolButton, "layerButton_add_layer")
    assert add is not None and not add.icon().isNull()
    assert "Ctrl+Shift+N" in add.toolTip()


def test_brush_tooltip_reads_like_a_menu(window) -> None:
    assert tool_button(window, "brush").toolTip() == "Brush (B)"
    assert tool_button(window, "mask_eraser").toolTip() == "Mask Eraser (Shift+M)"


def test_dark_is_the_default_and_light_survives_a_restart(qtbot, settings, restore_look) -> None:
    from editor.ui.application import create_application
    from editor.ui.dialogs import SettingsDialog
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings
    from editor.ui.theme import apply_theme

    app = create_application(settings)  # a fresh settings file: nothing chosen yet
    assert app.style().name().lower() == "fusion"
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    assert window_lightness(first) < 80
    ink = icon_ink(tool_button(first, "brush"))
    assert min(ink) > 150, "dark theme: icons drawn in a light colour"

    dialog = SettingsDialog(settings, first)
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("light"))
    dialog.accept()
    # Live: the open window turns light, its icons dark (Qt delivers the new palette
    # to widgets through the event loop).
    qtbot.waitUntil(lambda: window_lightness(first) > 180)
    assert max(icon_ink(tool_button(first, "brush"))) < 100
    first.ask_save_changes = lambda: "discard"
    first.close()

    apply_theme("dark")  # a new process starts from nothing; only the file remembers
    restarted = Settings(settings.path)
    assert restarted.theme == "light"
    create_application(restarted)
    second = MainWindow(restarted)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: window_lightness(second) > 180)
    assert window_lightness(QApplication.instance()) > 180
    assert max(icon_ink(tool_button(second, "brush"))) < 100
    second.ask_save_changes = lambda: "discard"
    second.close()


def test_an_unknown_theme_falls_back_to_dark(settings, restore_look) -> None:
    from editor.ui.application import create_application

    settings.qsettings.setValue("window/theme", "neon")
    app = create_application(settings)
    assert settings.theme == "dark"
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
