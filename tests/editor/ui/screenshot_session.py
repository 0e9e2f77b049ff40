"""A short scripted session on the real window, captured as a screen shot for the README.

Run under Xvfb (a real X server, not the offscreen platform), from the repository root:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m tests.editor.ui.screenshot_session packaging/screenshot.png

It generates a picture with the bundled demo model (txt2img on an empty canvas), accepts
it as a layer, paints a mask, inpaints the masked part, previews the first candidate and
grabs the whole X screen.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QPointF, Qt


def wait_until(app, condition, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the scripted session took too long")
        app.processEvents()
        time.sleep(0.02)


def settle(app, turns: int = 20) -> None:
    """Let the window draw what the last calls changed (badges, marching ants, tooltips)."""
    for _ in range(turns):
        app.processEvents()
        time.sleep(0.02)


def save_screen(app, window, out: Path, colors: int | None = None) -> None:
    """Grab the whole X screen into `out` (a palette of `colors` keeps a textured picture's
    file small) and close `window` without asking to save."""
    shot = app.primaryScreen().grabWindow(0)
    out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(str(out))
    if colors is not None:
        with Image.open(out) as im:
            small = im.convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE)
        small.save(out, optimize=True)
    window.ask_save_changes = lambda: "discard"
    window.close()


def stroke(window, points: list[tuple[float, float]]) -> None:
    tools, none = window.tools, Qt.KeyboardModifier.NoModifier
    tools.press(QPointF(*points[0]), 1.0, none)
    for p in points[1:]:
        tools.move(QPointF(*p), 1.0, none)
    tools.release(QPointF(*points[-1]), 1.0, none)


def main(out: Path) -> int:
    from editor.ui.application import create_application
    from editor.ui.main_window import MainWindow
    from editor.ui.settings import Settings

    app = create_application()
    settings = Settings(Path(tempfile.mkdtemp()) / "overpaint.ini")
    window = MainWindow(settings)
    window.setGeometry(0, 0, 1280, 800)
    window.show()
    app.processEvents()
    window.refresh_models()
    panel = window.generation_panel

    window.new_document(384, 256, fill=None)
    panel.prompt_edit.setPlainText("a large red circle on the left, blue background")
    panel.steps_spin.setValue(20)
    panel.seed_spin.setValue(7)
    window.generate()
    wait_until(app, lambda: window.candidates.count() == 1)
    window.accept_candidate()

    window.set_tool("mask")
    window.tool_options.set_size(60)
    stroke(window, [(250, 90), (300, 110), (330, 160), (290, 190)])
    panel.prompt_edit.setPlainText("a yellow square on the right, blue background")
    panel.samples_spin.setValue(2)
    window.generate()
    wait_until(app, lambda: window.candidates.count() == 2)
    window.candidates.select(0)
    window.canvas.fit()
    settle(app)
    save_screen(app, window, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "packaging/screenshot.png")))
