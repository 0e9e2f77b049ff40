"""What the user points at: a box around the object, clicks on it (positive) and off it
(negative), checked against the picture's size.

Coordinates are picture pixels; a box is (x, y, width, height). A box reaching past the
picture is cut to it; one wholly outside, or a click outside, is refused with one
sentence (``InvalidRequestError``) before any work is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.errors import InvalidRequestError

Point = tuple[int, int]
BoxTuple = tuple[int, int, int, int]


@dataclass(frozen=True)
class ObjectPrompt:
    box: BoxTuple | None = None
    points: tuple[Point, ...] = ()
    negatives: tuple[Point, ...] = ()

    def with_click(self, x: int, y: int, positive: bool = True) -> ObjectPrompt:
        """This prompt with one more click (a refinement)."""
        if positive:
            return ObjectPrompt(self.box, (*self.points, (x, y)), self.negatives)
        return ObjectPrompt(self.box, self.points, (*self.negatives, (x, y)))

    def is_empty(self) -> bool:
        return self.box is None and not self.points


def checked_prompt(prompt: ObjectPrompt, width: int, height: int) -> ObjectPrompt:
    """The prompt with its box cut to the picture; InvalidRequestError (one sentence) when
    it names nothing inside it."""
    if prompt.is_empty():
        raise InvalidRequestError("Nothing to select: drag a box around the object or click on it.")
    box = prompt.box
    if box is not None:
        x, y, w, h = (int(v) for v in box)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, width), min(y + h, height)
        if w <= 0 or h <= 0 or x1 - x0 < 2 or y1 - y0 < 2:
            raise InvalidRequestError(
                f"The box {x},{y},{w},{h} lies outside the {width}x{height} picture "
                "(or is empty); draw it over the object."
            )
        box = (x0, y0, x1 - x0, y1 - y0)
    for px, py in (*prompt.points, *prompt.negatives):
        if not (0 <= px < width and 0 <= py < height):
            raise InvalidRequestError(
                f"The point {px},{py} lies outside the {width}x{height} picture; "
                "click on the object."
            )
    points = tuple((int(px), int(py)) for px, py in prompt.points)
    negatives = tuple((int(px), int(py)) for px, py in prompt.negatives)
    return ObjectPrompt(box, points, negatives)
