"""What makes a paint layer a reference: a picture that steers generations without words.

A layer whose `reference` is a ReferenceRole is never painted into the picture; its
pixels are a reference picture (through an IP-Adapter, or as an extra input picture of an
instruction edit). Like control layers, hidden reference layers take no part.

`region` limits the reference to a region layer's coverage, named by the layer's name
(layers have no identity that outlives the process, and the .ora keeps names; renaming
the region layer renames it here too, see layer_roles.follow_region_rename); "" is the
whole picture. An Edit's extra pictures have no region.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.reference.spec import ReferenceSpec, check_reference

# Short badges for the layer list.
KIND_BADGES = {"reference": "REF", "style": "STY", "composition": "CMP"}
# The longest region name read back from a file; a longer one is junk.
_REGION_CHARS = 1000


@dataclass(frozen=True)
class ReferenceRole:
    kind: str = "reference"
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0
    region: str = ""  # the name of the region layer it is limited to; "": everywhere

    def spec(self, image_hash: str = "") -> ReferenceSpec:
        return ReferenceSpec(
            self.kind, weight=self.strength, start=self.start, end=self.end, image_hash=image_hash
        )

    def problem(self) -> str | None:
        """One sentence saying why the role cannot be used, or None."""
        return check_reference(self.spec())

    def to_attributes(self) -> dict[str, str]:
        """The role as text attributes (what an .ora layer keeps)."""
        attrs = {
            "kind": self.kind,
            "strength": f"{self.strength:.6g}",
            "start": f"{self.start:.6g}",
            "end": f"{self.end:.6g}",
        }
        if self.region:
            attrs["region"] = self.region
        return attrs

    @classmethod
    def from_attributes(cls, attrs: dict[str, str]) -> ReferenceRole:
        """The role written by to_attributes; ValueError with one sentence when unusable."""
        try:
            role = cls(
                kind=attrs.get("kind", "reference").strip().lower()[:32],
                strength=float(attrs.get("strength", "1")),
                start=float(attrs.get("start", "0")),
                end=float(attrs.get("end", "1")),
                region=attrs.get("region", "")[:_REGION_CHARS],
            )
        except ValueError:
            raise ValueError("its reference settings are not numbers") from None
        problem = role.problem()
        if problem:
            raise ValueError(problem)
        return role
