"""The demo scribble control's data and its judge: scribbles trace the pictured shape,
held-out scenes sit where no caption can place them, and the centre measure reads a
rendered shape back where it was drawn."""

from __future__ import annotations

import numpy as np

from engine.demo.dataset import ANCHORS, KINDS
from engine.demo.evaluate_control import centre_distance, scribble_centre, scribbles_for, shape_kind
from engine.demo.train_control import (
    CORNERS_FROM,
    HELDOUT_SEED,
    LINES_WIN_FROM,
    MORE_DISAGREEMENT_FROM,
    control_sample,
    heldout_scenes,
    render_scene,
)


def test_samples_repeat_by_seed_and_index_and_the_scribble_traces_the_shape() -> None:
    picture, text, scribble = control_sample(3, 17)
    again = control_sample(3, 17)
    assert np.array_equal(picture, again[0]) and text == again[1]
    assert np.array_equal(scribble, again[2])
    assert not np.array_equal(scribble, control_sample(3, 18)[2])
    lines = scribble[..., 0] > 127
    assert lines.any() and set(np.unique(scribble)) <= {0, 255}
    # The strokes run along the shape's edge: most lie within a few pixels of it.
    shape = np.abs(picture.astype(int) - picture[0, 0]).sum(axis=2) > 60
    ys, xs = np.nonzero(shape)
    ly, lx = np.nonzero(lines)
    inside_box = (
        (ly >= ys.min() - 6) & (ly <= ys.max() + 6) & (lx >= xs.min() - 6) & (lx <= xs.max() + 6)
    )
    assert inside_box.mean() > 0.9


def test_captions_may_disagree_with_the_lines_only_from_the_switch_on() -> None:
    def agree(index: int) -> bool:
        _, text, _ = control_sample(0, index)
        return any(k in text for k in KINDS)

    before = [control_sample(0, i)[1] for i in range(LINES_WIN_FROM - 200, LINES_WIN_FROM)]
    after = [control_sample(0, i)[1] for i in range(LINES_WIN_FROM, LINES_WIN_FROM + 200)]
    assert all(before) and all(agree(i) for i in range(LINES_WIN_FROM - 50, LINES_WIN_FROM))
    assert 0.1 < sum(t == "" for t in after) / len(after) < 0.3


def test_the_share_of_captions_naming_another_kind_than_the_drawn_one_rises() -> None:
    def other_kind_share(start: int) -> float:
        samples = [control_sample(0, i) for i in range(start, start + 300)]
        named = [(p, t) for p, t, _ in samples if t]
        return np.mean([shape_kind(p) not in t for p, t in named])

    # Of the non-empty captions (80%): 1/2 name another kind, then 3/4.
    assert 0.4 < other_kind_share(MORE_DISAGREEMENT_FROM) < 0.6
    assert 0.65 < other_kind_share(CORNERS_FROM) < 0.85


def test_heldout_scenes_are_where_no_caption_can_place_them() -> None:
    scenes = heldout_scenes(60)
    assert scenes == heldout_scenes(60)
    for s in scenes:
        assert min(np.hypot(s.cx - ax, s.cy - ay) for ax, ay in ANCHORS.values()) >= 0.1
        assert "left" not in s.prompt() and "centre" not in s.prompt()
    assert len({(s.cx, s.cy) for s in scenes}) == 60


def test_the_centre_measure_reads_a_rendered_shape_back_where_it_is() -> None:
    scenes = heldout_scenes(12)
    for i, scene in enumerate(scenes):
        picture, _ = render_scene(scene, np.random.default_rng([HELDOUT_SEED, i]))
        assert centre_distance(picture, scribble_centre(scene, scene.kind)) < 0.02
        far = (1 - scene.cx, 1 - scene.cy)
        if np.hypot(far[0] - scene.cx, far[1] - scene.cy) > 0.3:
            assert centre_distance(picture, far) > 0.15
    blank = np.zeros((128, 128, 3), np.uint8)
    assert centre_distance(blank, (0.5, 0.5)) == float("inf")
    # The override check scribbles a square where the scene's own kind may differ.
    squares = scribbles_for(scenes[:3], kind="square")
    assert all(s.shape == (128, 128, 3) for s in squares)
