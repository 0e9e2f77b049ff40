"""The procedural dataset, its captions and hold-out, the caption tokenizer, the reader."""

from __future__ import annotations

import json

import numpy as np

from engine.core.paths import RESOURCES
from engine.demo.dataset import (
    COLOURS,
    KINDS,
    PALETTE,
    all_words,
    caption,
    heldout_scenes,
    holdout_keys,
    make_batch,
    make_sample,
    render,
    sample_scene,
)
from engine.demo.evaluate import blob_sketch, judge, read_picture
from engine.demo.tokenizer import build_vocab, write_tokenizer

DEMO = RESOURCES / "models" / "overpaint-demo"


def test_samples_are_deterministic_by_seed_and_index() -> None:
    a_img, a_cap, a_scene = make_sample(7, 42, 128, 128)
    b_img, b_cap, b_scene = make_sample(7, 42, 128, 128)
    assert np.array_equal(a_img, b_img) and a_cap == b_cap and a_scene == b_scene
    c_img, _, _ = make_sample(7, 43, 128, 128)
    d_img, _, _ = make_sample(8, 42, 128, 128)
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_img, d_img)
    images, captions = make_batch(7, 40, 4, 96, 160)
    assert images.shape == (4, 160, 96, 3) and images.dtype == np.uint8
    assert np.array_equal(images[2], make_sample(7, 42, 96, 160)[0]) and len(captions) == 4


def test_picture_shows_the_background_and_shape_colours() -> None:
    img, _, scene = make_sample(1, 5, 128, 128)
    corner = img[:2, :2].reshape(-1, 3).astype(int)
    assert np.abs(corner - PALETTE[scene.background]).max() <= 12
    for shape in scene.shapes:
        near = np.abs(img.astype(int) - PALETTE[shape.colour]).max(axis=2) <= 12
        assert near.sum() > 0.02 * 128 * 128


def test_training_never_draws_a_held_out_combination() -> None:
    held = holdout_keys()
    assert len(held) == 100 == len(heldout_scenes())
    rng = np.random.default_rng(0)
    for _ in range(3000):
        scene = sample_scene(rng, held)
        for s in scene.shapes:
            assert (s.kind, s.colour, s.position, scene.background) not in held
            assert s.colour != scene.background


def test_captions_name_the_scene_and_sometimes_leave_words_out() -> None:
    rng = np.random.default_rng(3)
    words = set(all_words())
    captions = []
    for _ in range(400):
        scene = sample_scene(rng)
        text = caption(scene, rng)
        captions.append(text)
        for shape in scene.shapes:
            assert f"{shape.colour} {shape.kind}" in text
        assert set(text.replace(",", " ").split()) <= words
    assert sum("background" not in c for c in captions) > 20
    assert sum(not any(w in c for w in ("small", "large", "big")) for c in captions) > 50
    assert sum(" and " in c for c in captions) > 50
    full = caption(heldout_scenes()[0])
    assert full.startswith("a ") and full.endswith(" background")


def test_caption_tokenizer_is_small_and_round_trips(tmp_path) -> None:
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(write_tokenizer(tmp_path / "tok", all_words())))
    assert len(tok) < 1000
    text = "a big red square in the center, purple background"
    ids = tok(text).input_ids
    assert tok.convert_ids_to_tokens(ids)[1:-1] == [
        f"{w}</w>" for w in text.replace(",", " ,").split()
    ]
    single = [w for w in all_words() if len(tok(w).input_ids) == 3]
    assert len(single) >= 0.9 * len(all_words())
    # Words outside the vocabulary still tokenize (letter by letter), never as unknown.
    odd = tok.convert_ids_to_tokens(tok("a dog").input_ids)
    assert odd[1:-1] == ["a</w>", "d", "o", "g</w>"]
    caption_text = "a small orange triangle at the bottom, white background"
    decoded = tok.decode(tok(caption_text).input_ids, skip_special_tokens=True)
    assert decoded.replace(" ,", ",") == caption_text
    # The shipped model carries exactly this vocabulary (its text encoder was trained on it).
    vocab, _ = build_vocab(all_words())
    shipped = json.loads((DEMO / "tokenizer" / "vocab.json").read_text(encoding="utf-8"))
    assert shipped == vocab
    assert CLIPTokenizer.from_pretrained(str(DEMO / "tokenizer"))(caption_text).input_ids == (
        tok(caption_text).input_ids
    )


def test_reader_recognises_true_pictures_and_not_blobs() -> None:
    scenes = heldout_scenes()[:40]
    for i, scene in enumerate(scenes):
        for size in (128, 256):
            verdict = judge(render(scene, size, size, np.random.default_rng(i)), scene)
            assert all(verdict.values()), (scene, size, verdict)
    # A blob sketch keeps colours and layout but is not a clean shape of the right kind.
    kinds = [judge(blob_sketch(s, 128, i), s)["kind"] for i, s in enumerate(scenes)]
    assert sum(kinds) < len(scenes) * 0.6
    # Two shapes read as two blobs; a flat picture has no shape.
    pairs = (make_sample(0, i, 128, 128) for i in range(50))
    two = next(img for img, _, scene in pairs if len(scene.shapes) == 2)
    assert read_picture(two).blobs == 2
    flat = np.full((64, 64, 3), PALETTE["green"], np.uint8)
    reading = read_picture(flat)
    assert reading.background == "green" and reading.colour is None and reading.blobs == 0
    assert set(KINDS) == {"circle", "square", "triangle"} and len(COLOURS) >= 8
