"""Magic Wand, Select Object and Remove Background in the real window: keys pick the
tools, drags and clicks on the canvas select, Shift adds, Alt subtracts, undo restores,
a segmentation model embeds the picture off the UI thread."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from engine.core.paths import user_models_dir
from engine.select.prompt import ObjectPrompt
from tests.editor.ui.test_painting import drag, to_widget
from tests.select_scenes import bfs_flood, iou, make_scene
from tests.tiny_sam import build_tiny_sam

Key, Mod = Qt.Key, Qt.KeyboardModifier
SQUARE = (20, 160, 50, 50)  # x, y, w, h: clear of scene 4's object


@pytest.fixture
def scene_window(window, tmp_path: Path):
    """The window showing a synthetic scene at 100 % with a second object, a yellow
    square at SQUARE; returns (window, scene)."""
    scene = make_scene(4)
    rgb = scene.rgb.copy()
    x, y, w, h = SQUARE
    rgb[y : y + h, x : x + w] = (250, 240, 20)
    path = tmp_path / "scene.png"
    Image.fromarray(rgb).save(path)
    assert window.open_path(path)
    window.canvas.actual_size()
    return window, scene


def with_square(truth: np.ndarray) -> np.ndarray:
    x, y, w, h = SQUARE
    out = truth.copy()
    out[y : y + h, x : x + w] = True
    return out


def click(qtbot, window, x: float, y: float, modifier=Mod.NoModifier) -> None:
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, modifier, to_widget(window, x, y))


def box_drag(qtbot, window, box, modifier=Mod.NoModifier) -> None:
    x, y, w, h = box
    drag(qtbot, window, [(x, y), (x + w / 2, y + h / 2), (x + w, y + h)], modifier)


def test_magic_wand_selects_the_flood_fill(scene_window, qtbot) -> None:
    window, scene = scene_window
    qtbot.keyClick(window.canvas, Key.Key_W)
    assert window.tools.name == "wand" and window.select_object.wand_options.isVisible()
    assert window.tool_options.selection_row.isVisible()
    window.select_object.wand_options.tolerance_spin.setValue(30)
    window.select_object.wand_options.antialias_check.setChecked(False)
    x, y = scene.inside
    click(qtbot, window, x, y)
    doc = window.document
    assert np.array_equal(doc.selection == 255, bfs_flood(scene.rgb, x, y, 30))
    # Shift adds a second wand click; Alt takes a region away; undo steps back.
    first = doc.selection.copy()
    click(qtbot, window, 2, 2, Mod.ShiftModifier)
    added = doc.selection.copy()
    assert (added >= first).all() and (added > first).any()
    click(qtbot, window, x, y, Mod.AltModifier)
    assert not doc.selection[bfs_flood(scene.rgb, x, y, 30)].any()
    window.undo()
    assert np.array_equal(doc.selection, added)
    window.undo()
    assert np.array_equal(doc.selection, first)
    # Shift+Alt intersects: what the first region and a global pick of its colour share.
    window.select_object.wand_options.contiguous_check.setChecked(False)
    click(qtbot, window, x, y, Mod.ShiftModifier | Mod.AltModifier)
    assert np.array_equal(doc.selection, first)  # the contiguous region lies in the global one
    click(qtbot, window, 2, 2, Mod.ShiftModifier | Mod.AltModifier)
    assert not doc.has_selection()  # the object and the background share no pixel


def test_the_wand_options_persist(window, settings, qtbot) -> None:
    from editor.ui.main_window import MainWindow

    options = window.select_object.wand_options
    options.tolerance_spin.setValue(57)
    options.contiguous_check.setChecked(False)
    options.antialias_check.setChecked(False)
    again = MainWindow(settings)  # the next start, with the same settings file
    try:
        restored = again.select_object.wand_options
        assert restored.values() == {"tolerance": 57, "contiguous": False, "antialias": False}
        wand = again.tools.tool("wand")
        assert (wand.tolerance, wand.contiguous, wand.antialias) == (57, False, False)
    finally:
        again.ask_save_changes = lambda: "discard"
        again.close()
        again.deleteLater()


def test_select_object_box_drag_add_subtract_and_undo(scene_window, qtbot) -> None:
    window, scene = scene_window
    qtbot.keyClick(window.canvas, Key.Key_O)
    assert window.tools.name == "select_object"
    qtbot.waitUntil(lambda: not window.select_object.busy())  # no model here: GrabCut
    doc = window.document
    box_drag(qtbot, window, scene.box)
    assert iou(doc.selection, scene.truth) >= 0.9
    first = doc.selection.copy()
    # Shift+drag adds the square; Alt+drag takes the first object away again.
    x, y, w, h = SQUARE
    box_drag(qtbot, window, (x - 6, y - 6, w + 12, h + 12), Mod.ShiftModifier)
    assert (doc.selection >= first).all() and (doc.selection[y : y + h, x : x + w] == 255).all()
    box_drag(qtbot, window, scene.box, Mod.AltModifier)
    assert (doc.selection[scene.truth] < 128).mean() > 0.9
    assert (doc.selection[y : y + h, x : x + w] == 255).all()
    window.undo()
    window.undo()
    assert np.array_equal(doc.selection, first)
    window.undo()
    assert not doc.has_selection()


def test_clicks_refine_the_object_and_it_becomes_the_mask(scene_window, qtbot) -> None:
    window, scene = scene_window
    window.set_tool("select_object")
    qtbot.waitUntil(lambda: not window.select_object.busy())
    doc = window.document
    box_drag(qtbot, window, scene.box)
    x, y = scene.inside
    assert doc.selection[y, x] >= 128
    steps = doc.history.index()
    click(qtbot, window, x, y, Mod.AltModifier)  # a negative click on the object
    assert doc.selection[y, x] < 128 and iou(doc.selection, scene.truth) > 0.8
    window.undo()
    assert doc.selection[y, x] >= 128 and doc.history.index() == steps
    # Select ▸ Mask from Selection makes it the inpaint mask.
    window.actions.mask_from_selection.trigger()
    assert np.array_equal(doc.mask, doc.selection)
    # Select ▸ Grow works on the result.
    before = int((doc.selection > 0).sum())
    window.edit("grow_selection", 4)
    assert int((doc.selection > 0).sum()) > before


def test_a_box_outside_the_picture_changes_nothing(scene_window, qtbot) -> None:
    window, _scene = scene_window
    window.set_tool("select_object")
    qtbot.waitUntil(lambda: not window.select_object.busy())
    doc = window.document
    tool = window.tools.tool("select_object")
    steps = doc.history.texts()
    assert not tool.start_object(ObjectPrompt(box=(900, 900, 40, 40)))
    assert tool.refusal == (
        "The box 900,900,40,40 lies outside the 320x240 picture (or is empty); draw it over "
        "the object."
    )
    assert not doc.has_selection() and doc.history.texts() == steps
    # The same from a drag on the canvas beside the picture: the status bar says why.
    box_drag(qtbot, window, (-60, -50, 40, 35))
    assert "lies outside the 320x240 picture" in window.statusBar().currentMessage()
    assert not doc.has_selection() and doc.history.texts() == steps


def test_with_a_model_the_embedding_is_made_off_the_ui_thread(
    scene_window, qtbot, tmp_path: Path, one_torch_thread
) -> None:
    window, scene = scene_window
    shutil.copytree(build_tiny_sam(tmp_path / "built"), user_models_dir() / "segmenters" / "sam")
    controller = window.select_object
    window.set_tool("select_object")
    assert controller.busy()  # picking the tool started the embedding; the window goes on
    qtbot.waitUntil(lambda: not controller.busy(), timeout=60_000)
    segmenter = controller.segmenter
    assert segmenter is not None and segmenter.folder.name == "sam"
    rgb = window.document.composite_array()[..., :3]
    embedding = segmenter.cached(rgb)
    assert embedding is not None
    doc = window.document
    box_drag(qtbot, window, scene.box)  # answered from the kept embedding
    assert doc.has_selection() and segmenter.cached(rgb) is embedding
    # New pixels: the next drag waits for their embedding, made in the background, and
    # is answered when it arrives.
    doc.select_none()
    doc.add_layer("Dot", np.full((8, 8, 4), 255, np.uint8))
    tool = window.tools.tool("select_object")
    box_drag(qtbot, window, scene.box)
    assert tool.pending is not None and not doc.has_selection() and controller.busy()
    qtbot.waitUntil(lambda: not controller.busy() and doc.has_selection(), timeout=60_000)
    assert tool.pending is None
    assert segmenter.cached(window.document.composite_array()[..., :3]) is not None
    # Painting while the tool is chosen: the new pixels are embedded without a click.
    doc.add_layer("Dot 2", np.full((8, 8, 4), 128, np.uint8), x=100, y=100)
    rgb = window.document.composite_array()[..., :3]
    assert segmenter.cached(rgb) is None
    qtbot.waitUntil(lambda: segmenter.cached(rgb) is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not controller.busy(), timeout=60_000)


def test_remove_background_keeps_the_subject_on_a_new_layer(scene_window, qtbot) -> None:
    window, scene = scene_window
    doc = window.document
    original = doc.layers[0]
    task = window.select_object.remove_background("transparent")
    assert task is not None
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=30_000)
    subject = doc.layers[-1]
    assert subject.name == "Subject" and not original.visible
    alpha = subject.to_rgba(doc.rect())[..., 3]
    assert iou(alpha, with_square(scene.truth)) >= 0.85
    assert np.array_equal(doc.composite_array()[..., 3], alpha)
    window.undo()  # one step: the layer goes, the original shows again
    assert len(doc.layers) == 1 and original.visible


def test_remove_background_replace_masks_the_background_for_generate(
    scene_window, qtbot, monkeypatch
) -> None:
    window, scene = scene_window
    assert window.select_object.remove_background("replace") is None
    assert window.last_error == "Write the new background in the prompt first."
    window.generation_panel.prompt_edit.setPlainText("a beach")
    runs: list[object] = []
    # Generate itself is tested elsewhere: here, that it is asked for, with the mask.
    monkeypatch.setattr(window, "generate", lambda: runs.append(window.document.mask.copy()))
    window.select_object.remove_background("replace")
    qtbot.waitUntil(lambda: bool(runs), timeout=30_000)
    background = ~with_square(scene.truth)
    assert iou(runs[0], background) >= 0.85
    assert window.generation_panel.inpaint_options.values()["inpaint_mode"] == "replace-background"


def test_the_tools_are_in_the_select_menu_and_remove_background_in_image(window) -> None:
    menus = {m.title(): m for m in window.menuBar().findChildren(type(window.recent_menu))}
    assert window.actions.remove_background in menus["&Image"].actions()
    select = menus["&Select"].actions()
    assert window.actions.tool_wand in select and window.actions.tool_select_object in select
    window.actions.tool_wand.trigger()
    assert window.tools.name == "wand"
