"""Training scenes for regional prompts on the demo model: two or three shapes, each in a
region of its own, with the texts the engine gives each region.

A scene cuts the picture into columns or rows (cuts jittered), or puts a box around each
shape and leaves the rest to the root. Every region holds one shape of its own colour and
kind (all colours different, none the background's); its text is what
engine.regions.stage builds for it: the region's prompt ("a red circle") with the root's
added, where the root is the whole scene's caption, the background alone, or nothing.
Scenes equal to a held-out layout of engine.demo.evaluate_regions are never drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from engine.demo.dataset import COLOURS, KINDS, PALETTE, draw_shape, jitter_colour
from engine.demo.evaluate_regions import heldout_cases
from engine.regions.stage import joined

MAX_REGIONS = 3
# (layout, regions): how often each is drawn. Boxes leave the picture's rest to the root.
LAYOUTS = (("columns", 2), ("rows", 2), ("columns", 3), ("rows", 3), ("boxes", 2), ("boxes", 3))
LAYOUT_WEIGHTS = (0.25, 0.25, 0.2, 0.05, 0.15, 0.1)
ROOTS = ("scene", "background", "none")
ROOT_WEIGHTS = (0.45, 0.4, 0.15)


@dataclass(frozen=True)
class RegionScene:
    background: str
    shapes: tuple[tuple[str, str], ...]  # (colour, kind) per region
    boxes: tuple[tuple[float, float, float, float], ...]  # region (x0, y0, x1, y1), 0..1
    orientation: str  # columns | rows | boxes

    def prompts(self) -> list[str]:
        return [f"a {c} {k}" for c, k in self.shapes]

    def root(self, style: str) -> str:
        if style == "scene":
            return f"{' and '.join(self.prompts())}, {self.background} background"
        return f"{self.background} background" if style == "background" else ""

    def texts(self, style: str) -> list[str]:
        """The root's text, then each region's as the engine joins it."""
        root = self.root(style)
        return [root] + [joined(p, root) for p in self.prompts()]


@lru_cache(maxsize=1)
def _heldout() -> frozenset[tuple]:
    return frozenset((LAYOUT_OF[c.layout], c.background, c.shapes) for c in heldout_cases(50))


# evaluate_regions' layout names -> (orientation, regions)
LAYOUT_OF = {"left/right": ("columns", 2), "top/bottom": ("rows", 2),
             "three columns": ("columns", 3)}  # fmt: skip


def _cuts(n: int, rng: np.random.Generator) -> list[float]:
    inner = [i / n + rng.uniform(-0.06, 0.06) for i in range(1, n)]
    return [0.0, *inner, 1.0]


def sample_region_scene(rng: np.random.Generator) -> RegionScene:
    while True:
        orientation, n = LAYOUTS[rng.choice(len(LAYOUTS), p=LAYOUT_WEIGHTS)]
        colours = [str(c) for c in rng.permutation(COLOURS)[: n + 1]]
        kinds = [KINDS[int(i)] for i in rng.integers(len(KINDS), size=n)]
        shapes = tuple(zip(colours[1:], kinds, strict=True))
        if ((orientation, n), colours[0], shapes) in _heldout():
            continue
        if orientation == "boxes":
            boxes = _boxes(n, rng)
        else:
            cuts = _cuts(n, rng)
            spans = list(zip(cuts, cuts[1:], strict=False))
            boxes = tuple(
                (a, 0.0, b, 1.0) if orientation == "columns" else (0.0, a, 1.0, b) for a, b in spans
            )
        return RegionScene(colours[0], shapes, boxes, orientation)


def _boxes(n: int, rng: np.random.Generator) -> tuple[tuple[float, float, float, float], ...]:
    """`n` square boxes that do not overlap, anywhere in the picture."""
    while True:
        side = rng.uniform(0.3, 0.45) if n == 2 else rng.uniform(0.26, 0.34)
        boxes = []
        for _ in range(n):
            x, y = rng.uniform(0, 1 - side, size=2)
            boxes.append((float(x), float(y), float(x + side), float(y + side)))
        if all(
            a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            for i, a in enumerate(boxes)
            for b in boxes[i + 1 :]
        ):
            return tuple(boxes)


def render_region_scene(
    scene: RegionScene, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(size x size x 3 uint8 picture, (regions, size, size) uint8 masks, 255 inside)."""
    ss = 2
    img = Image.new("RGB", (size * ss, size * ss), jitter_colour(PALETTE[scene.background], rng))
    draw = ImageDraw.Draw(img)
    masks = np.zeros((len(scene.boxes), size, size), np.uint8)
    for i, ((x0, y0, x1, y1), (colour, kind)) in enumerate(
        zip(scene.boxes, scene.shapes, strict=True)
    ):
        masks[i, round(y0 * size) : round(y1 * size), round(x0 * size) : round(x1 * size)] = 255
        w, h = (x1 - x0) * size * ss, (y1 - y0) * size * ss
        r = min(w, h) * rng.uniform(0.55, 0.8) / 2
        cx = (x0 * size * ss + w / 2) + rng.uniform(-0.08, 0.08) * w
        cy = (y0 * size * ss + h / 2) + rng.uniform(-0.08, 0.08) * h
        draw_shape(draw, kind, cx, cy, r, jitter_colour(PALETTE[colour], rng))
    return np.asarray(img.reduce(ss)), masks


def make_region_sample(
    seed: int, index: int, size: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sample `index`: (picture, masks, texts: root then each region, padded with "" to
    1 + MAX_REGIONS). The same (seed, index, size) always gives the same sample."""
    rng = np.random.default_rng([seed, index, size, 7])
    scene = sample_region_scene(rng)
    picture, masks = render_region_scene(scene, size, rng)
    texts = scene.texts(ROOTS[rng.choice(len(ROOTS), p=ROOT_WEIGHTS)])
    texts += [""] * (1 + MAX_REGIONS - len(texts))
    return picture, masks, texts
