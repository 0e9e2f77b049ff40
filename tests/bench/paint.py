"""P4 (brush latency) and P7 (undo memory) on big many-layer documents.

P4 drives the real canvas widget of a shown main window (offscreen) with mouse events:
each pointer move runs the brush tool, the document's dirty-rectangle signal, the
binding's recomposite of that rectangle and the view's repaint, and the dab counts as
done when the canvas has painted. It is compared with Document.composite() of the whole
canvas, the cost a view without dirty rectangles would pay per dab: the layers above the
current one composited again, those below it taken from the document's cache where it
keeps one (warm, as while painting), so not a recomposite of every layer.

P7 paints strokes with the brush controller (editor/tools) on random layers and reads
what the history holds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from tests.bench.common import Context, Result, median, percentile, timed

if TYPE_CHECKING:
    from editor.model import Document

MODES = ("normal", "multiply", "screen", "overlay", "normal")
BRUSH_SIZE = 40
PAINT_TIMEOUT_S = 5.0
MIB = 2**20


def build(size: int, n_layers: int) -> Document:
    """A size² document of `n_layers` opaque noisy layers in several blend modes."""
    from editor.model import Document, Layer
    from editor.model.blending import rgba_to_premultiplied

    doc = Document(size, size)
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
    tile[..., 3] = 255
    reps = size // 256 + 1
    base = rgba_to_premultiplied(np.tile(tile, (reps, reps, 1))[:size, :size])
    for i in range(n_layers):
        layer = Layer(f"L{i}", np.roll(base, i * 37, axis=1), blend_mode=MODES[i % len(MODES)])
        layer.opacity = 0.9 if i else 1.0
        doc.insert_layer(layer)
    doc.reset_history()
    doc.set_current_layer(n_layers // 2)
    return doc


class _PaintWatch:
    """Notices the canvas's paint events (the filter runs just before each paint)."""

    def __init__(self, widget) -> None:
        from PySide6.QtCore import QEvent, QObject

        class Filter(QObject):
            def eventFilter(inner, obj, event) -> bool:
                if event.type() == QEvent.Type.Paint:
                    self.painted.append(event.rect())
                return False

        self.painted: list = []
        self.filter = Filter()
        widget.installEventFilter(self.filter)


