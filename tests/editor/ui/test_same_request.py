"""One request, three ways: the window, `overpaint inpaint` and `overpaint rerun`.

The window and the CLI share the job builder (engine.jobs) and the image reader
(engine.core.images), so the same picture, mask and settings make the same request and the
same generated patch, and the CLI's picture is that patch laid on the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.cli.commands import main
from engine.metadata import read_request
from engine.region import apply_patch
from tests.editor.ui.test_generation import WAIT_MS, prepare


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def test_window_cli_and_rerun_make_the_same_pixels(
    window, qtbot, tiny_model_dir: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(8)
    picture = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    mask = np.zeros((150, 200), np.uint8)
    mask[50:85, 110:170] = 255
    init, mask_png = tmp_path / "init.png", tmp_path / "mask.png"
    Image.fromarray(picture).save(init)
    Image.fromarray(mask).save(mask_png)

    # The window: open, paint the mask, Generate, wait for the candidate.
    assert window.open_path(init)
    window.document.set_mask(mask)
    prepare(window, tiny_model_dir, prompt="a ball")
    p = window.generation_panel.settings()
    assert window.generate() is not None
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    result = window.candidates.current().result
    assert result.request.mode == "inpaint"

    # The CLI with the same settings, on the same files.
    out = tmp_path / "cli.png"
    args = ["inpaint", "--init-img", str(init), "--mask", str(mask_png),
            "--prompt", p.prompt, "--negative-prompt", p.negative_prompt,
            "--model", p.model, "--seed", str(p.seed), "--steps", str(p.steps),
            "--guidance", str(p.guidance), "--strength", str(p.strength),
            "--scheduler", p.scheduler, "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    # The same request (region, generation size, feather, seed, ...) ...
    assert read_request(out) == result.request
    # ... and the same patch: the CLI's picture is the window's result laid on the input.
    cli = _pixels(out)
    base = np.dstack([picture, np.full(mask.shape, 255, np.uint8)])
    assert np.array_equal(cli, apply_patch(base, result.rgba, result.x, result.y))
    assert not np.array_equal(cli[60:75, 120:160, :3], picture[60:75, 120:160])

    again = tmp_path / "again.png"
    rerun = ["rerun", str(out), "--init-img", str(init), "--mask", str(mask_png)]
    assert main([*rerun, "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()

    # Accepted and exported from the window: the same picture. Qt composites layers in
    # premultiplied 8-bit, the CLI in straight alpha, so the partly transparent feather
    # band may round one level apart; every other pixel is the same byte.
    window.accept_candidate()
    exported = tmp_path / "window.png"
    assert window.export_png(exported)
    shown = _pixels(exported)
    band = np.zeros(mask.shape, bool)
    r = result.request.region
    alpha = result.rgba[..., 3]
    band[r.y : r.bottom, r.x : r.right] = (alpha > 0) & (alpha < 255)
    assert np.array_equal(shown[~band], cli[~band])
    assert np.abs(shown[band].astype(int) - cli[band]).max() <= 1
