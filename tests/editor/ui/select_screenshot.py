"""Select Object in the real window, captured as a screen shot for the README.

Run under Xvfb (a real X server, not the offscreen platform), from the repository root:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m tests.editor.ui.select_screenshot packaging/select-object.png

It opens a synthetic scene (tests/select_scenes.py), picks Select Object (O), drags a box
around the object through the tools bridge (as the canvas does: GrabCut, no model) and
grabs the whole X screen with the marching ants around the object.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QPointF, Qt

from tests.editor.ui.screenshot_session import save_screen, settle
from tests.select_scenes import make_scene


def main(out: Path) -> int:
    from editor.ui.application import create_application
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings

    app = create_application()
    work = Path(tempfile.mkdtemp())
    scene = make_scene(1003, (640, 480))
    picture = work / "scene.png"
    Image.fromarray(scene.rgb).save(picture)
    window = MainWindow(Settings(work / "overpaint.ini"))
    window.setGeometry(0, 0, 1280, 800)
    window.show()
    app.processEvents()
    window.open_path(picture)
    window.canvas.fit()
    window.set_tool("select_object")
    x, y, w, h = scene.box
    pad, none = 6, Qt.KeyboardModifier.NoModifier
    tools = window.tools
    tools.press(QPointF(x - pad, y - pad), 1.0, none)
    tools.move(QPointF(x + w / 2, y + h / 2), 1.0, none)
    tools.release(QPointF(x + w + pad, y + h + pad), 1.0, none)
    settle(app, 40)  # the marching ants and the status bar
    save_screen(app, window, out, colors=128)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "packaging/select-object.png")))
