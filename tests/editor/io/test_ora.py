"""OpenRaster: round trips keep everything; files from other writers open; hostile files don't."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PySide6.QtCore import QRect

from editor.io import ora as ora_module
from editor.io import safe_zip
from editor.io.errors import FileError, ImageTooLargeError, ProjectFormatError
from editor.io.ora import read_ora
from editor.io.project import load_document, load_ora, save_ora
from editor.model.blending import BLEND_MODES
from editor.model.document import Document
from engine.core.atomic_write import backup_path
from tests.editor.io.pngraw import RGB, png_bytes
from tests.editor.io.test_images import FUZZ_EXAMPLES, assert_one_sentence


def png(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(buf, "PNG")
    return buf.getvalue()


def solid(w: int, h: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    return np.tile(np.array(rgba, np.uint8), (h, w, 1))


def make_ora(path: Path, stack: str, members: dict[str, bytes], mimetype: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if mimetype:
            zf.writestr("mimetype", b"image/openraster", zipfile.ZIP_STORED)
        if stack is not None:
            zf.writestr("stack.xml", stack)
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def sample_document() -> Document:
    rng = np.random.default_rng(7)
    doc = Document(70, 50)
    bg = rng.integers(0, 256, (50, 70, 4), np.uint8)
    bg[..., 3] = 255
    bg[:, :6, 3] = 0
    doc.add_layer("Background", rgba=bg)
    for i, mode in enumerate(BLEND_MODES):
        patch = rng.integers(0, 256, (9 + i, 13, 4), np.uint8)
        patch[..., 3] = np.where(patch[..., 3] < 60, 0, 255)  # straight RGBA survives exactly
        doc.add_layer(
            f"{mode} <&\"'> ü {i}",
            rgba=patch,
            x=i * 5 - 7,
            y=(i * 11) % 45 - 3,
            opacity=round(0.3 + 0.05 * i, 6),
            blend_mode=mode,
            visible=i % 4 != 1,
            alpha_locked=i % 3 == 0,
        )
    doc.layers[2].metadata.update({"parameters": "a cat\nSteps: 20", "overpaint_request": "{}"})
    doc.add_layer("Empty")
    doc.set_current_layer(3)
    return doc


def test_round_trip_keeps_layers_properties_and_pixels(tmp_path: Path) -> None:
    doc = sample_document()
    path = tmp_path / "project.ora"
    save_ora(doc, path)
    notes: list[str] = []
    back = load_ora(path, warnings=notes)
    assert notes == []
    assert (back.width, back.height) == (70, 50)
    assert [layer.name for layer in back.layers] == [layer.name for layer in doc.layers]
    for ours, theirs in zip(doc.layers, back.layers, strict=True):
        assert (theirs.x, theirs.y) == (ours.x, ours.y) or ours.is_empty()
        assert theirs.opacity == pytest.approx(ours.opacity, abs=1e-6)
        assert theirs.visible == ours.visible
        assert theirs.blend_mode == ours.blend_mode
        assert theirs.alpha_locked == ours.alpha_locked
        assert theirs.metadata == ours.metadata
        np.testing.assert_array_equal(theirs.to_rgba(doc.rect()), ours.to_rgba(doc.rect()))
    np.testing.assert_array_equal(back.composite_array(), doc.composite_array())
    assert back.current_index == 3
    assert back.history.is_clean() and not back.history.undo_text()


def test_mask_and_selection_round_trip_and_a_damaged_one_is_left_out(tmp_path: Path) -> None:
    doc = sample_document()
    mask = np.zeros((50, 70), np.uint8)
    mask[10:30, 20:45] = 255
    mask[12, 21] = 77  # soft mask values survive, not just on/off
    doc.set_mask(mask)
    doc.select_ellipse(QRect(5, 5, 30, 20))
    path = tmp_path / "masked.ora"
    save_ora(doc, path)
    back = load_ora(path)
    np.testing.assert_array_equal(back.mask, mask)
    np.testing.assert_array_equal(back.selection, doc.selection)
    assert back.history.is_clean() and not back.history.undo_text()

    # No mask, no member: plain projects stay plain.
    plain = tmp_path / "plain.ora"
    save_ora(sample_document(), plain)
    with zipfile.ZipFile(plain) as zf:
        assert not [n for n in zf.namelist() if n.startswith("overpaint/")]

    # A mask of the wrong size is dropped with a sentence; the layers still open.
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "mimetype"}
    members["overpaint/mask.png"] = png(solid(7, 7, (255, 255, 255, 255)))
    stack = members.pop("stack.xml").decode()
    notes: list[str] = []
    again = load_ora(make_ora(tmp_path / "bad-mask.ora", stack, members), warnings=notes)
    assert notes == ['The saved mask in "bad-mask.ora" was damaged, so it was left out.']
    assert not again.has_mask() and again.has_selection()
    np.testing.assert_array_equal(again.composite_array(), doc.composite_array())


def test_archive_layout_merged_image_and_thumbnail(tmp_path: Path) -> None:
    doc = Document(600, 300)
    doc.add_layer("a", rgba=solid(600, 300, (10, 200, 30, 255)))
    doc.add_layer("b", rgba=solid(100, 100, (200, 0, 0, 128)), x=50, y=60, blend_mode="screen")
    path = tmp_path / "p.ora"
    save_ora(doc, path)
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"image/openraster"
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= set(zf.namelist())
        merged = np.asarray(Image.open(io.BytesIO(zf.read("mergedimage.png"))).convert("RGBA"))
        thumb = Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png")))
    np.testing.assert_array_equal(merged, doc.composite_array())
    assert thumb.size == (256, 128)
    # The archive's own header bytes: `file` and other sniffers rely on this layout.
    assert path.read_bytes()[30:38] == b"mimetype"


def test_files_from_other_writers(tmp_path: Path) -> None:
    """Nested stacks, version attributes, odd opacities, leading slashes, no mimetype."""
    red, blue = solid(4, 3, (255, 0, 0, 255)), solid(2, 2, (0, 0, 255, 255))
    stack = """<?xml version="1.0" encoding="UTF-8"?>
