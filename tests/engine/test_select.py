"""Select Object in the engine: the magic wand against reference flood fills, GrabCut on
synthetic scenes, prompts refused in one sentence, SAM / SAM 2 folders found, checked and
run, and `overpaint select`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.app import main as app_main
from engine import discovery
from engine.core.cvsafe import import_cv2
from engine.core.errors import InvalidRequestError, ModelError
from engine.core.paths import user_models_dir
from engine.select.grabcut import grabcut_object
from engine.select.objects import cut_out, select_object, subject_mask
from engine.select.prompt import ObjectPrompt
from engine.select.segmenter import (
    check_segmenter,
    find_segmenters,
    load_segmenter,
    resolve_segmenter,
)
from engine.select.wand import magic_wand
from tests.select_scenes import bfs_flood, iou, make_scene
from tests.tiny_sam import build_tiny_sam, build_tiny_sam2


def cv2_flood(image: np.ndarray, x: int, y: int, tol: int) -> np.ndarray:
    cv2 = import_cv2()
    h, w = image.shape[:2]
    mask = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    cv2.floodFill(image.copy(), mask, (x, y), 0, (tol,) * 3, (tol,) * 3, flags)
    return mask[1:-1, 1:-1] > 0


@pytest.mark.parametrize("seed", [1, 2, 4])
@pytest.mark.parametrize("tol", [0, 12, 40])
def test_wand_is_the_reference_flood_fill(seed: int, tol: int) -> None:
    scene = make_scene(seed, (96, 72))
    x, y = scene.inside
    hard = magic_wand(scene.rgb, x, y, tol, contiguous=True, antialias=False)
    assert set(np.unique(hard)) <= {0, 255}
    assert np.array_equal(hard == 255, bfs_flood(scene.rgb, x, y, tol))
    assert np.array_equal(hard == 255, cv2_flood(scene.rgb, x, y, tol))
    # The anti-aliased edge adds partial pixels only outside the flood region.
    soft = magic_wand(scene.rgb, x, y, tol, contiguous=True, antialias=True)
    assert np.array_equal(soft == 255, hard == 255)
    grown = import_cv2().dilate(hard, np.ones((3, 3), np.uint8))
    assert not ((soft > 0) & (grown == 0)).any()


def test_global_wand_takes_every_similar_pixel() -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    image[2:6, 2:6] = (200, 10, 10)
    image[12:18, 20:28] = (205, 12, 9)
    image[8, :] = 90  # a wall between the two patches
    near = magic_wand(image, 3, 3, 10, contiguous=True, antialias=False) == 255
    every = magic_wand(image, 3, 3, 10, contiguous=False, antialias=False) == 255
    assert near.sum() == 16 and every.sum() == 16 + 48
    assert every[12:18, 20:28].all() and not near[12:18, 20:28].any()


def test_grabcut_with_a_box_finds_the_object() -> None:
    scores = []
    for seed in range(12):
        scene = make_scene(seed)
        mask = grabcut_object(scene.rgb, ObjectPrompt(box=scene.box))
        scores.append(iou(mask, scene.truth))
    assert np.median(scores) >= 0.9, scores
    # Some of these objects touch the picture's border (every third seed).
    assert min(scores[0::3]) >= 0.85


def test_grabcut_is_deterministic_and_clicks_refine() -> None:
    scene = make_scene(7)
    prompt = ObjectPrompt(box=scene.box)
    first = grabcut_object(scene.rgb, prompt)
    assert np.array_equal(first, grabcut_object(scene.rgb, prompt))
    # A negative click on the object takes that part away; a click alone finds it.
    x, y = scene.inside
    cut = select_object(scene.rgb, prompt.with_click(x, y, positive=False), "grabcut")
    assert cut[y, x] < 128 and first[y, x] >= 128
    clicked = select_object(scene.rgb, ObjectPrompt(points=((x, y),)), "grabcut")
    assert iou(clicked, scene.truth) >= 0.85


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        (ObjectPrompt(box=(400, 10, 50, 50)), "lies outside the 320x240 picture"),
        (ObjectPrompt(box=(10, 10, 0, 50)), "lies outside the 320x240 picture"),
        (ObjectPrompt(points=((10, 300),)), "The point 10,300 lies outside"),
        (ObjectPrompt(), "Nothing to select"),
    ],
)
def test_bad_prompts_are_one_sentence(prompt: ObjectPrompt, words: str) -> None:
    scene = make_scene(1)
    with pytest.raises(InvalidRequestError) as err:
        select_object(scene.rgb, prompt)
    text = str(err.value)
    assert words in text and text.count(". ") == 0 and text.endswith(".")


def test_a_box_past_the_border_is_cut_to_the_picture() -> None:
    scene = make_scene(3)
    x, y, w, h = scene.box
    wide = ObjectPrompt(box=(x - 500, y - 500, w + 1000, h + 1000))
    assert select_object(scene.rgb, wide).shape == scene.truth.shape


def test_remove_background_keeps_the_subject() -> None:
    scene = make_scene(5)
    mask = subject_mask(scene.rgb)
    assert iou(mask, scene.truth) >= 0.85
    rgba = cut_out(scene.rgb, mask)
    assert rgba.shape == (*scene.truth.shape, 4)
    assert np.array_equal(rgba[..., :3], scene.rgb)
    assert (rgba[..., 3][mask == 0] == 0).all() and (rgba[..., 3][mask == 255] == 255).all()


# ------------------------------------------------------------------ segmentation models


@pytest.fixture(scope="module")
def sam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sam(tmp_path_factory.mktemp("sam") / "tiny-sam")


@pytest.fixture(scope="module")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sam2(tmp_path_factory.mktemp("sam2") / "tiny-sam2")


def test_sam_folders_are_found_and_told_apart(sam_dir: Path, tmp_path: Path) -> None:
    import shutil

    assert discovery.classify(sam_dir) == discovery.SEGMENTER
    assert find_segmenters() == [] and resolve_segmenter("auto") is None
    installed = user_models_dir() / "segmenters" / "slimsam"
    shutil.copytree(sam_dir, installed)
    assert find_segmenters() == [installed]
    assert resolve_segmenter("auto") == installed and resolve_segmenter("none") is None


def test_a_folder_that_is_not_a_segmenter_is_refused(sam_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "vae"
    other.mkdir()
    (other / "config.json").write_text('{"_class_name": "AutoencoderKL"}')
    with pytest.raises(ModelError, match="is not a segmentation model"):
        check_segmenter(other)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((sam_dir / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="no .safetensors weights"):
        check_segmenter(pickled)


@pytest.mark.parametrize("which", ["sam", "sam2"])
def test_segmenter_embeds_once_and_answers_clicks(
    which: str, sam_dir: Path, sam2_dir: Path, one_torch_thread: None
) -> None:
    segmenter = load_segmenter(sam_dir if which == "sam" else sam2_dir)
    scene = make_scene(2)
    assert segmenter.cached(scene.rgb) is None
    emb = segmenter.embed(scene.rgb)
    assert segmenter.cached(scene.rgb) is emb and segmenter.embed(scene.rgb) is emb
    for prompt in (ObjectPrompt(box=scene.box), ObjectPrompt(points=(scene.inside,)),
                   ObjectPrompt(box=scene.box, points=(scene.inside,), negatives=((3, 3),))):  # fmt: skip
        mask = select_object(scene.rgb, prompt, "sam", segmenter)
        assert mask.shape == scene.truth.shape and mask.dtype == np.uint8
    changed = scene.rgb.copy()
    changed[0, 0] ^= 1  # the pixels changed: the kept embedding no longer fits
    assert segmenter.cached(changed) is None


# ------------------------------------------------------------------ the command line


def _scene_file(tmp_path: Path, seed: int = 4) -> tuple[Path, object]:
    scene = make_scene(seed)
    path = tmp_path / "in.png"
    Image.fromarray(scene.rgb).save(path)
    return path, scene


def test_cli_select_with_a_box_writes_the_mask(tmp_path: Path, capsys) -> None:
    picture, scene = _scene_file(tmp_path)
    out = tmp_path / "mask.png"
    box = ",".join(str(v) for v in scene.box)
    assert app_main(["select", "--init-img", str(picture), "--box", box, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as im:
        assert im.mode == "L"
        assert iou(np.asarray(im), scene.truth) >= 0.9


def test_cli_select_wand_and_sam(tmp_path: Path, sam_dir: Path, one_torch_thread: None) -> None:
    picture, scene = _scene_file(tmp_path)
    x, y = scene.inside
    out = tmp_path / "wand.png"
    args = ["select", "--init-img", str(picture), "--point", f"{x},{y}", "--method", "wand",
            "--tolerance", "30", "--out", str(out)]  # fmt: skip
    assert app_main(args) == 0
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im) == 255, bfs_flood(scene.rgb, x, y, 30))
    out = tmp_path / "sam.png"
    args = ["select", "--init-img", str(picture), "--point", f"{x},{y}", "--negative", "2,2",
            "--method", "sam", "--segmenter", str(sam_dir), "--out", str(out)]  # fmt: skip
    assert app_main(args) == 0 and out.is_file()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--box", "900,900,20,20"], "lies outside the 320x240 picture"),
        (["--point", "5,5", "--method", "sam"], "No segmentation model is installed"),
        (["--point", "5,5", "--segmenter", "."], "is not a segmentation model"),
        ([], "Give --box X,Y,W,H or at least one --point"),
    ],
)
def test_cli_select_refuses_in_one_line(
    tmp_path: Path, capsys, extra: list[str], words: str
) -> None:
    picture, _scene = _scene_file(tmp_path)
    out = tmp_path / "mask.png"
    assert app_main(["select", "--init-img", str(picture), *extra, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in err[0]
    assert not out.exists()


def test_a_click_never_waits_for_an_embedding_in_progress(
    sam_dir: Path, one_torch_thread: None
) -> None:
    import threading

    segmenter = load_segmenter(sam_dir)
    done, embed_next = make_scene(8), make_scene(9)
    segmenter.embed(done.rgb)
    encoder = segmenter.model.get_image_embeddings
    started, release = threading.Event(), threading.Event()

    def slow_encoder(pixels):  # the real encoder, held until the test lets it finish
        started.set()
        release.wait(60)
        return encoder(pixels)

    segmenter.model.get_image_embeddings = slow_encoder
    try:
        worker = threading.Thread(target=segmenter.embed, args=(embed_next.rgb,))
        worker.start()
        assert started.wait(60)
        # While the other picture is being embedded, this one answers at once.
        assert segmenter.cached(embed_next.rgb) is None
        emb = segmenter.cached(done.rgb)
        assert emb is not None
        assert segmenter.predict(emb, ObjectPrompt(box=done.box)).shape == done.truth.shape
        release.set()
        worker.join(60)
        assert segmenter.cached(embed_next.rgb) is not None
    finally:
        release.set()
        del segmenter.model.get_image_embeddings  # the class's method again


def test_a_broken_segmenter_is_one_sentence(sam_dir: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken-sam"
    shutil.copytree(sam_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])  # cut short, as a failed download
    with pytest.raises(ModelError) as err:
        load_segmenter(broken)
    assert str(err.value).endswith("could not be loaded; download it again or choose another.")
