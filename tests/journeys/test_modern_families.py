"""Journey: every transformer family from the window, as a user with a models folder of
their own walks it. Settings' model folder holds a tiny random-weight model of the family
(built at test time, tests/tiny_modern.py); the user picks it in the Generate panel, sees
the family's own settings, and runs txt2img on an empty canvas, img2img on a picture,
inpaint under a mask painted with the mask brush, an outpaint past the edge and, with the
models that edit by instruction, an Edit of a selection (a visible region layer beside it
is said to take no part). Each result is accepted as a layer; the inpainted picture is exported and `overpaint rerun` gives its pixels back.

One window per family, 2 steps (Qwen-Image's scheduler needs two) and pictures of a few
dozen pixels keep the whole walk cheap.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from editor.model.layer_roles import set_layer_region
from editor.model.region_role import RegionRole
from engine.cli.commands import main as overpaint
from engine.core.paths import user_models_dir
from engine.family_defaults import model_settings
from engine.models import inspect_model
from tests.editor.ui.conftest import gradient_rgba
from tests.editor.ui.test_painting import drag
from tests.engine.test_modern_cli import EDITS, FAMILIES
from tests.tiny_split import write_gguf, write_split

WAIT_MS = 240_000
W, H = 96, 64


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA")).astype(int)


def _choose_model(window, models: Path, name: str) -> Path:
    """Settings ▸ Model folders holds `models`; pick `name` in the Generate panel."""
    window.settings.model_dirs = [models]
    window.jobs.apply_settings()
    window.refresh_models()
    combo = window.generation_panel.model_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert name in names, names
    combo.setCurrentIndex(names.index(name))
    return Path(window.generation_panel.model())


def _check_family_rows(panel, folder: Path) -> None:
    """The panel shows the family's own settings (engine.family_defaults)."""
    own = model_settings(inspect_model(folder))
    form = panel.parameters_form
    assert form.isRowVisible(panel.guidance_spin) == (own.guidance != "none")
    if own.guidance != "none":
        assert form.labelForField(panel.guidance_spin).text() == own.guidance_label
        assert panel.guidance_spin.value() == own.guidance_value
    assert panel.steps_spin.value() == own.steps
    assert panel.advanced_form.isRowVisible(panel.shift_spin) and own.shift
    combo = panel.scheduler_combo
    assert tuple(combo.itemText(i) for i in range(combo.count())) == own.samplers
    assert panel.negative_edit.isEnabled() == own.negative_prompt


def _generate(window, qtbot, mode: str):
    """Press Generate in `mode`; the new candidate's result, or the error it told."""
    panel = window.generation_panel
    panel.set_mode(mode)
    before = window.candidates.count()
    window.last_error = ""
    window.actions.generate.trigger()
    qtbot.waitUntil(
        lambda: window.candidates.count() > before or bool(window.last_error), timeout=WAIT_MS
    )
    if window.candidates.count() > before:
        return window.candidates.candidates()[-1].result
    return window.last_error


def _accept(window, qtbot) -> None:
    layers = len(window.document.layers)
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    assert len(window.document.layers) == layers + 1