<image version="0.0.3" w="20" h="10" xres="72" yres="72">
 <stack name="root" version="1">
  <text x="1" y="1">unsupported</text>
  <stack name="group" x="5" y="2" opacity="0.5" composite-op="svg:src-over">
   <layer name="in group" src="/data/blue.png" x="1" y="1" opacity="0.498039"
          composite-op="svg:multiply" selected="true"/>
  </stack>
  <stack name="hidden group" visibility="hidden"><layer name="gone" src="data/red.png"/></stack>
  <layer name="red" src="./data/red.png" x="-1" y="7" opacity="1.5" composite-op="svg:xor"/>
 </stack>
</image>"""
    path = make_ora(
        tmp_path / "other.ora",
        stack,
        {"data/blue.png": png(blue), "data/red.png": png(red)},
        mimetype=False,
    )
    notes: list[str] = []
    doc = load_ora(path, warnings=notes)
    names = [layer.name for layer in doc.layers]
    assert names == ["red", "gone", "in group"]  # bottom to top
    assert doc.current_layer is doc.layers[2]  # selected="true"
    red_layer, gone, grouped = doc.layers
    assert (grouped.x, grouped.y) == (6, 3)
    assert grouped.opacity == pytest.approx(0.5 * 0.498039)
    assert grouped.blend_mode == "multiply"
    assert not gone.visible
    assert red_layer.opacity == 1.0 and (red_layer.x, red_layer.y) == (-1, 7)
    assert red_layer.blend_mode == "normal"
    np.testing.assert_array_equal(red_layer.to_rgba(), red)
    assert any("groups were flattened" in n for n in notes)
    assert any('"text"' in n for n in notes)
    assert any("svg:xor" in n for n in notes)
    for note in notes:
        assert_one_sentence(note)


def test_load_document_opens_images_too(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(solid(5, 4, (10, 20, 30, 255)), "RGBA").save(path)
    doc = load_document(path)
    assert (doc.width, doc.height) == (5, 4) and doc.layers[0].name == "photo"
    np.testing.assert_array_equal(doc.composite_array()[0, 0], (10, 20, 30, 255))
    assert doc.history.is_clean()


# ------------------------------------------------------------------ repairs

GOOD_LAYER = '<layer name="ok" src="data/ok.png" x="0" y="0"/>'


def stack_with(*layers: str, w: int = 16, h: int = 16) -> str:
    return f'<image w="{w}" h="{h}"><stack>{"".join(layers)}</stack></image>'


@pytest.mark.parametrize(
    ("layer", "extra", "expect"),
    [
        ('<layer name="lost" src="data/missing.png"/>', {}, "missing"),
        ('<layer name="lost" src="data/bad.png"/>', {"data/bad.png": b"\x89PNG broken"}, "damaged"),
        ('<layer name="lost"/>', {}, "no picture"),
        ('<layer name="lost" src="data/ok.png" x="100000000" y="5"/>', {}, "far outside"),
        ('<layer name="lost" src="data/ok.png" x="nan" y="inf"/>', {}, "far outside"),
    ],
)
def test_layer_problems_are_repaired_with_a_warning(
    tmp_path: Path, layer: str, extra: dict, expect: str
) -> None:
    members = {"data/ok.png": png(solid(4, 4, (9, 9, 9, 255))), **extra}
    path = make_ora(tmp_path / "r.ora", stack_with(layer, GOOD_LAYER), members)
    notes: list[str] = []
    doc = load_ora(path, warnings=notes)
    assert [layer.name for layer in doc.layers] == ["ok", "lost"]
    assert doc.layers[1].is_empty()
    np.testing.assert_array_equal(doc.layers[0].to_rgba()[0, 0], (9, 9, 9, 255))
    assert len(notes) == 1 and expect in notes[0] and '"lost"' in notes[0]
    assert_one_sentence(notes[0])


@pytest.mark.parametrize("stack", [None, "<image w='8' h='8'><stack>", "<image/>"])
def test_damaged_layer_list_recovers_the_flattened_picture(tmp_path: Path, stack) -> None:
    merged = solid(6, 5, (40, 50, 60, 255))
    path = make_ora(tmp_path / "d.ora", stack, {"mergedimage.png": png(merged)})
    notes: list[str] = []
    doc = load_ora(path, warnings=notes)
    assert (doc.width, doc.height) == (6, 5)
    np.testing.assert_array_equal(doc.composite_array(), merged)
    assert len(notes) == 1 and "flattened picture was recovered" in notes[0]
    assert_one_sentence(notes[0])


def test_hostile_layer_list_is_not_recovered_from_the_flattened_picture(tmp_path: Path) -> None:
    path = make_ora(
        tmp_path / "h.ora", BILLION_LAUGHS, {"mergedimage.png": png(solid(2, 2, (0,) * 4))}
    )
    with pytest.raises(ProjectFormatError, match="entities"):
        load_ora(path)


# ------------------------------------------------------------------ refusals

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<image w="8" h="8"><stack><layer name="&lol9;" src="data/ok.png"/></stack></image>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE image [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<image w="8" h="8"><stack><layer name="&xxe;" src="data/ok.png"/></stack></image>"""


