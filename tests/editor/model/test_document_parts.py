"""The document's parts work on their own, and the Document joins them: one undo stack,
their signals forwarded, their methods under the names the document always had."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from editor.model import Document, History
from editor.model.layer_stack import LayerStack
from editor.model.mask_selection import MaskSelection


def solid(w: int, h: int, rgba) -> np.ndarray:
    out = np.empty((h, w, 4), np.uint8)
    out[...] = rgba
    return out


def test_a_layer_stack_works_with_its_own_undo_stack_and_no_document():
    history = History()
    stack = LayerStack(history, lambda: QRect(0, 0, 8, 6))
    seen = []
    stack.layers_changed.connect(lambda: seen.append("layers"))
    stack.changed.connect(lambda rect: seen.append(QRect(rect)))

    bottom = stack.add_layer("bottom", rgba=solid(8, 6, (200, 0, 0, 255)))
    top = stack.add_layer("top", rgba=solid(4, 2, (0, 0, 200, 255)), x=2, y=1)
    assert stack.layers == (bottom, top)
    assert stack.current_layer is top
    assert seen == ["layers", QRect(0, 0, 8, 6), "layers", QRect(2, 1, 4, 2)]
    assert tuple(stack.composite_array()[1, 2]) == (0, 0, 200, 255)

    stack.merge_down()
    assert len(stack.layers) == 1
    assert history.texts() == ["Add layer", "Add layer", "Merge down"]
    history.undo()
    assert stack.layers == (bottom, top)
    history.undo()
    assert stack.layers == (bottom,)
    assert tuple(stack.composite_array()[1, 2]) == (200, 0, 0, 255)


def test_a_layer_stack_clips_to_a_canvas_that_changes_size():
    size = [4, 4]
    stack = LayerStack(History(), lambda: QRect(0, 0, *size))
    stack.add_layer("wide", rgba=solid(10, 4, (0, 200, 0, 255)))
    assert stack.composite_array().shape == (4, 4, 4)
    size[0] = 10
    assert stack.composite_array().shape == (4, 10, 4)


def test_mask_and_selection_work_with_their_own_undo_stack_and_no_document():
    history = History()
    masks = MaskSelection(history, 10, 8)
    changed = []
    masks.selection_changed.connect(lambda rect: changed.append(QRect(rect)))

    masks.select_rect(QRect(2, 2, 3, 3))
    assert masks.selection_bbox() == QRect(2, 2, 3, 3)
    assert changed == [QRect(2, 2, 3, 3)]
    masks.mask_from_selection()
    assert masks.mask_bbox() == QRect(2, 2, 3, 3)
    masks.invert_selection()
    assert masks.selection_bbox() == QRect(0, 0, 10, 8)
    assert history.texts() == ["Select rectangle", "Mask from selection", "Invert selection"]

    while history.undo():
        pass
    assert not masks.has_selection() and not masks.has_mask()


def test_the_document_joins_its_parts_through_one_undo_stack():
    doc = Document(16, 12)
    assert doc.stack.history is doc.history and doc.masks.history is doc.history
    layer = doc.add_layer("paint")
    assert doc.stack.layers == (layer,) and doc.layers == (layer,)
    doc.select_all()
    assert doc.masks.has_selection() and doc.has_selection()
    assert doc.fill_selected((10, 20, 30))
    assert doc.history.texts() == ["Add layer", "Select all", "Fill selection"]
    assert doc.undo() and doc.undo()
    assert not doc.has_selection()
    assert doc.redo()
    assert doc.has_selection()


def test_the_document_forwards_its_parts_signals():
    doc = Document(16, 12)
    seen = []
    doc.layers_changed.connect(lambda: seen.append("layers"))
    doc.current_layer_changed.connect(lambda layer: seen.append(("current", layer.name)))
    doc.changed.connect(lambda rect: seen.append(QRect(rect)))
    doc.mask_changed.connect(lambda rect: seen.append(("mask", QRect(rect))))

    doc.add_layer("a", rgba=solid(2, 2, (1, 2, 3, 255)), x=1, y=1)
    doc.set_mask(np.full((12, 16), 255, np.uint8))
    assert seen == [
        "layers",
        QRect(1, 1, 2, 2),
        ("current", "a"),
        ("mask", QRect(0, 0, 16, 12)),
    ]


def test_growing_the_canvas_moves_the_layers_and_recuts_the_mask():
    doc = Document(10, 10)
    layer = doc.add_layer("a", rgba=solid(4, 4, (9, 9, 9, 255)), x=1, y=1)
    doc.select_rect(QRect(0, 0, 5, 5))
    sizes = []
    doc.size_changed.connect(lambda size: sizes.append((size.width(), size.height())))
    doc.expand_canvas(left=3, top=2)
    assert sizes == [(13, 12)]
    assert (layer.x, layer.y) == (4, 3)
    assert doc.masks.size().width() == 13 and doc.selection.shape == (12, 13)
    assert doc.selection_bbox() == QRect(3, 2, 5, 5)
    doc.undo()
    assert (layer.x, layer.y) == (1, 1) and doc.selection_bbox() == QRect(0, 0, 5, 5)