def _open_picture(window, tmp_path: Path) -> np.ndarray:
    picture = gradient_rgba(W, H)
    path = tmp_path / "picture.png"
    Image.fromarray(picture).save(path)
    assert window.open_path(path)
    window.canvas.actual_size()  # 100 %: a canvas pixel per screen pixel
    return picture


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_from_the_window(
    window, qtbot, tiny_modern_dir: Callable[[str], Path], tmp_path: Path, capsys, family: str
) -> None:
    window.ask_save_changes = lambda: "discard"
    models = tmp_path / "models"
    shutil.copytree(tiny_modern_dir(family), models / f"tiny-{family}")
    folder = _choose_model(window, models, f"tiny-{family}")
    panel = window.generation_panel
    _check_family_rows(panel, folder)
    panel.prompt_edit.setPlainText("a red square on blue background")
    panel.steps_spin.setValue(2)
    doc = window.document

    # txt2img on an empty canvas (FLUX Fill only repaints: one sentence says so).
    window.new_document(W, H)
    told = _generate(window, qtbot, "auto")
    if family == "flux-fill":
        assert isinstance(told, str) and "can only inpaint or outpaint" in told, told
    else:
        assert not isinstance(told, str), told
        assert told.request.mode == "txt2img" and told.request.model == str(folder)
        _accept(window, qtbot)
        assert (window.document.composite_array()[..., 3] == 255).all()

        # img2img on a picture.
        picture = _open_picture(window, tmp_path)
        result = _generate(window, qtbot, "img2img")
        assert not isinstance(result, str), result
        assert result.request.mode == "img2img"
        _accept(window, qtbot)
        assert not np.array_equal(window.document.composite_array(), picture)

    # Inpaint under a mask painted with the mask brush; the export reruns to its pixels.
    picture = _open_picture(window, tmp_path)
    doc = window.document
    window.set_tool("mask")
    window.tool_options.set_size(12)
    drag(qtbot, window, [(30, 24), (50, 30), (66, 40)])
    assert doc.has_mask()
    result = _generate(window, qtbot, "auto")
    assert not isinstance(result, str), result
    assert result.request.mode == "inpaint"
    _accept(window, qtbot)
    layer = doc.current_layer
    alpha = layer.to_rgba(doc.rect())[..., 3]
    assert alpha.any() and not alpha.all()
    after = doc.composite_array()
    np.testing.assert_array_equal(after[alpha == 0], picture[alpha == 0])
    exported = tmp_path / "export.png"
    assert window.export_png(exported)
    again = tmp_path / "again.png"
    capsys.readouterr()
    assert overpaint(["rerun", str(exported), "--out", str(again)]) == 0, capsys.readouterr().err
    replayed, first = _pixels(again), _pixels(exported)
    # The window blends a soft edge in 8-bit premultiplied colour, rerun in float.
    soft = (alpha > 0) & (alpha < 255)
    np.testing.assert_array_equal(replayed[~soft], first[~soft])
    assert np.abs(replayed[soft] - first[soft]).max(initial=0) <= 1

    # Outpaint: a generation frame drawn 32 px past the right edge.
    _open_picture(window, tmp_path)
    window.set_tool("frame")
    drag(qtbot, window, [(W - 64, 0), (W + 32, H)])
    result = _generate(window, qtbot, "auto")
    assert not isinstance(result, str), result
    assert result.request.mode == "outpaint"
    _accept(window, qtbot)
    grown = window.document.composite_array()
    assert grown.shape[:2] == (H, W + 32) and (grown[..., 3] == 255).all()

    if family in EDITS:  # an Edit of a selection keeps the rest bit-identical
        _open_picture(window, tmp_path)
        # A region layer left visible takes no part in an Edit, and the window says so.
        window.actions.add_layer.trigger()
        window.set_tool("brush")
        drag(qtbot, window, [(4, 4), (16, 12)])
        set_layer_region(window.document, window.document.current_layer, RegionRole("a cat"))
        before = window.document.composite_array()
        window.set_tool("select_rect")
        drag(qtbot, window, [(20, 10), (70, 50)])
        selected = window.document.selection > 0
        panel.prompt_edit.setPlainText("make it stormy")
        result = _generate(window, qtbot, "edit")
        assert not isinstance(result, str), result
        assert result.request.mode == "edit" and result.request.regions == ()
        assert panel.progress_bar.format().endswith(
            "Region layers do not steer an Edit, so this edit was made without them; hide "
            "them to stop this note."
        ), panel.progress_bar.format()
        _accept(window, qtbot)
        edited = window.document.composite_array()
        np.testing.assert_array_equal(edited[~selected], before[~selected])
        assert not np.array_equal(edited[selected], before[selected])


def test_a_gguf_model_of_a_comfyui_folder_inpaints_from_the_window(
    window, qtbot, tiny_modern_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """Settings' folder is a ComfyUI models/ folder holding a GGUF FLUX.1 transformer with
    its text encoders and VAE (its configuration from an installed FLUX.1 folder): an
    inpaint, not only the mode the model loaded in, lands as a layer."""
    shutil.copytree(tiny_modern_dir("flux"), user_models_dir() / "tiny-flux")
    models = tmp_path / "ComfyUI" / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev")
    write_gguf(transformer, models / "unet" / "flux1-dev-Q8_0.gguf")
    transformer.unlink()
    picture = _open_picture(window, tmp_path)
    _choose_model(window, models, "flux1-dev-Q8_0")
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red square")
    panel.steps_spin.setValue(2)
    window.document.set_mask(np.pad(np.full((16, 24), 255, np.uint8), ((24, 24), (36, 36))))
    result = _generate(window, qtbot, "auto")
    assert not isinstance(result, str), result
    assert result.request.mode == "inpaint" and result.request.model.endswith(".gguf")
    _accept(window, qtbot)
    alpha = window.document.current_layer.to_rgba(window.document.rect())[..., 3]
    after = window.document.composite_array()
    np.testing.assert_array_equal(after[alpha == 0], picture[alpha == 0])
    assert not np.array_equal(after, picture)
