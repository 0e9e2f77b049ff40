"""The Help menu as a new user meets it: Keyboard Shortcuts lists the keys that work (read
from the window's own actions) and filters as you type; the User Guide shows the README
offline and jumps to a section; Show Log File opens the log the app writes."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QApplication, QMenu

from editor.ui import help_dialogs
from editor.ui.help_dialogs import ShortcutsDialog, UserGuideDialog
from engine.core.log_setup import log_file
from engine.core.paths import user_data_dir


def _help_menu(window) -> QMenu:
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&Help"]
    return menu


def test_help_menu_offers_guide_shortcuts_log_and_about(window) -> None:
    texts = [a.text() for a in _help_menu(window).actions() if not a.isSeparator()]
    assert texts == ["&User Guide", "&Keyboard Shortcuts", "Show &Log File", "&About Overpaint"]


def test_keyboard_shortcuts_lists_every_key_and_filters_as_you_type(window, qtbot) -> None:
    qtbot.keyClick(window.canvas, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    dialog = window.findChild(ShortcutsDialog, "shortcutsDialog")
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    rows = dialog.visible_rows()
    assert ("Undo", "Ctrl+Z", "Edit") in rows
    assert ("Brush", "B", "Tools") in rows
    assert ("Keyboard Shortcuts", "Ctrl+/", "Help") in rows
    # Built from the actions themselves: every action with a key is listed.
    listed = {command for command, _keys, _menu in rows}
    for action in window.actions.by_name.values():
        if action.shortcuts():
            assert action.text().replace("&", "") in listed, action.text()

    qtbot.keyClicks(dialog.filter, "undo")
    matching = dialog.visible_rows()
    assert ("Undo", "Ctrl+Z", "Edit") in matching
    assert 0 < len(matching) < len(rows)
    assert all("undo" in " ".join(row).lower() for row in matching), matching

    dialog.filter.clear()
    qtbot.keyClicks(dialog.filter, "ctrl+z")
    assert ("Undo", "Ctrl+Z", "Edit") in dialog.visible_rows()

    qtbot.keyClick(dialog.filter, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    # Opened again, the list starts unfiltered.
    window.actions.shortcuts.trigger()
    assert dialog.isVisible() and dialog.filter.text() == ""
    assert len(dialog.visible_rows()) == len(rows)
    dialog.close()


def test_user_guide_shows_the_readme_offline_and_jumps_to_a_section(window, qtbot) -> None:
    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)
    dialog = window.findChild(UserGuideDialog, "userGuideDialog")
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    text = dialog.browser.toPlainText()
    assert "Overpaint is a desktop canvas editor for Stable Diffusion" in text
    assert "## Live painting" not in text  # rendered as Markdown, not shown raw
    sections = [dialog.sections.item(i).text() for i in range(dialog.sections.count())]
    assert sections[0] == "Overpaint" and "Live painting" in sections and "Models" in sections
    bar = dialog.browser.verticalScrollBar()
    assert bar.value() == 0
    dialog.sections.setCurrentRow(sections.index("Live painting"))
    assert bar.value() > 0
    top = dialog.browser.cursorForPosition(dialog.browser.viewport().rect().topLeft())
    assert top.block().text() == "Live painting"
    qtbot.keyClick(dialog.browser, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_user_guide_wraps_to_the_window_and_code_keeps_every_character(
    window, qtbot, tmp_path, monkeypatch
) -> None:
    # The README's own commands, and one longer than any screen is wide.
    long_line = "overpaint txt2img " + " ".join(
        f"--region-mask=masks/part{i}.png" for i in range(12)
    )
    guide = tmp_path / "user-guide.md"
    readme = help_dialogs.USER_GUIDE.read_text(encoding="utf-8")
    guide.write_text(readme + f"\n## Long command\n\n```\n{long_line}\n```\n", encoding="utf-8")
    monkeypatch.setattr(help_dialogs, "USER_GUIDE", guide)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)
    dialog = window.findChild(UserGuideDialog, "userGuideDialog")
    assert dialog is not None and dialog.isVisible()
    browser = dialog.browser
    assert browser.fontMetrics().horizontalAdvance(long_line) > browser.viewport().width()
    # At the default size nothing is out of sight sideways: no horizontal scrolling at all.
    assert browser.horizontalScrollBar().maximum() == 0
    assert browser.document().size().width() <= browser.viewport().width()
    # The long line is wrapped onto several lines of the page, not cut: all of it is there.
    assert long_line in browser.toPlainText().splitlines()
    block = browser.document().find(long_line).block()
    assert block.text() == long_line and block.layout().lineCount() > 1
    dialog.close()


def test_show_log_file_opens_the_apps_log(window, qtbot, monkeypatch) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(help_dialogs, "open_url", lambda url: opened.append(url) or True)
    window.actions.show_log.trigger()
    path = log_file()
    assert opened == [QUrl.fromLocalFile(str(path))]
    assert path.is_file() and path.is_relative_to(user_data_dir())
    assert str(path) in window.statusBar().currentMessage()
