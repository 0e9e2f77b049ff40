"""`--reference IMAGE[:WEIGHT[:KIND[:START:END]]]` on txt2img, img2img and inpaint through
a tiny random IP-Adapter, its record in the metadata, and `rerun` replaying it from the
history or from `--reference-image`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.core.images import picture_hash, read_image
from engine.metadata import read_parameters, read_request
from tests.engine import cli_runs
from tests.engine.cli_runs import ARGS, SIZE, read_pixels, run_cli

models = cli_runs.models  # the tiny IP-Adapter's models folder (a fixture)


@pytest.fixture()
def pictures(tmp_path: Path) -> tuple[Path, Path]:
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 230
    blue = np.zeros((30, 50, 3), np.uint8)
    blue[..., 2] = 220
    blue[5:25, 10:40, 1] = 250
    paths = (tmp_path / "red.png", tmp_path / "blue.png")
    Image.fromarray(red).save(paths[0])
    Image.fromarray(blue).save(paths[1])
    return paths


def test_txt2img_references_are_recorded_and_rerun_from_the_history_or_the_pictures(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, pictures: tuple[Path, Path]
) -> None:
    red, blue = pictures
    common = ["txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE]
    common += ["--models-dir", models]
    plain, out = tmp_path / "plain.png", tmp_path / "refs.png"
    assert run_cli(capsys, *common, "--no-history", "--out", plain)[0] == 0
    refs = ["--reference", red, "--reference", f"{blue}:0.7:style:0.2:1"]
    code, _out, err = run_cli(capsys, *common, *refs, "--out", out)
    assert code == 0, err
    assert np.abs(read_pixels(out) - read_pixels(plain)).mean() > 1.0

    red_hash, blue_hash = (picture_hash(read_image(p)) for p in pictures)
    params = read_parameters(out)
    assert (
        f'Reference 0: "Hash: {red_hash}, Kind: reference, Weight: 1, Model: tiny-ip-adapter"'
        in params
    )
    assert (
        f'Reference 1: "Hash: {blue_hash}, Kind: style, Weight: 0.7, Start: 0.2, End: 1, '
        'Model: tiny-ip-adapter"' in params
    )
    request = read_request(out)
    assert [(r.kind, r.weight, r.start, r.image_hash) for r in request.references] == [
        ("reference", 1.0, 0.0, red_hash),
        ("style", 0.7, 0.2, blue_hash),
    ]

    again = tmp_path / "again.png"  # the history kept the pictures
    assert run_cli(capsys, "rerun", out, "--models-dir", models, "--out", again)[0] == 0
    assert np.array_equal(read_pixels(again), read_pixels(out))


def test_rerun_without_the_history_takes_reference_pictures_in_order(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, pictures: tuple[Path, Path]
) -> None:
    red, blue = pictures
    out, again = tmp_path / "refs.png", tmp_path / "again.png"
    argv = ["txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE]
    argv += ["--models-dir", models, "--no-history", "--out", out]
    assert run_cli(capsys, *argv, "--reference", f"{red}:0.8:composition")[0] == 0
    rerun = ["rerun", out, "--models-dir", models, "--out", again]
    code, _out, err = run_cli(capsys, *rerun)
    assert code == 1
    assert err.strip() == (
        "error: The recorded run used 1 reference picture that the generation history does "
        "not hold; pass it with --reference-image in order."
    )
    code, _out, err = run_cli(capsys, *rerun, "--reference-image", blue)
    assert code == 1 and "is not reference picture 1 of the recorded run" in err
    code, _out, err = run_cli(capsys, *rerun, "--reference-image", red)
    assert code == 0, err
    assert np.array_equal(read_pixels(again), read_pixels(out))


def test_img2img_and_inpaint_take_references(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, pictures: tuple[Path, Path]
) -> None:
    red, _blue = pictures
    image = np.full((SIZE, SIZE, 3), 90, np.uint8)
    image[20:40, 20:40] = (200, 180, 40)
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.fromarray(image).save(init)
    hole = np.zeros((SIZE, SIZE), np.uint8)
    hole[16:48, 16:48] = 255
    Image.fromarray(hole).save(mask)
    common = [*ARGS, "--model", tiny_model_dir, "--models-dir", models, "--no-history"]
    for mode, extra in (("img2img", []), ("inpaint", ["--mask", mask])):
        plain, steered = tmp_path / f"{mode}.png", tmp_path / f"{mode}-ref.png"
        base = [mode, *common, "--init-img", init, *extra]
        assert run_cli(capsys, *base, "--out", plain)[0] == 0
        code, _out, err = run_cli(capsys, *base, "--reference", f"{red}:1.5", "--out", steered)
        assert code == 0, err
        assert np.abs(read_pixels(steered) - read_pixels(plain)).mean() > 0.2, mode
        assert read_request(steered).references[0].weight == 1.5


def test_bad_reference_arguments_are_one_sentence(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path
) -> None:
    argv = ["txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE]
    argv += ["--models-dir", models, "--no-history", "--out", tmp_path / "out.png"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    code, _out, err = run_cli(capsys, *argv, "--reference", broken)
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert err.startswith('error: "broken.png" is not an image Overpaint can open')
    clear = tmp_path / "clear.png"
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(clear)
    code, _out, err = run_cli(capsys, *argv, "--reference", f"{clear}:0.5")
    assert code == 1 and err == (
        f"error: The reference picture {clear} is fully transparent; give a picture with "
        "visible pixels.\n"
    )
    code, _out, err = run_cli(capsys, *argv, "--reference", f"{broken}:0.5:sketch:0:1")
    assert code == 1 and err.startswith("error: --reference ")
    assert not (tmp_path / "out.png").exists()


def test_the_history_keeps_reference_pictures_and_their_regions() -> None:
    from engine.history.pictures import needs_pictures, pictures_to_keep, restore_inputs
    from engine.reference.spec import ReferenceSpec
    from engine.request import GenerationInputs, GenerationRequest

    red = np.zeros((12, 10, 4), np.uint8)
    red[..., 0] = red[..., 3] = 255
    region = np.zeros((SIZE, SIZE), np.uint8)
    region[:, :20] = 255
    request = GenerationRequest(
        "txt2img", width=SIZE, height=SIZE, canvas_width=SIZE, canvas_height=SIZE,
        references=(ReferenceSpec(), ReferenceSpec("style", mask_hash=picture_hash(region))),
    )  # fmt: skip
    assert needs_pictures(request)
    inputs = GenerationInputs(references=(red, red[:6]), reference_masks=(None, region))
    kept = pictures_to_keep(request, inputs, None)
    assert sorted(kept) == ["reference-mask:1", "reference:0", "reference:1"]
    restored, _base = restore_inputs(request, kept)
    assert np.array_equal(restored.references[1], red[:6])
    assert restored.reference_masks[0] is None
    assert np.array_equal(restored.reference_masks[1], region)
