"""Export the flattened picture as PNG, carrying the generation's `parameters` metadata.

The metadata comes from a result layer: accepted generations keep their A1111
`parameters` text and request JSON in `Layer.metadata`, so the exported PNG can be read
by every SD tool and replayed with `overpaint rerun`.

A picture that carries a generation also carries the invisible watermark, embedded here
in the whole exported picture (the engine never marks its patches: a mark on a crop could
not be found in the full picture, or the crop was too small to carry one).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from editor.io.errors import FileError, file_error_from_os
from editor.model.document import Document
from editor.model.layer import Layer
from engine.metadata import PARAMETERS_KEY, REQUEST_KEY, save_png
from engine.request import GenerationRequest

log = logging.getLogger(__name__)


def generation_layer(document: Document, preferred: Layer | None = None) -> Layer | None:
    """The layer whose generation metadata an export carries.

    `preferred` (the selected layer) if it has `parameters`, else the topmost visible layer
    that has them, else None.
    """
    if preferred is not None and preferred.metadata.get(PARAMETERS_KEY):
        return preferred
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


def export_rgba_png(
    path: str | os.PathLike[str],
    rgba: np.ndarray,
    parameters: str | None = None,
    request: GenerationRequest | None = None,
    watermark: bool = True,
) -> None:
    """Write straight RGBA as PNG atomically; RGB when every pixel is opaque (smaller file).

    With `watermark`, a picture carrying generation metadata also gets the invisible mark.
    """
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if watermark and (parameters or request is not None):
        from engine.watermark import embed_watermark  # cv2 and pywt: only when needed

        rgba = embed_watermark(rgba)
    pixels = rgba[..., :3] if bool((rgba[..., 3] == 255).all()) else rgba
    try:
        save_png(path, pixels, parameters, request)
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
    """Export the visible composite. Metadata: the given `parameters`/`request`, else the
    generation of `layer` (or of the topmost generated layer, see generation_layer)."""
    rgba, parameters, request = export_inputs(document, layer, parameters, request)
    export_rgba_png(path, rgba, parameters, request, watermark)


def export_inputs(
    document: Document,
    layer: Layer | None = None,
    parameters: str | None = None,
    request: GenerationRequest | None = None,
) -> tuple[np.ndarray, str | None, GenerationRequest | None]:
    """What an export writes, as copies: the composite is the only pixel copy it needs,
    cheaper than a snapshot of every layer, so the rest can run on another thread."""
    if parameters is None and request is None:
        parameters, request = layer_generation(generation_layer(document, layer))
    return document.composite_array(), parameters, request
