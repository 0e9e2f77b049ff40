"""The canvas growth of a generation frame drawn past the edge, kept provisional until
its result is accepted.

- Generate: the canvas grows ("Expand canvas"), so the job and its preview see where the
  result goes, and undo keeps working as usual while the job runs. The job's region is
  the frame grown to cover every new pixel: a rectangle canvas grows by whole bands, and
  a band the job left out would stay transparent.
- Accept: while the growth is still the newest step it joins the Accept, so one undo
  step ("Accept outpaint") takes back both the result and the growth. A growth undone
  meanwhile is made again inside that step, so the result lands where it was generated.
- Discard, Cancel or a failed job: once no running job and no waiting result needs the
  growth, and it is still the newest step, it is undone and forgotten: the canvas is as
  it was, without an undo or redo step left over. After later edits it stays an
  ordinary step: undoing it alone would pull the canvas from under them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from editor.model.document import Document
from editor.model.layer import Layer
from editor.model.undo import Command
from engine.jobs import frame_growth
from engine.request import Box

ACCEPT_TEXT = "Accept outpaint"


@dataclass(eq=False)
class Growth:
    """One canvas growth for a frame past the edge."""

    document: Document
    command: Command  # the "Expand canvas" step
    margins: tuple[int, int, int, int]  # (left, top, right, bottom)
    old_size: tuple[int, int]


def new_pixels_box(width: int, height: int, margins: tuple[int, int, int, int]) -> Box | None:
    """The bounding box of the pixels a growth by ``margins`` added to a canvas that is now
    ``width`` x ``height`` (None if it added none)."""
    left, top, right, bottom = margins
    if not any(margins):
        return None
    # Columns holding new pixels: all of them when a band runs along the top or bottom,
    # else only those left and right of the old picture. Rows likewise.
    if top or bottom:
        x0, x1 = 0, width
    else:
        x0 = 0 if left else width - right
        x1 = width if right else left
    if left or right:
        y0, y1 = 0, height
    else:
        y0 = 0 if top else height - bottom
        y1 = height if bottom else top
    return Box(x0, y0, x1 - x0, y1 - y0)


def union(a: Box, b: Box | None) -> Box:
    if b is None:
        return a
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    return Box(x0, y0, max(a.right, b.right) - x0, max(a.bottom, b.bottom) - y0)


class CanvasGrowths:
    """The growths made for jobs whose results are not accepted or dropped yet."""

    def __init__(self) -> None:
        self._pending: list[Growth] = []

    def pending(self, document: Document) -> tuple[Growth, ...]:
        return tuple(g for g in self._pending if g.document is document)

    def grow(self, doc: Document) -> tuple[Box | None, Growth | None]:
        """Grow ``doc`` to hold its generation frame (ValueError if too large): the region
        the job is to fill (None: no frame) and the growth (None: none was needed)."""
        frame = doc.generation_frame
        if frame is None:
            return None, None
        margins = frame_growth(frame, doc.width, doc.height)
        if not any(margins):
            return frame, None
        old_size = (doc.width, doc.height)
        doc.expand_canvas(*margins)
        command = doc.history.top()
        assert command is not None
        growth = Growth(doc, command, margins, old_size)
        self._pending.append(growth)
        region = union(
            doc.generation_frame or frame, new_pixels_box(doc.width, doc.height, margins)
        )
        return region, growth

    def accept(self, doc: Document, needs: Iterable[Growth], accept: Callable[[], Layer]) -> Layer:
        """Run ``accept`` (it pushes the Accept step) for a result generated after the
        growths ``needs``; the newest of them that is still pending joins the step."""
        growth = next((g for g in reversed(self._pending) if g in needs), None)
        if growth is None or growth.document is not doc:
            return accept()
        history = doc.history
        if history.take_top(growth.command):
            self._pending.remove(growth)
            with history.macro(ACCEPT_TEXT):
                history.push(growth.command, applied=True)
                return accept()
        if (doc.width, doc.height) == growth.old_size:
            # Undone while the job ran: grow again, as part of the Accept.
            self._pending.remove(growth)
            with history.macro(ACCEPT_TEXT):
                doc.expand_canvas(*growth.margins)
                return accept()
        return accept()

    def release(self, in_use: Iterable[Growth]) -> None:
        """Forget the growths no job or result in ``in_use`` needs; those still the newest
        step are undone, newest first, so that growths made one after another unwind."""
        used = set(in_use)
        for growth in reversed(list(self._pending)):
            if growth not in used:
                growth.document.history.drop_top(growth.command)
                self._pending.remove(growth)
