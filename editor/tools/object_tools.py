"""Magic Wand (W) and Select Object (O): selection tools that look at the pixels.

Both read the visible picture (the composite) and combine their result with the current
selection by ``mode`` (replace, add, subtract, intersect: the tools bridge sets it from
Shift/Alt, as for the other selection tools); each gesture is one undo step.

Select Object (engine.select): a drag draws a box around an object and starts a new one;
a click starts one at that point, or, while an object is being refined, adds a click to
it: positive, or negative under Alt/Ctrl (the subtract keys). Each refinement replaces
the previous result of the same object, so Undo steps back one click at a time. Without
a segmentation model the answer is GrabCut's, at once; with one (``segmenter``), it is
the model's from the picture's embedding. When that embedding is not ready the click
waits as ``pending`` and ``on_needs_embedding`` asks the window to compute it off the UI
thread; ``apply_pending`` then answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect

from editor.model.document import Document
from editor.model.selection_ops import combine
from editor.tools.base import Tool
from editor.tools.selection_tools import _DragRectTool
from engine.core.errors import EngineError
from engine.select.objects import DEFAULT_TOLERANCE, select_object
from engine.select.prompt import ObjectPrompt, checked_prompt
from engine.select.segmenter import Segmenter
from engine.select.wand import magic_wand


class MagicWandTool(Tool):
    """Click to select the pixels of a similar colour (the visible picture's)."""

    name = "wand"

    def __init__(self, document: Document) -> None:
        super().__init__(document)
        self.mode = "replace"
        self.tolerance = DEFAULT_TOLERANCE
        self.contiguous = True
        self.antialias = True

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        self.select_at(int(x), int(y))

    def select_at(self, x: int, y: int) -> bool:
        doc = self.document
        self.refusal = ""
        if not doc.rect().contains(x, y):
            self.refusal = "Click inside the picture to use the magic wand."
            return False
        rgb = doc.composite_array()[..., :3]
        mask = magic_wand(rgb, x, y, self.tolerance, self.contiguous, self.antialias)
        doc.set_selection(mask, "Magic wand", self.mode)
        return True


@dataclass
class _Object:
    """The object being refined: what the selection was before it, how its result
    combines with that, the prompt so far and the selection it produced."""

    base: np.ndarray
    mode: str
    prompt: ObjectPrompt
    result: np.ndarray | None = None


class SelectObjectTool(_DragRectTool):
    name = "select_object"

    def __init__(self, document: Document) -> None:
        super().__init__(document)
        self.segmenter: Segmenter | None = None
        self.on_needs_embedding: Callable[[], None] | None = None
        self.pending: _Object | None = None
        self._object: _Object | None = None

    # ------------------------------------------------------------------ gestures
    def _apply(self, rect: QRect) -> None:
        box = (rect.x(), rect.y(), rect.width(), rect.height())
        self.start_object(ObjectPrompt(box=box))

    def _click(self) -> None:
        x, y = int(self._a.x()), int(self._a.y())
        current = self._object
        if current is not None and current.result is not None and self._unchanged(current):
            negative = self.mode == "subtract"
            self.refine(current.prompt.with_click(x, y, positive=not negative))
        else:
            self.start_object(ObjectPrompt(points=((x, y),)))

    def start_object(self, prompt: ObjectPrompt) -> bool:
        """A new object from a box or a click, combined with the selection by ``mode``."""
        base = self.document.selection.copy()
        return self._run(_Object(base, self.mode, prompt))

    def refine(self, prompt: ObjectPrompt) -> bool:
        """The current object again with ``prompt`` (one more click)."""
        current = self._object
        if current is None:
            return self.start_object(prompt)
        return self._run(_Object(current.base, current.mode, prompt))

    def forget(self) -> None:
        """The next click starts a new object (the picture or selection moved on)."""
        self._object = self.pending = None

    # ------------------------------------------------------------------ work
    def _unchanged(self, current: _Object) -> bool:
        """True while the selection is still what this object's last click made."""
        return current.result is not None and np.array_equal(
            current.result, self.document.selection
        )

    def _run(self, job: _Object) -> bool:
        doc = self.document
        self.refusal = ""
        rgb = doc.composite_array()[..., :3]
        try:
            job.prompt = checked_prompt(job.prompt, doc.width, doc.height)
            seg = self.segmenter
            if seg is not None and seg.cached(rgb) is None:
                self.pending = job
                if self.on_needs_embedding is not None:
                    self.on_needs_embedding()
                return False
            method = "sam" if seg is not None else "grabcut"
            mask = select_object(rgb, job.prompt, method, seg)
        except EngineError as e:
            self.refusal = str(e)
            return False
        job.result = combine(job.base, mask, job.mode)
        doc.set_selection(job.result, "Select object")
        job.result = doc.selection.copy()
        self._object = job
        return True

    def apply_pending(self) -> bool:
        """Answer the click that waited for the embedding (if the picture is unchanged)."""
        job, self.pending = self.pending, None
        return job is not None and self._run(job)
