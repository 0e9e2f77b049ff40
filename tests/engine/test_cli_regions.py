"""`--region MASK:PROMPT[:NEGATIVE]` on the command line, its record in the metadata, and
`rerun` / `history rerun` replaying it from the history or from `--region-mask`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.core.images import picture_hash
from engine.history.cli import main as history_main
from engine.metadata import read_parameters, read_request
from tests.engine.cli_runs import ARGS, SIZE, read_pixels, run_cli


@pytest.fixture()
def masks(tmp_path: Path) -> tuple[Path, Path]:
    left = np.zeros((SIZE, SIZE), np.uint8)
    left[:, : SIZE // 2] = 255
    paths = (tmp_path / "left.png", tmp_path / "right.png")
    Image.fromarray(left).save(paths[0])
    Image.fromarray(255 - left).save(paths[1])
    return paths


def test_txt2img_regions_are_recorded_and_rerun_from_the_history_or_the_masks(
    capsys, tmp_path: Path, tiny_model_dir: Path, masks: tuple[Path, Path]
) -> None:
    left, right = masks
    common = ["txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE]
    plain, out = tmp_path / "plain.png", tmp_path / "regions.png"
    assert run_cli(capsys, *common, "--no-history", "--out", plain)[0] == 0
    regions = ["--region", f"{left}:a red circle:blurry", "--region", f"{right}:a blue square"]
    code, _out, err = run_cli(capsys, *common, *regions, "--out", out)
    assert code == 0, err
    assert np.abs(read_pixels(out) - read_pixels(plain)).mean() > 1.0

    left_hash = picture_hash(np.asarray(Image.open(left)))
    params = read_parameters(out)
    assert (
        f'Region 0: "Prompt: a red circle, Negative prompt: blurry, Mask hash: {left_hash}"'
        in params
    )
    assert 'Region 1: "Prompt: a blue square, Mask hash: ' in params
    request = read_request(out)
    assert [(r.prompt, r.negative_prompt) for r in request.regions] == [
        ("a red circle", "blurry"),
        ("a blue square", ""),
    ]
    assert request.regions[0].mask_hash == left_hash

    again = tmp_path / "again.png"  # the history kept the masks
    assert run_cli(capsys, "rerun", out, "--out", again)[0] == 0
    assert np.array_equal(read_pixels(again), read_pixels(out))
    from_history = tmp_path / "entry.png"
    assert history_main(["rerun", "1", "--out", str(from_history)]) == 0
    assert np.array_equal(read_pixels(from_history), read_pixels(out))


def test_rerun_without_the_history_takes_region_masks_in_order(
    capsys, tmp_path: Path, tiny_model_dir: Path, masks: tuple[Path, Path]
) -> None:
    left, right = masks
    out, again = tmp_path / "regions.png", tmp_path / "again.png"
    argv = [
        "txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE,
        "--no-history", "--region", f"{left}:a red circle", "--region", f"{right}:a blue square",
        "--out", out,
    ]  # fmt: skip
    assert run_cli(capsys, *argv)[0] == 0
    code, _out, err = run_cli(capsys, "rerun", out, "--out", again)
    assert code == 1 and not again.exists()
    assert err == (
        "error: The recorded run used 2 region masks that the generation history does not "
        "hold; pass them with --region-mask in order.\n"
    )
    code, _out, err = run_cli(
        capsys, "rerun", out, "--out", again, "--region-mask", right, "--region-mask", left
    )
    assert code == 1 and "is not region mask 1 ('a red circle')" in err and err.count("\n") == 1
    code, _out, err = run_cli(
        capsys, "rerun", out, "--out", again, "--region-mask", left, "--region-mask", right
    )
    assert code == 0, err
    assert np.array_equal(read_pixels(again), read_pixels(out))


def test_inpaint_crops_region_masks_at_the_context_box(
    capsys, tmp_path: Path, tiny_model_dir: Path
) -> None:
    big = 256
    image = np.random.default_rng(1).integers(0, 256, (big, big, 3), dtype=np.uint8)
    mask = np.zeros((big, big), np.uint8)
    mask[100:140, 100:140] = 255
    region = np.zeros((big, big), np.uint8)
    region[:, :120] = 255
    far = np.zeros((big, big), np.uint8)
    far[:4, :4] = 255  # outside the context box: takes no part
    for name, arr in (("init", image), ("mask", mask), ("region", region), ("far", far)):
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
    out = tmp_path / "out.png"
    code, _out, err = run_cli(
        capsys, "inpaint", *ARGS, "--model", tiny_model_dir, "--init-img", tmp_path / "init.png",
        "--mask", tmp_path / "mask.png", "--region", f"{tmp_path / 'region.png'}:a red circle",
        "--region", f"{tmp_path / 'far.png'}:a cat", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    request = read_request(out)
    box = request.region
    assert box is not None and box.width < big
    crop = region[box.y : box.bottom, box.x : box.right]
    assert [r.prompt for r in request.regions] == ["a red circle"]
    assert request.regions[0].mask_hash == picture_hash(crop)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{black}:a cat", "is all black; white marks where its prompt applies."),
        ("{left}", "use MASK.png:PROMPT[:NEGATIVE]"),
        ("{left}: :x", "a region needs a prompt of its own"),
        ("{missing}:a cat", "does not exist"),
        ("{small}:a cat", "is 8x8 but the image is 64x64"),
    ],
)
def test_region_errors_are_one_line_and_write_nothing(
    capsys, tmp_path: Path, tiny_model_dir: Path, masks: tuple[Path, Path], value: str,
    message: str,
) -> None:  # fmt: skip
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(tmp_path / "black.png")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "small.png")
    names = {
        "black": tmp_path / "black.png", "left": masks[0], "missing": tmp_path / "nope.png",
        "small": tmp_path / "small.png",
    }  # fmt: skip
    out = tmp_path / "out.png"
    code, _out, err = run_cli(
        capsys, "txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE,
        "--no-history", "--region", value.format(**names), "--out", out,
    )  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert not out.exists()
