"""Region and reference layers in a Document: marking a layer (one undo step) and the
sources a job is built with.

As control layers (editor.model.control_layers), region and reference layers stay
ordinary layers on screen and in files. A region layer's coverage (alpha) is where its
prompt applies; a reference layer's picture steers the generation. Visible ones go to
engine.jobs.prepare_job as LayerRegions and LayerReferences; hidden ones take no part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRect

from editor.model.array_rects import bbox, crop
from editor.model.layer import Layer
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.model.undo import Command
from engine.jobs import JobError
from engine.reference.jobs import LayerReference
from engine.regions.jobs import LayerRegion
from engine.request import Box

if TYPE_CHECKING:
    from editor.model.document import Document
    from editor.model.layer_stack import LayerStack


class SetLayerRoleCommand(Command):
    """Set one role attribute of a layer ("control", "region_prompt" or "reference");
    `doc` is the Document or its LayerStack (whichever announces the change)."""

    def __init__(
        self, doc: Document | LayerStack, layer: Layer, attribute: str, role: Any, text: str
    ) -> None:
        self.doc, self.layer, self.attribute = doc, layer, attribute
        self.new, self.old = role, getattr(layer, attribute)
        self.text = text

    def _apply(self, role: Any) -> None:
        setattr(self.layer, self.attribute, role)
        # The screen shows the layer as before; the layer list shows its badge.
        self.doc.layer_properties_changed.emit(self.layer)

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


def follow_region_rename(stack: LayerStack, layer: Layer, old: str, text: str) -> None:
    """Point the references limited to region layer `layer` by its `old` name at its new
    one (the region is named by the layer's name, so a rename would cut the link); one
    command each, pushed inside the caller's undo step named `text`."""
    if layer.region_prompt is None or layer.name == old:
        return
    for other in stack.layers:
        if other.reference is not None and other.reference.region == old:
            role = dataclasses.replace(other.reference, region=layer.name)
            stack.history.push(SetLayerRoleCommand(stack, other, "reference", role, text))


def empty_region_problem(layer: Layer) -> str | None:
    """One sentence when `layer` has no pixels to be a region with, else None."""
    if layer.is_empty() or not layer.pixels[..., 3].any():
        return (
            f'Layer "{layer.name}" has no pixels, so its region prompt covers nothing; '
            "paint where the prompt should apply first."
        )
    return None


def set_layer_role(
    doc: Document, layer: Layer, attribute: str, role: Any, texts: tuple[str, str, str]
) -> None:
    """Set `layer`'s role `attribute` ("control", "region_prompt" or "reference") to
    `role` (None: none); one undo step, named by `texts` (removed, made, changed).
    ValueError (one sentence, nothing changed) for settings the engine would refuse."""
    doc.index_of(layer)
    if role is not None:
        problem = role.problem()
        if problem:
            raise ValueError(problem)
    old = getattr(layer, attribute)
    if role == old:
        return
    text = texts[0] if role is None else texts[1] if old is None else texts[2]
    doc.history.push(SetLayerRoleCommand(doc, layer, attribute, role, text))


def set_layer_region(doc: Document, layer: Layer, role: RegionRole | None) -> None:
    """Give `layer` the region prompt `role` (None: no region); one undo step. ValueError
    (one sentence, nothing changed) for an empty prompt or a layer without pixels."""
    problem = None if role is None else empty_region_problem(layer)
    if problem:
        raise ValueError(problem)
    texts = ("Remove region prompt", "Make region layer", "Region prompt")
    set_layer_role(doc, layer, "region_prompt", role, texts)


def set_layer_reference(doc: Document, layer: Layer, role: ReferenceRole | None) -> None:
    """Mark `layer` as a reference of `role` (None: a normal layer again); one undo step."""
    kind = role.kind if role is not None else ""
    texts = ("Make normal layer", f"Make {kind} layer", "Reference settings")
    set_layer_role(doc, layer, "reference", role, texts)


def region_layers(doc: Document) -> list[Layer]:
    """Visible region layers, bottom to top."""
    return [layer for layer in doc.layers if layer.region_prompt is not None and layer.visible]


def reference_layers(doc: Document) -> list[Layer]:
    """Visible reference layers, bottom to top."""
    return [layer for layer in doc.layers if layer.reference is not None and layer.visible]


def regions_problem(doc: Document) -> str | None:
    """One sentence when a visible region layer has no pixels at all, else None."""
    for layer in region_layers(doc):
        problem = empty_region_problem(layer)
        if problem:
            return problem
    return None


def _coverage(layer: Layer) -> Callable[[Box], np.ndarray]:
    """The layer's alpha in a box (0 where it has no pixels)."""

    def coverage(box: Box) -> np.ndarray:
        return layer.to_rgba(QRect(box.x, box.y, box.width, box.height))[..., 3].copy()

    return coverage


def layer_region_sources(doc: Document) -> list[LayerRegion]:
    """A LayerRegion per visible region layer; its crop is the layer's alpha in a box."""
    return [
        LayerRegion(layer.region_prompt.spec(), _coverage(layer))
        for layer in region_layers(doc)
        if layer.region_prompt is not None
    ]


def reference_picture(doc: Document, layer: Layer) -> np.ndarray:
    """Straight RGBA of what can be seen of `layer`: its pixels on the canvas, cut to
    where they are not transparent (empty (0, 0, 4) when there are none)."""
    inside = layer.bounds().intersected(doc.rect())
    rgba = layer.to_rgba(inside) if not inside.isEmpty() else np.zeros((0, 0, 4), np.uint8)
    drawn = bbox(rgba[..., 3]) if rgba.size else None
    return np.zeros((0, 0, 4), np.uint8) if drawn is None else crop(rgba, drawn).copy()


def reference_region_layer(doc: Document, layer: Layer) -> Layer:
    """The visible region layer reference `layer` is limited to; JobError (one sentence)
    when the document has none of that name, or more than one."""
    assert layer.reference is not None and layer.reference.region
    name = layer.reference.region
    found = [other for other in region_layers(doc) if other.name == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise JobError(
            f'{len(found)} region layers are named "{name}"; rename all but one so that '
            f'reference layer "{layer.name}" knows which region it is limited to.'
        )
    raise JobError(
        f'Reference layer "{layer.name}" is limited to the region layer "{name}", which '
        "is not a visible region layer; show it, or choose another region for the "
        "reference (Layer ▸ Reference Layer…)."
    )


def _limited_coverage(doc: Document, layer: Layer) -> Callable[[Box], np.ndarray]:
    """The coverage of the region layer reference `layer` is limited to, looked up when
    the job is built (the region may have changed since the role was set)."""
    return lambda box: _coverage(reference_region_layer(doc, layer))(box)


def layer_reference_sources(doc: Document) -> list[LayerReference]:
    """A LayerReference per visible reference layer; its picture, and the coverage of the
    region layer it is limited to, are read when the job is built (on the UI thread)."""
    sources = []
    for layer in reference_layers(doc):
        role = layer.reference
        assert role is not None
        sources.append(
            LayerReference(
                role.spec(),
                lambda layer=layer: reference_picture(doc, layer),
                _limited_coverage(doc, layer) if role.region else None,
                name=f'reference layer "{layer.name}"',
                region_name=f'region layer "{role.region}"',
            )
        )
    return sources
