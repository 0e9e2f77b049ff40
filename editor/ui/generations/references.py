"""Reference layers back from a history entry, for the Generations dock's "Use parameters".

The Generate panel holds settings, but an entry's references were layers: their pictures
are kept in the history (engine.history.pictures, ``reference:N``), so each becomes a
Reference layer again with its kind, weight and step range, as one undo step. A
reference already on the picture as a visible reference layer (the same pixels) is not
added twice. The region a reference was limited to is recorded only as its coverage at
the context box, so it is matched against the document's region layers there; without
exactly one match the reference acts on the whole picture and the sentence says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRect

from editor.model.document import Document
from editor.model.layer_roles import reference_layers, reference_picture, region_layers
from editor.model.reference_role import ReferenceRole
from engine.core.images import picture_hash
from engine.history import pictures as pics
from engine.history.store import Entry, HistoryStore
from engine.request import Box, GenerationRequest

ADD_AGAIN = "add the picture as a Reference layer again (Layer ▸ Reference Layer…)"


def stored_references(store: HistoryStore | None, entry: Entry) -> tuple[np.ndarray, ...]:
    """The entry's reference pictures in the request's order, or () when the history
    lacks any of them."""
    stored = None if store is None else store.input_pictures(entry.id)
    decoded: dict[str, np.ndarray] = {}
    for role, data in (stored or {}).items():
        if data is None:
            continue
        try:
            decoded[role] = pics.decode_picture(data)
        except (OSError, ValueError):
            continue  # a damaged picture of another role must not cost the references
    inputs, _base = pics.restore_inputs(entry.request, decoded)
    return inputs.references


def restore_references(doc: Document | None, entry: Entry, pictures: Sequence[np.ndarray]) -> str:
    """Add the entry's references to `doc` as reference layers (one undo step); the
    sentences to tell the user ("" when the entry had no references)."""
    request = entry.request
    specs = request.references
    if not specs:
        return ""
    many = len(specs) > 1
    if len(pictures) != len(specs):
        them = "its reference pictures were" if many else "its reference picture was"
        return f"The generation's references were not restored: {them} not kept; {ADD_AGAIN}."
    if doc is None:
        return "The generation's references were not restored: no picture is open."
    present = {picture_hash(reference_picture(doc, layer)) for layer in reference_layers(doc)}
    notes: list[str] = []
    added = 0
    with doc.history.macro("Restore reference layers"):
        for i, (spec, picture) in enumerate(zip(specs, pictures, strict=True)):
            if picture_hash(picture) in present:
                continue
            region = _region_named(doc, request, spec.mask_hash) if spec.mask_hash else ""
            role = ReferenceRole(spec.kind, spec.weight, spec.start, spec.end, region or "")
            if (problem := role.problem()) is not None:
                notes.append(f"Reference {i + 1} was not restored: {problem}")
                continue
            if region is None:
                notes.append(
                    f"Reference {i + 1} was limited to a region that no one region layer "
                    "here matches, so it now acts on the whole picture; choose its region "
                    "again (Layer ▸ Reference Layer…)."
                )
            doc.add_layer(
                f"Reference {i + 1} of generation {entry.id}",
                _rgba(picture),
                text="Add reference layer",
                reference=role,
            )
            added += 1
    if added:
        layers = f"{added} reference layers" if added > 1 else "a reference layer"
        notes.insert(0, f"The generation's references were added as {layers}.")
    return " ".join(notes)


def _region_named(doc: Document, request: GenerationRequest, mask_hash: str) -> str | None:
    """The name of the one visible region layer whose coverage at the request's context
    box is the recorded region, or None."""
    box = request.region or Box(0, 0, request.canvas_width, request.canvas_height)
    rect = QRect(box.x, box.y, box.width, box.height)
    names = {
        layer.name
        for layer in region_layers(doc)
        if picture_hash(np.ascontiguousarray(layer.to_rgba(rect)[..., 3])) == mask_hash
    }
    return names.pop() if len(names) == 1 else None


def _rgba(picture: np.ndarray) -> np.ndarray:
    if picture.ndim == 3 and picture.shape[2] == 4:
        return picture
    alpha = np.full(picture.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([picture[..., :3], alpha], axis=2)
