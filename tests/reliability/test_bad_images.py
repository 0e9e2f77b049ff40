"""Bad images beyond tests/editor/io: bombs in every format, zlib and text-chunk bombs,
reading under a hard memory limit, a chunk-level PNG fuzz (valid CRCs, so the decoder and
not the checksum meets the garbage), and the pixel limit as a user setting."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from editor.io.errors import FileError, ImageTooLargeError
from editor.io.images import decode_image, read_image
from tests.editor.io.pngraw import RGB, chunk, png_bytes

FUZZ_EXAMPLES = int(os.environ.get("OVERPAINT_FUZZ_EXAMPLES", "150"))
ROOT = Path(__file__).resolve().parents[2]


def assert_sentence(text: str) -> None:
    assert text and "\n" not in text and len(text) < 400 and text.endswith("."), text


def encoded(fmt: str, size: tuple[int, int] = (4, 4), **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg_bomb() -> bytes:
    data = bytearray(encoded("JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def gif_bomb() -> bytes:
    data = bytearray(encoded("GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)  # logical screen
    desc = data.index(b"\x2c")  # image descriptor
    data[desc + 5 : desc + 9] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def bmp_bomb() -> bytes:
    data = bytearray(encoded("BMP"))
    data[18:26] = struct.pack("<ii", 100_000, 100_000)
    return bytes(data)


def tiff_bomb() -> bytes:
    data = bytearray(encoded("TIFF"))
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, _kind, _n = struct.unpack("<HHI", data[at : at + 8])
        if tag in (256, 257):  # ImageWidth, ImageLength -> LONG 100000
            data[at + 2 : at + 12] = struct.pack("<HII", 4, 1, 100_000)
    return bytes(data)


def webp_bomb() -> bytes:
    data = bytearray(encoded("WEBP", lossless=True))
    at = data.index(b"VP8L") + 8
    assert data[at] == 0x2F
    bits = 16383 | (16383 << 14)  # 16384 x 16384, the format's maximum
    data[at + 1 : at + 5] = struct.pack(
        "<I", bits | (struct.unpack("<I", data[at + 1 : at + 5])[0] & ~0xFFFFFFF)
    )
    return bytes(data)


def idat_bomb() -> bytes:
    """A 16x16 PNG whose IDAT inflates to 64 MB: the decoder must stop at what it needs."""
    rows = b"".join(b"\x00" + b"\x00" * 48 for _ in range(16)) + b"\x00" * (64 << 20)
    return png_bytes(16, 16, 8, RGB, rows)


def text_bomb() -> bytes:
    """A 2x2 PNG carrying a zTXt chunk that inflates to 64 MB (Pillow's cap is 1 MB)."""
    ztxt = b"Comment\x00\x00" + zlib.compress(b"A" * (64 << 20), 1)
    rows = b"\x00" + b"\x00" * 6
    return png_bytes(2, 2, 8, RGB, rows + rows, extra=chunk(b"zTXt", ztxt))


BOMBS = {
    "bomb.jpg": jpeg_bomb,
    "bomb.gif": gif_bomb,
    "bomb.bmp": bmp_bomb,
    "bomb.tif": tiff_bomb,
    "bomb.webp": webp_bomb,
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_declared_giants_are_refused_before_decoding(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(BOMBS[name]())
    with pytest.raises(ImageTooLargeError) as info:
        read_image(path)
    assert_sentence(str(info.value))
    assert name in str(info.value)


@pytest.fixture(scope="module")
def inflating_bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    out = {}
    for name, make in [("idat.png", idat_bomb), ("ztxt.png", text_bomb)]:
        out[name] = folder / name
        out[name].write_bytes(make())
    return out


def test_inflating_bombs_open_small_or_are_refused(inflating_bombs: dict[str, Path]) -> None:
    for name, path in inflating_bombs.items():
        assert path.stat().st_size < 2 << 20  # tiny on disk
        try:
            rgba = read_image(path)
        except FileError as e:
            assert_sentence(str(e))
        else:
            assert rgba.shape[:2] in ((16, 16), (2, 2)), name


CHILD = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from editor.io.errors import FileError
from editor.io.images import read_image
out = {}
for path in sys.argv[2:]:
    try:
        out[path] = list(read_image(path).shape)
    except FileError as e:
        out[path] = "FileError: " + str(e)
    except BaseException as e:
        out[path] = "ESCAPED " + type(e).__name__
print(json.dumps(out))
"""


def test_bombs_under_a_hard_memory_limit(tmp_path: Path, inflating_bombs: dict[str, Path]) -> None:
    """With 1 GiB of address space, no bomb gets the reader killed or escapes as MemoryError."""
    paths = [str(p) for p in inflating_bombs.values()]
    for name, make in BOMBS.items():
        (tmp_path / name).write_bytes(make())
        paths.append(str(tmp_path / name))
    # Just under the 100 MP default limit, declared but with no pixel data behind it.
    near = tmp_path / "near-limit.png"
    near.write_bytes(png_bytes(9_999, 9_999, 8, RGB, b"\x00" * 100))
    paths.append(str(near))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(1 << 30), *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    assert not [r for r in results.values() if str(r).startswith("ESCAPED")], results
    assert len(results) == len(paths)
    print(json.dumps(results, indent=1))


# ---------------------------------------------------------------- chunk-level PNG fuzz

IHDR = st.tuples(
    st.integers(0, 70_000) | st.integers(1, 40),
    st.integers(0, 70_000) | st.integers(1, 40),
    st.sampled_from([1, 2, 4, 8, 16, 0, 3, 255]),
    st.sampled_from([0, 2, 3, 4, 6, 1, 5, 7]),
    st.sampled_from([0, 0, 1]),
    st.sampled_from([0, 0, 0, 1]),
    st.sampled_from([0, 0, 1, 2]),
)
EXTRA = st.lists(
    st.tuples(
        st.sampled_from([b"PLTE", b"tRNS", b"gAMA", b"iCCP", b"eXIf", b"sBIT", b"tEXt", b"zTXt",
                         b"iTXt", b"pHYs", b"acTL", b"fcTL", b"IDAT", b"IEND", b"bKGD"]),
        st.binary(max_size=80),
    ),
    max_size=4,
)  # fmt: skip


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ihdr=IHDR, extra=EXTRA, rows=st.binary(max_size=300), compress=st.booleans())
def test_fuzzed_png_chunks_decode_or_raise_file_error(
    ihdr: tuple, extra: list, rows: bytes, compress: bool
) -> None:
    width, height, depth, colour, compression, filter_, interlace = ihdr
    head = struct.pack(">IIBBBBB", width, height, depth, colour, compression, filter_, interlace)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + b"".join(chunk(tag, body) for tag, body in extra)
        + chunk(b"IDAT", zlib.compress(rows) if compress else rows)
        + chunk(b"IEND", b"")
    )
    try:
        out = decode_image(data, "fuzz.png", max_pixels=4_000_000)
    except FileError as e:
        assert_sentence(str(e))
    else:
        assert out.dtype == np.uint8 and out.shape == (height, width, 4)


# ---------------------------------------------------------------- the limit is a setting


def test_pixel_limit_is_a_user_setting(qtbot, tmp_path: Path) -> None:
    from editor.ui.dialogs import SettingsDialog
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings

    settings_ = Settings(tmp_path / "s.ini")
    assert settings_.max_image_megapixels == 100
    dialog = SettingsDialog(settings_)
    dialog.max_image_spin.setValue(2)
    dialog.accept()
    assert Settings(tmp_path / "s.ini").max_image_megapixels == 2

    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1100), (1, 2, 3)).save(big)  # 2.2 MP
    win = MainWindow(settings_)
    win.ask_save_changes = lambda: "discard"
    qtbot.addWidget(win)
    before = win.document
    assert not win.open_path(big)
    assert win.document is before
    assert "2 megapixels" in win.last_error and "big.png" in win.last_error
    assert not win.import_layer(big)
    settings_.max_image_megapixels = 3
    assert win.open_path(big)
    assert (win.document.width, win.document.height) == (2000, 1100)
    win.close()
