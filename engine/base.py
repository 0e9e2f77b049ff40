"""What every engine shares around the sampling: the checks, the pixels it starts from, the
classical fill, and the patches and metadata it gives back.

An engine subclasses EngineBase and supplies `generate`: how to turn a planned job into
pictures (in-process diffusers in engine/local, ComfyUI servers in engine/comfy). The
request is checked, its prompt LoRAs are read, the inputs are cropped and pre-filled, and
each picture is composited back into an RGBA patch here, once, so that both engines start
from the same pixels and give the same kind of results; neither engine imports the other.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from engine import region
from engine.core.errors import Cancelled, EngineError, InvalidRequestError, OutOfMemoryError
from engine.fill import canonical_method, classical_fill, prefill_transparent
from engine.lora.library import with_prompt_loras
from engine.metadata import format_parameters
from engine.request import MODES, Box, GenerationInputs, GenerationRequest, GenerationResult
from engine.schedulers import canonical_name
from engine.soft_inpaint import SoftInpaintJob

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, "np.ndarray | None"], None]
CancelCheck = Callable[[], bool]

MAX_SIDE = 4096
MAX_SAMPLES = 16
MAX_STEPS = 500


def validate_request(request: GenerationRequest) -> None:
    """InvalidRequestError, in one sentence, for a request no engine can run."""
    if request.mode not in MODES:
        raise InvalidRequestError(f"Unknown mode {request.mode!r}; use one of {', '.join(MODES)}.")
    if request.mode == "fill":
        method = str(request.option("fill_method", "telea"))
        try:
            canonical_method(method)
        except ValueError:
            raise InvalidRequestError(
                f"Unknown fill method {method!r}; use Telea or Navier-Stokes."
            ) from None
        return
    canonical_name(request.scheduler)
    if not 1 <= request.steps <= MAX_STEPS:
        raise InvalidRequestError(f"Steps must be between 1 and {MAX_STEPS}, not {request.steps}.")
    if not 1 <= request.n_samples <= MAX_SAMPLES:
        raise InvalidRequestError(
            f"The number of samples must be between 1 and {MAX_SAMPLES}, not {request.n_samples}."
        )
    if not 0.0 <= request.guidance <= 50.0:
        raise InvalidRequestError(f"Guidance must be between 0 and 50, not {request.guidance}.")
    if request.mode != "txt2img" and not 0.0 < request.strength <= 1.0:
        raise InvalidRequestError(
            f"Strength must be above 0 and at most 1, not {request.strength}."
        )
    if request.mode != "txt2img" and int(request.steps * request.strength) < 1:
        # diffusers runs int(steps * strength) steps from the input; zero crashes deep
        # inside the UNet with a reshape error.
        raise InvalidRequestError(
            f"Only {request.steps} step(s) at strength {request.strength:g} leave no denoising "
            f"step to run; use at least {math.ceil(1 / request.strength)} steps or a higher "
            "strength."
        )
    if request.region is None and not (
        8 <= request.width <= MAX_SIDE and 8 <= request.height <= MAX_SIDE
    ):
        raise InvalidRequestError(
            f"Width and height must be between 8 and {MAX_SIDE}, not {request.width}x{request.height}."
        )


def as_rgba(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InvalidRequestError(
            f"The input image must be an RGB or RGBA uint8 array, not {img.dtype} {img.shape}."
        )
    if img.shape[2] == 3:
        img = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    return img


def as_mask(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    if m.shape != shape:
        raise InvalidRequestError(
            f"The mask is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}; "
            "they must be the same size."
        )
    return m.astype(np.uint8, copy=False)


@dataclass(frozen=True, eq=False)
class Prepared:
    """The pixels a job starts from: the RGBA crop, the repaint mask, and the RGB picture
    diffusion starts from (transparent areas pre-filled); None where the mode has none."""

    original: np.ndarray | None
    mask: np.ndarray | None
    init_rgb: np.ndarray | None


def prepare_inputs(request: GenerationRequest, inputs: GenerationInputs) -> Prepared:
    """The job's pixels for its mode; InvalidRequestError when they do not fit it."""
    mode = request.mode
    if inputs.image is None:
        if mode != "txt2img":
            raise InvalidRequestError(f"{mode} needs an input image.")
        if inputs.mask is not None and request.region is not None:
            m = as_mask(inputs.mask, (request.region.height, request.region.width))
            return Prepared(np.zeros((*m.shape, 4), np.uint8), m, None)
        return Prepared(None, None, None)
    original = as_rgba(inputs.image)
    mask = as_mask(inputs.mask, original.shape[:2])
    transparent = original[..., 3] == 0
    if mode in ("inpaint", "outpaint"):
        if mode == "outpaint" and transparent.any():
            mask = np.where(transparent, 255, 0 if mask is None else mask).astype(np.uint8)
        if mask is None or not mask.any():
            raise InvalidRequestError("The mask is empty; paint over the area to repaint first.")
    if mode == "txt2img":
        return Prepared(original, mask, None)
    rgb = np.ascontiguousarray(original[..., :3])
    if transparent.any():
        rgb = prefill_transparent(original)
    return Prepared(original, mask, rgb)


