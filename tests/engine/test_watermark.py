"""Invisible watermark: round trip through PNG files, best-effort refusal, no false reads."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.watermark import embed_watermark, read_watermark


def _noise() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (288, 320, 3), dtype=np.uint8)


def _gradient() -> np.ndarray:
    yy, xx = np.mgrid[0:300, 0:400]
    return np.dstack([xx * 255 // 399, yy * 255 // 299, np.full_like(xx, 90)]).astype(np.uint8)


def _flat_red() -> np.ndarray:
    img = np.zeros((272, 272, 3), np.uint8)
    img[..., 0] = 255
    return img


def _png_round_trip(rgb: np.ndarray, path: Path) -> np.ndarray:
    Image.fromarray(rgb).save(path)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize(
    "make", [_noise, _gradient, _flat_red], ids=["noise", "gradient", "flat-red"]
)
def test_round_trip_through_png(tmp_path: Path, make):
    original = make()
    marked = embed_watermark(original)
    assert marked.shape == original.shape and marked.dtype == np.uint8
    diff = np.abs(marked.astype(int) - original.astype(int))
    assert diff.max() > 0  # the mark is really there
    # Invisible: small changes, and flat saturated colours keep their colour (the library's
    # own uint8 YUV round trip would turn pure red into (221, 17, 1)).
    assert diff.mean() < 2.0 and diff.max() <= 16
    assert read_watermark(_png_round_trip(marked, tmp_path / "m.png")) == "OVERPAINT"
    assert read_watermark(_png_round_trip(original, tmp_path / "o.png")) is None


def test_library_decoder_reads_our_mark_and_agrees_on_any_image():
    """Compatibility: invisible-watermark's own dwtDctSvd decoder sees the same bits."""
    from engine.core.cvsafe import import_dwtdctsvd
    from engine.watermark import _bits, _decode_bits

    library = import_dwtdctsvd().EmbedDwtDctSvd(watermarks=[], wmLen=72)
    for img in (_noise(), _gradient()):
        marked = embed_watermark(img)
        for pixels in (img, marked):
            theirs = np.asarray(library.decode(np.ascontiguousarray(pixels[..., ::-1])), np.uint8)
            assert np.array_equal(theirs, _decode_bits(pixels, 72))
        assert np.array_equal(_decode_bits(marked, 72), _bits(b"OVERPAINT"))


def test_custom_payload_and_rgba_keeps_alpha():
    rgba = np.dstack([_noise(), np.full((288, 320), 200, np.uint8)])
    marked = embed_watermark(rgba, b"ABC")
    assert (marked[..., 3] == 200).all()
    assert read_watermark(marked[..., :3], payloads=(b"OVERPAINT", b"ABC")) == "ABC"
    assert read_watermark(marked[..., :3]) is None


def test_too_small_image_is_returned_unchanged(caplog):
    small = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    with caplog.at_level(logging.INFO, logger="engine.watermark"):
        out = embed_watermark(small)
    assert out is small
    assert "below" in caplog.text
    assert read_watermark(small) is None


def test_image_that_cannot_carry_the_mark_is_returned_unchanged(caplog):
    # Pure white: every push of the chroma channel clips in RGB, so verification fails.
    white = np.full((300, 300, 3), 255, np.uint8)
    with caplog.at_level(logging.WARNING, logger="engine.watermark"):
        out = embed_watermark(white)
    assert np.array_equal(out, white)
    assert "did not verify" in caplog.text


def test_unmarked_images_read_as_none():
    rng = np.random.default_rng(123)
    for _ in range(3):
        img = rng.integers(0, 256, (260, 260, 3), dtype=np.uint8)
        assert read_watermark(img) is None
    assert read_watermark(_gradient()) is None


def test_watermarking_does_not_import_torch():
    # imwatermark's package __init__ pulls torch (rivaGan); the dwtDctSvd loader must not.
    import subprocess

    code = (
        "import sys, numpy as np\n"
        "from engine.watermark import embed_watermark, read_watermark\n"
        "img = np.random.default_rng(0).integers(0, 256, (260, 260, 3), dtype=np.uint8)\n"
        "assert read_watermark(embed_watermark(img)) == 'OVERPAINT'\n"
        "print('torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_rejects_wrong_pixel_format():
    with pytest.raises(ValueError):
        embed_watermark(np.zeros((300, 300), np.uint8))
    with pytest.raises(ValueError):
        read_watermark(np.zeros((300, 300, 3), np.float32))


def test_only_generated_pixels_carry_the_mark_and_its_box_finds_it(tmp_path: Path) -> None:
    from engine.request import Box
    from engine.watermark import add_patch, find_watermark, mark_generated

    picture = np.random.default_rng(2).integers(0, 256, (400, 480, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:300, 0:300]
    disc = np.where(np.hypot(xx - 150, yy - 150) <= 150, 255, 0).astype(np.uint8)
    generated = np.zeros((400, 480), bool)
    add_patch(generated, disc, 100, 60)
    marked, record = mark_generated(picture, generated)
    assert record == {"method": "dwtDctSvd", "box": [100, 60, 300, 300]}
    assert np.array_equal(marked[~generated], picture[~generated])  # box corners too
    assert not np.array_equal(marked[generated], picture[generated])
    read = _png_round_trip(marked, tmp_path / "m.png")
    assert find_watermark(read, Box(100, 60, 300, 300)) == "OVERPAINT"
    assert read_watermark(read) is None  # the decoder must look in the box


def test_a_sparse_or_small_generated_area_is_left_unmarked_with_the_reason() -> None:
    from engine.watermark import add_patch, mark_generated

    picture = np.random.default_rng(2).integers(0, 256, (400, 480, 3), dtype=np.uint8)
    frame = np.zeros((300, 300), np.uint8)
    frame[:, :3] = frame[:, -3:] = frame[:3] = frame[-3:] = 255  # a thin outline
    generated = np.zeros((400, 480), bool)
    add_patch(generated, frame, 100, 60)
    out, record = mark_generated(picture, generated)
    assert out is picture and "did not read back" in record["skipped"]

    small = np.zeros((400, 480), bool)
    add_patch(small, np.full((100, 200), 255, np.uint8), 470, 390)  # mostly off the picture
    out, record = mark_generated(picture, small)
    assert out is picture and "(10x10) is too small" in record["skipped"]
    out, record = mark_generated(picture, np.zeros((400, 480), bool))
    assert out is picture and "no generated pixels" in record["skipped"]
