"""Live painting as a new user meets it: every view mode keeps the Generate and Live
buttons on screen (also after a restart), View > Reset Layout, small blobs in the live
result, the control layer that steers it, and strokes that stay visible while painting."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QDockWidget

from editor.ui.live.panel import DISPLAYS


def fully_visible(widget, window) -> bool:
    """Shown whole, with a size, inside the window: not scrolled, squashed or tabbed away."""
    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return False
    if widget.visibleRegion().boundingRect().size() != widget.size():
        return False
    corners = (widget.rect().topLeft(), widget.rect().bottomRight())
    return all(window.rect().contains(widget.mapTo(window, p)) for p in corners)


def main_buttons(window) -> dict[str, object]:
    live = window.live.panel
    return {
        "Generate": window.generation_panel.generate_button,
        "Live": live.live_button,
        "Apply": live.apply_button,
        "Show": live.display_combo,  # where the result shows: the way to the side view
    }


def hidden_buttons(window) -> list[str]:
    window.live_dock.raise_()  # the Live tab, as a user clicks it
    for _ in range(3):
        QApplication.processEvents()
    return [name for name, b in main_buttons(window).items() if not fully_visible(b, window)]


def choose_view(window, key: str) -> None:
    combo = window.live.panel.display_combo
    combo.setCurrentIndex(combo.findData(key))
    for _ in range(3):  # the dock asks for its room once the panel is laid out
        QApplication.processEvents()


def restart(window, settings, qtbot):
    """Quit (the layout is saved) and start a new window with the same settings."""
    from editor.ui.main_window import MainWindow

    window.ask_save_changes = lambda: "discard"
    window.close()
    again = MainWindow(settings)
    with qtbot.waitExposed(again):
        again.show()
    return again


def close_window(window) -> None:
    window.ask_save_changes = lambda: "discard"
    window.close()
    window.deleteLater()


def test_every_live_view_keeps_the_main_buttons_on_screen_also_after_a_restart(
    window, qtbot, settings
):
    assert hidden_buttons(window) == []
    heights = {}
    for key, _text in (*DISPLAYS, DISPLAYS[0]):
        choose_view(window, key)
        assert hidden_buttons(window) == [], key
        heights[key] = window.generation_dock.height()
    # The side view takes room from the Generate dock, and gives it back when it goes.
    assert heights["side"] < heights["overlay"]
    choose_view(window, "side")
    again = restart(window, settings, qtbot)
    try:
        assert hidden_buttons(again) == []
        choose_view(again, "side")
        assert hidden_buttons(again) == []
        # The side view shows with a size, beside the buttons.
        assert fully_visible(again.live.panel.view, again)
    finally:
        close_window(again)


def test_a_squashed_saved_layout_is_corrected_on_the_next_start(window, qtbot, settings):
    # A layout saved by the older version: the Live dock pulled up over the Generate dock.
    choose_view(window, "side")
    window.resizeDocks([window.live_dock], [window.height()], Qt.Orientation.Vertical)
    QApplication.processEvents()
    again = restart(window, settings, qtbot)
    try:
        assert hidden_buttons(again) == []
    finally:
        close_window(again)


def test_reset_layout_brings_back_the_default_arrangement(window, qtbot):
    right = Qt.DockWidgetArea.RightDockWidgetArea
    QApplication.processEvents()
    default_height = window.generation_dock.height()
    window.tools_dock.close()
    window.live_dock.setFloating(True)
    window.removeDockWidget(window.layers_dock)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.layers_dock)
    window.layers_dock.show()
    window.resizeDocks([window.generation_dock], [150], Qt.Orientation.Vertical)
    QApplication.processEvents()

    window.actions.reset_layout.trigger()
    QApplication.processEvents()
    docks = window.findChildren(QDockWidget)
    assert all(d.isVisible() and not d.isFloating() for d in docks)
    assert window.dockWidgetArea(window.layers_dock) == right
    assert window.dockWidgetArea(window.tools_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert window.live_dock in window.tabifiedDockWidgets(window.layers_dock)
    assert abs(window.generation_dock.height() - default_height) <= 4
    assert hidden_buttons(window) == []


# Live results with the bundled demo model --------------------------------------------
TIMEOUT_MS = 120_000


def paint(window, points, color, size, end: bool = True) -> None:
    """A brush stroke through canvas `points`, as the canvas passes the mouse on."""
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(*color))
    window.tool_options.set_size(size)
    tools, none = window.tools, Qt.KeyboardModifier.NoModifier
    tools.press(QPointF(*points[0]), 1.0, none)
    for p in points[1:]:
        tools.move(QPointF(*p), 1.0, none)
    if end:
        tools.release(QPointF(*points[-1]), 1.0, none)


def live_on(window, qtbot, prompt: str = ""):
    window.generation_panel.prompt_edit.setPlainText(prompt)
    live = window.live
    with qtbot.waitSignal(live.result_shown, timeout=TIMEOUT_MS):
        window.live.actions[0].trigger()  # Generate > Live Painting (Ctrl+L)
    return live


def settle(qtbot, live) -> None:
    """Wait until the result on screen is made from the newest canvas."""
    policy = live.scheduler.policy
    qtbot.waitUntil(
        lambda: policy.shown_version == policy.version and policy.in_flight is None,
        timeout=TIMEOUT_MS,
    )


def on_screen(window, x: float, y: float) -> tuple[int, int, int]:
    """The colour the canvas widget shows at canvas point (x, y)."""
    canvas = window.canvas
    shot = canvas.grab().toImage()
    at = canvas.canvas_to_widget(QPointF(x, y)) * shot.devicePixelRatio()
    c = shot.pixelColor(at.toPoint())
    return c.red(), c.green(), c.blue()


def near(rgb, target, tolerance: int = 40) -> bool:
    return max(abs(int(a) - int(b)) for a, b in zip(rgb, target, strict=True)) <= tolerance


def shows(result, centre, diameter, colour) -> bool:
    """Most of a blob's inner half has its colour rather than the paper's."""
    x, y, r = centre[0] - result.x, centre[1] - result.y, diameter // 4
    core = result.rgba[y - r : y + r, x - r : x + r, :3].reshape(-1, 3).astype(int)
    to_blob = np.abs(core - colour).sum(axis=1)
    to_paper = np.abs(core - 255).sum(axis=1)
    return bool((to_blob < to_paper).mean() > 0.5)


def test_small_blobs_show_in_the_live_result(window, qtbot):
    # 110-220 px blobs on the default 1024 px canvas: 14-28 px at the demo model's 128.
    blobs = [((300, 280), 110, (220, 30, 30)), ((720, 600), 160, (30, 70, 220)),
             ((280, 740), 220, (240, 140, 20))]  # fmt: skip
    live = live_on(window, qtbot)
    for (x, y), diameter, colour in blobs:
        paint(window, [(x - 2, y), (x + 2, y)], colour, diameter - 4)
    settle(qtbot, live)
    assert live.result.rgba.shape[:2] == (1024, 1024)  # the whole canvas is the region
    assert [d for c, d, colour in blobs if not shows(live.result, c, d, colour)] == []


def test_the_overlay_never_hides_the_stroke_being_painted(window, qtbot):
    live = live_on(window, qtbot)
    assert window.canvas._overlay is not None  # the live result lies over the canvas
    red = (220, 30, 30)
    paint(window, [(300, 700), (380, 700), (460, 700)], red, 40, end=False)
    QApplication.processEvents()
    assert near(on_screen(window, 380, 700), red)  # mid-stroke: the user's own paint
    window.tools.release(QPointF(460, 700), 1.0, Qt.KeyboardModifier.NoModifier)
    assert near(on_screen(window, 380, 700), red)  # until the result for it arrives
    settle(qtbot, live)
    QApplication.processEvents()
    assert window.canvas._overlay is not None  # then the new result is shown over it
    result = live.result.rgba[700, 380, :3]
    assert near(on_screen(window, 380, 700), result, 8)


def test_the_live_dock_says_which_control_layer_steers_it(window, qtbot):
    from editor.ui.generate.control_layer_dialog import edit_control_layer

    steering = window.live.panel.steering_label
    window.actions.add_layer.trigger()
    sketch = window.document.current_layer
    paint(window, [(300, 300), (700, 300), (700, 700), (300, 700), (300, 300)], (20, 20, 20), 12)
    assert not steering.isVisible()  # an ordinary layer steers nothing
    dialog = edit_control_layer(window)  # Layer > Control Layer…
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("scribble"))
    dialog.accept()
    window.live_dock.raise_()
    assert steering.isVisible()
    assert steering.text() == f"Steered by: Scribble ({sketch.name})"

    row = window.layers_panel.list.item(0)  # the top row: the sketch layer
    row.setCheckState(Qt.CheckState.Unchecked)  # hidden: it takes no part
    assert not sketch.visible and not steering.isVisible()
    row.setCheckState(Qt.CheckState.Checked)
    assert steering.text() == f"Steered by: Scribble ({sketch.name})" and steering.isVisible()

    # The live job is steered by the sketch instead of painting it into the picture.
    live = live_on(window, qtbot)
    job = live.prepare()
    assert [c.kind for c in job.request.controls] == ["scribble"]
    assert job.inputs.image[..., :3].min() > 200  # the dark sketch lines are not in it
    assert live.result is not None
