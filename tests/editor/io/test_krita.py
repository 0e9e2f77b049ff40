"""Interop with the real Krita (Debian `krita` under Xvfb): it shows our composite, and we
open the .ora it writes.

Two Krita launches in total, run side by side in one module fixture: our .ora -> PNG
(Krita's rendering of our file) and our .ora -> .ora (a file written by Krita). Krita's
exit status is 0 even when it fails to load a layer, so everything is judged by pixels.
"""

from __future__ import annotations

import os
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.io.project import load_ora, save_ora
from editor.model.control_role import ControlRole
from editor.model.document import Document
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from tests.packaging.xvfb import require

pytestmark = pytest.mark.krita

# Krita rounds through its own 8-bit pipeline; a couple of levels is rounding, not a bug.
TOLERANCE = 3
KRITA_TIMEOUT_S = 300
CELL = 40
HEIGHT = 48
# Blend modes that OpenRaster names and Krita renders with the same formulas as we do.
SHARED_MODES = (
    "normal",
    "multiply",
    "screen",
    "overlay",
    "darken",
    "lighten",
    "color-dodge",
    "color-burn",
    "hard-light",
    "soft-light",
    "difference",
)
# Cells after the blend-mode cells: offsets off the canvas edge, an overlapping stack, add.
OFFSET_CELL, STACK_CELL, ADD_CELL = len(SHARED_MODES), len(SHARED_MODES) + 1, len(SHARED_MODES) + 2
N_CELLS = ADD_CELL + 1
CONTROL_ROLE = ControlRole("scribble", 0.8, 0.1, 0.9)
REGION_ROLE = RegionRole("a red rose", painted=True)
REFERENCE_ROLE = ReferenceRole("style", 0.7, region="stack a")


def cell(index: int) -> tuple[slice, slice]:
    return np.s_[:, index * CELL : (index + 1) * CELL]


