"""Control layers in a Document: marking a layer (one undo step), what the model sees
without them, and the LayerControls a job is built with.

A control layer stays an ordinary layer on screen and in files, but it is never part of
the picture the model repaints: a scribble drawn to guide the shape must not be painted
into it. Visible control layers go to engine.jobs.prepare_job as LayerControls; hidden
ones take no part at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRect

from editor.model.array_rects import crop
from editor.model.blending import composite_layers, image_to_rgba
from editor.model.control_role import ControlRole
from editor.model.layer import Layer
from editor.model.layer_roles import set_layer_role
from engine.control.jobs import LayerControl
from engine.request import Box

if TYPE_CHECKING:
    from editor.model.document import Document


def set_layer_control(doc: Document, layer: Layer, role: ControlRole | None) -> None:
    """Mark `layer` as a control of `role` (None: a normal layer again); one undo step.
    ValueError (one sentence) for settings the engine would refuse."""
    kind = role.kind if role is not None else ""
    texts = ("Make normal layer", f"Make {kind} control layer", "Control layer settings")
    set_layer_role(doc, layer, "control", role, texts)


def active_control_layers(doc: Document) -> list[Layer]:
    """Visible control layers, bottom to top."""
    return [layer for layer in doc.layers if layer.control is not None and layer.visible]


def model_composite(doc: Document, rect: QRect) -> np.ndarray:
    """Straight RGBA of the picture in `rect` without the layers that only guide (control,
    reference and unpainted region layers): what the model repaints (transparent outside
    the canvas, as Document.composite_array)."""
    if not any(layer.guides_only() and layer.visible for layer in doc.layers):
        return doc.composite_array(rect)  # the common case keeps the cached path
    picture = [layer for layer in doc.layers if not layer.guides_only()]
    out = np.zeros((max(rect.height(), 0), max(rect.width(), 0), 4), np.uint8)
    inside = rect.intersected(doc.rect())
    if not inside.isEmpty():
        crop(out, inside.translated(-rect.x(), -rect.y()))[...] = image_to_rgba(
            composite_layers(picture, inside)
        )
    return out


def layer_control_sources(doc: Document) -> list[LayerControl]:
    """A LayerControl per visible control layer. The crop copies the layer's pixels when
    called (on the UI thread, while the job is built); the preprocessing runs later, in the
    engine's worker thread."""
    sources = []
    for layer in active_control_layers(doc):
        assert layer.control is not None

        def crop_layer(box: Box, layer: Layer = layer) -> np.ndarray:
            return layer.to_rgba(QRect(box.x, box.y, box.width, box.height))

        sources.append(LayerControl(layer.control.spec(), crop_layer))
    return sources
