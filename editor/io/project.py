"""Files <-> the editor's Document: open an image or .ora as a document, save .ora.

The UI, the CLI and autosave call these; the file formats themselves live in
`editor.io.images` and `editor.io.ora`.

Saving off the UI thread (autosave): take `document_to_project(doc)` and
`doc.composite_array()` on the UI thread (both are copies, so painting may go on), then
call `editor.io.ora.write_ora(path, project, merged)` from the worker.
"""

from __future__ import annotations

import os
from pathlib import Path

from editor.io.errors import FileError
from editor.io.images import DEFAULT_MAX_PIXELS, read_image
from editor.io.layer_fields import layer_to_record, record_to_layer
from editor.io.ora import OraProject, read_ora, write_ora
from editor.model.document import MAX_CANVAS_SIDE, Document
from engine.core.atomic_write import remove_stale_temporaries

ORA_SUFFIX = ".ora"


def load_ora(
    path: str | os.PathLike[str],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    warnings: list[str] | None = None,
) -> Document:
    """A clean (not undoable, unmodified) Document from an OpenRaster file.

    Repairs made while reading (a missing layer picture, an unknown blend mode, ...) are
    appended to `warnings` as sentences. Raises FileError with one sentence.
    Temporary files that a killed save of this project left beside it are removed.
    """
    remove_stale_temporaries(path)
    project = read_ora(path, max_pixels=max_pixels)
    notes = list(project.warnings)
    _check_canvas(project.width, project.height, Path(path).name)
    document = Document(project.width, project.height)
    for index, record in enumerate(project.layers):
        document.insert_layer(record_to_layer(record, notes), index)
    if document.layers:
        # The layer the file marks as selected, else the top one.
        selected = [i for i, record in enumerate(project.layers) if record.selected]
        document.set_current_layer(selected[-1] if selected else len(document.layers) - 1)
    if "mask" in project.arrays:
        document.set_mask(project.arrays["mask"])
    if "selection" in project.arrays:
        document.set_selection(project.arrays["selection"])
    document.reset_history()
    if warnings is not None:
        warnings.extend(notes)
    return document


def save_ora(document: Document, path: str | os.PathLike[str], keep_backup: bool = True) -> None:
    """Save atomically as OpenRaster (previous version kept as "<name>.bak").

    Does not mark the history clean: the caller decides (a manual save does, autosave not).
    """
    write_ora(path, document_to_project(document), document.composite_array(), keep_backup)


def document_to_project(document: Document) -> OraProject:
    """The layers as plain records holding copies of the pixels (safe to hand to a thread)."""
    layers = [
        layer_to_record(layer, selected=layer is document.current_layer)
        for layer in document.layers
    ]
    arrays = {}
    if document.has_mask():
        arrays["mask"] = document.mask.copy()
    if document.has_selection():
        arrays["selection"] = document.selection.copy()
    return OraProject(document.width, document.height, layers, arrays=arrays)


def load_image_document(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS
) -> Document:
    """A clean one-layer Document from an image file, the layer named after the file."""
    rgba = read_image(path, max_pixels)
    height, width = rgba.shape[:2]
    _check_canvas(width, height, Path(path).name)
    document = Document(width, height)
    document.add_layer(Path(path).stem or "Background", rgba=rgba)
    document.reset_history()
    return document


def load_document(
    path: str | os.PathLike[str],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    warnings: list[str] | None = None,
) -> Document:
    """Open a .ora project or an image file (chosen by suffix) as a clean Document."""
    if Path(path).suffix.lower() == ORA_SUFFIX:
        return load_ora(path, max_pixels, warnings)
    return load_image_document(path, max_pixels)


def _check_canvas(width: int, height: int, name: str) -> None:
    if width > MAX_CANVAS_SIDE or height > MAX_CANVAS_SIDE:
        raise FileError(
            f'"{name}" is {width}x{height} pixels, wider or taller than the '
            f"{MAX_CANVAS_SIDE} pixels a canvas can have."
        )
