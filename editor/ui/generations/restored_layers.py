"""Role layers back from a history entry, for the Generations dock's "Use parameters".

The Generate panel holds settings, but an entry's controls, regional prompts and
references were layers. The history keeps their pictures (engine.history.pictures:
``control:N`` is the control layer's pixels at the context box, ``region:N`` the region
layer's coverage there, ``reference:N`` the reference picture), so each becomes a layer
with its role again, all in one undo step: the regions first, then the controls, then the
references. A layer already on the picture, visible, with the same pixels and the same
role is not added twice (a sentence says it is there already); one with the same pixels
whose settings were changed since (a reference's weight, a control's step range, a
region's prompt) is given the recorded settings again, in the same undo step, rather than
a twin beside it (a sentence names it). Each layer here stands for one of the entry's.

A control keeps its kind, strength, step range and whether its image was prepared; the
control model and Canny thresholds are not layer settings (the engine picks the
installed model for the kind). A region keeps its prompt and negative prompt; its pixels
are the recorded coverage in one colour (whether it was also painted is not recorded).
A reference limited to a region is recorded only as that region's coverage at the
context box: it is given the region layer that carries the entry's region of that
coverage, or else the one region layer here whose coverage matches; without one it acts
on the whole picture and a sentence says so. When the history lacks a kind's pictures,
none of that kind is added and one sentence says what to do instead.

On a picture of the entry's size the layers come back where they were, pixel for pixel,
so Generate makes the entry's picture again. On a picture of another size a sentence says
so, and the layers keep their places only where the context box still lies wholly on a
picture of another shape (the canvas grown or cut around it: outpainting, Canvas Size);
otherwise (a picture of the same shape, scaled or upscaled since or another one, or one
the box no longer fits on) they are scaled with the picture as Image ▸ Scale scales
layers, so that none lies off the picture where it cannot be seen. A reference picture
larger than the picture is scaled down to fit on it (a reference's place is not
recorded, and the part off the picture would not be used).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QRect

from editor.model.array_rects import bbox, crop
from editor.model.control_layers import active_control_layers
from editor.model.control_role import ControlRole
from editor.model.document import Document
from editor.model.layer import Layer
from editor.model.layer_roles import (
    SetLayerRoleCommand,
    reference_layers,
    reference_picture,
    region_layers,
)
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.model.scaling import scale_layer
from editor.ui.layer_badges import REGION_BADGE
from engine.core.images import picture_hash
from engine.history import pictures as pics
from engine.history.store import Entry, HistoryStore
from engine.request import Box, GenerationInputs, GenerationRequest


@dataclass(frozen=True)
class _Kind:
    entry_has: str  # "The generation's …"
    picture: str  # what the history keeps of one
    layer: str  # what comes back
    again: str  # what the user can do instead


CONTROL, REGION, REFERENCE = "control", "region", "reference"
KINDS = {
    CONTROL: _Kind(
        "controls",
        "control image",
        "control layer",
        "mark a layer as a control again (Layer ▸ Control Layer…)",
    ),
    REGION: _Kind(
        "regions",
        "region mask",
        "region layer",
        "give a layer the region prompt again (Layer ▸ Region Prompt…)",
    ),
    REFERENCE: _Kind(
        "references",
        "reference picture",
        "reference layer",
        "add the picture as a Reference layer again (Layer ▸ Reference Layer…)",
    ),
}
# A restored region is seen through: its pixels only say where the prompt applies.
REGION_OPACITY = 0.5


@dataclass
class _NewLayer:
    kind: str
    layer: Layer  # not on the picture yet


@dataclass
class _Reset:
    """A layer here given one of the entry's roles back, in place of a twin."""

    kind: str
    layer: Layer
    attribute: str  # "control", "region_prompt" or "reference"
    role: Any


def stored_inputs(store: HistoryStore | None, entry: Entry) -> GenerationInputs:
    """The entry's control images, region masks and reference pictures as the history
    keeps them (each kind empty, or with None in place of a control image, where the
    history lacks any of its pictures); the store is not read for an entry without any."""
    request = entry.request
    if not (request.controls or request.regions or request.references):
        return GenerationInputs()
    stored = None if store is None else store.input_pictures(entry.id)
    decoded: dict[str, np.ndarray] = {}
    for role, data in (stored or {}).items():
        if data is None:
            continue
        try:
            decoded[role] = pics.decode_picture(data)
        except (OSError, ValueError):
            continue  # a damaged picture of another role must not cost these
    inputs, _base = pics.restore_inputs(request, decoded)
    return inputs