def _mouse(widget, kind: str, pos) -> None:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    types = {
        "press": QEvent.Type.MouseButtonPress,
        "move": QEvent.Type.MouseMove,
        "release": QEvent.Type.MouseButtonRelease,
    }
    left = Qt.MouseButton.LeftButton
    button = Qt.MouseButton.NoButton if kind == "move" else left
    buttons = Qt.MouseButton.NoButton if kind == "release" else left
    point = QPointF(pos)
    event = QMouseEvent(
        types[kind],
        point,
        widget.mapToGlobal(point),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def _dab_latencies(window, n_dabs: int) -> list[float]:
    """Seconds from each pointer move to the end of the canvas repaint that shows it."""
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    canvas = window.canvas
    watch = _PaintWatch(canvas)
    doc = window.document
    # Round and round a circle in the middle of the view, one dab spacing per move.
    cx, cy, radius = doc.width / 2, doc.height / 2, min(150.0, doc.width / 3)
    step = window.tools.brush_settings.spacing * BRUSH_SIZE / radius

    def at(i: int) -> QPointF:
        return canvas.canvas_to_widget(
            QPointF(cx + radius * np.cos(i * step), cy + radius * np.sin(i * step))
        )

    start = at(0)
    _mouse(canvas, "press", start)
    QApplication.processEvents()
    out = []
    for i in range(1, n_dabs + 1):
        pos = at(i)
        watch.painted.clear()
        t0 = time.perf_counter()
        _mouse(canvas, "move", pos)
        while not any(r.contains(pos.toPoint()) for r in watch.painted):
            QApplication.processEvents()
            if time.perf_counter() - t0 > PAINT_TIMEOUT_S:
                raise TimeoutError("the canvas did not repaint the dab")
        out.append(time.perf_counter() - t0)
    _mouse(canvas, "release", pos)
    QApplication.processEvents()
    canvas.removeEventFilter(watch.filter)
    return out


def measure_p4(ctx: Context) -> Result:
    from tests.bench.ui_cost import close_window, open_window

    prof = ctx.profile
    window = open_window(ctx, "p4")
    window.set_tool("brush")
    window.tool_options.size_spin.setValue(BRUSH_SIZE)
    rows, worst_p99, worst_speedup = [], 0.0, float("inf")
    try:
        for n_layers in prof.p4_layers:
            doc = build(prof.p4_size, n_layers)
            window.set_document(doc, None, None)
            window.canvas.actual_size()
            # Best of two: the first call fills the cache of the layers below the current one.
            whole = min(timed(doc.composite)[0] for _ in range(2))
            lat = _dab_latencies(window, prof.p4_dabs)
            p50, p99 = median(lat), percentile(lat, 99)
            worst_p99 = max(worst_p99, p99)
            worst_speedup = min(worst_speedup, whole / p50)
            rows.append(
                f"{n_layers} layer(s): dab→repaint p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
                f"max {max(lat) * 1000:.2f} ms; whole-canvas Document.composite() "
                f"{whole * 1000:.0f} ms = {whole / p50:.0f}× the median dab"
            )
            window.set_document(build(64, 1), None, None)  # free the big one before the next
            del doc
    finally:
        close_window(window)
    ok = worst_p99 <= 0.008 and worst_speedup >= 10
    detail = (
        f"{prof.p4_size}² document, layers {', '.join(map(str, prof.p4_layers))} (noise, mixed "
        f"blend modes), {BRUSH_SIZE} px brush at 100 % zoom in the main window's canvas: "
        f"{prof.p4_dabs} pointer moves of one dab each, timed from the mouse event to the end "
        f"of the canvas paint covering it; value = worst p99 in ms; the smallest speed-up of "
        f"the median dab over a whole-canvas Document.composite() (what a view without dirty "
        f"rectangles would "
        f"pay per dab; the layers below the current one come from the document's cache "
        f"where it keeps one, so not every layer is composited again) is {worst_speedup:.0f}×"
    )
    target = "p99 ≤ 8 ms; ≥ 10× faster than a whole-canvas composite"
    return Result("P4", "brush latency", worst_p99 * 1000, target, ok, detail, rows)


def measure_p7(ctx: Context) -> Result:
    from editor.tools.brush import BrushSettings, BrushTool

    prof = ctx.profile
    size = prof.p7_size
    doc = build(size, prof.p7_layers)
    tool = BrushTool(doc, BrushSettings(size=BRUSH_SIZE, hardness=0.7, opacity=0.8))
    rng = np.random.default_rng(7)
    touched = 0.0
    t0 = time.perf_counter()
    for _ in range(prof.p7_strokes):
        doc.set_current_layer(int(rng.integers(prof.p7_layers)))
        # A few hundred pixels long, wobbly, anywhere on the canvas: an ordinary stroke.
        x, y = rng.uniform(BRUSH_SIZE, size - BRUSH_SIZE, 2)
        angle = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(100, min(600, size / 2))
        tool.begin(x, y, 1.0)
        for t in np.linspace(0, 1, 24)[1:]:
            px = x + np.cos(angle) * length * t + 20 * np.sin(t * 7)
            py = y + np.sin(angle) * length * t
            tool.move(float(np.clip(px, 0, size - 1)), float(np.clip(py, 0, size - 1)), 1.0)
        tool.end()
        touched += length
    seconds = time.perf_counter() - t0
    held = doc.undo_bytes()
    layer_bytes = doc.layers[0].pixels.nbytes
    value = held / MIB
    detail = (
        f"bytes the undo history holds after {prof.p7_strokes} brush strokes "
        f"(100-600 px, {BRUSH_SIZE} px brush, random layers) on a {size}² "
        f"{prof.p7_layers}-layer document: {value:.1f} MiB; a whole-layer snapshot per stroke "
        f"would hold {prof.p7_strokes * layer_bytes / MIB:.0f} MiB"
    )
    extra = [
        f"{doc.history.count()} undo steps, {touched / prof.p7_strokes:.0f} px per stroke on "
        f"average, painted in {seconds:.1f} s ({seconds / prof.p7_strokes * 1000:.0f} ms/stroke)"
    ]
    return Result("P7", "undo memory", value, "≤ 64 MiB", value <= 64, detail, extra)
