"""Export the flattened picture as PNG, carrying the generation's `parameters` metadata.

The metadata comes from a result layer: accepted generations keep their A1111
`parameters` text and request JSON in `Layer.metadata`, so the exported PNG can be read
by every SD tool and replayed with `overpaint rerun`.

A picture that carries a generation also carries the invisible watermark, embedded here
on the generated layers' pixels only, so nothing else the user painted or opened changes
(the engine never marks its patches: where several results lie is known only here). The
PNG records the box around them, where a decoder reads, or why the mark was skipped.

An export also says how to replay it (engine.metadata.REPLAY_KEY): the history entry of
its one generation, whose input pictures `overpaint rerun` uses, or, when it holds more
than one generation (an upscale counts too), that it holds no single generation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

from editor.io.errors import FileError, file_error_from_os
from editor.model.blending import PREMULTIPLIED, composite_layers, image_to_rgba
from editor.model.document import Document
from editor.model.layer import Layer
from engine.metadata import PARAMETERS_KEY, REPLAY_KEY, REQUEST_KEY, WATERMARK_KEY, save_png
from engine.request import GenerationRequest
from engine.watermark import add_patch, mark_generated

log = logging.getLogger(__name__)


def generation_layer(document: Document, preferred: Layer | None = None) -> Layer | None:
    """The layer whose generation metadata an export carries.

    `preferred` (the selected layer) if it has `parameters` and shows in the picture (see
    shown_generation_layers), else the topmost generated layer that shows, else the topmost
    visible layer with `parameters`, else None. A generation the picture does not show
    would name pixels `overpaint rerun` cannot give back.
    """
    return _generation_layer(document, preferred, shown_generation_layers(document))


def _generation_layer(
    document: Document, preferred: Layer | None, shown: list[Layer]
) -> Layer | None:
    if preferred is not None and preferred.metadata.get(PARAMETERS_KEY):
        if not shown or any(layer is preferred for layer in shown):
            return preferred
    if shown:
        return shown[-1]
    for layer in reversed(document.layers):
        if layer.visible and layer.metadata.get(PARAMETERS_KEY):
            return layer
    return None


def layer_generation(layer: Layer | None) -> tuple[str | None, GenerationRequest | None]:
    """(parameters text, request) recorded on a layer; (None, None) for a painted layer."""
    if layer is None:
        return None, None
    request = None
    if text := layer.metadata.get(REQUEST_KEY):
        try:
            request = GenerationRequest.from_json(text)
        except Exception as exc:  # a damaged record still leaves the parameters text
            log.info("ignoring unreadable request on layer %r: %r", layer.name, exc)
    return layer.metadata.get(PARAMETERS_KEY), request


@dataclass(frozen=True)
class ExportContent:
    """What an export writes, as copies: the composite is the only pixel copy it needs,
    cheaper than a snapshot of every layer, so the rest can run on another thread."""

    rgba: np.ndarray
    parameters: str | None = None
    request: GenerationRequest | None = None
    generated: np.ndarray | None = None  # HxW bool: the generated pixels, the ones marked
    not_single: str | None = None  # why `overpaint rerun` cannot replay it, if it cannot


def generation_layers(document: Document) -> list[Layer]:
    """The visible layers that came from a generation or an upscale, bottom first."""
    return [
        layer for layer in document.layers if layer.visible and layer.metadata.get(PARAMETERS_KEY)
    ]


def shown_generation_layers(document: Document) -> list[Layer]:
    """The generated layers that show in the picture, bottom first. A result accepted
    again over the whole picture (a Regenerate, an Add as layer) hides the one under it,
    which then neither counts as a generation of the export nor carries the mark."""
    layers = list(document.layers)
    canvas = QRect(0, 0, document.width, document.height)
    shown = []
    for layer in generation_layers(document):
        area = layer.bounds().intersected(canvas)
        if layer.opacity <= 0 or area.isEmpty():
            continue
        above = layers[layers.index(layer) + 1 :]
        if not _covered(layer, above, area):
            shown.append(layer)
    return shown


def _covered(layer: Layer, above: list[Layer], area: QRect) -> bool:
    """Whether the layers above hide `layer` within `area`: what they show there is the
    same over black as over white wherever `layer` has pixels. (Removing the layer is no
    test: two identical results would each hide the other.)"""
    looks = []
    for fill in (0xFF000000, 0xFFFFFFFF):
        under = QImage(area.width(), area.height(), PREMULTIPLIED)
        under.fill(fill)
        looks.append(image_to_rgba(composite_layers(above, area, onto=under)))
    has_pixels = layer.to_rgba(area)[..., 3] > 0
    return not bool((looks[0] != looks[1]).any(-1)[has_pixels].any())


def generated_pixels(document: Document, layers: list[Layer]) -> np.ndarray:
    """HxW bool: the canvas pixels that ``layers`` cover (alpha > 0)."""
    generated = np.zeros((document.height, document.width), bool)
    for layer in layers:
        add_patch(generated, layer.to_rgba()[..., 3], layer.x, layer.y)
    return generated


def not_single_reason(layers: list[Layer]) -> str | None:
    """Why a picture with these generated layers is not one replayable generation, as the
    end of a sentence; None when it is one (or holds none)."""
    upscales = sum(1 for layer in layers if not layer.metadata.get(REQUEST_KEY))
    generations = len(layers) - upscales
    if (generations, upscales) in ((0, 0), (1, 0)):
        return None
    held = []
    if generations:
        held.append("1 generation" if generations == 1 else f"{generations} generations")
    if upscales:
        held.append("an upscale" if upscales == 1 else f"{upscales} upscales")
    return f"it holds {' and '.join(held)}, not a single generation"


def export_content(
    document: Document,
    layer: Layer | None = None,
    parameters: str | None = None,
    request: GenerationRequest | None = None,
) -> ExportContent:
    """What exporting ``document`` writes. Metadata: the given `parameters`/`request`, else
    the generation of `layer` (or of the topmost generated layer, see generation_layer)."""
    layers = shown_generation_layers(document)
    if parameters is None and request is None:
        parameters, request = layer_generation(_generation_layer(document, layer, layers))
    return ExportContent(
        document.composite_array(),
        parameters,
        request,
        generated_pixels(document, layers),
        not_single_reason(layers),
    )


def write_export(
    path: str | os.PathLike[str],
    content: ExportContent,
    watermark: bool = True,
    find_entry: Callable[[GenerationRequest], int | None] | None = None,
) -> None:
    """Write straight RGBA as PNG atomically; RGB when every pixel is opaque (smaller file).

    With `watermark`, a picture carrying generation metadata also gets the invisible mark
    on its generated pixels. `find_entry` gives the history entry of the request, recorded
    so `overpaint rerun` replays the export with that entry's input pictures.
    """
    rgba = np.ascontiguousarray(content.rgba, dtype=np.uint8)
    parameters, request = content.parameters, content.request
    records: dict[str, dict[str, object]] = {}
    if watermark and (parameters or request is not None):
        generated = content.generated
        if generated is None:
            generated = np.zeros(rgba.shape[:2], bool)
        rgba, records[WATERMARK_KEY] = mark_generated(rgba, generated)
    if content.not_single:
        records[REPLAY_KEY] = {"not_single": content.not_single}
    elif request is not None and find_entry is not None:
        entry = find_entry(request)
        if entry is not None:
            records[REPLAY_KEY] = {"history_entry": entry}
    pixels = rgba[..., :3] if bool((rgba[..., 3] == 255).all()) else rgba
    try:
        save_png(path, pixels, parameters, request, records)
    except OSError as exc:
        log.warning("exporting %s failed: %s", path, exc)
        raise file_error_from_os(exc, Path(path).name, saving=True) from None
    except ValueError as exc:  # e.g. a canvas too large for the PNG encoder
        log.warning("exporting %s failed: %r", path, exc)
        raise FileError(f'"{Path(path).name}" could not be written as PNG.') from None


def export_png(
    document: Document,
    path: str | os.PathLike[str],
    layer: Layer | None = None,
    parameters: str | None = None,
    request: GenerationRequest | None = None,
    watermark: bool = True,
) -> None:
    """Export the visible composite (see export_content for its metadata)."""
    write_export(path, export_content(document, layer, parameters, request), watermark)
