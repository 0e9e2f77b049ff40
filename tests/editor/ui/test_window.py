"""The main window: opening files, title, canvas pixels, view mapping, settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from tests.editor.ui.conftest import gradient_rgba


def widget_pixel(window, canvas_x: int, canvas_y: int) -> tuple[int, int, int]:
    """The colour the canvas widget shows at the centre of a canvas pixel."""
    view = window.canvas
    p = view.canvas_to_widget(QPointF(canvas_x + 0.5, canvas_y + 0.5))
    image = view.grab().toImage()
    c = image.pixelColor(int(p.x()), int(p.y()))
    return c.red(), c.green(), c.blue()


def test_title_and_opened_image_shown_on_canvas(window, png_path: Path) -> None:
    assert window.windowTitle() == "Overpaint"
    assert window.open_path(png_path)
    assert window.windowTitle() == "picture.png — Overpaint"
    assert (window.document.width, window.document.height) == (160, 120)
    window.canvas.actual_size()
    expected = gradient_rgba()
    for x, y in ((0, 0), (80, 60), (159, 119), (37, 101)):
        assert widget_pixel(window, x, y) == tuple(int(v) for v in expected[y, x, :3])


def test_unreadable_file_shows_message_and_keeps_document(window, tmp_path: Path) -> None:
    before = window.document
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    assert not window.open_path(bad)
    assert window.document is before
    assert "broken.png" in window.last_error
    assert window.windowTitle() == "Overpaint"


def test_unsaved_changes_star_and_close_prompt(window, png_path: Path, tmp_path: Path) -> None:
    window.open_path(png_path)
    window.document.add_layer("extra")
    assert window.windowTitle() == "picture.png* — Overpaint"
    asked = []
    window.ask_save_changes = lambda: asked.append(1) or "cancel"
    assert not window.close()
    assert asked and window.isVisible()
    window.document.undo()
    assert window.windowTitle() == "picture.png — Overpaint"
    window.document.add_layer("again")
    window.ask_save_changes = lambda: "save"
    target = tmp_path / "project.ora"
    window.save_as = lambda path=None: window.save(target)
    assert window.close()
    assert target.is_file()


def test_save_as_ora_then_reopen(window, png_path: Path, tmp_path: Path) -> None:
    window.open_path(png_path)
    window.document.add_layer("second")
    target = tmp_path / "work.ora"
    assert window.save_as(target)
    assert window.windowTitle() == "work.ora — Overpaint"
    assert window.open_path(target)
    assert [layer.name for layer in window.document.layers] == ["picture", "second"]
    assert window.settings.recent_files[0] == target.resolve()


def test_fit_and_zoom_keep_mapping(window, qtbot, png_path: Path) -> None:
    window.open_path(png_path)
    view = window.canvas
    qtbot.keyClick(view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    top_left = view.canvas_to_widget(QPointF(0, 0))
    bottom_right = view.canvas_to_widget(QPointF(160, 120))
    assert 0 <= top_left.x() and 0 <= top_left.y()
    assert bottom_right.x() <= view.width() and bottom_right.y() <= view.height()
    # Fitted: one side fills the widget up to the margin.
    assert min(view.width() - (bottom_right.x() - top_left.x()),
               view.height() - (bottom_right.y() - top_left.y())) <= 40  # fmt: skip
    anchor = QPointF(200, 150)
    under = view.widget_to_canvas(anchor)
    view.zoom_in(anchor)
    after = view.widget_to_canvas(anchor)
    assert abs(after.x() - under.x()) < 1e-6 and abs(after.y() - under.y()) < 1e-6
    zoom = view.zoom
    qtbot.keyClick(view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom < zoom
    view.actual_size()
    assert view.zoom == 1.0
    # At 100 % every canvas pixel is one widget pixel (device pixel ratio 1 offscreen).
    a, b = view.canvas_to_widget(QPointF(10, 10)), view.canvas_to_widget(QPointF(20, 10))
    assert b.x() - a.x() == 10 * 1.0 / view.devicePixelRatioF()
    assert widget_pixel(window, 10, 10) == tuple(int(v) for v in gradient_rgba()[10, 10, :3])


def test_middle_drag_pans(window, qtbot, png_path: Path) -> None:
    window.open_path(png_path)
    view = window.canvas
    before = view.origin
    qtbot.mousePress(view, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(130, 80))
    qtbot.mouseRelease(view, Qt.MouseButton.MiddleButton, pos=QPoint(130, 80))
    after = view.origin
    assert (after.x() - before.x(), after.y() - before.y()) == (30, -20)
    assert not window.is_modified()


def test_settings_persist_across_windows(qtbot, settings, tmp_path: Path) -> None:
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings

    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    panel = first.generation_panel
    panel.prompt_edit.setPlainText("a red boat")
    panel.steps_spin.setValue(13)
    panel.seed_spin.setValue(4242)
    panel.set_model(str(tmp_path / "some-model"))
    first.settings.watermark = False
    first.tool_options.set_size(37)
    first.tool_options.spacing_spin.setValue(22)
    first.tool_options.set_foreground(QColor(10, 200, 30))
    # Just above the panels' minimum (kept as set), below the default and the screen size.
    least = first.minimumSizeHint()
    size = (max(least.width(), 600) + 10, max(least.height(), 450) + 10)
    first.resize(*size)
    assert (first.width(), first.height()) == size
    first.close()

    second = MainWindow(Settings(settings.path))
    qtbot.addWidget(second)
    second.show()
    p = second.generation_panel.settings()
    assert (p.prompt, p.steps, p.seed) == ("a red boat", 13, 4242)
    assert p.model == str(tmp_path / "some-model")
    assert second.settings.watermark is False
    assert second.tool_options.size == 37 and second.tools.brush_settings.size == 37
    assert second.tool_options.spacing_spin.value() == 22
    assert second.tool_options.foreground == QColor(10, 200, 30)
    assert (second.width(), second.height()) == size
    second.close()


def test_window_appears_before_torch_is_imported(png_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from editor.ui.application import create_application
        app = create_application()
        from editor.ui.main_window import MainWindow
        w = MainWindow()
        w.show()
        app.processEvents()
        assert w.open_path({str(png_path)!r})
        app.processEvents()
        heavy = [m for m in ("torch", "diffusers", "transformers") if m in sys.modules]
        print("HEAVY", heavy)
        w.close()
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


HIDPI_SCRIPT = """
import sys
from PySide6.QtCore import QPointF
from editor.ui.application import create_application
app = create_application()
from editor.ui.main_window import MainWindow
w = MainWindow()
w.resize(700, 500)
w.show()
app.processEvents()
assert w.open_path(sys.argv[1])
view = w.canvas
view.actual_size()
app.processEvents()
image = view.grab().toImage()
dpr = view.devicePixelRatioF()
print("DPR", dpr, image.devicePixelRatio())
for x, y in ((10, 10), (11, 10), (80, 61), (159, 119)):
    p = view.canvas_to_widget(QPointF(x + 0.5, y + 0.5))
    c = image.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
    print("PIXEL", x, y, c.red(), c.green(), c.blue())
