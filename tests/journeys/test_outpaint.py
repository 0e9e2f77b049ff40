"""Outpaint with a generation frame past the edge, walked as a new user: draw the frame
with the F tool, Generate, then Discard, Cancel or Accept, and undo.

The bundled demo model runs for real (2 steps) on a white picture. What a user must get:
Discard and Cancel leave the canvas exactly as it was (size, pixels, undo steps); Accept
is one undo step that takes back the growth and the result together; the new band is
filled wholly, however the frame covers it; and the picture next to the new strip stays
as it was beyond the blend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tests.editor.ui.test_painting import drag, open_at_100
from tests.journeys.waiting import WAIT_MS, next_result

W, H = 256, 128  # wider than a 2-step job's context, so a band can reach past it


@pytest.fixture
def white_png(tmp_path: Path) -> Path:
    path = tmp_path / "white.png"
    Image.new("RGB", (W, H), (255, 255, 255)).save(path)
    return path


def _frame(qtbot, window, start: tuple[int, int], end: tuple[int, int]) -> None:
    window.canvas.actual_size()  # 100 %: a canvas pixel per screen pixel
    qtbot.keyClick(window.canvas, Qt.Key.Key_F)
    drag(qtbot, window, [start, end])
    frame = window.document.generation_frame
    assert (frame.x, frame.y, frame.right, frame.bottom) == (*start, *end)


def _generate(window, qtbot, steps: int = 2):
    window.generation_panel.steps_spin.setValue(steps)
    return next_result(qtbot, window, window.actions.generate.trigger)


def _state(doc):
    return (doc.width, doc.height), doc.composite_array(), doc.history.texts()


def _same(doc, state) -> None:
    """The size, the pixels and the done undo steps of `state`."""
    size, pixels, texts = state
    assert (doc.width, doc.height) == size
    assert np.array_equal(doc.composite_array(), pixels)
    assert doc.history.texts()[: doc.history.index()] == texts


def test_discard_and_cancel_leave_the_canvas_as_it_was(window, qtbot, white_png) -> None:
    open_at_100(window, white_png)
    doc = window.document
    _frame(qtbot, window, (160, 0), (320, H))  # 64 px past the right edge
    frame, before = doc.generation_frame, _state(doc)

    result = _generate(window, qtbot)
    assert result.request.mode == "outpaint"
    assert (doc.width, doc.height) == (W + 64, H)  # the canvas shows where it will go
    qtbot.mouseClick(window.candidates.discard_button, Qt.MouseButton.LeftButton)
    _same(doc, before)
    assert doc.history.texts() == before[2]  # no growth left to redo either
    assert doc.generation_frame == frame  # past the edge again, as drawn

    # Esc while it runs: the same.
    window.generation_panel.steps_spin.setValue(200)
    window.actions.generate.trigger()
    with qtbot.waitSignal(window.generation.client.progress, timeout=WAIT_MS):
        pass
    assert doc.width == W + 64
    with qtbot.waitSignal(window.generation.client.cancelled, timeout=WAIT_MS):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    _same(doc, before)
    assert window.candidates.count() == 0


def test_accept_is_one_undo_step_and_a_second_band_fills_wholly(window, qtbot, white_png) -> None:
    open_at_100(window, white_png)
    doc = window.document
    _frame(qtbot, window, (160, 0), (320, H))
    before = _state(doc)
    result = _generate(window, qtbot)
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    after = doc.composite_array()
    assert after.shape[:2] == (H, W + 64)
    assert (after[..., 3] == 255).all()  # the new strip is filled
    # Only the new strip is generated; the white picture under the frame is context and
    # changes only within the feather of the old edge.
    feather = result.request.mask_blur
    assert np.array_equal(after[:, : W - feather], before[1][:, : W - feather])
    assert doc.history.texts() == [*before[2], "Accept outpaint"]
    assert window.undo_action.text() == "&Undo Accept outpaint"

    window.undo()  # one step takes back the result and the growth
    _same(doc, before)
    window.redo()
    assert np.array_equal(doc.composite_array(), after)

    # A second frame past the bottom, narrower than the canvas: the whole new band
    # along the bottom is filled, also where the frame does not reach.
    _frame(qtbot, window, (0, 64), (128, H + 64))
    second = _generate(window, qtbot)
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    final = doc.composite_array()
    assert final.shape[:2] == (H + 64, W + 64)
    empty = np.argwhere(final[..., 3] < 255)
    assert empty.size == 0, f"{len(empty)} pixels not opaque, e.g. (y, x) {empty[:3].tolist()}"
    # The old picture (both earlier parts) stays beyond the feather of the new edge.
    feather = second.request.mask_blur
    assert np.array_equal(final[: H - feather], after[: H - feather])
    window.undo()
    assert np.array_equal(doc.composite_array(), after)


def test_the_new_strip_meets_the_picture_without_a_step(window, qtbot, tmp_path) -> None:
    # Found walking the window: demo pictures have a darker rim a few pixels wide at their
    # border. Outpainted past the right edge of such a 1024 px picture, the picture's side
    # of the blend lost its rim while the strip continued it: a 13-level step at the old
    # edge, a line down the whole picture.
    size, rim = 1024, (49, 140, 56)
    picture = np.zeros((size, size, 3), np.uint8)
    picture[:] = (25, 167, 51)
    picture[:, size - 10 :] = rim
    path = tmp_path / "rimmed.png"
    Image.fromarray(picture).save(path)
    assert window.open_path(path)
    window.canvas.zoom_out()  # room beside the picture for the frame
    qtbot.keyClick(window.canvas, Qt.Key.Key_F)
    drag(qtbot, window, [(560, 270), (size + 164, 720)])
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a blue triangle")
    panel.seed_spin.setValue(1)
    if not panel.seed_lock.isChecked():
        qtbot.mouseClick(panel.seed_lock, Qt.MouseButton.LeftButton)
    result = _generate(window, qtbot, steps=8)
    assert result.request.mode == "outpaint"
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)

    out = window.document.composite_array()[..., :3].astype(int)
    assert out.shape[0] == size and out.shape[1] > size + 150  # the frame's end, zoomed out
    rows = slice(300, 700)
    steps = np.abs(np.diff(out[rows, size - 6 : size + 4], axis=1)).max(axis=(1, 2))
    assert np.median(steps) <= 6, f"a step of {np.median(steps)} levels at the old edge"
    # The picture under the frame keeps its rim, and the strip starts from it.
    assert np.abs(out[rows, size - 4] - rim).max() <= 2