def restore_layers(doc: Document | None, entry: Entry, inputs: GenerationInputs) -> str:
    """Add the entry's controls, regions and references to `doc` as layers with those
    roles, or give the layers here with their pixels those roles back (one undo step);
    the sentences to tell the user ("" when it had none)."""
    request = entry.request
    wanted = [kind for kind in KINDS if _count(request, kind)]
    if not wanted:
        return ""
    if doc is None:
        return f"The generation's {_named(wanted)} were not restored: no picture is open."
    missing = [kind for kind in wanted if _lacks(request, inputs, kind)]
    notes: list[str] = []
    if missing:
        notes.append(_missing_sentence(request, missing))
    restoring = [kind for kind in wanted if kind not in missing]
    plan = _Plan(doc, entry, inputs)
    # Regions first: a reference limited to one of them is given its layer.
    steps = {REGION: plan.regions, CONTROL: plan.controls, REFERENCE: plan.references}
    for kind, step in steps.items():
        if kind in restoring:
            step()
    new = plan.new
    reset = sorted(plan.reset, key=lambda r: list(KINDS).index(r.kind))  # as they are named
    added = [kind for kind in KINDS if any(layer.kind == kind for layer in new)]
    settled = [kind for kind in KINDS if any(r.kind == kind for r in reset)]
    said: list[str] = []
    if new:
        counts = [_counted(sum(n.kind == kind for n in new), KINDS[kind].layer) for kind in added]
        said.append(f"The generation's {_named(added)} were added as {_listed(counts)}.")
        ran_on = request.canvas_size
        # On another size they may not line up with the picture as the user expects, and
        # nothing else would say why.
        if any(layer.kind != REFERENCE for layer in new) and (doc.width, doc.height) != ran_on:
            placed = (
                "were scaled to lie over the same part of this one"
                if plan.scale is not None
                else "are where they were on that picture"
            )
            said.append(
                f"It ran on a {ran_on[0]}×{ran_on[1]} picture and this one is "
                f"{doc.width}×{doc.height}, so they {placed}."
            )
        if plan.shrunk:
            numbers = _listed([str(n) for n in plan.shrunk])
            which = (
                f"References {numbers} were" if len(plan.shrunk) > 1 else f"Reference {numbers} was"
            )
            said.append(f"{which} scaled down to fit on this picture.")
    if reset:
        names = _listed([f'"{r.layer.name}"' for r in reset])
        said.append(f"The generation's {_listed(settled)} settings were restored on {names}.")
    if plan.present:
        said.append(_present_sentence(plan.present, set(added) | set(settled)))
    if new or reset:
        parts = [f"{_listed(added)} layers"] if added else []
        parts += [f"{_listed(settled)} settings"] if settled else []
        with doc.history.macro(f"Restore {' and '.join(parts)}"):
            for r in reset:
                text = f"Restore {r.kind} settings"
                doc.history.push(SetLayerRoleCommand(doc, r.layer, r.attribute, r.role, text))
            for n in new:
                doc.insert_layer(n.layer, text=f"Add {KINDS[n.kind].layer}")
    return " ".join(said + notes + plan.notes)


