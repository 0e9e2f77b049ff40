"""Control preprocessors (OpenCV), the `--control` syntax and control model inspection:
no diffusion model needed."""

from __future__ import annotations

import numpy as np
import pytest

from engine.control.models import expected_zero_convs, kind_from_name
from engine.control.preprocess import (
    canny,
    inpaint_condition,
    lineart,
    preprocess,
    scribble,
    softedge,
)
from engine.control.spec import ControlSpec, control_parameters, parse_control


def _square(light_ground: bool) -> np.ndarray:
    img = np.full((64, 64, 3), 255 if light_ground else 0, np.uint8)
    img[16:48, 16:48] = 0 if light_ground else 255
    return img


def test_scribble_is_white_on_black_whatever_the_drawing() -> None:
    dark_on_light = scribble(_square(True))
    light_on_dark = scribble(_square(False))
    assert np.array_equal(dark_on_light, light_on_dark)
    assert (dark_on_light[20, 20] == 255).all() and (dark_on_light[2, 2] == 0).all()
    layer = np.zeros((64, 64, 4), np.uint8)  # strokes on a transparent layer, any colour
    layer[30:34, 8:56] = (200, 30, 30, 255)
    lines = scribble(layer)
    assert (lines[32, 10] == 255).all() and (lines[10, 10] == 0).all()


def test_edge_preprocessors_find_the_outline() -> None:
    img = _square(True)
    for out in (canny(img), lineart(img), softedge(img)):
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8
        grey = out[..., 0].astype(int)
        assert grey[13:19, 20:44].max(axis=0).mean() > 60  # on the square's top edge
        assert grey[32, 32] == 0 and grey[2, 2] == 0  # inside and outside: flat
    # Canny's thresholds decide which edges survive.
    faint = np.full((64, 64, 3), 100, np.uint8)
    faint[:, 32:] = 120
    assert canny(faint, 10, 30).any() and not canny(faint, 100, 200).any()


def test_prepared_kinds_pass_through_and_inpaint_marks_the_hole() -> None:
    depth = np.dstack([np.tile(np.arange(64, dtype=np.uint8), (64, 1))] * 3)
    assert np.array_equal(preprocess(ControlSpec("depth"), depth), depth)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:20, 10:20] = 255
    cond = inpaint_condition(depth, mask)
    assert (cond[10:20, 10:20] == -1).all() and cond[30, 63, 0] == pytest.approx(63 / 255)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scribble:a.png", ("scribble", "a.png", 1.0, 0.0, 1.0)),
        ("canny:dir/b.png:0.5", ("canny", "dir/b.png", 0.5, 0.0, 1.0)),
        ("depth:C:/x.png:1.2:0.1:0.7", ("depth", "C:/x.png", 1.2, 0.1, 0.7)),
        ("inpaint", ("inpaint", "", 1.0, 0.0, 1.0)),
    ],
)
def test_parse_control(text: str, expected: tuple) -> None:
    assert parse_control(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blur:a.png", "unknown control kind"),
        ("scribble", "names no control image"),
        ("scribble:a.png:1:0.5", "STRENGTH:START:END"),
        ("scribble:a.png:1:0.8:0.2", "start < end"),
    ],
)
def test_parse_control_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_control(text)


def test_names_metadata_and_layouts() -> None:
    assert kind_from_name("control_v11p_sd15_scribble") == "scribble"
    assert kind_from_name("control_v11p_sd15_softedge") == "softedge"
    assert kind_from_name("t2iadapter_sketch_sd15v2") == "scribble"
    assert kind_from_name("control_v11f1p_sd15_depth") == "depth"
    assert kind_from_name("control_v11p_sd15_openpose") == "pose"
    assert kind_from_name("my-model") == ""
    text = control_parameters(ControlSpec("scribble", "cn", 0.75, 0.0, 0.5))
    assert text == "Module: scribble, Model: cn, Weight: 0.75, Guidance Start: 0, Guidance End: 0.5"
    # ControlNet 1.x for SD 1.5 has 12 zero convolutions; SDXL's has 9.
    sd15 = {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2}
    assert len(expected_zero_convs(sd15)) == 12
    sdxl = {"block_out_channels": [320, 640, 1280], "layers_per_block": 2}
    assert expected_zero_convs(sdxl) == [320] * 4 + [640] * 3 + [1280] * 2