a, b = view.canvas_to_widget(QPointF(0, 0)), view.canvas_to_widget(QPointF(100, 0))
print("SPAN", b.x() - a.x())
w.close()
"""


def test_hidpi_100_percent_is_one_image_pixel_per_device_pixel(png_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "2"}
    out = subprocess.run(
        [sys.executable, "-c", HIDPI_SCRIPT, str(png_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "DPR 2.0 2.0" in lines
    assert "SPAN 50.0" in lines  # 100 image pixels = 50 logical = 100 device pixels
    expected = gradient_rgba()
    for line in lines:
        if line.startswith("PIXEL"):
            x, y, r, g, b = (int(v) for v in line.split()[1:])
            assert (r, g, b) == tuple(int(v) for v in expected[y, x, :3]), line


def test_thread_guard_sees_a_running_qthread(qtbot) -> None:
    from PySide6.QtCore import QThread

    from tests.editor.ui.conftest import running_threads

    thread = QThread()
    thread.start()  # an event loop that runs until quit()
    qtbot.waitUntil(thread.isRunning)
    assert thread in running_threads()
    thread.quit()
    assert thread.wait(5000)
    assert running_threads() == []


def test_space_drag_pans_without_painting(window, qtbot, png_path: Path) -> None:
    window.open_path(png_path)
    view = window.canvas
    view.setFocus()
    before = view.origin
    qtbot.keyPress(view, Qt.Key.Key_Space)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(view, QPoint(215, 240))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(215, 240))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    after = view.origin
    assert (after.x() - before.x(), after.y() - before.y()) == (15, 40)
    assert window.document.history.count() == 0


def test_wheel_zooms_around_the_pointer(window, qtbot, png_path: Path) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    window.open_path(png_path)
    view = window.canvas
    anchor = QPointF(300, 220)
    under = view.widget_to_canvas(anchor)
    zoom = view.zoom
    event = QWheelEvent(
        anchor, view.mapToGlobal(anchor), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(view, event)
    assert abs(view.zoom - zoom * 1.25) < 1e-9
    after = view.widget_to_canvas(anchor)
    assert abs(after.x() - under.x()) < 1e-6 and abs(after.y() - under.y()) < 1e-6


def test_preview_covers_its_region_and_leaves_no_trace(window, png_path: Path) -> None:
    """An opaque preview is painted over the composite (which is skipped beneath it), at a
    fractional zoom too, and clearing it shows the untouched picture again."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QImage

    window.open_path(png_path)
    view = window.canvas
    while view.zoom >= 1.0:  # smooth scaling, and edges that fall between widget pixels
        view.zoom_out(QPointF(50, 50))
    assert 0.3 < view.zoom < 1.0 and (20 * view.zoom) % 1
    preview = QImage(8, 8, QImage.Format.Format_RGB888)
    preview.fill(QColor(0, 255, 0))
    before = {(x, y): widget_pixel(window, x, y) for x, y in ((30, 30), (41, 49), (10, 10))}
    view.set_preview(preview, QRect(20, 20, 30, 40))
    assert widget_pixel(window, 30, 30) == (0, 255, 0)
    assert widget_pixel(window, 41, 49) == (0, 255, 0)
    assert widget_pixel(window, 10, 10) == before[(10, 10)]  # outside: the picture
    view.set_preview(None)
    assert {p: widget_pixel(window, *p) for p in before} == before
