"""Upscale & refine: a picture made larger, then optionally repainted lightly in tiles.

1. Upscale to the target size: with the Stable Diffusion x4 upscaler when one is
   installed (engine.upscale.upscalers), in overlapping tiles of the input, each result resized
   to its place in the target with Lanczos; otherwise Lanczos on the whole picture.
2. Refine (strength > 0): img2img at low strength over overlapping tiles of the
   upscaled picture, each at the generation model's native size, through the same
   Engine.run as every other job (validation, LoRAs, cancel, error messages).

Each refined tile keeps the upscaled picture's colours (``keep_source_colours``) and
its shapes' edges (``keep_source_edges``): the model, seeing only part of a shape in its
tile, redraws that part's outline its own way, a pixel or two off, and differently in
each tile, so a big shape's edge came back with a bump per tile. Refine adds detail; where
the shapes lie is the upscaler's job.

Tiles are laid back with engine.upscale.tiles' feathered raster-order blend, so no tile edge
shows and memory follows the tile: the model only ever sees one tile, and apart from it
only the input, the upscaled picture and the output are held. Every tile uses the same
seed, so the noise pattern does not change from one tile to the next.

Progress counts tiles × steps over both stages; cancel (checked at every step) raises
Cancelled and nothing is returned, so the caller changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from engine import __version__
from engine.base import as_rgba, validate_request
from engine.core.cvsafe import import_cv2
from engine.core.errors import Cancelled, EngineError, InvalidRequestError, OutOfMemoryError
from engine.local.engine import Engine
from engine.local.loading import model_hash
from engine.metadata import format_parameters, quote
from engine.request import GenerationInputs, GenerationRequest
from engine.upscale import upscalers
from engine.upscale.tiles import TilePlan, paste_feathered, plan_tiles

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, "np.ndarray | None"], None]
CancelCheck = Callable[[], bool]

MAX_SIDE = 16384  # 1 GiB of RGBA: past that a picture is no longer editable here
UPSCALER_TILE = 128  # input pixels per x4-upscaler tile (512 px out, its training size)
UPSCALER_OVERLAP = 16
DEFAULT_REFINE_STRENGTH = 0.3
# Refine tiles share a quarter of their side: wide enough that the ramp hides the small
# differences a low-strength pass makes between neighbours.
REFINE_OVERLAP_FRACTION = 4
# keep_source_edges: a shape's outline is an edge that survives a blur of EDGE_SIGMA px
# with a slope of EDGE_SLOPE[1] levels per pixel or more (a contrast of about 120 levels:
# a yellow shape on blue is 130 in the blue channel); below EDGE_SLOPE[0] (about 30
# levels) it is texture, which the refine may redraw.
EDGE_SIGMA = 2.0
EDGE_SLOPE = (6.0, 24.0)

_upscaler_cache = upscalers.UpscalerCache()


@dataclass(frozen=True)
class UpscaleJob:
    """What to do with one picture.

    ``request`` carries the settings (prompt, seed, steps, guidance, scheduler, model,
    options, watermark) for the x4 upscaler and the refine; its ``strength`` is the
    refine strength, and ``refine`` says whether to refine at all.
    """

    width: int  # target size
    height: int
    request: GenerationRequest
    refine: bool = False
    upscaler: str = "auto"  # "auto", "lanczos", or an upscaler folder
    refine_tile: int = 0  # 0: the model's native size
    upscaler_tile: int = UPSCALER_TILE  # input pixels per x4-upscaler tile
    noise_level: int = upscalers.DEFAULT_NOISE_LEVEL
    keep_colours: bool = True  # refine adds detail, the colours stay (keep_source_colours)
    keep_edges: bool = True  # ... and shapes' outlines stay where they are (keep_source_edges)


@dataclass(frozen=True, eq=False)
class UpscaleResult:
    rgba: np.ndarray  # target size, straight RGBA
    parameters: str  # A1111-style text for PNG metadata
    seed: int
    upscaler: str  # what was used: "Lanczos" or the upscaler folder's name
    tiles: int  # refine tiles (0 without refine)


def target_size(
    width: int,
    height: int,
    scale: float | None = None,
    out_width: int | None = None,
    out_height: int | None = None,
) -> tuple[int, int]:
    """The output size for ×scale, or for a width and/or height (one side alone keeps the
    aspect ratio). InvalidRequestError for sizes that make no sense."""
    if scale is not None:
        if out_width or out_height:
            raise InvalidRequestError("Give either a scale or a size, not both.")
        if not 0 < scale <= 16:
            raise InvalidRequestError(f"The scale must be above 0 and at most 16, not {scale:g}.")
        size = (round(width * scale), round(height * scale))
    elif out_width or out_height:
        if out_width and out_height:
            size = (int(out_width), int(out_height))
        elif out_width:
            size = (int(out_width), round(height * out_width / width))
        else:
            size = (round(width * out_height / height), int(out_height))
    else:
        raise InvalidRequestError("Give a scale (2 or 4) or a target width and height.")
    if not (1 <= size[0] <= MAX_SIDE and 1 <= size[1] <= MAX_SIDE):
        raise InvalidRequestError(
            f"The upscaled picture would be {size[0]}x{size[1]}; each side must be between "
            f"1 and {MAX_SIDE}."
        )
    return size


class _Progress:
    """Tiles × steps over the stages, as one (done, total) count."""

    def __init__(self, report: ProgressCallback | None, stages: list[tuple[int, int]]) -> None:
        self.report = report
        self.stages = stages  # (tiles, steps per tile)
        self.done = 0  # steps of finished tiles

    def total(self) -> int:
        return sum(tiles * steps for tiles, steps in self.stages)

    def learn_steps(self, stage: int, steps: int) -> None:
        tiles, known = self.stages[stage]
        if steps > 0 and steps != known:
            self.stages[stage] = (tiles, steps)

    def step(self, step: int) -> None:
        if self.report is not None:
            total = self.total()
            self.report(min(self.done + step, total), total, None)

    def tile_done(self, stage: int) -> None:
        self.done += self.stages[stage][1]


def run_upscale(
    engine: Engine,
    image: np.ndarray,
    job: UpscaleJob,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    extra_dirs: Sequence[Path] = (),
) -> UpscaleResult:
    """Upscale (and refine) an RGB/RGBA uint8 picture; see the module docstring."""
    cancel = should_cancel or (lambda: False)
    rgba = as_rgba(image)
    h, w = rgba.shape[:2]
    width, height = target_size(w, h, out_width=job.width, out_height=job.height)
    request = job.request
    seed = request.seed if request.seed >= 0 else secrets.randbelow(2**31)
    request = request.replace(mode="img2img", seed=seed, n_samples=1, region=None)
    if job.refine:
        validate_request(request)
    folder = upscalers.resolve_upscaler(job.upscaler, extra_dirs or engine.extra_dirs)
    use_sd = folder is not None and (width > w or height > h)
    up_plan = plan_tiles(w, h, job.upscaler_tile, UPSCALER_OVERLAP) if use_sd else None
    refine_plan = None
    if job.refine:
        info = engine.load(request)
        tile = job.refine_tile or info.native_size
        refine_plan = plan_tiles(width, height, tile, tile // REFINE_OVERLAP_FRACTION)
    stages = [(len(up_plan) if up_plan else 0, request.steps)]
    stages.append((len(refine_plan) if refine_plan else 0, _refine_steps(request)))
    progress = _Progress(on_progress, stages)

    if cancel():
        raise Cancelled()
    if up_plan is not None:
        upscaled = _sd_upscale(rgba, up_plan, (width, height), request, job, folder, progress,
                               cancel)  # fmt: skip
    else:
        upscaled = _lanczos(rgba, width, height)
    name = folder.name if use_sd else "Lanczos"
    if refine_plan is not None:
        upscaled[..., :3] = _refine(
            engine, upscaled, refine_plan, request, progress, cancel, job.keep_colours,
            job.keep_edges,
        )  # fmt: skip
    if cancel():
        raise Cancelled()
    return UpscaleResult(
        upscaled,
        _parameters(engine, request, job, (w, h), (width, height), name, refine_plan),
        seed,
        name,
        len(refine_plan) if refine_plan else 0,
    )


def _refine_steps(request: GenerationRequest) -> int:
    # diffusers' img2img runs int(steps * strength) of the schedule; the engine reports
    # the exact count with the first step, and the progress learns it then.
    return max(1, int(request.steps * request.strength))


def _lanczos(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pillow premultiplies RGBA before resampling, so transparent pixels do not bleed."""
    if (rgba[..., 3] == 255).all():
        rgb = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
        out = np.asarray(rgb.resize((width, height), Image.Resampling.LANCZOS))
        return np.dstack([out, np.full((height, width), 255, np.uint8)])
    return np.array(Image.fromarray(rgba).resize((width, height), Image.Resampling.LANCZOS))


