"""The window's look: Fusion style with a dark (default) or light palette, and the
spacing every panel uses.

Fusion draws the same on every desktop, so the dark palette looks as designed whatever
the user's system theme is. Applying a theme sets the application palette, which Qt
sends to every widget as a PaletteChange: switching in Settings takes effect at once.
Dialogs name the button Return presses with `main_button`.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QDialog, QLayout, QPushButton, QStyleFactory

THEMES: dict[str, str] = {"dark": "Dark", "light": "Light"}
DEFAULT_THEME = "dark"

# Panel spacing in px: outer margin of a dock's content, and the gap between rows.
PANEL_MARGIN = 6
PANEL_SPACING = 6

Role, Group = QPalette.ColorRole, QPalette.ColorGroup


def dark_palette() -> QPalette:
    """Neutral greys (no blue cast: colours on the canvas are judged against them)."""
    window, base, text = QColor(50, 50, 50), QColor(36, 36, 36), QColor(222, 222, 222)
    palette = QPalette()
    colours = {
        Role.Window: window,
        Role.WindowText: text,
        Role.Base: base,
        Role.AlternateBase: QColor(44, 44, 44),
        Role.ToolTipBase: QColor(30, 30, 30),
        Role.ToolTipText: text,
        Role.PlaceholderText: QColor(140, 140, 140),
        Role.Text: text,
        Role.Button: QColor(60, 60, 60),
        Role.ButtonText: text,
        Role.BrightText: QColor(255, 90, 90),
        Role.Light: QColor(80, 80, 80),
        Role.Midlight: QColor(68, 68, 68),
        Role.Mid: QColor(44, 44, 44),
        Role.Dark: QColor(30, 30, 30),
        Role.Shadow: QColor(16, 16, 16),
        Role.Highlight: QColor(66, 120, 190),
        Role.HighlightedText: QColor(255, 255, 255),
        Role.Link: QColor(110, 165, 235),
        Role.LinkVisited: QColor(160, 130, 220),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    disabled = QColor(120, 120, 120)
    for role in (Role.WindowText, Role.Text, Role.ButtonText, Role.HighlightedText):
        palette.setColor(Group.Disabled, role, disabled)
    palette.setColor(Group.Disabled, Role.Highlight, QColor(70, 70, 70))
    palette.setColor(Group.Disabled, Role.Base, window)
    palette.setColor(Group.Disabled, Role.Button, QColor(54, 54, 54))
    return palette


def palette_for(theme: str) -> QPalette:
    if theme == "light":
        style = QStyleFactory.create("Fusion")
        return style.standardPalette() if style is not None else QPalette()
    return dark_palette()


def apply_theme(theme: str, app: QApplication | None = None) -> str:
    """Give the application the theme's style and palette; returns the theme applied
    (an unknown name falls back to the default)."""
    app = app or QApplication.instance()
    theme = theme if theme in THEMES else DEFAULT_THEME
    if app is None:
        return theme
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette_for(theme))
    app.setProperty("overpaintTheme", theme)
    return theme


def current_theme(app: QApplication | None = None) -> str | None:
    """The theme apply_theme last applied (None: the platform's own look)."""
    app = app or QApplication.instance()
    value = app.property("overpaintTheme") if app is not None else None
    return str(value) if value else None


def tidy(layout: QLayout, margin: int | None = PANEL_MARGIN) -> QLayout:
    """Give a panel layout the shared spacing (margin None: keep the layout's own)."""
    if margin is not None:
        layout.setContentsMargins(margin, margin, margin, margin)
    layout.setSpacing(PANEL_SPACING)
    return layout


def main_button(button: QPushButton) -> QPushButton:
    """Make `button` the one Return presses in its dialog (Qt's default button).

    Call it once the button is inside its dialog: Qt remembers a default button only then.
    Made default earlier, it was forgotten and Return went to the first button Qt found
    (Cancel in Upscale, Move to Trash… in Models); with no default at all, Return went to
    the first button after the focused field (Browse… in Train LoRA)."""
    if not isinstance(button.window(), QDialog):
        raise RuntimeError(f"main_button({button.text()!r}): not inside its dialog yet")
    button.setDefault(True)
    return button
