"""Structure-aware OpenRaster fuzz: random stack.xml trees over real layer PNGs.

tests/editor/io/test_ora.py flips bytes of a whole archive, which mostly trips the zip
CRC check. Here the archive is always valid and the stack is hostile: odd offsets,
opacities, visibility and blend strings, names with control characters, src paths that
climb out or point nowhere, nesting. Whatever opens must also composite, save and reopen
to the same pixels; whatever does not must be one FileError sentence. Nothing is written
next to the file.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from editor.io.errors import FileError
from editor.io.project import load_ora, save_ora

FUZZ_EXAMPLES = int(os.environ.get("OVERPAINT_FUZZ_EXAMPLES", "150"))


def _png(w: int, h: int, seed: int) -> bytes:
    rgba = np.random.default_rng(seed).integers(0, 256, (h, w, 4), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()


MEMBERS = {
    "data/a.png": _png(5, 4, 1),
    "data/b.png": _png(1, 1, 2),
    "data/wide.png": _png(40, 2, 3),
    "data/junk.png": b"\x89PNG\r\n\x1a\n not really",
}
SRCS = st.sampled_from(
    [*MEMBERS, "data/missing.png", "../a.png", "/etc/passwd", "", "data/../data/a.png",
     "data\\a.png", "DATA/A.PNG", "data/a.png\x00", "mimetype", "stack.xml", "data/"]
)  # fmt: skip
NUMBERS = st.sampled_from(
    ["0", "1", "-1", "3", "-7", "2.5", "1e308", "-1e308", "nan", "inf", "-inf", "", "x",
     "99999999999999999999", "-40", "7", "0x10", " 2 "]
)  # fmt: skip
OPACITY = st.sampled_from(["1", "0", "0.5", "-1", "2", "nan", "inf", "", "abc", "1e-320"])
OPS = st.sampled_from(
    ["svg:src-over", "svg:multiply", "svg:screen", "svg:overlay", "svg:plus", "svg:dst-in",
     "krita:burn", "", "SVG:MULTIPLY", "svg:darken", "svg:color-dodge", "\u00e9"]
)  # fmt: skip
NAMES = st.text(max_size=12)


@st.composite
def attrs(draw: st.DrawFn, layer: bool) -> str:
    out = []
    for key, values in [("x", NUMBERS), ("y", NUMBERS), ("opacity", OPACITY)]:
        if draw(st.booleans()):
            out.append(f"{key}={quoteattr(draw(values))}")
    if draw(st.booleans()):
        out.append(f"visibility={quoteattr(draw(st.sampled_from(['visible', 'hidden', 'x'])))}")
    if layer:
        if draw(st.integers(0, 9)):
            out.append(f"src={quoteattr(draw(SRCS))}")
        if draw(st.booleans()):
            out.append(f"composite-op={quoteattr(draw(OPS))}")
        if draw(st.booleans()):
            name = "".join(c for c in draw(NAMES) if c.isprintable() or c in "\t")
            out.append(f"name={quoteattr(name)}")
        for key in ("selected", "overpaint-alpha-lock"):
            if draw(st.integers(0, 3)) == 0:
                out.append(f'{key}="true"')
    return " ".join(out)


@st.composite
def stack(draw: st.DrawFn, depth: int = 0) -> str:
    children = []
    for _ in range(draw(st.integers(0, 4 if depth < 3 else 1))):
        kind = draw(st.sampled_from(["layer", "layer", "layer", "stack", "text"]))
        if kind == "stack" and depth < 3:
            children.append(draw(stack(depth + 1)))
        elif kind == "text":
            children.append("<filter/>")
        else:
            children.append(f"<layer {draw(attrs(True))}/>")
    return f"<stack {draw(attrs(False))}>{''.join(children)}</stack>"


CANVAS = st.sampled_from(['w="8" h="6"', 'w="1" h="1"', 'w="64" h="3"', 'w="8" h="6" xres="72"'])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ora-fuzz")


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canvas=CANVAS, tree=stack(), members=st.sets(st.sampled_from(list(MEMBERS))))
def test_fuzzed_stacks_open_save_and_reopen_or_raise_file_error(
    fuzz_dir: Path, canvas: str, tree: str, members: set
) -> None:
    folder = fuzz_dir / "work"
    folder.mkdir(exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    path = folder / "f.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", b"image/openraster", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", f'<?xml version="1.0"?><image {canvas}>{tree}</image>')
        for name in sorted(members):
            zf.writestr(name, MEMBERS[name])
    warnings: list[str] = []
    try:
        doc = load_ora(path, warnings=warnings)
    except FileError as e:
        text = str(e)
        assert text and "\n" not in text and len(text) < 400, text
        assert sorted(p.name for p in folder.iterdir()) == ["f.ora"]
        return
    assert all(w and "\n" not in w for w in warnings)
    composite = doc.composite_array()
    assert composite.shape == (doc.height, doc.width, 4)
    for layer in doc.layers:
        assert 0.0 <= layer.opacity <= 1.0
    again = folder / "again.ora"
    save_ora(doc, again)
    reopened = load_ora(again)
    assert np.array_equal(reopened.composite_array(), composite)
    assert [layer.name for layer in reopened.layers] == [layer.name for layer in doc.layers]
    assert sorted(p.name for p in folder.iterdir()) == ["again.ora", "f.ora"]
