"""Does a trained concept carry over to prompts its pictures never showed, and what does
the LoRA cost the base model?

Concept prompts are worded unlike the training captions ("large", "big", no article,
"in the center", no background) and ask for colour/position/background combinations
that no training picture shows. Base prompts are the demo model's own held-out scenes
(circles, squares, triangles, no concept word): with the LoRA on, the colour, position
and background the model got right without it should stay right.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo.dataset import COLOURS, PHRASES, POSITIONS
from tests.training.stars import TRAIN_SET

# Wordings the captions never use ("a {colour} star {phrase}, {background} background").
WORDINGS = (
    "a large {colour} {word} {phrase}, {background} background",
    "large {colour} {word} {phrase}, {background} background",
    "a big {colour} {word} {phrase} on a {background} background",
    "{colour} {word} {phrase}",
    "a {colour} {word}, {background} background",
)
CENTRE_SYNONYM = "in the center"


@dataclass(frozen=True)
class Ask:
    prompt: str
    colour: str
    position: str | None  # None: the prompt does not say
    background: str | None


def concept_prompts(count: int, word: str = "star", seed: int = 16) -> list[Ask]:
    """`count` prompts for the concept in unseen combinations and unseen wordings."""
    seen_triples = set(TRAIN_SET)
    seen_pairs = {(c, b) for c, _p, b in TRAIN_SET}
    combos = [
        (c, p, b)
        for c, p, b in itertools.product(COLOURS, POSITIONS, COLOURS)
        # Not even the colour on that background was shown.
        if c != b and (c, p, b) not in seen_triples and (c, b) not in seen_pairs
    ]
    order = np.random.default_rng(seed).permutation(len(combos))[:count]
    asks = []
    for i, index in enumerate(order):
        colour, position, background = combos[int(index)]
        wording = WORDINGS[i % len(WORDINGS)]
        phrase = PHRASES[position]
        if position == "centre" and i % 2:
            phrase = CENTRE_SYNONYM
        prompt = wording.format(colour=colour, word=word, phrase=phrase, background=background)
        asks.append(
            Ask(
                prompt,
                colour,
                position if "{phrase}" in wording else None,
                background if "{background}" in wording else None,
            )
        )
    return asks


def base_prompts(count: int) -> list[Ask]:
    """The demo model's held-out single-shape scenes, in its own caption words."""
    from engine.demo.dataset import heldout_scenes
    from engine.demo.evaluate import full_caption

    asks = []
    for scene in heldout_scenes(count):
        shape = scene.shapes[0]
        asks.append(Ask(full_caption(scene), shape.colour, shape.position, scene.background))
    return asks


def generate(engine: Any, prompt: str, seed: int, lora: Path | None, steps: int) -> np.ndarray:
    from engine.models import DEMO_MODEL_DIR
    from engine.request import GenerationRequest

    request = GenerationRequest(
        mode="txt2img",
        prompt=prompt,
        seed=seed,
        steps=steps,
        width=128,
        height=128,
        model=str(DEMO_MODEL_DIR),
        loras=((lora.stem, 1.0),) if lora else (),
        watermark=False,
    )
    return engine.run(request)[0].rgba[..., :3]


@dataclass(frozen=True)
class Verdict:
    ask: Ask
    star: bool
    colour: bool
    position: bool  # True when the prompt does not say
    background: bool  # True when the prompt does not say

    @property
    def attributes(self) -> bool:
        return self.colour and self.position and self.background

    def line(self) -> str:
        marks = [
            ("star" if self.star else "no star"),
            f"colour {'ok' if self.colour else 'wrong'}",
            f"position {'ok' if self.position else 'wrong'}",
            f"background {'ok' if self.background else 'wrong'}",
        ]
        return f"{self.ask.prompt}: {', '.join(marks)}"


def judge(image: np.ndarray, ask: Ask) -> Verdict:
    from engine.demo.evaluate import read_picture
    from tests.training.stars import read_star

    reading = read_picture(image)
    star, star_colour = read_star(image)
    return Verdict(
        ask,
        star=star and star_colour == ask.colour,
        colour=reading.colour == ask.colour,
        position=ask.position is None or reading.position == ask.position,
        background=ask.background is None or reading.background == ask.background,
    )


def judge_all(engine: Any, asks: list[Ask], lora: Path | None, steps: int = 20) -> list[Verdict]:
    return [judge(generate(engine, a.prompt, i, lora, steps), a) for i, a in enumerate(asks)]


def kept_share(without: list[Verdict], with_lora: list[Verdict]) -> float:
    """Of the base attributes (colour, position, background) the model got right without
    the LoRA, the share still right with it."""
    right = kept = 0
    for a, b in zip(without, with_lora, strict=True):
        for name in ("colour", "position", "background"):
            if getattr(a, name):
                right += 1
                kept += bool(getattr(b, name))
    return kept / max(right, 1)