class _Plan:
    """The layers to add, in order, the layers to give their recorded settings back, the
    sentences about what is not restored, and how many of each kind are on the picture
    already."""

    def __init__(self, doc: Document, entry: Entry, inputs: GenerationInputs) -> None:
        self.doc, self.entry, self.inputs = doc, entry, inputs
        self.request = entry.request
        self.box = _context(self.request)
        box = QRect(self.box.x, self.box.y, self.box.width, self.box.height)
        self.scale = _layout_scale(doc, self.request.canvas_size, box)
        # Where the context box lies here: layers here are looked at there.
        self.rect = box if self.scale is None else _scaled(box, *self.scale)
        self.shrunk: list[int] = []  # the references scaled down to fit on the picture
        self.names = {layer.name for layer in doc.layers}
        self.new: list[_NewLayer] = []
        self.reset: list[_Reset] = []
        self.notes: list[str] = []
        self.present: dict[str, int] = {}  # kind -> how many are on the picture already
        # The names of the region layers carrying the entry's regions, by coverage: a
        # reference limited to a region is recorded by that coverage alone.
        self.carriers: dict[str, set[str]] = {}

    def _placed(self, rgba: np.ndarray, at_box: bool) -> Layer:
        """The layer one of the entry's pictures becomes here: at the context box, cut to
        its pixels and scaled with the layout (`at_box`), or a reference's picture at the
        top left, scaled down where it would not fit on the picture."""
        x = y = 0
        if at_box:
            x, y = self.box.x, self.box.y
            drawn = bbox(rgba[..., 3])
            if drawn is not None:
                rgba = crop(rgba, drawn).copy()
                x, y = x + drawn.x(), y + drawn.y()
        layer = Layer.from_rgba(rgba, x=x, y=y)
        if at_box and self.scale is not None:
            return scale_layer(layer, *self.scale)
        if not at_box and not layer.is_empty() and not self.doc.rect().contains(layer.bounds()):
            fit = min(self.doc.width / layer.width, self.doc.height / layer.height)
            return scale_layer(layer, fit, fit)
        return layer

    def _add(self, kind: str, number: int, layer: Layer, **props: Any) -> str:
        name = _unique(self.names, f"{kind.capitalize()} {number} of generation {self.entry.id}")
        self.names.add(name)
        layer.name = name
        for key, value in props.items():
            setattr(layer, key, value)
        self.new.append(_NewLayer(kind, layer))
        return name

    def _settle(self, kind: str, i: int, layer: Layer | None, attribute: str, role: Any) -> bool:
        """Whether the entry's `kind` number `i + 1` is restored with `role`: found on
        `layer` (the layer here with its pixels, if any), that layer given `role` back,
        or (no layer) to be added; False, with a sentence, when `role` cannot be used."""
        if layer is not None and getattr(layer, attribute) == role:
            self.present[kind] = self.present.get(kind, 0) + 1
            return True
        if (problem := role.problem()) is not None:
            self.notes.append(f"{kind.capitalize()} {i + 1} was not restored: {problem}")
            return False
        if layer is not None:
            self.reset.append(_Reset(kind, layer, attribute, role))
        return True

    def regions(self) -> None:
        specs, masks = self.request.regions, self.inputs.region_masks
        placed = [self._placed(_tinted(mask), True) for mask in masks]
        coverage = self._coverage
        digests = [coverage(layer) for layer in placed]

        def role(i: int, layer: Layer | None) -> RegionRole:
            # Whether a region layer is also painted is not recorded: it keeps its own.
            base = layer.region_prompt if layer is not None else None
            return dataclasses.replace(
                base or RegionRole(""),
                prompt=specs[i].prompt,
                negative_prompt=specs[i].negative_prompt,
            )

        here = [(layer, coverage(layer)) for layer in region_layers(self.doc)]
        given = _given(digests, here, lambda i, layer: layer.region_prompt == role(i, layer))
        for i, (mask, layer) in enumerate(zip(masks, given, strict=True)):
            restored = role(i, layer)
            if not self._settle(REGION, i, layer, "region_prompt", restored):
                continue
            if layer is None:
                props = {"region_prompt": restored, "opacity": REGION_OPACITY}
                name = self._add(REGION, i + 1, placed[i], **props)
            else:
                name = layer.name
            # By the recorded coverage: the one a reference limited to it records.
            self.carriers.setdefault(picture_hash(mask), set()).add(name)

    def _coverage(self, layer: Layer) -> str:
        return _hash_at(layer.to_rgba(self.rect)[..., 3])

    def _lines(self, layer: Layer) -> str:
        return _hash_at(layer.to_rgba(self.rect))

    def controls(self) -> None:
        specs = self.request.controls
        roles = [ControlRole(s.kind, s.weight, s.start, s.end, s.prepared) for s in specs]
        placed = [
            None if image is None else self._placed(_rgba(image), True)
            for image in self.inputs.controls
        ]
        # Layers here and the entry's, looked at alike: where the context box lies here.
        digests = [None if layer is None else self._lines(layer) for layer in placed]
        here = [(layer, self._lines(layer)) for layer in active_control_layers(self.doc)]
        given = _given(digests, here, lambda i, layer: layer.control == roles[i])
        for i, (role, image, layer) in enumerate(zip(roles, placed, given, strict=True)):
            if image is None:  # an inpaint control: the history has no pixels of its layer
                self.notes.append(
                    f"Control {i + 1} (inpaint) was not restored: its layer's pixels are not "
                    "kept; mark a layer over the area as an inpaint control again "
                    "(Layer ▸ Control Layer…)."
                )
            elif self._settle(CONTROL, i, layer, "control", role) and layer is None:
                self._add(CONTROL, i + 1, image, control=role)

    def references(self) -> None:
        doc, request = self.doc, self.request
        specs, pictures = request.references, self.inputs.references
        regions = [
            _region_for(doc, request, spec.mask_hash, self.carriers) if spec.mask_hash else ""
            for spec in specs
        ]

        def role(i: int, layer: Layer | None) -> ReferenceRole:
            spec, region = specs[i], regions[i]
            if region is None:
                # The recorded region is not found here: a layer that is limited to one
                # stays so (it may be that one, painted since).
                region = layer.reference.region if layer is not None and layer.reference else ""
            return ReferenceRole(spec.kind, spec.weight, spec.start, spec.end, region)

        placed = [self._placed(_rgba(picture), False) for picture in pictures]
        digests = [_hash_at(reference_picture(doc, layer)) for layer in placed]
        here = [(layer, _hash_at(reference_picture(doc, layer))) for layer in reference_layers(doc)]
        given = _given(digests, here, lambda i, layer: layer.reference == role(i, layer))
        for i, (picture, layer) in enumerate(zip(pictures, given, strict=True)):
            restored = role(i, layer)
            if not self._settle(REFERENCE, i, layer, "reference", restored):
                continue
            if regions[i] is None and not restored.region:
                self.notes.append(
                    f"Reference {i + 1} was limited to a region that no one region layer "
                    "here matches, so it now acts on the whole picture; choose its region "
                    "again (Layer ▸ Reference Layer…)."
                )
            if layer is None:
                self._add(REFERENCE, i + 1, placed[i], reference=restored)
                if placed[i].width != picture.shape[1]:
                    self.shrunk.append(i + 1)


