"""Journey: dialogs keep their size while the user looks at them. Settings grew a line
under the pointer when its GPU check finished, which a walk under Xvfb noticed."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QTabWidget

from editor.ui import device_choice

POLL_MS = 50
GIVE_UP_MS = 15000  # the first check imports torch on a helper thread (~2 s here)


def test_settings_keeps_its_size_when_the_gpu_check_finishes(qtbot, window, monkeypatch) -> None:
    # A fresh process's first Settings: the check has not run yet (earlier tests ran it).
    monkeypatch.setattr(device_choice, "_report", None)
    monkeypatch.setattr(device_choice, "_probe", None)
    seen: dict = {"sizes": [], "waited_ms": 0}

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog) and dialog.windowTitle() == "Settings":
            choice = dialog.findChild(device_choice.DeviceChoice)
            seen["sizes"].append((dialog.size(), choice.checked()))
            if choice.checked() or seen["waited_ms"] >= GIVE_UP_MS:
                # A few more looks after the answer: the layout settles on later events.
                if sum(done for _, done in seen["sizes"]) >= 5 or not choice.checked():
                    buttons = dialog.findChild(QDialogButtonBox)
                    buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
                    seen["closed"] = True
                    return
        seen["waited_ms"] += POLL_MS
        QTimer.singleShot(POLL_MS, look)

    QTimer.singleShot(0, look)
    window.actions.settings.trigger()
    qtbot.waitUntil(lambda: seen.get("closed", False), timeout=GIVE_UP_MS + 5000)

    before = {size.toTuple() for size, done in seen["sizes"] if not done}
    after = {size.toTuple() for size, done in seen["sizes"] if done}
    assert before, "the dialog was only seen after the check had finished"
    assert after, "the GPU check never finished"
    assert before == after, f"Settings changed size when the check finished: {before} -> {after}"


def test_models_keeps_its_size_across_its_tabs(qtbot, window) -> None:
    seen: dict = {"sizes": []}

    def look() -> None:
        # Not modal: an install may run while the user paints.
        shown = [w for w in QApplication.topLevelWidgets() if w.objectName() == "modelsDialog"]
        dialog = shown[0] if shown and shown[0].isVisible() else None
        if dialog is None:
            QTimer.singleShot(POLL_MS, look)
            return
        tabs = dialog.findChild(QTabWidget, "installTabs")
        seen["sizes"].append((tabs.currentIndex(), dialog.size().toTuple()))
        if len(seen["sizes"]) < 2 * tabs.count() + 1:
            tabs.setCurrentIndex((tabs.currentIndex() + 1) % tabs.count())
            QTimer.singleShot(POLL_MS, look)
            return
        dialog.reject()
        seen["closed"] = True

    QTimer.singleShot(0, look)
    window.actions.models.trigger()
    qtbot.waitUntil(lambda: seen.get("closed", False), timeout=10000)

    assert {index for index, _ in seen["sizes"]} == {0, 1, 2}
    sizes = {size for _, size in seen["sizes"]}
    assert len(sizes) == 1, f"Models changed size between its tabs: {seen['sizes']}"


def test_opening_models_leaves_the_main_window_layout_alone(qtbot, window) -> None:
    # Its hidden task entry in the status bar (shown only for an install kept running
    # after Close) made the status bar taller and moved every dock up a few pixels.
    qtbot.waitUntil(lambda: window.statusBar().height() > 0)
    before = (window.statusBar().height(), window.centralWidget().geometry().getRect())
    seen: dict = {}

    def look() -> None:
        shown = [w for w in QApplication.topLevelWidgets() if w.objectName() == "modelsDialog"]
        if not (shown and shown[0].isVisible()):
            QTimer.singleShot(POLL_MS, look)
            return
        QApplication.processEvents()
        seen["open"] = (window.statusBar().height(), window.centralWidget().geometry().getRect())
        shown[0].reject()

    QTimer.singleShot(0, look)
    window.actions.models.trigger()
    qtbot.waitUntil(lambda: "open" in seen, timeout=10000)
    qtbot.wait(100)  # the layout settles on later events
    after = (window.statusBar().height(), window.centralWidget().geometry().getRect())
    assert seen["open"] == before
    assert after == before
