"""The one description of a generation job.

GenerationRequest is frozen and JSON-serialisable: the editor builds it, the worker runs
it, the PNG metadata records it, and `overpaint rerun` replays it. Pixels travel beside
it in GenerationInputs, so the request stays small enough to embed in a PNG.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engine.control.spec import ControlSpec
from engine.reference.spec import ReferenceSpec
from engine.regions.spec import RegionSpec

# "edit": an instruction edit (the prompt is the instruction) of the input picture, with
# the multi-reference models' extra pictures in `references`.
Mode = Literal["txt2img", "img2img", "inpaint", "outpaint", "fill", "edit"]
MODES: tuple[str, ...] = ("txt2img", "img2img", "inpaint", "outpaint", "fill", "edit")


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in canvas pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


@dataclass(frozen=True)
class GenerationRequest:
    mode: Mode
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    guidance: float = 7.0
    strength: float = 0.75
    scheduler: str = "Euler a"
    # Flow-matching models (FLUX, SD 3.5, ...): the sampler's sigma shift (0: the model's own).
    shift: float = 0.0
    # Output size for txt2img without a region; otherwise the planner picks it.
    width: int = 512
    height: int = 512
    model: str = ""
    n_samples: int = 1
    # Where on the canvas the inputs were cropped from (None: the whole output).
    region: Box | None = None
    canvas_width: int = 0
    canvas_height: int = 0
    mask_blur: int = 4  # the feather radius in canvas pixels (0: hard edge)
    # The mask is a selection: a limit, so the feather lies inside its edge and nothing
    # outside it changes (a painted mask's softness reaches out instead).
    feather_inside: bool = False
    # Inpainting: how the hole is pre-filled and repainted (engine.inpaint_modes). The
    # job builder resolves "auto" to the mode it picked, so the metadata names it.
    inpaint_mode: str = "auto"
    grow: int = 0  # pixels the mask was grown (negative: shrunk) before planning
    context: str = "auto"  # context around the mask: "auto", "mask", "whole" or pixels
    color_match: bool = True
    soft_edges: bool = True  # differential diffusion over the feathered mask
    loras: tuple[tuple[str, float], ...] = ()
    # Whether the picture made from this request carries the invisible watermark. The
    # engine's patches are never marked: whoever writes the whole picture embeds it (the
    # CLI after compositing, the editor's export), where a reader can find it.
    watermark: bool = True
    # On a CPU: "auto" (bf16 where this processor computes it faster), "fp32" or "bf16"
    # (engine.core.precision). The engine records what it used, so a rerun repeats it.
    precision: str = "auto"
    options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    # ControlNet / T2I-Adapter guidance; images in GenerationInputs.controls (same order).
    controls: tuple[ControlSpec, ...] = ()
    # Regional prompts; their masks in GenerationInputs.region_masks (same order).
    regions: tuple[RegionSpec, ...] = ()
    # Reference pictures; the pictures in GenerationInputs.references (same order).
    references: tuple[ReferenceSpec, ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the picture the inputs were cut from; a request that records
        no canvas (txt2img) covers its own output size."""
        if self.canvas_width and self.canvas_height:
            return self.canvas_width, self.canvas_height
        return self.width, self.height

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        # Records from before the precision policy were made in fp32 on a CPU.
        data.setdefault("precision", "fp32")
        if data.get("region") is not None:
            data["region"] = Box(**data["region"])
        data["loras"] = tuple((str(n), float(w)) for n, w in data.get("loras", ()))
        data["options"] = tuple((str(k), v) for k, v in data.get("options", ()))
        data["controls"] = tuple(ControlSpec.from_dict(c) for c in data.get("controls", ()))
        data["regions"] = tuple(RegionSpec.from_dict(r) for r in data.get("regions", ()))
        data["references"] = tuple(ReferenceSpec.from_dict(r) for r in data.get("references", ()))
        return cls(**data)

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class GenerationInputs:
    """Pixels for a job: the context crop of the visible composite and its mask.

    image: HxWx4 uint8 RGBA (alpha 0 = empty, to be outpainted), or None for txt2img.
    mask:  HxW uint8, 255 = repaint, same size as image, or None.
    Both are cropped at request.region, so their cost follows the region, not the canvas.
    """

    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    # One image per request.controls entry (RGB/RGBA uint8 at the crop's size), or None
    # where the kind needs none (inpaint uses the image and mask).
    controls: tuple[np.ndarray | None, ...] = ()
    # One HxW uint8 mask per request.regions entry (255 = the region), at the crop's size.
    region_masks: tuple[np.ndarray, ...] = ()
    # One RGB/RGBA uint8 picture per request.references entry, at its own size; and the
    # masks of references limited to a region (HxW uint8 at the crop's size, or None).
    references: tuple[np.ndarray, ...] = ()
    reference_masks: tuple[np.ndarray | None, ...] = ()


@dataclass(frozen=True, eq=False)
class GenerationResult:
    """One sample: an RGBA patch to lay on the canvas at (x, y)."""

    request: GenerationRequest
    rgba: np.ndarray
    x: int
    y: int
    seed: int
    parameters: str  # the A1111 `parameters` text, ready for PNG metadata
    # Things the user should know about this result (e.g. a prompt the model cut short).
    warnings: tuple[str, ...] = ()