def _given(
    digests: list[str | None],
    here: list[tuple[Layer, str]],
    fits: Callable[[int, Layer], bool],
) -> list[Layer | None]:
    """For each of an entry's pictures (its hash; None: it has none), the layer here with
    those pixels that stands for it, or None: one whose settings `fits` it first, then any;
    each layer stands for one only (an entry may have two of one picture)."""
    free = list(here)
    given: list[Layer | None] = [None] * len(digests)
    for settled in (True, False):
        for i, digest in enumerate(digests):
            if given[i] is not None or digest is None:
                continue
            for j, (layer, pixels) in enumerate(free):
                if pixels == digest and (not settled or fits(i, layer)):
                    given[i] = layer
                    del free[j]
                    break
    return given


def _layout_scale(doc: Document, ran_on: tuple[int, int], box: QRect) -> tuple[float, float] | None:
    """How the entry's layout is scaled onto `doc` (x and y factors), or None where its
    layers keep their recorded places: on a picture of the entry's size (so Generate makes
    its picture again), and on one of another shape that the context box `box` still
    lies wholly on (the canvas grown or cut around it: the layers are over what they
    were over). A picture of the same shape was scaled (Image ▸ Scale, Upscale) or is
    another one, where the layout's proportions are what carries over; and on one the
    box does not fit on, some layer would lie off the picture, out of sight."""
    here = (doc.width, doc.height)
    if here == ran_on or min(ran_on) <= 0:
        return None
    if doc.rect().contains(box) and not _same_shape(ran_on, here):
        return None
    return here[0] / ran_on[0], here[1] / ran_on[1]


def _same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether sizes `a` and `b` have one aspect ratio, give or take the pixel a scaled
    size is rounded to."""
    return abs(a[1] * b[0] / a[0] - b[1]) <= 1 or abs(a[0] * b[1] / a[1] - b[0]) <= 1


def _scaled(rect: QRect, sx: float, sy: float) -> QRect:
    """`rect` scaled as editor.model.scaling.scale_layer scales a layer's bounds."""
    width, height = max(round(rect.width() * sx), 1), max(round(rect.height() * sy), 1)
    return QRect(round(rect.x() * sx), round(rect.y() * sy), width, height)


