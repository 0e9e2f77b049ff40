"""PNG export with generation metadata, and the `overpaint flatten` command."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sd_parsers import ParserManager

from editor.cli import main as cli_main
from editor.io.export import export_content, export_png, generation_layer
from editor.io.project import save_ora
from editor.model.document import Document
from engine.metadata import read_parameters, read_request, read_watermark_record
from engine.request import Box, GenerationRequest
from engine.watermark import find_watermark

REPO = Path(__file__).resolve().parents[3]
REQUEST = GenerationRequest(mode="inpaint", prompt="a red fox", seed=42, steps=12)
PARAMETERS = (
    "a red fox\nNegative prompt: blurry\n"
    "Steps: 12, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x48, Model: demo"
)


def generated_document(opaque: bool = True) -> Document:
    doc = Document(64, 48)
    bg = np.zeros((48, 64, 4), np.uint8)
    bg[..., 0] = np.arange(64, dtype=np.uint8)[None, :] * 3
    bg[..., 3] = 255 if opaque else 128
    doc.add_layer("Background", rgba=bg)
    result = np.full((16, 20, 4), (200, 100, 50, 255), np.uint8)
    layer = doc.add_layer("a red fox", rgba=result, x=10, y=5, blend_mode="multiply")
    layer.metadata.update({"parameters": PARAMETERS, "overpaint_request": REQUEST.to_json()})
    doc.add_layer("painted", rgba=np.full((4, 4, 4), (0, 0, 255, 255), np.uint8), x=50, y=40)
    return doc


def test_export_carries_parameters_readable_by_other_tools(tmp_path: Path) -> None:
    doc = generated_document()
    path = tmp_path / "out.png"
    export_png(doc, path)
    with Image.open(path) as im:
        assert im.mode == "RGB"
        pixels = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(pixels, doc.composite_array())
    assert read_parameters(path) == PARAMETERS
    assert read_request(path) == REQUEST
    parsed = ParserManager().parse(str(path))
    assert parsed is not None and parsed.full_prompt == "a red fox"
    assert parsed.full_negative_prompt == "blurry"
    assert parsed.samplers[0].parameters["seed"] == "42"
    assert parsed.samplers[0].model.name == "demo"


def test_export_keeps_transparency_and_explicit_metadata_wins(tmp_path: Path) -> None:
    doc = generated_document(opaque=False)
    path = tmp_path / "t.png"
    export_png(doc, path, parameters="explicit\nSteps: 1", request=None)
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im), doc.composite_array())
    assert read_parameters(path) == "explicit\nSteps: 1"
    assert read_request(path) is None


def test_generation_layer_choice() -> None:
    doc = generated_document()
    fox, painted = doc.layers[1], doc.layers[2]
    assert generation_layer(doc) is fox
    assert generation_layer(doc, preferred=painted) is fox  # painted has no generation
    doc.layers[1].visible = False
    assert generation_layer(doc) is None
    assert generation_layer(doc, preferred=fox) is fox


def test_export_without_generation_has_no_parameters(tmp_path: Path) -> None:
    doc = Document(8, 8)
    doc.add_layer("paint", rgba=np.full((8, 8, 4), 255, np.uint8))
    export_png(doc, tmp_path / "p.png")
    assert read_parameters(tmp_path / "p.png") is None


def big_document(generated: bool, size: int = 256) -> Document:
    """A 320x288 picture with a ``size``² result on it: 256² carries the mark, 64² is far
    too small for one."""
    yy, xx = np.mgrid[0:288, 0:320]
    bg = np.stack([xx % 256, yy % 256, (xx + yy) % 256, np.full_like(xx, 255)], -1)
    doc = Document(320, 288)
    doc.add_layer("Background", rgba=bg.astype(np.uint8))
    crop = np.random.default_rng(5).integers(40, 200, (size, size, 4), dtype=np.uint8)
    crop[..., 3] = 255
    layer = doc.add_layer("result", rgba=crop, x=40, y=16)
    if generated:
        layer.metadata.update({"parameters": PARAMETERS, "overpaint_request": REQUEST.to_json()})
    return doc


def exported_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_mark(path: Path) -> str | None:
    """What `overpaint watermark` finds: the mark in the box the PNG records."""
    record = read_watermark_record(path) or {}
    box = Box(*record["box"]) if "box" in record else None
    return find_watermark(exported_rgb(path), box)


def test_an_export_holding_a_generation_carries_the_watermark_in_its_box(
    tmp_path: Path,
) -> None:
    doc = big_document(generated=True)
    composite = doc.composite_array()[..., :3]
    export_png(doc, tmp_path / "marked.png")
    marked = exported_rgb(tmp_path / "marked.png")
    assert read_watermark_record(tmp_path / "marked.png") == {
        "box": [40, 16, 256, 256],
        "method": "dwtDctSvd",
    }
    assert read_mark(tmp_path / "marked.png") == "OVERPAINT"
    outside = np.ones((288, 320), bool)
    outside[16:272, 40:296] = False  # only the generated layer's pixels carry the mark
    np.testing.assert_array_equal(marked[outside], composite[outside])
    assert np.abs(marked.astype(int) - composite).mean() < 2.0  # invisible, not a repaint
    assert read_parameters(tmp_path / "marked.png") == PARAMETERS

    export_png(doc, tmp_path / "off.png", watermark=False)  # the setting turned off
    np.testing.assert_array_equal(exported_rgb(tmp_path / "off.png"), composite)
    assert read_mark(tmp_path / "off.png") is None


def test_a_generation_too_small_for_the_mark_is_exported_untouched_and_says_so(
    tmp_path: Path,
) -> None:
    doc = big_document(generated=True, size=64)
    export_png(doc, tmp_path / "small.png")
    np.testing.assert_array_equal(
        exported_rgb(tmp_path / "small.png"), doc.composite_array()[..., :3]
    )
    assert "64x64" in read_watermark_record(tmp_path / "small.png")["skipped"]
    assert read_mark(tmp_path / "small.png") is None


def test_a_painting_without_generations_is_exported_untouched(tmp_path: Path) -> None:
    doc = big_document(generated=False)
    export_png(doc, tmp_path / "painted.png")
    rgb = exported_rgb(tmp_path / "painted.png")
    np.testing.assert_array_equal(rgb, doc.composite_array()[..., :3])
    assert read_mark(tmp_path / "painted.png") is None


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "editor.app", "flatten", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flatten_command_without_a_display(tmp_path: Path) -> None:
    doc = generated_document(opaque=False)
    save_ora(doc, tmp_path / "in.ora")
    done = run_cli(str(tmp_path / "in.ora"), str(tmp_path / "out.png"))
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr
    with Image.open(tmp_path / "out.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGBA")), doc.composite_array())
    assert read_request(tmp_path / "out.png") == REQUEST


def test_flatten_unwritable_output_prints_exactly_one_line(tmp_path: Path) -> None:
    doc = generated_document()
    save_ora(doc, tmp_path / "in.ora")
    done = run_cli(str(tmp_path / "in.ora"), str(tmp_path / "no-such-folder" / "out.png"))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        'error: "out.png" could not be saved because its folder does not exist.'
    ]


def test_flatten_bad_input_exits_1_with_one_error_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.ora").write_bytes(b"PK\x03\x04 nonsense")
    for source in ("broken.ora", "missing.ora"):
        assert cli_main(["flatten", str(tmp_path / source), str(tmp_path / "o.png")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
    assert not (tmp_path / "o.png").exists()


def test_flatten_prints_repairs_as_warnings(tmp_path: Path, capsys) -> None:
    with zipfile.ZipFile(tmp_path / "r.ora", "w") as zf:
        zf.writestr(
            "stack.xml", '<image w="4" h="4"><stack><layer name="x" src="a.png"/></stack></image>'
        )
    assert cli_main(["flatten", str(tmp_path / "r.ora"), str(tmp_path / "o.png")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and '"x"' in err[0]
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (4, 4) and np.asarray(im.convert("RGBA"))[..., 3].max() == 0


def test_flatten_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["flatten", "only-one-argument.ora"])
    assert info.value.code == 2


def test_flatten_watermarks_generations_unless_told_not_to(tmp_path: Path) -> None:
    doc = big_document(generated=True)
    save_ora(doc, tmp_path / "in.ora")
    assert cli_main([str(tmp_path / "in.ora"), str(tmp_path / "marked.png")]) == 0
    assert read_mark(tmp_path / "marked.png") == "OVERPAINT"
    plain = tmp_path / "plain.png"
    assert cli_main(["flatten", "--no-watermark", str(tmp_path / "in.ora"), str(plain)]) == 0
    np.testing.assert_array_equal(exported_rgb(plain), doc.composite_array()[..., :3])


def test_a_generation_hidden_under_another_is_not_counted_or_carried() -> None:
    """A result accepted again over the whole picture hides the first: the export holds
    one generation, the top one, even with the hidden one selected."""
    doc = Document(32, 24)
    doc.add_layer("Background", rgba=np.full((24, 32, 4), 255, np.uint8))
    result = np.full((24, 32, 4), (200, 100, 50, 255), np.uint8)
    layers = []
    for seed in (1, 2):  # identical pixels: each would hide the other if simply removed
        layer = doc.add_layer(f"result {seed}", rgba=result)
        request = GenerationRequest(mode="txt2img", prompt="a fox", seed=seed)
        layer.metadata.update(
            {"parameters": f"a fox\nSeed: {seed}", "overpaint_request": request.to_json()}
        )
        layers.append(layer)
    lower, upper = layers

    content = export_content(doc, lower)
    assert content.not_single is None
    assert content.request.seed == 2
    assert generation_layer(doc, preferred=lower) is upper
    assert content.generated.all()

    doc.set_layer_properties(upper, opacity=0.5)  # now both show
    content = export_content(doc, lower)
    assert content.not_single == "it holds 2 generations, not a single generation"
    assert content.request.seed == 1
