"""What makes a paint layer a control layer: the kind of control and its settings.

A layer whose `control` is a ControlRole guides every generation whose context box it
has pixels in (see editor.model.control_layers), instead of being painted into the
picture. `prepared` says the layer already holds a control image (made by "Make control
from layer": light lines on black); otherwise its pixels are the preprocessor's input
(strokes for a scribble, a picture for canny or lineart).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.control.spec import ControlSpec, check_spec

# Short badges for the layer list.
KIND_BADGES = {
    "scribble": "SCR",
    "lineart": "LIN",
    "softedge": "SFT",
    "canny": "CNY",
    "depth": "DEP",
    "pose": "POS",
    "inpaint": "INP",
}


@dataclass(frozen=True)
class ControlRole:
    kind: str = "scribble"
    strength: float = 1.0
    start: float = 0.0  # fraction of the steps where the control starts acting
    end: float = 1.0
    prepared: bool = False

    def spec(self) -> ControlSpec:
        """The engine's spec (model chosen by the engine: the installed one for the kind)."""
        return ControlSpec(
            self.kind, weight=self.strength, start=self.start, end=self.end, prepared=self.prepared
        )

    def problem(self) -> str | None:
        """One sentence saying why the role cannot be used, or None."""
        return check_spec(self.spec())

    def to_attributes(self) -> dict[str, str]:
        """The role as text attributes (what an .ora layer keeps)."""
        attrs = {
            "kind": self.kind,
            "strength": f"{self.strength:.6g}",
            "start": f"{self.start:.6g}",
            "end": f"{self.end:.6g}",
        }
        if self.prepared:
            attrs["prepared"] = "true"
        return attrs

    @classmethod
    def from_attributes(cls, attrs: dict[str, str]) -> ControlRole:
        """The role written by to_attributes; ValueError with one sentence when unusable."""
        try:
            role = cls(
                kind=attrs.get("kind", "").strip().lower(),
                strength=float(attrs.get("strength", "1")),
                start=float(attrs.get("start", "0")),
                end=float(attrs.get("end", "1")),
                prepared=attrs.get("prepared", "") == "true",
            )
        except ValueError:
            raise ValueError("its control settings are not numbers") from None
        problem = role.problem()
        if problem:
            raise ValueError(problem)
        return role
