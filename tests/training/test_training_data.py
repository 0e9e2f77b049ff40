"""The training pictures: captions, sizes and modes, and the one-sentence refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.training.data import (
    TrainingError,
    bucket_sizes,
    caption_for,
    check_concept,
    fit,
    load_pictures,
    mirrored_caption,
    without_word,
    write_caption,
)
from engine.training.settings import TrainingSettings, cpu_precision
from tests.training.stars import star_picture, write_star_folder


def _one_sentence(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith(".")
    return text


def test_missing_empty_and_too_small_folders_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(TrainingError) as e:
        load_pictures(tmp_path / "nowhere", "star", 128)
    assert "does not exist" in _one_sentence(e.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(TrainingError) as e:
        load_pictures(tmp_path / "empty", "star", 128)
    assert "holds no pictures" in _one_sentence(e.value)
    two = write_star_folder(tmp_path / "two", combos=(("red", "left", "blue"),) * 2)
    with pytest.raises(TrainingError) as e:
        load_pictures(two, "star", 128)
    assert "only 2 picture(s)" in _one_sentence(e.value) and "at least 3" in str(e.value)


def test_an_unreadable_picture_is_named(tmp_path: Path) -> None:
    folder = write_star_folder(tmp_path / "stars")
    (folder / "3.png").write_bytes(b"this is not a png")
    with pytest.raises(TrainingError) as e:
        load_pictures(folder, "star", 128)
    assert "3.png" in _one_sentence(e.value) and "not a readable picture" in str(e.value)


def test_captions_come_from_txt_files_or_the_template(tmp_path: Path) -> None:
    folder = write_star_folder(tmp_path / "stars")
    (folder / "1.txt").unlink()
    (folder / "2.txt").write_text("   \n")  # empty: the template applies
    pictures = load_pictures(folder, "star", 128, template="a drawing of a {concept}")
    captions = {p.path.name: p.caption for p in pictures}
    assert captions["0.png"] == "a red star on the left, blue background"
    assert captions["1.png"] == captions["2.png"] == "a drawing of a star"
    assert caption_for(folder / "7.png", "star") == "a black star in the centre, red background"


def test_a_written_caption_replaces_the_file_whole_and_an_empty_one_removes_it(
    tmp_path: Path,
) -> None:
    folder = write_star_folder(tmp_path / "stars")
    (folder / "3.txt").chmod(0o640)
    assert write_caption(folder / "3.png", "  a blue\nstar,  at the bottom ") == folder / "3.txt"
    assert (folder / "3.txt").read_text(encoding="utf-8") == "a blue star, at the bottom\n"
    assert (folder / "3.txt").stat().st_mode & 0o777 == 0o640  # the file keeps its mode
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    assert load_pictures(folder, "star", 32)[3].caption == "a blue star, at the bottom"
    assert write_caption(folder / "3.png", " \n ") is None
    assert not (folder / "3.txt").exists()
    assert load_pictures(folder, "star", 32)[3].caption == "a picture of star"


def test_cpu_threads_leave_a_core_free_unless_set_and_do_not_change_the_run() -> None:
    settings = TrainingSettings(Path("pictures"), "star")
    assert settings.cpu_threads(torch_default=2, cpus=2) == 1
    assert settings.cpu_threads(torch_default=8, cpus=8) == 7
    assert settings.cpu_threads(torch_default=1, cpus=1) == 1
    three = TrainingSettings(Path("pictures"), "star", threads=3)
    assert three.cpu_threads(torch_default=2, cpus=2) == 3
    # A checkpoint written with one thread count is continued with another.
    assert three.fingerprint() == settings.fingerprint()


def test_the_precision_is_checked_and_auto_trains_small_models_in_fp32() -> None:
    settings = TrainingSettings(Path("pictures"), "star")
    assert settings.precision == "auto"
    with pytest.raises(TrainingError) as e:
        TrainingSettings(Path("pictures"), "star", precision="fp16").resolved("cpu")
    assert "Unknown precision 'fp16'" in _one_sentence(e.value)
    # A checkpoint holds fp32 tensors: a run stopped in one precision continues in another.
    assert TrainingSettings(Path("pictures"), "star", precision="bf16").fingerprint() == (
        settings.fingerprint()
    )
    # The demo model (128²) trains in fp32 under auto; SD models get the machine's choice.
    assert cpu_precision("auto", 128) == "fp32"
    assert cpu_precision("auto", 512) == "auto"
    assert cpu_precision("bf16", 128) == "bf16" and cpu_precision("fp32", 1024) == "fp32"


def test_the_concept_must_be_one_word_that_captions_use(tmp_path: Path) -> None:
    pictures = load_pictures(write_star_folder(tmp_path / "stars"), "star", 128)
    check_concept("star", pictures)
    with pytest.raises(TrainingError) as e:
        check_concept("shooting star", pictures)
    assert "one word" in _one_sentence(e.value)
    with pytest.raises(TrainingError) as e:
        check_concept("comet", pictures)
    assert "'comet'" in _one_sentence(e.value)


def test_pictures_of_any_size_and_mode_are_centre_cropped_to_native(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = (255, 0, 0)  # the middle third is red, the sides black
    Image.fromarray(wide).save(folder / "a_wide.png")
    Image.fromarray(star_picture("red", "left", "blue", 64)).convert("P").save(folder / "b.gif")
    grey16 = (np.arange(50 * 80, dtype=np.uint16).reshape(50, 80) * 16).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "c_grey16.png")
    rgba = np.zeros((90, 90, 4), np.uint8)  # fully transparent: white, like paper
    Image.fromarray(rgba).save(folder / "d_clear.png")
    pictures = load_pictures(folder, "star", 128)
    assert [p.pixels.shape for p in pictures] == [(128, 128, 3)] * 4
    assert all(p.pixels.dtype == np.uint8 for p in pictures)
    # The wide picture's middle (red) fills the crop; the black sides are cut away.
    assert pictures[0].pixels[:, 10:-10, 0].min() > 240 and pictures[0].pixels[..., 1].max() < 20
    assert pictures[3].pixels.min() == 255


def test_buckets_keep_the_aspect_ratio_at_about_the_native_area() -> None:
    sizes = bucket_sizes(512)
    assert (512, 512) in sizes
    assert all(w % 8 == 0 and h % 8 == 0 and max(w, h) / min(w, h) <= 2 for w, h in sizes)
    assert all(abs(w * h / 512**2 - 1) < 0.1 for w, h in sizes)
    wide = np.zeros((200, 400, 4), np.uint8) + 255
    w, h = min(sizes, key=lambda s: abs(np.log((s[0] / s[1]) / 2.0)))
    assert fit(wide, w, h).shape == (h, w, 3) and w > h


def test_a_mirror_image_gets_the_caption_with_left_and_right_swapped() -> None:
    assert mirrored_caption("a red star on the left, blue background") == (
        "a red star on the right, blue background"
    )
    assert mirrored_caption("Right hand up, left foot out") == "Left hand up, right foot out"
    # Only whole words: "leftover" and "bright" stay as they are.
    assert mirrored_caption("leftover bright paint") == "leftover bright paint"


def test_the_prior_prompt_is_the_caption_without_the_concept_word() -> None:
    assert without_word("a red star on the left, blue background", "star") == (
        "a red on the left, blue background"
    )
    assert without_word("Star, a picture of star", "star") == "a picture of"
    assert without_word("a starry sky", "star") == "a starry sky"
