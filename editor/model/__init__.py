"""The window-free document model: layers, compositing, mask, selection, undo.

See ``editor.model.document`` for the public API summary.
"""

from editor.model.blending import (
    BLEND_MODES,
    blend_mode_from_ora,
    blend_mode_label,
    blend_mode_to_ora,
)
from editor.model.document import Document
from editor.model.layer import Layer
from editor.model.undo import Command, History

__all__ = [
    "BLEND_MODES",
    "Command",
    "Document",
    "History",
    "Layer",
    "blend_mode_from_ora",
    "blend_mode_label",
    "blend_mode_to_ora",
]
