"""Live mode in the real window with a tiny model: strokes, stale results, Apply, Record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from editor.ui.live.mode import over

TIMEOUT_MS = 120_000


def stroke(window, points, color=(230, 30, 30)) -> None:
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(*color))
    window.tool_options.set_size(24)
    tools, none = window.tools, Qt.KeyboardModifier.NoModifier
    tools.press(QPointF(*points[0]), 1.0, none)
    for p in points[1:]:
        tools.move(QPointF(*p), 1.0, none)
    tools.release(QPointF(*points[-1]), 1.0, none)


def start_live(window, qtbot, tiny_model_dir: Path):
    window.new_document(96, 96, fill=(40, 60, 200, 255))
    window.generation_panel.set_settings(
        {"model": str(tiny_model_dir), "prompt": "a red boat", "seed": 5, "guidance": 1.0}
    )
    live = window.live
    live.panel.steps_spin.setValue(2)
    with qtbot.waitSignal(live.result_shown, timeout=TIMEOUT_MS):
        window.live.actions[0].trigger()  # the Live action (Ctrl+L)
    assert live.is_enabled() and live.panel.live_button.isChecked()
    return live


def settle(qtbot, live) -> None:
    """Wait until the live result on screen is made from the newest state."""
    policy = live.scheduler.policy
    qtbot.waitUntil(
        lambda: policy.shown_version == policy.version and policy.in_flight is None,
        timeout=TIMEOUT_MS,
    )


def looked_at(qtbot, live) -> None:
    """Let the scheduler decide about the state as it is now (what its timer does every
    tick), then wait until it has nothing left to start: after this, a job that the last
    change should not cause has either been counted or will never be."""
    live.scheduler.tick()  # reads the settings now: a change made since counts at once
    policy = live.scheduler.policy
    qtbot.waitUntil(lambda: not policy.dirty and policy.in_flight is None, timeout=TIMEOUT_MS)


def overlay_pixels(window) -> np.ndarray:
    image, _pos = window.canvas._overlay
    ptr = image.convertToFormat(image.Format.Format_RGBA8888)
    return np.frombuffer(ptr.constBits(), np.uint8).reshape(ptr.height(), ptr.width(), 4).copy()


def test_a_stroke_changes_the_live_result_and_never_the_history(window, qtbot, tiny_model_dir):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    doc = window.document
    before = live.result.rgba.copy()
    assert np.array_equal(overlay_pixels(window), before)  # shown over the canvas
    undo_steps = doc.history.count()
    stroke(window, [(20, 20), (50, 40), (76, 70)])
    settle(qtbot, live)
    after = live.result.rgba
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0
    assert np.array_equal(overlay_pixels(window), after)
    # The stroke is one undo step; the live results added none.
    assert doc.history.count() == undo_steps + 1
    assert len(doc.layers) == 1
    window.live.set_enabled(False)
    assert window.canvas._overlay is None


def test_a_stale_result_never_replaces_a_newer_one(window, qtbot, tiny_model_dir):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    delivered: list = []
    client = window.generation.client
    client.finished.connect(lambda job_id, results: delivered.append((job_id, results)))
    stroke(window, [(10, 80), (80, 10)], color=(250, 250, 0))
    settle(qtbot, live)
    qtbot.waitUntil(lambda: bool(delivered), timeout=TIMEOUT_MS)  # our slot runs after live's
    old_id, old_results = delivered[-1]
    assert np.array_equal(live.result.rgba, old_results[0].rgba)
    stroke(window, [(10, 10), (80, 80)], color=(0, 250, 0))
    settle(qtbot, live)
    newest = live.result.rgba.copy()
    assert not np.array_equal(newest, old_results[0].rgba)
    client.finished.emit(old_id, old_results)  # the older job's result arrives late
    assert live.result.rgba is not old_results[0].rgba
    assert np.array_equal(overlay_pixels(window), newest)


def test_nothing_runs_when_nothing_changed(window, qtbot, tiny_model_dir):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    jobs = live.jobs_submitted
    looked_at(qtbot, live)
    assert live.jobs_submitted == jobs
    # Settings live jobs do not use (the Generate panel's own steps and guidance) start
    # nothing: live has its own.
    window.generation_panel.steps_spin.setValue(7)
    window.generation_panel.guidance_spin.setValue(9.0)
    looked_at(qtbot, live)
    assert live.jobs_submitted == jobs
    # A hidden-then-shown layer ends where it began: at most the hidden state runs.
    layer = window.document.layers[0]
    window.document.set_layer_properties(layer, visible=False)
    window.document.set_layer_properties(layer, visible=True)
    looked_at(qtbot, live)
    settle(qtbot, live)
    assert live.jobs_submitted <= jobs + 1
    # The prompt is part of the live input: changing it runs one job.
    jobs = live.jobs_submitted
    window.generation_panel.prompt_edit.setPlainText("a green boat")
    qtbot.waitUntil(lambda: live.jobs_submitted == jobs + 1, timeout=TIMEOUT_MS)
    settle(qtbot, live)
    looked_at(qtbot, live)
    assert live.jobs_submitted == jobs + 1
    assert live.result.request.guidance == 1.0  # live's default: no unguided pass
    live.panel.guidance_spin.setValue(3.0)
    qtbot.waitUntil(lambda: live.jobs_submitted == jobs + 2, timeout=TIMEOUT_MS)
    settle(qtbot, live)
    assert live.result.request.guidance == 3.0


def test_apply_is_exactly_one_undo_step(window, qtbot, tiny_model_dir):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    doc = window.document
    result = live.result
    composite_before = doc.composite_array()
    steps = doc.history.count()
    layer = live.apply()
    assert layer is not None and len(doc.layers) == 2
    assert doc.history.count() == steps + 1
    x, y = result.x, result.y
    h, w = result.rgba.shape[:2]
    assert np.array_equal(doc.composite_array()[y : y + h, x : x + w], over(result.rgba, None))
    assert doc.undo()
    assert len(doc.layers) == 1
    assert np.array_equal(doc.composite_array(), composite_before)


def test_record_keeps_each_result_as_a_frame(window, qtbot, tiny_model_dir, tmp_path):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    live.panel.record_folder = tmp_path / "frames"
    live.panel.record_check.setChecked(True)
    stroke(window, [(20, 70), (70, 20)])
    settle(qtbot, live)
    live.recorder.flush()
    frames = sorted((tmp_path / "frames").glob("frame-*.png"))
    assert frames
    last = np.asarray(Image.open(frames[-1]).convert("RGBA"))
    assert np.array_equal(last, over(live.result.rgba, live._base))


def test_side_view_shows_the_result_instead_of_the_overlay(window, qtbot, tiny_model_dir):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    live.panel.set_display("side")
    assert window.canvas._overlay is None
    pixmap = live.panel.view.pixmap()
    assert pixmap is not None and not pixmap.isNull()


def test_releasing_a_stroke_starts_its_job_without_waiting_for_a_tick(
    window, qtbot, tiny_model_dir
):
    live = start_live(window, qtbot, tiny_model_dir)
    settle(qtbot, live)
    # Park the scheduler's timer: only the release itself may start the job now.
    live.scheduler.timer.setInterval(3_600_000)
    order: list[str] = []
    live.jobs.submitted.connect(lambda *_: order.append("submitted"))
    live.result_shown.connect(lambda _v: order.append("shown"))
    with qtbot.waitSignal(live.result_shown, timeout=TIMEOUT_MS):
        stroke(window, [(20, 60), (60, 20)])
        order.append("released")
    policy = live.scheduler.policy
    assert order == ["released", "submitted", "shown"]
    # The job was built from the canvas with the stroke on it, and that result is shown.
    assert policy.shown_version == policy.version
    assert np.array_equal(overlay_pixels(window), live.result.rgba)
