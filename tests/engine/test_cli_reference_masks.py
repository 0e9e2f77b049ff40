"""`--reference-mask` limits a `--reference` to a region on txt2img and inpaint: outside
the mask the picture is the one without that reference, the metadata records the mask's
hash, and `rerun` / `history rerun` repeat it bit for bit from the history or from the
picture and mask given again; a mask that is missing, different, all black, outside the
repainted area or one too many is one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.core.images import picture_hash
from engine.history.cli import main as history_main
from engine.metadata import read_parameters, read_request
from tests.engine import cli_runs
from tests.engine.cli_runs import ARGS, SIZE, read_pixels, run_cli

models = cli_runs.models  # the tiny IP-Adapter's models folder (a fixture)

LEFT = np.zeros((SIZE, SIZE), np.uint8)
LEFT[:, :24] = 255


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 230
    arrays = {"red": red, "left": LEFT, "right": 255 - LEFT, "black": np.zeros_like(LEFT)}
    paths = {name: tmp_path / f"{name}.png" for name in arrays}
    for name, array in arrays.items():
        Image.fromarray(array).save(paths[name])
    return paths


def _txt2img(tiny_model_dir: Path, models: Path) -> list[object]:
    return [
        "txt2img", *ARGS, "--model", tiny_model_dir, "--width", SIZE, "--height", SIZE,
        "--models-dir", models,
    ]  # fmt: skip


def test_a_masked_reference_changes_only_its_region_and_reruns_from_the_history(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, files: dict[str, Path]
) -> None:
    common = _txt2img(tiny_model_dir, models)
    plain, out = tmp_path / "plain.png", tmp_path / "masked.png"
    assert run_cli(capsys, *common, "--no-history", "--out", plain)[0] == 0
    code, _out, err = run_cli(
        capsys, *common, "--reference", f"{files['red']}:1.5", "--reference-mask", files["left"],
        "--out", out,
    )  # fmt: skip
    assert code == 0, err
    inside, outside = LEFT == 255, LEFT == 0
    assert np.array_equal(read_pixels(out)[outside], read_pixels(plain)[outside])
    assert np.abs(read_pixels(out)[inside] - read_pixels(plain)[inside]).mean() > 1.0

    (spec,) = read_request(out).references
    assert spec.mask_hash == picture_hash(LEFT) and spec.weight == 1.5
    assert f"Mask hash: {picture_hash(LEFT)}" in read_parameters(out)

    again = tmp_path / "again.png"  # the history kept the picture and the mask
    assert run_cli(capsys, "rerun", out, "--models-dir", models, "--out", again)[0] == 0
    assert np.array_equal(read_pixels(again), read_pixels(out))
    entry = tmp_path / "entry.png"
    assert history_main(["rerun", "1", "--models-dir", str(models), "--out", str(entry)]) == 0
    assert np.array_equal(read_pixels(entry), read_pixels(out))


def test_rerun_without_the_history_takes_the_picture_and_mask_again(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, files: dict[str, Path]
) -> None:
    out, again = tmp_path / "masked.png", tmp_path / "again.png"
    refs = [
        "--reference", files["red"], "--reference", f"{files['red']}:0.8:style",
        "--reference-mask", "none", "--reference-mask", files["right"],
    ]  # fmt: skip
    argv = [*_txt2img(tiny_model_dir, models), "--no-history", *refs, "--out", out]
    code, _out, err = run_cli(capsys, *argv)
    assert code == 0, err
    whole, right = read_request(out).references
    assert whole.mask_hash == "" and right.mask_hash == picture_hash(255 - LEFT)

    rerun = ["rerun", out, "--models-dir", models, "--out", again]
    rerun += ["--reference-image", files["red"], "--reference-image", files["red"]]
    code, _out, err = run_cli(capsys, *rerun)
    assert code == 1 and not again.exists()
    assert err == (
        "error: The recorded run used 1 reference mask that the generation history does not "
        "hold; pass it with --reference-mask in order.\n"
    )
    code, _out, err = run_cli(capsys, *rerun, "--reference-mask", files["left"])
    assert code == 1 and not again.exists()
    assert err == (
        f"error: {files['left']} is not reference mask 1 of the recorded run (its hash "
        "differs); pass the same mask.\n"
    )
    # The first run's list works as it is: "none" entries are skipped.
    code, _out, err = run_cli(
        capsys, *rerun, "--reference-mask", "none", "--reference-mask", files["right"]
    )
    assert code == 0, err
    assert np.array_equal(read_pixels(again), read_pixels(out))


def test_inpaint_crops_the_reference_mask_at_the_context_box(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, files: dict[str, Path]
) -> None:
    big = 192
    image = np.random.default_rng(1).integers(0, 256, (big, big, 3), dtype=np.uint8)
    hole = np.zeros((big, big), np.uint8)
    hole[80:112, 80:112] = 255
    region = np.zeros((big, big), np.uint8)
    region[:, :96] = 255
    far = np.zeros((big, big), np.uint8)
    far[:4, :4] = 255  # outside the context box
    for name, array in (("init", image), ("hole", hole), ("region", region), ("far", far)):
        Image.fromarray(array).save(tmp_path / f"{name}.png")
    base = [
        "inpaint", *ARGS, "--model", tiny_model_dir, "--models-dir", models, "--no-history",
        "--init-img", tmp_path / "init.png", "--mask", tmp_path / "hole.png",
        "--reference", files["red"],
    ]  # fmt: skip
    out = tmp_path / "out.png"
    code, _out, err = run_cli(
        capsys, *base, "--reference-mask", tmp_path / "region.png", "--out", out
    )
    assert code == 0, err
    request = read_request(out)
    box = request.region
    assert box is not None and box.width < big
    crop = region[box.y : box.bottom, box.x : box.right]
    assert request.references[0].mask_hash == picture_hash(crop)

    code, _out, err = run_cli(capsys, *base, "--reference-mask", tmp_path / "far.png", "--out", out)
    assert code == 1 and err.count("\n") == 1
    assert err == (
        f"error: The mask {tmp_path / 'far.png'} that reference {files['red']} is limited to "
        "covers nothing of the area being generated; extend the region there, or let the "
        "reference cover the whole picture.\n"
    )


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        (["{black}"], "error: The reference mask {black} is all black; white marks where its "
         "reference applies.\n"),
        (["{left}", "{left}"], "error: There are 2 --reference-mask values for 1 --reference picture; "
         "give at most one per reference, in order (none for the whole picture).\n"),
        (["{missing}"], "does not exist"),
    ],
)  # fmt: skip
def test_bad_reference_masks_are_one_sentence_and_write_nothing(
    capsys, tmp_path: Path, tiny_model_dir: Path, models: Path, files: dict[str, Path],
    masks: list[str], message: str,
) -> None:  # fmt: skip
    names = {**files, "missing": tmp_path / "nope.png"}
    out = tmp_path / "out.png"
    flags = [x for m in masks for x in ("--reference-mask", m.format(**names))]
    code, _out, err = run_cli(
        capsys, *_txt2img(tiny_model_dir, models), "--no-history", "--reference", files["red"],
        *flags, "--out", out,
    )  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ")
    assert message.format(**names) in err
    assert not out.exists()
