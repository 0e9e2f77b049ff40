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
from editor.io.ora import OraLayer, OraProject, read_ora, write_ora
from editor.model.blending import blend_mode_from_ora, blend_mode_to_ora
from editor.model.control_role import ControlRole
from editor.model.document import MAX_CANVAS_SIDE, Document
from editor.model.layer import Layer
from engine.atomic_write import remove_stale_temporaries

ORA_SUFFIX = ".ora"
_NORMAL_OPS = ("svg:src-over", "svg:normal", "")


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
        mode = blend_mode_from_ora(record.composite_op)
        if mode == "normal" and record.composite_op.strip().lower() not in _NORMAL_OPS:
            notes.append(
                f'Layer "{record.name}" uses the blend mode "{record.composite_op}", '
                "which Overpaint does not have, so it is shown as Normal."
            )
        layer = Layer.from_rgba(
            record.pixels,
            record.name,
            x=record.x,
            y=record.y,
            opacity=record.opacity,
            blend_mode=mode,
            visible=record.visible,
            alpha_locked=record.alpha_locked,
            metadata=record.metadata,
            control=_control_role(record, notes),
        )
        document.insert_layer(layer, index)
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


def _control_role(record: OraLayer, notes: list[str]) -> ControlRole | None:
    if not record.control:
        return None
    try:
        return ControlRole.from_attributes(record.control)
    except ValueError as e:
        reason = str(e)
        notes.append(
            f'Layer "{record.name}" is kept as a normal layer: {reason[:1].lower()}{reason[1:]}'
        )
        return None


def save_ora(document: Document, path: str | os.PathLike[str], keep_backup: bool = True) -> None:
    """Save atomically as OpenRaster (previous version kept as "<name>.bak").

    Does not mark the history clean: the caller decides (a manual save does, autosave not).
    """
    write_ora(path, document_to_project(document), document.composite_array(), keep_backup)


def document_to_project(document: Document) -> OraProject:
    """The layers as plain records holding copies of the pixels (safe to hand to a thread)."""
    layers = [
        OraLayer(
            name=layer.name,
            pixels=layer.to_rgba(),
            x=layer.x,
            y=layer.y,
            opacity=layer.opacity,
            visible=layer.visible,
            composite_op=blend_mode_to_ora(layer.blend_mode),
            alpha_locked=layer.alpha_locked,
            selected=layer is document.current_layer,
            metadata=dict(layer.metadata),
            control=layer.control.to_attributes() if layer.control is not None else {},
        )
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