def patch(w: int, h: int, seed: int) -> np.ndarray:
    """A colour ramp with a semi-transparent strip, so blending is tested at many values."""
    xx = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    yy = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    rgba = np.stack(
        [(xx + 37 * seed) % 256, yy, (255 - xx + 13 * seed) % 256, np.full_like(xx, 255)], -1
    ).astype(np.uint8)
    rgba[:, : w // 3, 3] = 160
    return rgba


def interop_document() -> Document:
    width = CELL * N_CELLS
    doc = Document(width, HEIGHT)
    yy, xx = np.mgrid[0:HEIGHT, 0:width]
    bg = np.stack(
        [(xx * 7) % 256, yy * 255 // HEIGHT, np.full_like(xx, 120), np.full_like(xx, 255)], -1
    ).astype(np.uint8)
    bg[:10, :, 3] = 0  # blending over nothing,
    bg[10:20, :, 3] = 128  # over half-transparent pixels, and over opaque ones below
    doc.add_layer("Background", rgba=bg)
    for i, mode in enumerate(SHARED_MODES):
        doc.add_layer(
            f"{mode} layer",
            rgba=patch(30, 44, i),
            x=i * CELL + 5,
            y=2,
            opacity=1.0 if i % 2 == 0 else 0.6,
            blend_mode=mode,
        )
    # Partly outside the canvas (negative offset) at the left edge of its own cell row.
    doc.add_layer("off the edge", rgba=patch(30, 30, 3), x=OFFSET_CELL * CELL + 20, y=-12)
    base = STACK_CELL * CELL
    # A region layer, and a reference layer limited to it, drawn as ordinary layers too.
    doc.add_layer(
        "stack a", rgba=patch(25, 30, 5), x=base + 2, y=4, opacity=0.7, region_prompt=REGION_ROLE
    )
    # A control layer (role and alpha lock in Overpaint's own attributes): Krita must load
    # and draw it as an ordinary layer.
    doc.add_layer(
        "stack b",
        rgba=patch(25, 30, 6),
        x=base + 10,
        y=12,
        blend_mode="multiply",
        alpha_locked=True,
        control=CONTROL_ROLE,
    )
    doc.add_layer(
        "stack c",
        rgba=patch(25, 30, 7),
        x=base + 14,
        y=16,
        blend_mode="screen",
        opacity=0.5,
        reference=REFERENCE_ROLE,
    )
    doc.add_layer("add layer", rgba=patch(30, 44, 8), x=ADD_CELL * CELL + 5, y=2, blend_mode="add")
    hidden = np.full((HEIGHT, width, 4), (0, 255, 0, 255), np.uint8)
    doc.add_layer("hidden green", rgba=hidden, visible=False)
    # Our extra mask/selection members must not disturb Krita (it ignores unknown files).
    mask = np.zeros((HEIGHT, width), np.uint8)
    mask[5:25, 10:60] = 255
    doc.set_mask(mask)
    doc.set_selection(mask[::-1].copy())
    return doc


@dataclass
class KritaRun:
    document: Document
    source: Path  # our .ora
    ours: np.ndarray
    rendered: np.ndarray  # Krita's PNG export of our .ora
    krita_ora: Path  # Krita's .ora export of our .ora
    seconds: float


def _krita(source: Path, target: Path, home: Path, display: int) -> subprocess.Popen:
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    with open(home / "krita.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            # Separate display-number ranges: two `xvfb-run -a` started together can race.
            [
                "xvfb-run",
                "-a",
                "-n",
                str(display),
                "krita",
                str(source),
                "--export",
                "--export-filename",
                str(target),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _finish(proc: subprocess.Popen, home: Path, target: Path) -> None:
    try:
        proc.wait(timeout=KRITA_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
    log = (home / "krita.log").read_text(errors="replace")
    assert target.is_file(), f"Krita wrote no {target.name}; its log ends:\n{log[-2000:]}"


@pytest.fixture(scope="module")
def krita_run(tmp_path_factory: pytest.TempPathFactory) -> KritaRun:
    require("krita", "xvfb-run")  # skipped without them, failed under CI=true
    work = tmp_path_factory.mktemp("krita")
    doc = interop_document()
    source = work / "ours.ora"
    save_ora(doc, source)
    png_out, ora_out = work / "krita.png", work / "krita.ora"
    start = time.monotonic()
    display = 200 + os.getpid() % 400
    runs = [
        (_krita(source, png_out, work / "home-png", display), work / "home-png", png_out),
        (_krita(source, ora_out, work / "home-ora", display + 500), work / "home-ora", ora_out),
    ]
    for proc, home, target in runs:
        _finish(proc, home, target)
    seconds = time.monotonic() - start
    print(f"two Krita exports side by side took {seconds:.1f} s")
    with Image.open(png_out) as im:
        rendered = np.asarray(im.convert("RGBA"))
    return KritaRun(doc, source, doc.composite_array(), rendered, ora_out, seconds)


def diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(-1)


def test_krita_shows_our_composite(krita_run: KritaRun) -> None:
    rendered, ours = krita_run.rendered, krita_run.ours
    assert rendered.shape == ours.shape
    for index in range(N_CELLS):
        if index == ADD_CELL:
            continue
        worst = diff(rendered[cell(index)], ours[cell(index)]).max()
        assert worst <= TOLERANCE, f"cell {index} differs by {worst} levels"
    # The hidden green layer stayed hidden, and the picture is not trivially empty.
    assert not ((rendered[..., 1] == 255) & (rendered[..., 0] == 0) & (rendered[..., 2] == 0)).any()
    assert rendered[..., 3].min() == 0 and rendered[..., 3].max() == 255


def test_krita_draws_our_control_layer_as_an_ordinary_layer(krita_run: KritaRun) -> None:
    with zipfile.ZipFile(krita_run.source) as zf:
        stack = zf.read("stack.xml").decode()
    assert 'name="stack b"' in stack and 'overpaint-control-kind="scribble"' in stack
    layers = {layer.name: layer for layer in load_ora(krita_run.source).layers}
    assert layers["stack b"].control == CONTROL_ROLE
    assert 'overpaint-reference-region="stack a"' in stack
    assert layers["stack a"].region_prompt == REGION_ROLE
    assert layers["stack c"].reference == REFERENCE_ROLE
    worst = diff(krita_run.rendered[cell(STACK_CELL)], krita_run.ours[cell(STACK_CELL)]).max()
    assert worst <= TOLERANCE


def test_krita_shows_our_add_mode(krita_run: KritaRun) -> None:
    worst = diff(krita_run.rendered[cell(ADD_CELL)], krita_run.ours[cell(ADD_CELL)]).max()
    assert worst <= TOLERANCE


def test_we_open_the_ora_krita_writes(krita_run: KritaRun) -> None:
    with zipfile.ZipFile(krita_run.krita_ora) as zf:
        assert b"xres=" in zf.read("stack.xml")  # Krita's own stack.xml, not a copy of ours
    notes: list[str] = []
    doc = load_ora(krita_run.krita_ora, warnings=notes)
    assert notes == []
    ours = krita_run.document
    assert [layer.name for layer in doc.layers] == [layer.name for layer in ours.layers]
    for theirs, mine in zip(doc.layers, ours.layers, strict=True):
        assert theirs.visible == mine.visible
        assert theirs.blend_mode == mine.blend_mode
        assert theirs.opacity == pytest.approx(mine.opacity, abs=1 / 255)
    # Krita trims layers to their content, so offsets change; the picture must not.
    loaded = doc.composite_array()
    for index in range(N_CELLS):
        if index != ADD_CELL:
            assert diff(loaded[cell(index)], krita_run.ours[cell(index)]).max() <= TOLERANCE
            assert diff(loaded[cell(index)], krita_run.rendered[cell(index)]).max() <= TOLERANCE