def _sd_upscale(
    rgba: np.ndarray,
    plan: TilePlan,
    size: tuple[int, int],
    request: GenerationRequest,
    job: UpscaleJob,
    folder: Path,
    progress: _Progress,
    cancel: CancelCheck,
) -> np.ndarray:
    width, height = size
    h, w = rgba.shape[:2]
    try:
        pipe = _upscaler_cache.get(folder, dict(request.options))

        def on_step(step: int) -> None:
            if cancel():
                raise upscalers.StopTile()
            progress.step(step)

        out = np.zeros((height, width, 4), np.uint8)
        out[..., 3] = np.asarray(
            Image.fromarray(np.ascontiguousarray(rgba[..., 3])).resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        rgb = out[..., :3]
        for src, dst in plan.scaled(width / w, height / h):
            if cancel():
                raise Cancelled()
            b = src.box
            tile = np.ascontiguousarray(rgba[b.y : b.bottom, b.x : b.right, :3])
            big = upscalers.upscale_tile(
                pipe, tile, request.prompt, request.negative_prompt, request.steps,
                request.guidance, request.seed, on_step, job.noise_level,
            )  # fmt: skip
            d = dst.box
            if big.shape[:2] != (d.height, d.width):
                big = np.asarray(
                    Image.fromarray(big).resize((d.width, d.height), Image.Resampling.LANCZOS)
                )
            paste_feathered(rgb, big, dst)
            progress.tile_done(0)
        return out
    except upscalers.StopTile as e:
        raise Cancelled() from e
    except EngineError:
        raise
    except MemoryError as e:
        raise _oom() from e
    except Exception as e:
        if "out of memory" in str(e).lower():
            raise _oom() from e
        log.exception("upscaling failed")
        raise EngineError(
            f"Upscaling failed with an internal error ({type(e).__name__}); try Lanczos or "
            "other settings (details are in the log)."
        ) from e


def _oom() -> OutOfMemoryError:
    return OutOfMemoryError(
        "Out of memory while upscaling; try a smaller size, Lanczos, or the low-memory "
        "options in the settings."
    )


def _refine(
    engine: Engine,
    upscaled: np.ndarray,
    plan: TilePlan,
    request: GenerationRequest,
    progress: _Progress,
    cancel: CancelCheck,
    keep_colours: bool = True,
    keep_edges: bool = True,
) -> np.ndarray:
    """The upscaled RGB refined tile by tile: every tile reads the unrefined picture, and
    is laid into a separate output, so a tile never refines its neighbour's result."""
    out = np.ascontiguousarray(upscaled[..., :3]).copy()
    opaque = np.full((plan.tile_height, plan.tile_width), 255, np.uint8)
    for spec in plan:
        b = spec.box
        crop = np.dstack([upscaled[b.y : b.bottom, b.x : b.right, :3], opaque])
        tile_request = request.replace(width=b.width, height=b.height)

        def on_step(step: int, total: int, _preview: Any) -> None:
            progress.learn_steps(1, total)
            progress.step(step)

        result = engine.run(tile_request, GenerationInputs(image=crop), on_step, cancel)[0]
        refined = result.rgba[..., :3]
        reach = max(2, b.width // 32)
        if keep_colours:
            refined = keep_source_colours(refined, crop[..., :3], reach)
        if keep_edges:
            refined = keep_source_edges(refined, crop[..., :3], reach)
        paste_feathered(out, refined, spec)
        progress.tile_done(1)
    return out


def keep_source_colours(refined: np.ndarray, source: np.ndarray, radius: int) -> np.ndarray:
    """The refined tile's detail on the source tile's colours: refined - blur(refined) +
    blur(source) (the "colour fix" of tiled upscalers such as StableSR). A low-strength
    pass may still shift a tile's colours a little differently from its neighbour's;
    taking the low frequencies from the picture being refined makes neighbours agree, so
    the blend has nothing to hide."""
    blur = ImageFilter.GaussianBlur(radius)

    def low(rgb: np.ndarray) -> np.ndarray:
        image = Image.fromarray(np.ascontiguousarray(rgb))
        return np.asarray(image.filter(blur), dtype=np.int16)

    fixed = refined.astype(np.int16) - low(refined) + low(source)
    return np.clip(fixed, 0, 255).astype(np.uint8)


def keep_source_edges(refined: np.ndarray, source: np.ndarray, reach: int) -> np.ndarray:
    """The refined tile with the source tile's pixels on and within ``reach`` px of its
    shapes' outlines (edges that survive a blur; see EDGE_SLOPE), feathered: the model
    may move an outline a pixel or two, differently in each tile, which drew a bump per
    tile along a big shape. Texture and flat areas keep the refine's detail."""

    cv2 = import_cv2()
    src = source.astype(np.float32)
    smooth = cv2.GaussianBlur(src, (0, 0), EDGE_SIGMA)
    # Sobel's 3x3 kernel weighs the central difference by 4 over 2 px: /8 gives levels/px.
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8
    slope = np.sqrt(gx * gx + gy * gy).max(axis=2)
    low, high = EDGE_SLOPE
    weight = np.clip((slope - low) / (high - low), 0, 1)
    if not weight.any():
        return refined
    size = 2 * reach + 1
    weight = cv2.dilate(weight, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    weight = cv2.GaussianBlur(weight, (0, 0), reach / 2)[..., None]
    out = refined.astype(np.float32)
    out += weight * (src - out)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _parameters(
    engine: Engine,
    request: GenerationRequest,
    job: UpscaleJob,
    source: tuple[int, int],
    size: tuple[int, int],
    upscaler: str,
    refine_plan: TilePlan | None,
) -> str:
    extra = {"Upscale": f"{source[0]}x{source[1]} to {size[0]}x{size[1]}", "Upscaler": upscaler}
    if refine_plan is None:
        fields = {"Size": f"{size[0]}x{size[1]}", **extra}
        if upscaler != "Lanczos":
            fields.update(Steps=request.steps, Seed=request.seed)
        fields["Version"] = f"overpaint {__version__}"
        return ", ".join(f"{k}: {quote(v)}" for k, v in fields.items())

    plan = refine_plan
    extra["Refine tiles"] = f"{len(plan)} of {plan.tile_width}x{plan.tile_height}"
    info = engine.info
    name, digest = (info.name, model_hash(info)) if info is not None else (request.model, None)
    return format_parameters(request, request.seed, name, digest, *size, extra=extra)


def refine_spec_count(width: int, height: int, tile: int) -> int:
    """How many refine tiles a picture of that size takes (for the dialog's estimate)."""
    return len(plan_tiles(width, height, tile, tile // REFINE_OVERLAP_FRACTION))
