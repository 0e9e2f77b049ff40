"""A copy of what a project file holds, taken on the UI thread, for work on another one.

Taking it costs one memcpy per layer (premultiplied, as the layers store them); turning it
back into a Document, compositing and encoding happen off the UI thread (autosave, save,
export), so none of that work competes with painting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from editor.model.document import Document
from editor.model.layer import Layer


@dataclass(frozen=True)
class LayerSnapshot:
    pixels: np.ndarray  # premultiplied, as the layer stores it; a private copy
    # Layer.saved_attributes(): all of them, so a save or autosave keeps every one.
    attributes: dict[str, Any]


@dataclass(frozen=True)
class DocumentSnapshot:
    width: int
    height: int
    layers: tuple[LayerSnapshot, ...]
    current: int  # index of the active layer, -1 for none
    mask: np.ndarray | None = None  # private copies; None when empty
    selection: np.ndarray | None = None


def snapshot(document: Document) -> DocumentSnapshot:
    """Copy what a project file holds (UI thread; costs one array copy per layer and mask)."""
    layers = tuple(
        LayerSnapshot(layer.pixels.copy(), layer.saved_attributes()) for layer in document.layers
    )
    return DocumentSnapshot(
        document.width,
        document.height,
        layers,
        document.current_index,
        document.mask.copy() if document.has_mask() else None,
        document.selection.copy() if document.has_selection() else None,
    )


def document_from_snapshot(snap: DocumentSnapshot) -> Document:
    """A clean Document holding the snapshot (usable on any thread: it has no parent)."""
    document = Document(snap.width, snap.height)
    for index, item in enumerate(snap.layers):
        layer = Layer(pixels=item.pixels, **item.attributes)
        document.insert_layer(layer, index)
    if 0 <= snap.current < len(document.layers):
        document.set_current_layer(snap.current)
    if snap.mask is not None:
        document.set_mask(snap.mask)
    if snap.selection is not None:
        document.set_selection(snap.selection)
    document.reset_history()
    return document
