"""Every Layer attribute a project keeps, and where an .ora file keeps it.

One table, walked both ways: saving (`layer_to_record`) and opening (`record_to_layer`).
OpenRaster's own attributes (name, x, y, opacity, visibility, composite-op) and the layer
PNG's text chunks (generation metadata) are fields of `OraLayer`; everything else goes in
Overpaint's own stack.xml attributes, named "overpaint-…", which Krita, GIMP and MyPaint
ignore. A new Layer attribute needs one row here (tests/editor/io/test_layer_fields.py
fails until it has one, and until it survives a save and reopen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from editor.io.ora import OWN_ATTR_PREFIX, OraLayer
from editor.model.blending import blend_mode_from_ora, blend_mode_to_ora
from editor.model.control_role import ControlRole
from editor.model.layer import Layer
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole

# composite-op values that mean Normal (Krita and MyPaint write the first, some the others).
_NORMAL_OPS = ("svg:src-over", "svg:normal", "")
# Longest control value read back; a longer one is junk, and it would flood the warning.
_CONTROL_VALUE_CHARS = 64

# (value in the file, layer name, warnings list) -> the Layer's value
Reader = Callable[[Any, str, list[str]], Any]


def _same(value: Any) -> Any:
    return value


def _read_same(value: Any, _name: str, _notes: list[str]) -> Any:
    return value


@dataclass(frozen=True)
class LayerField:
    attribute: str  # the Layer attribute
    # Where the file keeps it: an OraLayer field, or else Overpaint's own stack.xml
    # attributes named `prefix` + key (to_file then gives {key: text}; {} writes nothing).
    ora_field: str | None = None
    prefix: str | None = None
    to_file: Callable[[Any], Any] = _same
    from_file: Reader = _read_same


def _read_blend_mode(op: str, name: str, notes: list[str]) -> str:
    mode = blend_mode_from_ora(op)
    if mode == "normal" and op.strip().lower() not in _NORMAL_OPS:
        notes.append(
            f'Layer "{name}" uses the blend mode "{op}", '
            "which Overpaint does not have, so it is shown as Normal."
        )
    return mode


def _write_alpha_lock(locked: bool) -> dict[str, str]:
    return {"": "true"} if locked else {}


def _read_alpha_lock(attrs: dict[str, str], _name: str, _notes: list[str]) -> bool:
    return attrs.get("") == "true"


def _write_role(role: ControlRole | RegionRole | ReferenceRole | None) -> dict[str, str]:
    return role.to_attributes() if role is not None else {}


def _role_reader(parse: Callable[[dict[str, str]], Any], value_chars: int | None) -> Reader:
    """A reader for a layer role kept as attributes: None when absent, and a note (the
    layer stays normal) when unusable. Values are cut to `value_chars` (junk guard)."""

    def read(attrs: dict[str, str], name: str, notes: list[str]) -> Any:
        if not attrs:
            return None
        try:
            return parse({key: value[:value_chars] for key, value in attrs.items()})
        except ValueError as e:
            reason = str(e)
            notes.append(
                f'Layer "{name}" is kept as a normal layer: {reason[:1].lower()}{reason[1:]}'
            )
            return None

    return read


LAYER_FIELDS: tuple[LayerField, ...] = (
    LayerField("name", ora_field="name"),
    LayerField("x", ora_field="x"),
    LayerField("y", ora_field="y"),
    LayerField("opacity", ora_field="opacity"),
    LayerField("visible", ora_field="visible"),
    LayerField(
        "blend_mode",
        ora_field="composite_op",
        to_file=blend_mode_to_ora,
        from_file=_read_blend_mode,
    ),
    LayerField("metadata", ora_field="metadata", to_file=dict),
    LayerField(
        "alpha_locked",
        prefix=OWN_ATTR_PREFIX + "alpha-lock",
        to_file=_write_alpha_lock,
        from_file=_read_alpha_lock,
    ),
    # overpaint-control-kind, -strength, -start, -end, -prepared
    LayerField(
        "control",
        prefix=OWN_ATTR_PREFIX + "control-",
        to_file=_write_role,
        from_file=_role_reader(ControlRole.from_attributes, _CONTROL_VALUE_CHARS),
    ),
    # overpaint-region-prompt, -negative, -painted
    LayerField(
        "region_prompt",
        prefix=OWN_ATTR_PREFIX + "region-",
        to_file=_write_role,
        from_file=_role_reader(RegionRole.from_attributes, None),
    ),
    # overpaint-reference-kind, -strength, -start, -end, -region (a layer name: the role
    # cuts each value itself)
    LayerField(
        "reference",
        prefix=OWN_ATTR_PREFIX + "reference-",
        to_file=_write_role,
        from_file=_role_reader(ReferenceRole.from_attributes, None),
    ),
)


def layer_to_record(layer: Layer, selected: bool = False) -> OraLayer:
    """The layer as a file record holding a straight-RGBA copy of its pixels."""
    values: dict[str, Any] = {}
    own: dict[str, str] = {}
    for field in LAYER_FIELDS:
        value = field.to_file(getattr(layer, field.attribute))
        if field.ora_field is not None:
            values[field.ora_field] = value
        else:
            own.update({f"{field.prefix}{key}": text for key, text in value.items()})
    return OraLayer(pixels=layer.to_rgba(), selected=selected, own=own, **values)


def record_to_layer(record: OraLayer, notes: list[str]) -> Layer:
    """A Layer from a file record; values it cannot use are left at their defaults and
    said in `notes` (one sentence each)."""
    values: dict[str, Any] = {}
    for field in LAYER_FIELDS:
        if field.ora_field is not None:
            stored = getattr(record, field.ora_field)
        else:
            prefix = field.prefix or ""
            stored = {
                key[len(prefix) :]: text
                for key, text in record.own.items()
                if key.startswith(prefix)
            }
        values[field.attribute] = field.from_file(stored, record.name, notes)
    return Layer.from_rgba(np.asarray(record.pixels), **values)
