"""What makes a paint layer a region: the prompt that applies where the layer has pixels.

A layer whose `region` is a RegionRole gives its coverage (alpha) to a regional prompt;
the Generate panel's prompt is the root prompt, added to every region and alone covering
what no region covers. A region layer is left out of the picture the model repaints
unless `painted` says the user wants it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.regions.spec import RegionSpec, check_region

# The longest prompt read back from a file; a longer one is junk.
_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class RegionRole:
    prompt: str
    negative_prompt: str = ""
    painted: bool = False  # the layer's pixels are also part of the picture

    def spec(self, mask_hash: str = "") -> RegionSpec:
        return RegionSpec(self.prompt, self.negative_prompt, mask_hash)

    def problem(self) -> str | None:
        """One sentence saying why the role cannot be used, or None."""
        return check_region(self.spec())

    def to_attributes(self) -> dict[str, str]:
        """The role as text attributes (what an .ora layer keeps)."""
        attrs = {"prompt": self.prompt}
        if self.negative_prompt:
            attrs["negative"] = self.negative_prompt
        if self.painted:
            attrs["painted"] = "true"
        return attrs

    @classmethod
    def from_attributes(cls, attrs: dict[str, str]) -> RegionRole:
        """The role written by to_attributes; ValueError with one sentence when unusable."""
        role = cls(
            prompt=attrs.get("prompt", "")[:_PROMPT_CHARS],
            negative_prompt=attrs.get("negative", "")[:_PROMPT_CHARS],
            painted=attrs.get("painted", "") == "true",
        )
        problem = role.problem()
        if problem:
            raise ValueError(problem)
        return role