def _round_to(v: int, multiple: int = 8) -> int:
    """`v` to the nearest multiple of the model's latent multiple, at least 64."""
    return max(64, int(round(v / multiple)) * multiple)


@dataclass(frozen=True, eq=False)
class JobPlan:
    """One request's geometry and pixels, planned once for all its samples: the crop it
    fills, the size it is generated at, and the soft-inpainting plan for a repaint."""

    request: GenerationRequest
    original: np.ndarray | None
    mask: np.ndarray | None
    init_rgb: np.ndarray | None  # the picture to start from, at crop size (pre-filled)
    crop: tuple[int, int]
    gen: tuple[int, int]
    soft: SoftInpaintJob | None
    base_seed: int

    @classmethod
    def make(
        cls, request: GenerationRequest, prepared: Prepared, native: int, multiple: int = 8
    ) -> JobPlan:
        """`native`: the side the model generates best at; a region is scaled to about
        native² (small crops scaled up), a whole txt2img canvas is generated as it is.
        `multiple`: what the generated sides must be multiples of (16 for the transformer
        families, ModelInfo.latent_multiple)."""
        original, mask, init_rgb = prepared.original, prepared.mask, prepared.init_rgb
        if original is not None:
            crop = (original.shape[1], original.shape[0])
        elif request.region is not None:
            crop = (request.region.width, request.region.height)
        else:
            crop = (request.width, request.height)
        if request.region is None and request.mode == "txt2img":
            gen = (_round_to(request.width, multiple), _round_to(request.height, multiple))
        else:
            plan = region.plan_region(Box(0, 0, *crop), *crop, native, multiple=multiple)
            gen = (plan.gen_width, plan.gen_height)
        soft = None
        if request.mode in ("inpaint", "outpaint"):
            soft = SoftInpaintJob.plan(request, original, mask, gen)
            init_rgb = soft.init_rgb
        base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**31)
        return cls(request, original, mask, init_rgb, crop, gen, soft, base_seed)

    def init_image(self) -> np.ndarray | None:
        """The picture to start from at generation size (None for txt2img)."""
        if self.init_rgb is None or self.request.mode == "txt2img":
            return None
        return region.resize_rgb(self.init_rgb, *self.gen)

    def sample_request(self, index: int) -> GenerationRequest:
        """Sample `index` as a one-sample request of its own: replaying it reproduces it."""
        return self.request.replace(seed=self.base_seed + index, n_samples=1)

    def finish(self, rgb: np.ndarray) -> np.ndarray:
        """A generated picture at the crop's size, colour-matched and joined as the
        inpaint mode asks (as it is for the other modes)."""
        rgb = region.resize_rgb(rgb, *self.crop)
        return rgb if self.soft is None else self.soft.finish(rgb)

    def result(
        self,
        rgb: np.ndarray,
        sample_request: GenerationRequest,
        model: str,
        model_hash: str | None,
        extra: dict[str, str] | None = None,
        warnings: tuple[str, ...] = (),
        finished: bool = False,
    ) -> GenerationResult:
        """A generated picture (any size) as the patch laid on the canvas, with the
        metadata that records how it was made; `finished`: `rgb` is `finish`'s already."""
        crop_w, crop_h = self.crop
        request = self.request
        if not finished:
            rgb = self.finish(rgb)
        # No watermark here: it is embedded in the whole picture a user takes away
        # (editor export, CLI output); a mark on the crop could not be read there.
        feather = request.mask_blur if request.soft_edges else 0
        patch = region.patch_from_generation(
            rgb, crop_w, crop_h, self.mask, feather, inside=request.feather_inside
        )
        seed = sample_request.seed
        params = format_parameters(sample_request, seed, model, model_hash, *self.gen, extra)
        x, y = _origin(request)
        return GenerationResult(sample_request, patch, x, y, seed, params, warnings)


