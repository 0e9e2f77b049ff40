"""Procedural, deterministic training pictures for the demo model, with captions.

A picture is a flat background colour with one or two simple shapes. Every shape has a
named colour, a position, a size and a kind; captions are plain words built from them,
sometimes with words left out so that short prompts work too. Positions and sizes are
relative to the picture, so the same scene can be drawn at any resolution.

A fixed set of single-shape combinations (kind, colour, position, background) is held out:
the training sampler never draws them, and the evaluation uses exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

# Eight well separated colours: the evaluation names a colour by its nearest palette entry.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 220, 30),
    "orange": (250, 130, 10),
    "purple": (140, 40, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
KINDS: tuple[str, ...] = ("circle", "square", "triangle")
# Centre of a shape at each position, as a fraction of (width, height).
ANCHORS: dict[str, tuple[float, float]] = {
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
    "centre": (0.5, 0.5),
}
POSITIONS: tuple[str, ...] = tuple(ANCHORS)
PHRASES: dict[str, str] = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "centre": "in the centre",
}
# Shape side / diameter as a fraction of the picture's shorter side.
SIZES: dict[str, float] = {"small": 0.24, "large": 0.42}
# Pairs of positions whose shapes do not overlap, for two-shape scenes.
PAIRS: tuple[tuple[str, str], ...] = (("left", "right"), ("top", "bottom"))

HOLDOUT_SEED = 20251125
HOLDOUT_COUNT = 100
JITTER_POSITION = 0.04  # of the picture side
JITTER_SIZE = 0.12  # relative
JITTER_COLOUR = 12  # per channel, far below the palette's spacing


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    position: str
    size: str


@dataclass(frozen=True)
class Scene:
    background: str
    shapes: tuple[Shape, ...]

    def key(self) -> tuple[str, str, str, str]:
        """The combination the hold-out is defined on (first shape only)."""
        s = self.shapes[0]
        return (s.kind, s.colour, s.position, self.background)


def all_words() -> list[str]:
    """Every word any caption can contain (the tokenizer gives each its own token)."""
    words = {"a", "and", "background", "big", "center", "the", "on", "at", "in"}
    words.update(COLOURS, KINDS, POSITIONS, SIZES)
    for phrase in PHRASES.values():
        words.update(phrase.split())
    return sorted(words)


@lru_cache(maxsize=1)
def holdout_keys() -> frozenset[tuple[str, str, str, str]]:
    return frozenset(s.key() for s in heldout_scenes())


def heldout_scenes(count: int = HOLDOUT_COUNT) -> list[Scene]:
    """The evaluation scenes: single shapes in combinations training never shows."""
    rng = np.random.default_rng(HOLDOUT_SEED)
    keys = [
        (k, c, p, b) for k in KINDS for c in COLOURS for p in POSITIONS for b in COLOURS if b != c
    ]
    order = rng.permutation(len(keys))[:count]
    scenes = []
    for i in order:
        kind, colour, position, background = keys[int(i)]
        size = "large" if rng.random() < 0.5 else "small"
        scenes.append(Scene(background, (Shape(kind, colour, position, size),)))
    return scenes


def sample_scene(
    rng: np.random.Generator,
    excluded: frozenset[tuple[str, str, str, str]] = frozenset(),
    two_shape_prob: float = 0.3,
) -> Scene:
    """A random training scene that never contains an excluded combination."""
    while True:
        background = COLOURS[rng.integers(len(COLOURS))]
        if rng.random() < two_shape_prob:
            positions = list(PAIRS[rng.integers(len(PAIRS))])
            if rng.random() < 0.5:
                positions.reverse()
        else:
            positions = [POSITIONS[rng.integers(len(POSITIONS))]]
        shapes = []
        for position in positions:
            others = [c for c in COLOURS if c != background]
            shapes.append(
                Shape(
                    kind=KINDS[rng.integers(len(KINDS))],
                    colour=others[rng.integers(len(others))],
                    position=position,
                    size="large" if rng.random() < 0.5 else "small",
                )
            )
        if not any((s.kind, s.colour, s.position, background) in excluded for s in shapes):
            return Scene(background, tuple(shapes))


def caption(scene: Scene, rng: np.random.Generator | None = None) -> str:
    """Plain-words caption; with `rng`, words are sometimes left out or swapped for synonyms."""

    def keep(p_drop: float) -> bool:
        return rng is None or rng.random() >= p_drop

    parts = []
    for shape in scene.shapes:
        words = []
        if keep(0.2):
            words.append("a")
        if keep(0.3):
            size = shape.size
            if size == "large" and not keep(0.25):
                size = "big"
            words.append(size)
        words += [shape.colour, shape.kind]
        if keep(0.2):
            phrase = PHRASES[shape.position]
            if shape.position == "centre" and not keep(0.5):
                phrase = "in the center"
            words.append(phrase)
        parts.append(" ".join(words))
    text = " and ".join(parts)
    if keep(0.15):
        text += f", {scene.background} background"
    return text


def jitter_colour(rgb: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    j = rng.integers(-JITTER_COLOUR, JITTER_COLOUR + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(rgb) + j, 0, 255))  # type: ignore[return-value]


def render(scene: Scene, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `scene` as an HxWx3 uint8 array (anti-aliased by 2x supersampling)."""
    ss = 2
    w, h = width * ss, height * ss
    img = Image.new("RGB", (w, h), jitter_colour(PALETTE[scene.background], rng))
    draw = ImageDraw.Draw(img)
    side = min(w, h)
    for shape in scene.shapes:
        ax, ay = ANCHORS[shape.position]
        cx = (ax + rng.uniform(-JITTER_POSITION, JITTER_POSITION)) * w
        cy = (ay + rng.uniform(-JITTER_POSITION, JITTER_POSITION)) * h
        r = SIZES[shape.size] * side * rng.uniform(1 - JITTER_SIZE, 1 + JITTER_SIZE) / 2
        draw_shape(draw, shape.kind, cx, cy, r, jitter_colour(PALETTE[shape.colour], rng))
    return np.asarray(img.reduce(ss))


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float,
               fill: tuple[int, int, int]) -> None:  # fmt: skip
    """One shape of `kind` centred at (cx, cy), `r` half its side (or its radius)."""
    box = (cx - r, cy - r, cx + r, cy + r)
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)


def make_sample(
    seed: int,
    index: int,
    width: int,
    height: int,
    excluded: frozenset[tuple[str, str, str, str]] | None = None,
) -> tuple[np.ndarray, str, Scene]:
    """Training sample number `index` of the dataset with this seed: (image, caption, scene).

    The same (seed, index, size) always gives the same sample, in any process.
    """
    rng = np.random.default_rng([seed, index, width, height])
    scene = sample_scene(rng, holdout_keys() if excluded is None else excluded)
    text = caption(scene, rng)
    return render(scene, width, height, rng), text, scene


def make_batch(
    seed: int, start: int, count: int, width: int, height: int
) -> tuple[np.ndarray, list[str]]:
    """Samples start..start+count as (NxHxWx3 uint8, captions)."""
    excluded = holdout_keys()
    images, captions = [], []
    for i in range(start, start + count):
        img, text, _ = make_sample(seed, i, width, height, excluded)
        images.append(img)
        captions.append(text)
    return np.stack(images), captions