def _count(request: GenerationRequest, kind: str) -> int:
    return len(
        {CONTROL: request.controls, REGION: request.regions, REFERENCE: request.references}[kind]
    )


def _lacks(request: GenerationRequest, inputs: GenerationInputs, kind: str) -> bool:
    """Whether the history lacks any picture of `kind` that the entry needs."""
    if kind == CONTROL:
        if len(inputs.controls) != len(request.controls):
            return True
        # An inpaint control has no image of its own: nothing is missing there.
        pairs = zip(request.controls, inputs.controls, strict=True)
        return any(image is None and spec.kind != "inpaint" for spec, image in pairs)
    stored = inputs.region_masks if kind == REGION else inputs.references
    return len(stored) != _count(request, kind)


def _present_sentence(present: dict[str, int], added: set[str]) -> str:
    # Said, or a second Use parameters would seem to have done nothing with them.
    total = sum(present.values())
    other = "other " if added & present.keys() else ""
    layers, verb = ("layers", "are") if total > 1 else ("layer", "is")
    kinds = [kind for kind in KINDS if kind in present]
    return f"Its {other}{_listed(kinds)} {layers} {verb} already on the picture."


def _missing_sentence(request: GenerationRequest, kinds: list[str]) -> str:
    """One sentence for the kinds whose pictures the history lacks."""
    many = sum(_count(request, kind) for kind in kinds) > 1
    pictures = _listed([KINDS[k].picture + ("s" if _count(request, k) > 1 else "") for k in kinds])
    them = f"its {pictures} {'were' if many else 'was'}"
    again = _listed([KINDS[k].again for k in kinds])
    return f"The generation's {_named(kinds)} were not restored: {them} not kept; {again}."


def _named(kinds: list[str]) -> str:
    """How a sentence names the entry's things of `kinds`: "controls and regions"."""
    return _listed([KINDS[k].entry_has for k in kinds])


def _listed(words: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}s" if n > 1 else f"a {noun}"


def _unique(taken: set[str], name: str) -> str:
    """`name`, or `name (2)`, … when a layer has it: a reference finds its region by the
    region layer's name, and two of one name would leave it unable to choose."""
    n = 2
    unique = name
    while unique in taken:
        unique = f"{name} ({n})"
        n += 1
    return unique


def _hash_at(pixels: np.ndarray) -> str:
    return picture_hash(np.ascontiguousarray(pixels))


def _context(request: GenerationRequest) -> Box:
    # A command-line txt2img records no canvas: its inputs cover its own output.
    return request.region or Box(0, 0, *request.canvas_size)


def _region_for(
    doc: Document, request: GenerationRequest, mask_hash: str, carriers: dict[str, set[str]]
) -> str | None:
    """The name of the region layer a reference limited to the coverage `mask_hash` is
    given: the one carrying the entry's region of that coverage, else the one visible
    region layer here whose coverage at the context box is that; None without one."""
    names = carriers.get(mask_hash) or _covering(doc, request, mask_hash)
    return next(iter(names)) if len(names) == 1 else None


def _covering(doc: Document, request: GenerationRequest, mask_hash: str) -> set[str]:
    box = _context(request)
    rect = QRect(box.x, box.y, box.width, box.height)
    return {
        layer.name
        for layer in region_layers(doc)
        if _hash_at(layer.to_rgba(rect)[..., 3]) == mask_hash
    }


def _tinted(mask: np.ndarray) -> np.ndarray:
    """A region's coverage as RGBA: one colour, the coverage its alpha."""
    rgba = np.empty(mask.shape[:2] + (4,), np.uint8)
    rgba[..., :3] = (REGION_BADGE.red(), REGION_BADGE.green(), REGION_BADGE.blue())
    rgba[..., 3] = mask
    return rgba


def _rgba(picture: np.ndarray) -> np.ndarray:
    if picture.ndim == 3 and picture.shape[2] == 4:
        return picture
    alpha = np.full(picture.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([picture[..., :3], alpha], axis=2)
