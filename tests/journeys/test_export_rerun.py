"""Journey 10, export and replay: generate in the window, accept, export a PNG, then run
`overpaint rerun` on that file alone and get the exported pixels back.

Found by walking the window: rerun asked for an `--init-img` the user never had (the
editor's input pictures live in the history), and a picture holding more than one
generation (an upscale on top, two accepted results) exported metadata that rerun could
not honour. The invisible watermark, laid over the whole export, also changed pixels
nobody generated; it now covers only the box around the generated pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from engine.cli.commands import main as overpaint
from engine.metadata import read_watermark_record
from tests.editor.ui.conftest import gradient_rgba

WAIT_MS = 120_000


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def open_picture(window, tmp_path: Path, width: int, height: int) -> np.ndarray:
    picture = gradient_rgba(width, height)
    Image.fromarray(picture).save(tmp_path / "picture.png")
    assert window.open_path(tmp_path / "picture.png")
    return picture


def generate(window, qtbot, mode: str, samples: int = 1) -> list:
    """Press Generate with the demo model and a few steps; the candidates' results."""
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red circle")
    panel.steps_spin.setValue(2)
    panel.samples_spin.setValue(samples)
    panel.set_mode(mode)
    before = window.candidates.count()
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.candidates.count() == before + samples, timeout=WAIT_MS)
    return [window.candidates.current().result]


def rerun(image: Path, out: Path, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = overpaint(["rerun", str(image), "--out", str(out)])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("mode", ["img2img", "inpaint"])
def test_an_exported_generation_reruns_to_the_same_pixels(
    window, qtbot, tmp_path: Path, capsys, mode: str
) -> None:
    open_picture(window, tmp_path, 160, 120)
    if mode == "inpaint":
        mask = np.zeros((120, 160), np.uint8)
        mask[30:80, 50:120] = 255
        window.document.set_mask(mask)
    generate(window, qtbot, mode)
    layer = window.accept_candidate()
    alpha = layer.to_rgba(window.document.rect())[..., 3]

    exported = tmp_path / "export.png"
    assert window.export_png(exported)
    again = tmp_path / "again.png"
    code, err = rerun(exported, again, capsys)
    assert code == 0, err
    replayed, first = pixels(again).astype(int), pixels(exported).astype(int)
    # The window blends a layer's soft edge in 8-bit premultiplied colour, rerun in float:
    # there, and only there, a value may differ by one level.
    soft = (alpha > 0) & (alpha < 255)
    np.testing.assert_array_equal(replayed[~soft], first[~soft])
    assert np.abs(replayed[soft] - first[soft]).max(initial=0) <= 1
    assert (mode == "inpaint") == soft.any()


def test_an_export_with_an_upscale_on_top_says_it_holds_no_single_generation(
    window, qtbot, tmp_path: Path, capsys
) -> None:
    open_picture(window, tmp_path, 96, 72)
    generate(window, qtbot, "img2img")
    assert window.accept_candidate() is not None
    qtbot.keyClick(window.canvas, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.AltModifier)  # fmt: skip
    dialog = window.upscale.dialog
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    # The user picks the generation layer (scaled with the image) in the Layers dock.
    generated = next(layer for layer in window.document.layers if layer.name == "a red circle")
    window.document.set_current_layer(generated)

    exported = tmp_path / "upscaled.png"
    assert window.export_png(exported)
    told = window.statusBar().currentMessage()
    assert "single generation" in told and "rerun" in told, told

    code, err = rerun(exported, tmp_path / "again.png", capsys)
    assert code == 1 and len(err) == 1, err
    assert "single generation" in err[0] and "--init-img" not in err[0], err
    assert not (tmp_path / "again.png").exists()


def test_an_export_with_two_generations_says_so(window, qtbot, tmp_path: Path, capsys) -> None:
    open_picture(window, tmp_path, 96, 72)
    generate(window, qtbot, "img2img", samples=2)
    assert window.accept_candidate() is not None
    window.candidates.select(0)  # after Accept none is previewed: pick the other one
    top = window.accept_candidate()
    assert top is not None
    # Opaque over the whole picture, the second would hide the first (then the export is
    # the one generation on top); half transparent, both show.
    window.document.set_layer_properties(top, opacity=0.5)

    exported = tmp_path / "two.png"
    assert window.export_png(exported)
    assert "single generation" in window.statusBar().currentMessage()
    code, err = rerun(exported, tmp_path / "again.png", capsys)
    assert code == 1 and len(err) == 1 and "2 generations" in err[0], err


def test_an_export_marks_only_the_generated_pixels(window, qtbot, tmp_path: Path, capsys) -> None:
    picture = open_picture(window, tmp_path, 400, 300)
    yy, xx = np.mgrid[0:300, 0:400]
    ellipse = ((xx - 200) / 170) ** 2 + ((yy - 150) / 120) ** 2 <= 1
    window.document.set_mask(np.where(ellipse, 255, 0).astype(np.uint8))  # big enough
    generate(window, qtbot, "inpaint")
    layer = window.accept_candidate()
    alpha = layer.to_rgba(window.document.rect())[..., 3]
    ys, xs = np.nonzero(alpha)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1

    exported = tmp_path / "marked.png"
    assert window.export_png(exported)
    out = pixels(exported)
    # Nothing but the generated pixels changed: not even the corners of the mark's box.
    np.testing.assert_array_equal(out[alpha == 0], picture[alpha == 0])
    assert read_watermark_record(exported)["box"] == [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]
    capsys.readouterr()
    assert overpaint(["watermark", str(exported)]) == 0
    assert capsys.readouterr().out.strip() == "OVERPAINT"
