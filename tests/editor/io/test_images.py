"""Opening images: every mode lands as the right RGBA8 pixels; bad files get one sentence."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from editor.io.errors import FileError, ImageTooLargeError
from editor.io.images import decode_image, read_image
from tests.ci import skip_or_fail
from tests.editor.io.pngraw import GREY, GREY_ALPHA, RGB, RGBA, chunk, png16, png_bytes

# Fuzz cases per fuzz test; OVERPAINT_FUZZ_EXAMPLES=10000 for the long run (README).
FUZZ_EXAMPLES = int(os.environ.get("OVERPAINT_FUZZ_EXAMPLES", "150"))


def assert_one_sentence(message: str) -> None:
    assert message and "\n" not in message
    assert message.endswith(".")
    assert ". " not in message[:-1], message
    assert "Traceback" not in message


def save(tmp_path: Path, name: str, im: Image.Image, **kw) -> Path:
    path = tmp_path / name
    im.save(path, **kw)
    return path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def gradient_rgba(w: int = 17, h: int = 11) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack(
        [xx * 15 % 256, yy * 23 % 256, (xx + yy) * 7 % 256, 255 - (xx * yy) % 256], -1
    ).astype(np.uint8)


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("a.png", {}),
        ("a.webp", {"lossless": True}),
        ("a.tiff", {}),
        ("a.tif", {"compression": "tiff_lzw"}),
    ],
)
def test_rgba_formats_are_exact(tmp_path: Path, name: str, kw: dict) -> None:
    pixels = gradient_rgba()
    out = read_image(save(tmp_path, name, Image.fromarray(pixels, "RGBA"), **kw))
    assert out.dtype == np.uint8 and out.shape == (11, 17, 4)
    np.testing.assert_array_equal(out, pixels)


def test_bmp_rgb_is_exact_and_opaque(tmp_path: Path) -> None:
    rgb = gradient_rgba()[..., :3]
    out = read_image(save(tmp_path, "a.bmp", Image.fromarray(rgb, "RGB")))
    np.testing.assert_array_equal(out[..., :3], rgb)
    assert (out[..., 3] == 255).all()


def test_jpeg_is_close(tmp_path: Path) -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (200, 40, 30)
    rgb[:, 8:] = (20, 90, 220)
    out = read_image(save(tmp_path, "a.jpg", Image.fromarray(rgb), quality=95))
    assert np.abs(out[4:12, 1:6, :3].astype(int) - (200, 40, 30)).max() <= 6
    assert np.abs(out[4:12, 10:15, :3].astype(int) - (20, 90, 220)).max() <= 6
    assert (out[..., 3] == 255).all()


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (4, 2))
    im.putpalette([10, 20, 30, 200, 100, 50, 0, 255, 0] + [0] * (256 - 3) * 3)
    im.putdata([0, 1, 2, 1, 1, 0, 2, 2])
    out = read_image(save(tmp_path, "p.png", im, transparency=1))
    np.testing.assert_array_equal(out[0, 0], (10, 20, 30, 255))
    np.testing.assert_array_equal(out[0, 2], (0, 255, 0, 255))
    assert out[0, 1, 3] == 0 and out[1, 0, 3] == 0
    # GIF: the same picture through a different palette container.
    gif = read_image(save(tmp_path, "p.gif", im, transparency=1))
    np.testing.assert_array_equal(gif[..., 3], out[..., 3])
    np.testing.assert_array_equal(gif[1, 3], (0, 255, 0, 255))


def test_grey_and_grey_alpha(tmp_path: Path) -> None:
    grey = np.array([[0, 77, 255]], np.uint8)
    out = read_image(save(tmp_path, "l.png", Image.fromarray(grey, "L")))
    np.testing.assert_array_equal(out[0], [[0, 0, 0, 255], [77, 77, 77, 255], [255] * 4])
    la = Image.merge("LA", [Image.fromarray(grey, "L"), Image.fromarray(grey[:, ::-1], "L")])
    out = read_image(save(tmp_path, "la.png", la))
    np.testing.assert_array_equal(out[0], [[0, 0, 0, 255], [77, 77, 77, 77], [255, 255, 255, 0]])
    bilevel = read_image(save(tmp_path, "1.tiff", Image.fromarray(grey > 100)))
    np.testing.assert_array_equal(bilevel[0, :, 0], [0, 0, 255])


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    # Pillow's own convert() clips I;16 at 255, which would turn all of these white.
    values = np.array([[0, 257 * 100, 257 * 200, 65535, 128]], np.uint16)
    expected = [0, 100, 200, 255, 0]
    png = read_image(write(tmp_path, "g16.png", png16(values, GREY)))
    np.testing.assert_array_equal(png[0, :, 0], expected)
    np.testing.assert_array_equal(png[0, :, 1], expected)
    assert (png[..., 3] == 255).all()
    tiff = read_image(save(tmp_path, "g16.tiff", Image.fromarray(values)))
    np.testing.assert_array_equal(tiff[0, :, 2], expected)


def test_sixteen_bit_colour_and_grey_alpha(tmp_path: Path) -> None:
    rgb = np.zeros((2, 3, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 65535, 257 * 100, 257 * 3
    out = read_image(write(tmp_path, "rgb16.png", png16(rgb, RGB)))
    np.testing.assert_array_equal(out[1, 2], (255, 100, 3, 255))
    rgba = np.zeros((2, 3, 4), np.uint16)
    rgba[...] = (257 * 10, 257 * 20, 257 * 30, 257 * 40)
    out = read_image(write(tmp_path, "rgba16.png", png16(rgba, RGBA)))
    np.testing.assert_array_equal(out[0, 0], (10, 20, 30, 40))
    la = np.zeros((2, 3, 2), np.uint16)
    la[...] = (257 * 7, 257 * 50)
    out = read_image(write(tmp_path, "la16.png", png16(la, GREY_ALPHA)))
    np.testing.assert_array_equal(out[0, 0], (7, 7, 7, 50))


def test_cmyk(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (4, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 0, 255)])
    out = read_image(save(tmp_path, "c.tiff", cmyk))
    np.testing.assert_array_equal(
        out[0], [[255, 255, 255, 255], [0, 255, 255, 255], [255, 0, 255, 255], [0, 0, 0, 255]]
    )
    # Adobe-style (inverted) CMYK JPEG: Pillow's decoder undoes the inversion.
    big = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    out = read_image(save(tmp_path, "c.jpg", big, quality=95))
    assert np.abs(out[8, 8, :3].astype(int) - (255, 0, 0)).max() <= 8


ICC_DIRS = [Path("/usr/share/color/icc/ghostscript"), Path("/usr/share/color/icc/krita")]


def find_profile(*names: str) -> Path:
    for folder in ICC_DIRS:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    skip_or_fail(f"no ICC profile among {names} (Debian libgs-common or krita-data has them)")


def adobe_rgb_to_srgb(rgb: tuple[int, int, int], gamma: float) -> np.ndarray:
    """Independent reference: Adobe RGB (1998) -> XYZ (D65) -> sRGB, published matrices."""
    to_xyz = np.array(
        [[0.5767309, 0.1855540, 0.1881852], [0.2973769, 0.6273491, 0.0752741],
         [0.0270343, 0.0706872, 0.9911085]]
    )  # fmt: skip
    from_xyz = np.array(
        [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560],
         [0.0556434, -0.2040259, 1.0572252]]
    )  # fmt: skip
    linear = np.clip(from_xyz @ to_xyz @ ((np.array(rgb) / 255) ** gamma), 0, 1)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(encoded * 255)


def test_adobe_rgb_photo_is_converted_to_srgb(tmp_path: Path) -> None:
    profile = find_profile("a98.icc", "ClayRGB-elle-V2-g22.icc")
    gamma = 563 / 256 if profile.name == "a98.icc" else 2.2
    colours = [(200, 100, 100), (60, 180, 90), (128, 128, 128)]
    im = Image.new("RGB", (3, 1))
    im.putdata(colours)
    out = read_image(save(tmp_path, "adobe.png", im, icc_profile=profile.read_bytes()))
    for i, colour in enumerate(colours):
        assert np.abs(out[0, i, :3] - adobe_rgb_to_srgb(colour, gamma)).max() <= 2
    # Same numbers with an RGBA image: alpha passes through untouched.
    rgba = Image.new("RGBA", (1, 1), (200, 100, 100, 77))
    out = read_image(save(tmp_path, "adobe_a.png", rgba, icc_profile=profile.read_bytes()))
    assert out[0, 0, 3] == 77 and abs(int(out[0, 0, 0]) - 227) <= 2


def test_srgb_tagged_and_broken_profiles_leave_numbers_alone(tmp_path: Path) -> None:
    pixels = gradient_rgba()
    im = Image.fromarray(pixels, "RGBA")

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    np.testing.assert_array_equal(read_image(save(tmp_path, "s.png", im, icc_profile=srgb)), pixels)
    broken = read_image(save(tmp_path, "b.png", im, icc_profile=b"not a profile" * 10))
    np.testing.assert_array_equal(broken, pixels)


def test_cmyk_with_press_profile_uses_it(tmp_path: Path) -> None:
    profile = find_profile("default_cmyk.icc", "cmyk.icm")
    im = Image.new("CMYK", (2, 1))
    im.putdata([(0, 0, 0, 0), (0, 0, 0, 255)])
    out = read_image(save(tmp_path, "press.tiff", im, icc_profile=profile.read_bytes()))
    assert out[0, 0, :3].min() >= 235  # paper white
    # Full black ink on a press profile is a dark grey, not the formula's pure 0.
    assert 10 <= int(out[0, 1, :3].max()) <= 90


def test_float_tiff(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = read_image(save(tmp_path, "f.tiff", Image.fromarray(values, "F")))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[0, 0, :3] = (255, 0, 0)  # red top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = read_image(save(tmp_path, "o.png", Image.fromarray(pixels, "RGBA"), exif=exif.tobytes()))
    assert out.shape == (3, 2, 4)
    np.testing.assert_array_equal(out[0, 1, :3], (255, 0, 0))  # now top-right


def huge_png_header(width: int, height: int) -> bytes:
    return png_bytes(width, height, 8, RGB, b"\x00" * 10)


@pytest.mark.parametrize("size", [(20_000, 20_000), (100_000, 100_000), (2**31 - 1, 2**31 - 1)])
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path, size: tuple) -> None:
    path = write(tmp_path, "bomb.png", huge_png_header(*size))
    with pytest.raises(ImageTooLargeError) as info:
        read_image(path)
    assert_one_sentence(str(info.value))
    assert "bomb.png" in str(info.value) and "limit" in str(info.value)


def test_pixel_limit_is_a_parameter(tmp_path: Path) -> None:
    path = save(tmp_path, "a.png", Image.new("RGB", (100, 60)))
    assert read_image(path, max_pixels=6000).shape == (60, 100, 4)
    with pytest.raises(ImageTooLargeError, match="100x60"):
        read_image(path, max_pixels=5999)


def test_a_raised_limit_also_lifts_pillows_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pillow refuses above 2 * MAX_IMAGE_PIXELS by itself; shrink that to see it lifted.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = save(tmp_path, "a.png", Image.new("RGB", (60, 60), (1, 2, 3)))
    assert read_image(path, max_pixels=10_000)[59, 59, 2] == 3
    assert Image.MAX_IMAGE_PIXELS == 1000
    with pytest.raises(ImageTooLargeError, match="60x60"):
        read_image(path, max_pixels=3000)


def png_cut(tmp_path: Path) -> Path:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    return write(tmp_path, "cut.png", buf.getvalue()[: len(buf.getvalue()) // 2])


def jpeg_cut(tmp_path: Path) -> Path:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG")
    return write(tmp_path, "cut.jpg", buf.getvalue()[: len(buf.getvalue()) // 2])


def webp_cut(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(gradient_rgba(64, 64), "RGBA").save(buf, "WEBP")
    return write(tmp_path, "cut.webp", buf.getvalue()[:40])


BAD_FILES = {
    "empty": lambda p: write(p, "empty.png", b""),
    "zero width": lambda p: write(p, "zero.png", png_bytes(0, 5, 8, RGB, b"")),
    "truncated png": png_cut,
    "truncated jpeg": jpeg_cut,
    "truncated webp": webp_cut,
    "random bytes": lambda p: write(p, "noise.png", np.random.default_rng(2).bytes(5000)),
    "text": lambda p: write(p, "notes.jpg", b"hello, this is not a picture\n" * 20),
    "bad crc": lambda p: write(
        p, "crc.png", png_bytes(4, 4, 8, RGB, b"\x00" * 52)[:-20] + chunk(b"IEND", b"")[:-2]
    ),
    "eps runs ghostscript": lambda p: write(
        p, "x.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    ),
    "missing": lambda p: p / "nope.png",
    "folder": lambda p: p,
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_with_one_sentence(tmp_path: Path, kind: str) -> None:
    path = BAD_FILES[kind](tmp_path)
    with pytest.raises(FileError) as info:
        read_image(path)
    assert_one_sentence(str(info.value))


def test_decode_image_from_bytes() -> None:
    buf = io.BytesIO()
    Image.fromarray(gradient_rgba(), "RGBA").save(buf, "PNG")
    np.testing.assert_array_equal(decode_image(buf.getvalue(), "clip"), gradient_rgba())
    with pytest.raises(FileError, match="empty"):
        decode_image(b"", "clip")


def _seed_files() -> list[bytes]:
    seeds = []
    for fmt, kw in [
        ("PNG", {}),
        ("JPEG", {}),
        ("WEBP", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("GIF", {}),
    ]:
        buf = io.BytesIO()
        im = Image.fromarray(gradient_rgba(9, 7), "RGBA")
        (im if fmt in ("PNG", "WEBP", "TIFF") else im.convert("RGB")).save(buf, fmt, **kw)
        seeds.append(buf.getvalue())
    return seeds


SEEDS = _seed_files()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
)
def test_fuzzed_images_decode_or_raise_file_error(seed: int, edits: list, cut: int) -> None:
    data = bytearray(SEEDS[seed])
    for pos, value in edits:
        data[pos % len(data)] = value
    data = data[: max(1, len(data) - cut % 64)]
    try:
        out = decode_image(bytes(data), "fuzz", max_pixels=1_000_000)
    except FileError as exc:
        assert_one_sentence(str(exc))
    else:
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 4