def _zip_with_member(path: Path, name: str, data: bytes, attr: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", b"image/openraster")
        zf.writestr("stack.xml", stack_with(GOOD_LAYER))
        zf.writestr("data/ok.png", png(solid(2, 2, (1, 1, 1, 255))))
        info = zipfile.ZipInfo(name)
        if attr is not None:
            info.external_attr = attr << 16
        zf.writestr(info, data)
    return path


HOSTILE = {
    "missing stack.xml": lambda p: make_ora(p, None, {"data/ok.png": b"x"}),
    "krita document": lambda p: make_ora(p, None, {"maindoc.xml": b"<doc/>"}),
    "malformed stack.xml": lambda p: make_ora(p, "<image w='8' h='8'><stack>", {}),
    "not xml at all": lambda p: make_ora(p, "\x00\x01 garbage", {}),
    "not utf-8": lambda p: make_ora(p, None, {"stack.xml": b"\xff\xfe<\x00i\x00"}),
    "wrong root": lambda p: make_ora(p, "<svg/>", {}),
    "no stack": lambda p: make_ora(p, '<image w="8" h="8"/>', {}),
    "bad size": lambda p: make_ora(p, '<image w="x" h="8"><stack/></image>', {}),
    "zero size": lambda p: make_ora(p, '<image w="0" h="8"><stack/></image>', {}),
    "billion laughs": lambda p: make_ora(p, BILLION_LAUGHS, {}),
    "external entity": lambda p: make_ora(p, XXE, {}),
    "parent path member": lambda p: _zip_with_member(p, "../../evil.png", b"pwned"),
    "drive path member": lambda p: _zip_with_member(p, "C:/evil.png", b"pwned"),
    "symlink member": lambda p: _zip_with_member(p, "data/link.png", b"/etc/passwd", 0o120777),
    "parent path src": lambda p: make_ora(
        p, stack_with('<layer name="x" src="../../etc/passwd"/>'), {}
    ),
    "zip bomb": lambda p: make_ora(
        p, stack_with(GOOD_LAYER), {"data/ok.png": b"\x00" * (safe_zip.RATIO_MIN_BYTES + 1)}
    ),
    "deep nesting": lambda p: make_ora(
        p, '<image w="8" h="8">' + "<stack>" * 100 + "</stack>" * 100 + "</image>", {}
    ),
    "too many layers": lambda p: make_ora(
        p, stack_with(*[GOOD_LAYER] * (ora_module.MAX_LAYERS + 1)), {"data/ok.png": b"x"}
    ),
    "not a zip": lambda p: (p.write_bytes(b"PK\x03\x04 not really"), p)[1],
    "empty file": lambda p: (p.write_bytes(b""), p)[1],
    "missing file": lambda p: p.parent / "nothing-here.ora",
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_projects_are_refused_and_write_nothing(tmp_path: Path, kind: str) -> None:
    work = tmp_path / "inner" / "deeper"
    work.mkdir(parents=True)
    path = HOSTILE[kind](work / "hostile.ora")
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(FileError) as info:
        load_ora(path)
    assert_one_sentence(str(info.value))
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert "pwned" not in str(info.value)


def test_huge_canvas_and_layer_bomb_refused_by_the_pixel_limit(tmp_path: Path) -> None:
    huge = make_ora(tmp_path / "c.ora", '<image w="200000" h="200000"><stack/></image>', {})
    with pytest.raises(ImageTooLargeError):
        load_ora(huge)
    bomb = png_bytes(100_000, 100_000, 8, RGB, b"\x00" * 10)
    path = make_ora(tmp_path / "l.ora", stack_with(GOOD_LAYER), {"data/ok.png": bomb})
    with pytest.raises(ImageTooLargeError) as info:
        load_ora(path)
    assert_one_sentence(str(info.value))
    small = make_ora(
        tmp_path / "s.ora", stack_with(GOOD_LAYER), {"data/ok.png": png(solid(8, 8, (0,) * 4))}
    )
    with pytest.raises(ImageTooLargeError):
        load_ora(small, max_pixels=63)


def test_declared_member_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_zip, "MAX_MEMBER_BYTES", 1000)
    path = make_ora(tmp_path / "m.ora", stack_with(GOOD_LAYER), {"data/ok.png": os.urandom(5000)})
    with pytest.raises(ProjectFormatError, match="too large"):
        read_ora(path)


# ------------------------------------------------------------------ saving


def test_save_is_atomic_keeps_a_backup_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "p.ora"
    first = Document(8, 8)
    first.add_layer("first", rgba=solid(8, 8, (1, 2, 3, 255)))
    save_ora(first, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    path.chmod(0o640)
    second = Document(8, 8)
    second.add_layer("second", rgba=solid(8, 8, (4, 5, 6, 255)))
    save_ora(second, path)
    assert [layer.name for layer in load_ora(path).layers] == ["second"]
    assert [layer.name for layer in load_ora(backup_path(path)).layers] == ["first"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.ora", "p.ora.bak"]


def test_saving_through_a_symlink_updates_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "real" / "p.ora"
    real.parent.mkdir()
    link = tmp_path / "link.ora"
    link.symlink_to(real)
    doc = Document(4, 4)
    doc.add_layer("via link", rgba=solid(4, 4, (1, 2, 3, 255)))
    save_ora(doc, link)
    assert link.is_symlink()
    assert [layer.name for layer in load_ora(real).layers] == ["via link"]


def test_failed_save_leaves_the_old_file_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.ora"
    doc = Document(8, 8)
    doc.add_layer("kept", rgba=solid(8, 8, (1, 2, 3, 255)))
    save_ora(doc, path)
    before = path.read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ora_module, "_write_zip", disk_full)
    doc.add_layer("lost")
    with pytest.raises(FileError, match="No space left") as info:
        save_ora(doc, path)
    assert_one_sentence(str(info.value))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.ora"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ fuzz (fast subset)


def _seed_ora() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", b"image/openraster", zipfile.ZIP_STORED)
        zf.writestr(
            "stack.xml",
            stack_with(GOOD_LAYER, '<stack x="1"><layer src="data/ok.png" opacity="0.5"/></stack>'),
        )
        zf.writestr("data/ok.png", png(solid(3, 3, (5, 6, 7, 200))))
    return buf.getvalue()


SEED_ORA = _seed_ora()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=6))
def test_fuzzed_projects_open_or_raise_file_error(tmp_path_factory, edits: list) -> None:
    data = bytearray(SEED_ORA)
    for pos, value in edits:
        data[pos % len(data)] = value
    path = tmp_path_factory.mktemp("fuzz") / "f.ora"
    path.write_bytes(bytes(data))
    try:
        project = read_ora(path)
    except FileError as exc:
        assert_one_sentence(str(exc))
    else:
        assert all(layer.pixels.dtype == np.uint8 for layer in project.layers)