def _origin(request: GenerationRequest) -> tuple[int, int]:
    return (request.region.x, request.region.y) if request.region else (0, 0)


def classical_fill_result(request: GenerationRequest, inputs: GenerationInputs) -> GenerationResult:
    """A fill job: the masked area filled from its surroundings, no model needed."""
    if inputs.image is None or inputs.mask is None:
        raise InvalidRequestError("Fill needs an image and a mask.")
    original = as_rgba(inputs.image)
    mask = as_mask(inputs.mask, original.shape[:2])
    assert mask is not None
    if not mask.any():
        raise InvalidRequestError("The mask is empty; paint the area to fill first.")
    method = str(request.option("fill_method", "telea"))
    filled = classical_fill(np.ascontiguousarray(original[..., :3]), mask, method)
    h, w = mask.shape
    patch = region.patch_from_generation(
        filled, w, h, mask, request.mask_blur, inside=request.feather_inside
    )
    params = format_parameters(request, request.seed, f"classical fill ({method})", None, w, h)
    return GenerationResult(request, patch, *_origin(request), request.seed, params)


def is_out_of_memory(e: BaseException) -> bool:
    name = type(e).__name__
    return (
        isinstance(e, MemoryError)
        or name == "OutOfMemoryError"
        or ("out of memory" in str(e).lower())
    )


def _never() -> bool:
    return False


class EngineBase:
    """The engine interface (engine.backends.GenerationEngine) up to the sampling."""

    def run(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs | None = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        """One result per sample, or an EngineError that says what to change."""
        inputs = inputs or GenerationInputs()
        request = with_prompt_loras(request)
        validate_request(request)
        cancel = should_cancel or _never
        if request.mode == "fill":  # classical fill needs no model: every engine runs it here
            with self.failures(request):
                return [classical_fill_result(request, inputs)]
        if cancel():
            raise Cancelled()
        return self.generate(request, inputs, on_progress, cancel)

    def generate(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs,
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
    ) -> list[GenerationResult]:
        """The samples of a checked, model-needing request (its prompt LoRAs read)."""
        raise NotImplementedError

    def unload(self) -> None:
        """Give back what the engine holds between jobs (nothing, by default)."""

    def out_of_memory(self, request: GenerationRequest) -> OutOfMemoryError:
        log.error("out of memory for %s", request.to_json())
        return OutOfMemoryError(
            "Out of memory while generating; try a smaller region or size, fewer samples, "
            "or turn on the low-memory options in the settings."
        )

    @contextmanager
    def failures(self, request: GenerationRequest) -> Iterator[None]:
        """EngineErrors pass; anything else becomes one sentence for the user."""
        try:
            yield
        except EngineError:
            raise
        except Exception as e:
            if is_out_of_memory(e):
                raise self.out_of_memory(request) from e
            # Library text is for the log; the user gets what happened and what to try.
            log.exception("generation failed for %s", request.to_json())
            raise EngineError(
                f"Generation failed with an internal error ({type(e).__name__}); try other "
                "settings or another model (details are in the log)."
            ) from e
