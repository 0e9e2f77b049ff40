"""How the layer list shows a layer's role (control, reference, region prompt): the
badge on its thumbnail, the row's tint and the tooltip that says what the layer does.

Each role has its own colour so that a glance at the list tells a scribble that guides
the shape from a picture that steers the style or a layer that carries a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor

from editor.model.control_role import KIND_BADGES as CONTROL_BADGES
from editor.model.layer import Layer
from editor.model.reference_role import KIND_BADGES as REFERENCE_BADGES
from engine.control.spec import CONTROL_KINDS
from engine.reference.spec import REFERENCE_KINDS

CONTROL_BADGE = QColor(0, 128, 150)
CONTROL_TINT = QColor(0, 150, 175, 55)
REFERENCE_BADGE = QColor(176, 96, 0)
REFERENCE_TINT = QColor(220, 140, 0, 55)
REGION_BADGE = QColor(128, 56, 168)
REGION_TINT = QColor(150, 80, 200, 55)
REGION_BADGE_TEXT = "RGN"
_PROMPT_CHARS = 60  # of a region's prompt, in its tooltip


@dataclass(frozen=True)
class RoleLook:
    badge: str  # a few letters on the thumbnail
    colour: QColor  # the badge's
    tint: QColor  # the row's background
    tooltip: str


def _weighted(
    role, what: str, badges: dict[str, str], descriptions: dict[str, str]
) -> tuple[str, str]:
    """The badge and tooltip of a control or reference role (kind, strength, steps)."""
    text = (
        f"{role.kind.capitalize()} {what}, strength {role.strength:g}, from "
        f"{role.start:g} to {role.end:g} of the steps: {descriptions.get(role.kind, '')}"
    )
    return badges.get(role.kind, what[:3].upper()), text


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _PROMPT_CHARS else text[: _PROMPT_CHARS - 1] + "…"


def role_look(layer: Layer) -> RoleLook | None:
    """How the list shows `layer`'s role, or None for a normal layer."""
    hidden = "" if layer.visible else " Hidden: it takes no part."
    if layer.control is not None:
        badge, text = _weighted(layer.control, "control", CONTROL_BADGES, CONTROL_KINDS)
        return RoleLook(badge, CONTROL_BADGE, CONTROL_TINT, text + hidden)
    if layer.reference is not None:
        badge, text = _weighted(layer.reference, "reference", REFERENCE_BADGES, REFERENCE_KINDS)
        region = layer.reference.region
        where = f' Acts only where region layer "{_short(region)}" has pixels.' if region else ""
        never = where + " Never painted into the picture."
        return RoleLook(badge, REFERENCE_BADGE, REFERENCE_TINT, text + never + hidden)
    if layer.region_prompt is not None:
        region = layer.region_prompt
        negative = f' (not "{_short(region.negative_prompt)}")' if region.negative_prompt else ""
        painted = (
            "Also painted into the picture."
            if region.painted
            else "Only marks the region; not painted into the picture."
        )
        return RoleLook(
            REGION_BADGE_TEXT,
            REGION_BADGE,
            REGION_TINT,
            f'Region prompt: "{_short(region.prompt)}"{negative} where this layer has '
            f"pixels. {painted}{hidden}",
        )
    return None
