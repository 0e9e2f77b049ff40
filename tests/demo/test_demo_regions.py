"""Regional prompts on the shipped demo model: two regions, each asking for its own
colour and kind, get their own colour (read back with the demo's judge), where the
scene's prompt alone leaves the placement to chance. The full measure is P28
(tests/bench/regions.py, engine.demo.evaluate_regions)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.demo.evaluate import read_picture
from engine.demo.evaluate_regions import generate, heldout_cases, region_slices

SIZE = 128
# Held-out left/right layouts (engine.demo.evaluate_regions.heldout_cases), seeds = index.
CASES = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def engine():
    from engine.local.engine import Engine

    return Engine()


def _colours(image: np.ndarray, layout: str) -> list[str | None]:
    return [
        read_picture(np.ascontiguousarray(image[rows, cols])).colour
        for rows, cols in region_slices(layout, SIZE)
    ]


@pytest.mark.parametrize("index", CASES)
def test_two_regions_get_their_two_colours(engine, index: int) -> None:
    case = heldout_cases(len(CASES))[index]
    assert case.layout == "left/right"
    image = generate(engine, case, "scene", seed=index, size=SIZE)
    assert _colours(image, case.layout) == [colour for colour, _ in case.shapes]
