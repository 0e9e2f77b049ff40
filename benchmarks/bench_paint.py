"""Painting benchmark: a big canvas with many layers must paint without lag.

Measures, on a WIDTHxHEIGHT canvas with N opaque random layers (various blend modes):
- a full recomposite (what a view would pay without dirty rects),
- one brush dab including the recomposite of its dirty rectangle (what a view pays),
- a whole stroke (tool work + dirty composites), and the undo memory it holds.

Run: .venv/bin/python benchmarks/bench_paint.py [--size 4096] [--layers 20]
Prints numbers; asserts nothing (machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QRect  # noqa: E402

from editor.model import Document, Layer  # noqa: E402
from editor.model.blending import rgba_to_premultiplied  # noqa: E402
from editor.tools.brush import BrushSettings, BrushTool  # noqa: E402

MODES = ("normal", "multiply", "screen", "overlay", "normal")


def build(size: int, n_layers: int) -> Document:
    doc = Document(size, size)
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
    tile[..., 3] = 255
    base = rgba_to_premultiplied(np.tile(tile, (size // 256 + 1, size // 256 + 1, 1))[:size, :size])
    for i in range(n_layers):
        layer = Layer(f"L{i}", np.roll(base, i * 37, axis=1), blend_mode=MODES[i % len(MODES)])
        layer.opacity = 0.9 if i else 1.0
        doc.insert_layer(layer)
    doc.reset_history()
    doc.set_current_layer(n_layers // 2)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--brush", type=float, default=40.0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    doc = build(args.size, args.layers)
    print(
        f"canvas {args.size}x{args.size}, {args.layers} layers, built in {time.perf_counter() - t0:.1f} s"
    )

    t0 = time.perf_counter()
    doc.composite()
    full = time.perf_counter() - t0
    print(f"full recomposite:                 {full * 1000:8.1f} ms")

    dirty: list[QRect] = []
    doc.changed.connect(dirty.append)
    tool = BrushTool(doc, BrushSettings(size=args.brush, hardness=0.7, opacity=0.8, spacing=0.1))
    y = args.size / 2
    t0 = time.perf_counter()
    tool.begin(100, y)
    print(f"stroke begin (first dab):         {(time.perf_counter() - t0) * 1000:8.1f} ms")
    per_dab = []
    composite_only = []
    x = 100.0
    step = args.brush * 0.1
    for _ in range(300):
        x += step
        dirty.clear()
        t0 = time.perf_counter()
        tool.move(x, y)
        for rect in dirty:
            t1 = time.perf_counter()
            doc.composite(rect)
            composite_only.append(time.perf_counter() - t1)
        per_dab.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    tool.end()
    commit = time.perf_counter() - t0
    dab = statistics.median(per_dab)
    comp = statistics.median(composite_only)
    print(f"dab + dirty-rect composite:       {dab * 1000:8.3f} ms (median of {len(per_dab)})")
    print(f"  of which dirty composite:       {comp * 1000:8.3f} ms")
    print(f"  ratio full / (dab + composite): {full / dab:8.0f} x")
    print(f"stroke commit (undo command):     {commit * 1000:8.1f} ms")
    layer_bytes = doc.current_layer.pixels.nbytes
    print(
        f"undo held after a {300 * step:.0f} px stroke: {doc.undo_bytes() / 1024:.0f} KiB "
        f"(layer {layer_bytes / 2**20:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
