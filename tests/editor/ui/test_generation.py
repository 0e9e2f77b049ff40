"""Generation from the window, end to end on the real tiny diffusers pipeline.

Nothing is mocked between the Generate button and the layer: a real EngineClient runs
the real inpaint pipeline on a QThread; the window fixture shuts it down on close.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from sd_parsers import ParserManager

from engine.models import DEMO_MODEL_DIR
from tests.editor.ui.conftest import gradient_rgba
from tests.editor.ui.test_painting import drag, open_at_100

WAIT_MS = 120_000


def prepare(window, tiny_model_dir: Path, prompt: str = "a small red boat", steps: int = 3) -> None:
    panel = window.generation_panel
    panel.set_model(str(tiny_model_dir))
    panel.prompt_edit.setPlainText(prompt)
    panel.steps_spin.setValue(steps)
    panel.seed_spin.setValue(1234)
    panel.scheduler_combo.setCurrentText("DDIM")


def paint_mask(qtbot, window) -> None:
    qtbot.keyClick(window.canvas, Qt.Key.Key_M)
    window.tool_options.set_size(12)
    drag(qtbot, window, [(70, 55), (90, 60)])
    assert window.document.has_mask()


def test_thin_slice_mask_generate_accept_export(window, qtbot, png_path, tiny_model_dir, tmp_path):
    open_at_100(window, png_path)
    paint_mask(qtbot, window)
    prepare(window, tiny_model_dir)
    progress = []

    qtbot.mouseClick(window.generation_panel.generate_button, Qt.MouseButton.LeftButton)
    assert window.generation.is_busy()
    bar = window.generation_panel.progress_bar
    window.generation.client.progress.connect(lambda *a: progress.append((*a[1:3], bar.format())))
    assert window.generation_panel.cancel_button.isEnabled()
    # The canvas stays live: paint with the brush far from the mask while the job runs.
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    window.tool_options.set_size(4)
    drag(qtbot, window, [(5, 110), (20, 110)])
    assert window.undo_action.text() == "&Undo Brush stroke"

    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    assert not window.generation.is_busy()
    # Inpaint at strength 0.75 runs the last 75 % of the 3 scheduled steps.
    assert progress and progress[-1][0] == progress[-1][1] >= 2
    step, total, text = progress[-1]
    # "Loading the model…" went with the wait (fewer steps than asked would be explained).
    note = "" if total == 3 else f" · {total} of 3 steps (strength 0.75)"
    assert text.startswith(f"Step {step}/{total}") and text.endswith(f"left{note}")
    # The idle bar says what waits, and only that: the steps' note went with the job.
    assert bar.format() == "1 result ready: accept one or discard them."
    before = window.document.composite_array()
    layers_before = len(window.document.layers)

    candidate = window.candidates.current()
    result = candidate.result
    assert result.request.mode == "inpaint"
    # Previewing shows the candidate on the canvas but leaves the layers alone.
    assert len(window.document.layers) == layers_before

    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    doc = window.document
    assert len(doc.layers) == layers_before + 1
    assert window.generation_panel.progress_bar.format() == "Idle"  # nothing is ready any more
    layer = doc.current_layer
    assert layer.name == "a small red boat"
    region = result.request.region
    assert (layer.x, layer.y, layer.width, layer.height) == (
        region.x, region.y, region.width, region.height,
    )  # fmt: skip
    assert window.undo_action.text() == "&Undo Accept result"
    # The mask stays on purpose, for another run on the same area; the status bar says
    # so and how to remove it.
    assert doc.has_mask()
    assert window.statusBar().currentMessage() == (
        "Added as a layer. The mask stays for another run; Clear Mask (Shift+Del) removes it."
    )
    after = doc.composite_array()
    # Outside the feathered mask (patch alpha 0 and outside the patch) nothing changed.
    untouched = np.ones(after.shape[:2], bool)
    ys, xs = slice(region.y, region.bottom), slice(region.x, region.right)
    untouched[ys, xs] = result.rgba[..., 3] == 0
    assert untouched.sum() > 0.5 * untouched.size
    assert np.array_equal(after[untouched], before[untouched])
    # Inside the mask the pixels are generated ones.
    assert not np.array_equal(after[57, 80], before[57, 80])
    assert doc.mask[57, 80] == 255

    out = tmp_path / "final.png"
    assert window.export_png(out)
    with Image.open(out) as im:
        exported = np.asarray(im.convert("RGBA"))
        parameters = im.info["parameters"]
        request_json = im.info["overpaint_request"]
    assert np.array_equal(exported, after)
    assert parameters.startswith("a small red boat\n")
    assert "Steps: 3" in parameters and "Seed: 1234" in parameters
    assert json.loads(request_json)["mode"] == "inpaint"
    info = ParserManager().parse(out)  # an independent reader of the A1111 convention
    assert info.full_prompt == "a small red boat"
    assert info.samplers[0].parameters["seed"] == "1234"

    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(doc.composite_array(), before)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert not doc.has_mask()


def test_cancel_leaves_document_unchanged(window, qtbot, png_path, tiny_model_dir):
    open_at_100(window, png_path)
    paint_mask(qtbot, window)
    prepare(window, tiny_model_dir, steps=150)
    before = window.document.composite_array()
    history = window.document.history.count()
    job = window.generate()
    assert job is not None
    with qtbot.waitSignal(window.generation.client.progress, timeout=WAIT_MS):
        pass
    with qtbot.waitSignal(window.generation.client.cancelled, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert blocker.args == [job]
    assert not window.generation.is_busy()
    assert window.candidates.count() == 0
    assert window.document.history.count() == history
    assert np.array_equal(window.document.composite_array(), before)
    bar = window.generation_panel.progress_bar
    assert bar.format() == "Generation cancelled." and bar.maximum() == 1


def test_engine_error_shows_message_and_keeps_canvas(window, qtbot, png_path, tmp_path):
    open_at_100(window, png_path)
    paint_mask(qtbot, window)
    prepare(window, tmp_path / "no-such-model")
    before = window.document.composite_array()
    history = window.document.history.count()
    with qtbot.waitSignal(window.generation.error, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    message = blocker.args[0]
    assert "no-such-model" in message
    assert window.last_error == message
    assert window.statusBar().currentMessage() == message
    bar = window.generation_panel.progress_bar  # the dock says it too, in the warning colour
    assert bar.format() == message and bar.is_error()
    assert window.candidates.count() == 0
    assert window.document.history.count() == history
    assert np.array_equal(window.document.composite_array(), before)
    assert np.array_equal(window.document.layers[0].to_rgba(), gradient_rgba())


def test_queued_jobs_candidates_preview_and_discard(window, qtbot, png_path, tiny_model_dir):
    from tests.editor.ui.test_window import widget_pixel

    open_at_100(window, png_path)
    paint_mask(qtbot, window)
    prepare(window, tiny_model_dir, prompt="two boats")
    previews = []
    waiting: list[str] = []  # what the panel says before each job's first step
    set_waiting = window.generation_panel.set_waiting
    window.generation_panel.set_waiting = lambda text: (waiting.append(text), set_waiting(text))
    window.generate()
    window.generation.client.progress.connect(
        lambda *_a: previews.append(window.canvas.preview_rect())
    )
    window.generation_panel.seed_spin.setValue(99)
    window.generate()
    assert window.generation.pending_jobs() == 2
    assert "queued" in window.generation_panel.generate_button.text()
    qtbot.waitUntil(lambda: window.candidates.count() == 2, timeout=WAIT_MS)
    seeds = [c.result.seed for c in window.candidates.candidates()]
    assert seeds == [1234, 99]
    # The second job reuses the loaded model, so it does not claim to load it again.
    assert [t for t in waiting if t != "Starting the engine…"] == [
        "Loading the model…",
        "Preparing…",
    ]
    region = window.candidates.candidates()[0].result.request.region
    assert any(r is not None and (r.x(), r.y(), r.width(), r.height()) ==
               (region.x, region.y, region.width, region.height) for r in previews)  # fmt: skip
    assert window.canvas.preview_rect() is None  # cleared when the job ended

    history = window.document.history.count()
    original = tuple(int(v) for v in gradient_rgba()[57, 80, :3])
    window.candidates.select(1)
    shown = widget_pixel(window, 80, 57)
    candidate = window.candidates.current()
    local = candidate.result.rgba[57 - region.y, 80 - region.x]
    assert local[3] == 255 and shown == tuple(int(v) for v in local[:3])
    assert window.document.history.count() == history  # a preview is not an edit

    qtbot.mouseClick(window.candidates.discard_button, Qt.MouseButton.LeftButton)
    assert window.candidates.count() == 1
    assert candidate not in window.candidates.candidates()
    qtbot.mouseClick(window.candidates.discard_all_button, Qt.MouseButton.LeftButton)
    assert window.candidates.count() == 0
    window.actions.toggle_mask.trigger()  # hide the mask tint to see the bare canvas
    assert widget_pixel(window, 80, 57) == original
    assert window.document.history.count() == history


def test_opening_another_file_cancels_running_jobs(window, qtbot, png_path, tiny_model_dir):
    open_at_100(window, png_path)
    paint_mask(qtbot, window)
    prepare(window, tiny_model_dir, steps=150)
    job = window.generate()
    with qtbot.waitSignal(window.generation.client.cancelled, timeout=WAIT_MS) as blocker:
        window.ask_save_changes = lambda: "discard"
        assert window.open_path(png_path)
    assert blocker.args == [job]
    assert window.candidates.count() == 0 and not window.generation.is_busy()
    assert window.document.history.count() == 0


def test_the_status_explains_the_step_count_of_several_pictures(window, qtbot, png_path):
    # img2img on the demo model: 2 samples at strength 0.5 of 8 steps run 2 x 4 steps, so
    # the bar counts to 8, the steps asked for, which alone would explain nothing.
    open_at_100(window, png_path)
    prepare(window, DEMO_MODEL_DIR, steps=8)
    panel = window.generation_panel
    panel.strength_spin.setValue(0.5)
    panel.samples_spin.setValue(2)
    progress = []
    assert window.generate() is not None
    window.generation.client.progress.connect(
        lambda *a: progress.append((*a[1:3], panel.progress_bar.format()))
    )
    qtbot.waitUntil(lambda: window.candidates.count() == 2, timeout=WAIT_MS)
    assert window.candidates.current().result.request.mode == "img2img"
    assert [p[:2] for p in progress] == [(step, 8) for step in range(1, 9)]
    # Said beside the steps: "Step 3/8 — 2 s left · 2 pictures × 4 of 8 steps (…)".
    assert {p[2].partition(" · ")[2] for p in progress} == {
        "2 pictures × 4 of 8 steps (strength 0.5)"
    }
