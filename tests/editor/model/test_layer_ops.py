"""Layer operations and blend modes, checked against the W3C compositing formulas."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect

from editor.model import BLEND_MODES, Document, blend_mode_from_ora, blend_mode_to_ora


def solid(w: int, h: int, rgba) -> np.ndarray:
    out = np.empty((h, w, 4), np.uint8)
    out[...] = rgba
    return out


def two_layer_doc():
    doc = Document(40, 30)
    bottom = doc.add_layer("bottom", rgba=solid(40, 30, (200, 100, 50, 255)))
    top = doc.add_layer("top", rgba=solid(20, 10, (10, 200, 90, 255)), x=5, y=5)
    return doc, bottom, top


def _blend(mode: str, cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    if mode == "normal":
        return cs
    if mode == "multiply":
        return cb * cs
    if mode == "screen":
        return cb + cs - cb * cs
    if mode == "overlay":
        return np.where(cb <= 0.5, 2 * cb * cs, 1 - 2 * (1 - cb) * (1 - cs))
    if mode == "darken":
        return np.minimum(cb, cs)
    if mode == "lighten":
        return np.maximum(cb, cs)
    if mode == "add":  # Krita's Addition, which it reads svg:plus as
        return np.minimum(cb + cs, 1.0)
    raise AssertionError(mode)


def reference(mode: str, backdrop, source, opacity: float) -> np.ndarray:
    """Straight RGBA (0..255) of ``source`` composited onto ``backdrop`` (W3C formulas)."""
    b = np.array(backdrop, float) / 255
    s = np.array(source, float) / 255
    ab, as_ = b[3], s[3] * opacity
    mixed = _blend(mode, b[:3], s[:3])
    ao = as_ + ab * (1 - as_)
    co = as_ * (1 - ab) * s[:3] + as_ * ab * mixed + (1 - as_) * ab * b[:3]
    return np.append(co / ao, ao) * 255


PAIRS = [
    ((200, 100, 50, 255), (10, 200, 90, 255)),
    ((30, 160, 220, 255), (250, 40, 128, 180)),
    ((90, 90, 90, 128), (180, 20, 240, 200)),
]


@pytest.mark.parametrize(
    "mode", ["normal", "multiply", "screen", "overlay", "darken", "lighten", "add"]
)
def test_blend_modes_match_reference_formula(mode: str) -> None:
    doc = Document(len(PAIRS), 1)
    backdrop = np.array([[b for b, _ in PAIRS]], np.uint8)
    source = np.array([[s for _, s in PAIRS]], np.uint8)
    doc.add_layer("b", rgba=backdrop)
    doc.add_layer("s", rgba=source, blend_mode=mode, opacity=0.8)
    got = doc.composite_array().astype(float)[0]
    for i, (b, s) in enumerate(PAIRS):
        want = reference(mode, b, s, 0.8)
        # Qt computes in 8-bit premultiplied integers; a 50 % alpha backdrop amplifies the
        # rounding when un-premultiplied, hence a few levels of tolerance.
        assert np.abs(got[i] - want).max() <= 3, (mode, i, got[i], want)


def test_ora_names_round_trip_for_every_mode() -> None:
    for mode in BLEND_MODES:
        assert blend_mode_from_ora(blend_mode_to_ora(mode)) == mode
    assert blend_mode_to_ora("multiply") == "svg:multiply"
    assert blend_mode_from_ora("svg:src-over") == "normal"
    assert blend_mode_from_ora("krita:unknown-thing") == "normal"


def test_hidden_and_transparent_layers_do_not_composite() -> None:
    doc, bottom, top = two_layer_doc()
    doc.set_layer_properties(top, visible=False)
    assert tuple(doc.composite_array()[6, 6]) == (200, 100, 50, 255)
    assert doc.history.undo_text() == "Hide layer"
    doc.undo()
    assert tuple(doc.composite_array()[6, 6]) == (10, 200, 90, 255)
    doc.set_layer_properties(top, opacity=0.0)
    assert tuple(doc.composite_array()[6, 6]) == (200, 100, 50, 255)


def test_opacity_drags_merge_into_one_step_but_other_edits_do_not() -> None:
    doc, _, top = two_layer_doc()
    before = doc.history.count()
    for value in (0.9, 0.7, 0.5):
        doc.set_layer_properties(top, opacity=value)
    assert doc.history.count() == before + 1
    doc.set_layer_properties(top, name="renamed")
    assert doc.history.texts()[-2:] == ["Layer opacity", "Rename layer"]
    doc.undo()
    doc.undo()
    assert top.opacity == 1.0 and top.name == "top"


def test_duplicate_delete_reorder_with_undo() -> None:
    doc, bottom, top = two_layer_doc()
    twin = doc.duplicate_layer(top)
    assert doc.layers == (bottom, top, twin)
    assert twin.name == "top copy" and np.array_equal(twin.pixels, top.pixels)
    assert twin.pixels is not top.pixels
    doc.delete_layer(twin)
    assert doc.layers == (bottom, top)
    doc.move_layer(top, 0)
    assert doc.layers == (top, bottom)
    assert tuple(doc.composite_array()[6, 6]) == (200, 100, 50, 255)  # top is now below
    assert doc.history.texts()[-3:] == ["Duplicate layer", "Delete layer", "Reorder layer"]
    doc.undo()
    assert doc.layers == (bottom, top)
    doc.undo()
    assert doc.layers == (bottom, top, twin)
    assert doc.current_layer is twin


def test_merge_down_keeps_the_picture_and_undoes() -> None:
    doc, bottom, top = two_layer_doc()
    doc.set_layer_properties(top, blend_mode="multiply", opacity=0.5)
    picture = doc.composite_array()
    merged = doc.merge_down(top)
    assert len(doc.layers) == 1 and doc.layers[0] is merged
    assert merged.name == "bottom"
    assert np.abs(doc.composite_array().astype(int) - picture).max() <= 1
    assert doc.history.undo_text() == "Merge down"
    doc.undo()
    assert doc.layers == (bottom, top)
    assert np.array_equal(doc.composite_array(), picture)


def test_merge_down_grows_lower_layer_to_cover_upper() -> None:
    doc = Document(50, 50)
    low = doc.add_layer("low", rgba=solid(10, 10, (255, 0, 0, 255)), x=0, y=0)
    doc.add_layer("high", rgba=solid(10, 10, (0, 0, 255, 255)), x=30, y=30)
    merged = doc.merge_down()
    assert merged.bounds() == QRect(0, 0, 40, 40)
    out = doc.composite_array()
    assert tuple(out[5, 5]) == (255, 0, 0, 255) and tuple(out[35, 35]) == (0, 0, 255, 255)
    assert tuple(out[20, 20]) == (0, 0, 0, 0)
    doc.undo()
    assert low.bounds() == QRect(0, 0, 10, 10)


def test_merge_down_of_bottom_layer_is_refused() -> None:
    doc, bottom, _ = two_layer_doc()
    with pytest.raises(ValueError, match="no layer below"):
        doc.merge_down(bottom)


def test_flatten_is_one_layer_with_same_pixels_and_undoes() -> None:
    doc, bottom, top = two_layer_doc()
    doc.set_layer_properties(top, blend_mode="screen")
    picture = doc.composite_array()
    flat = doc.flatten()
    assert doc.layers == (flat,)
    assert np.array_equal(doc.composite_array(), picture)
    doc.undo()
    assert doc.layers == (bottom, top)


def test_accept_patch_is_a_named_layer_at_its_place() -> None:
    doc, _, _ = two_layer_doc()
    patch = solid(4, 3, (1, 2, 3, 255))
    patch[0, 0, 3] = 0
    layer = doc.accept_patch(
        patch, 30, 20, name="a cat", metadata={"parameters": "a cat\nSteps: 1"}
    )
    assert doc.history.undo_text() == "Accept result"
    assert doc.layers[-1] is layer and layer.metadata["parameters"].startswith("a cat")
    out = doc.composite_array()
    assert tuple(out[20, 30]) == (200, 100, 50, 255)  # transparent patch pixel
    assert tuple(out[22, 33]) == (1, 2, 3, 255)
    doc.undo()
    assert layer not in doc.layers


def test_layer_offset_moves_pixels_and_dirty_rect_covers_both_places() -> None:
    doc, _, top = two_layer_doc()
    rects: list[QRect] = []
    doc.changed.connect(rects.append)
    doc.set_layer_offset(top, 15, 12)
    assert rects[-1] == QRect(5, 5, 20, 10).united(QRect(15, 12, 20, 10))
    assert tuple(doc.composite_array()[12, 15]) == (10, 200, 90, 255)
    assert tuple(doc.composite_array()[5, 5]) == (200, 100, 50, 255)
    assert doc.history.undo_text() == "Move layer"


def test_alpha_locked_and_unknown_properties() -> None:
    doc, _, top = two_layer_doc()
    doc.set_layer_properties(top, alpha_locked=True)
    assert top.alpha_locked and doc.history.undo_text() == "Lock layer alpha"
    with pytest.raises(ValueError, match="blend mode"):
        doc.set_layer_properties(top, blend_mode="sparkle")
    with pytest.raises(TypeError, match="unknown layer properties"):
        doc.set_layer_properties(top, colour="red")


def test_renaming_or_locking_repaints_nothing_but_is_announced():
    doc, _, top = two_layer_doc()
    rects: list[QRect] = []
    changed_layers = []
    doc.changed.connect(rects.append)
    doc.layer_properties_changed.connect(changed_layers.append)
    doc.set_layer_properties(top, name="sky", alpha_locked=True)
    doc.set_layer_properties(top, visible=False)
    doc.set_layer_properties(top, opacity=0.3)  # hidden: nothing on screen changes
    assert changed_layers == [top, top, top]
    assert rects == [QRect(5, 5, 20, 10)]  # only the hide repaints


@pytest.mark.parametrize("which", ["delete", "undo add", "flatten"])
def test_handlers_may_composite_while_the_current_layer_goes_away(which: str) -> None:
    # Views composite synchronously from `changed`; the current layer must already be valid.
    doc = Document(40, 30)
    for i in range(4):
        doc.add_layer(f"layer {i}", rgba=solid(40, 30, (60 * i, 50, 90, 255)))
    seen: list[int] = []
    doc.changed.connect(lambda rect: seen.append(int(doc.composite_array(rect)[..., 3].max())))
    doc.layers_changed.connect(lambda: seen.append(int(doc.composite_array()[..., 3].max())))
    {"delete": doc.delete_layer, "undo add": doc.history.undo, "flatten": doc.flatten}[which]()
    assert seen and all(alpha == 255 for alpha in seen)
    assert doc.current_layer in doc.layers
