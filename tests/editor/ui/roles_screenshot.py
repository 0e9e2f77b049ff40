"""Region and reference layers in the real window, captured as a screen shot for the README.

Run under Xvfb (a real X server, not the offscreen platform), from the repository root:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m tests.editor.ui.roles_screenshot packaging/layer-roles.png

It builds a picture with two region layers (each a painted patch with a prompt of its
own) and a reference layer (a small picture), marks them through the same calls the
Layer menu's dialogs make (one undo step each), and grabs the whole X screen with the
Layers list's RGN and REF badges and the region layer's tooltip showing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolTip

from editor.model.layer_roles import set_layer_reference, set_layer_region
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.ui.application import create_application
from editor.ui.main_window import MainWindow
from editor.ui.settings import Settings
from tests.editor.ui.screenshot_session import save_screen, settle
from tests.select_scenes import make_scene


def _patch(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """A soft-edged ellipse of `rgb`, half opaque, as a region layer is painted."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    alpha = np.clip((1.0 - r) * 4.0, 0.0, 1.0) * 150
    out = np.zeros((h, w, 4), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = alpha.astype(np.uint8)
    return out


def main(out: Path) -> int:
    app = create_application()
    work = Path(tempfile.mkdtemp())
    width, height = 640, 480
    sky = np.linspace([150, 190, 235], [215, 230, 245], height // 2).astype(np.uint8)
    grass = np.linspace([120, 170, 90], [70, 120, 50], height - height // 2).astype(np.uint8)
    picture = np.concatenate([sky, grass])[:, None, :].repeat(width, axis=1)
    path = work / "meadow.png"
    Image.fromarray(picture).save(path)
    window = MainWindow(Settings(work / "overpaint.ini"))
    window.setGeometry(0, 0, 1280, 800)
    window.show()
    app.processEvents()
    window.open_path(path)
    doc = window.document
    kite = doc.add_layer("Kite", rgba=_patch(140, 200, (170, 60, 200)), x=70, y=40)
    set_layer_region(doc, kite, RegionRole("a red kite", "blurry"))
    dog = doc.add_layer("Dog", rgba=_patch(150, 220, (170, 60, 200)), x=360, y=290)
    set_layer_region(doc, dog, RegionRole("a sleeping dog"))
    scene = make_scene(1003, (200, 150))
    ref = np.dstack([scene.rgb, np.full(scene.rgb.shape[:2], 255, np.uint8)])
    style = doc.add_layer("Watercolour", rgba=ref, x=420, y=20)
    set_layer_reference(doc, style, ReferenceRole("style", strength=0.7, start=0.2))
    doc.set_current_layer(kite)
    window.canvas.fit()
    settle(app)  # thumbnails and badges are drawn on the next turns
    # Room for the Layers list's four rows, as a user drags the docks' splitter; the
    # window lays its docks out over the first turns, so this comes after them.
    window.resizeDocks([window.generation_dock, window.layers_dock], [200, 440], Qt.Vertical)
    settle(app, 10)
    rows = window.layers_panel.list
    rows.scrollToTop()
    row = rows.visualItemRect(rows.currentItem())
    QToolTip.showText(rows.viewport().mapToGlobal(row.bottomLeft()), rows.currentItem().toolTip())
    settle(app)
    save_screen(app, window, out, colors=128)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "packaging/layer-roles.png")))
