"""The Engine: a GenerationRequest + GenerationInputs in, RGBA patches out. No Qt.

One model is loaded at a time and kept between jobs; txt2img, img2img and inpaint
pipelines are derived from it with from_pipe (shared modules). Each sample gets its own
seeded CPU generator and a fresh scheduler, so sample i of a batch is bit-identical to a
single-sample run with seed + i, and a re-run of a recorded request reproduces it.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from engine import region
from engine.control.loading import ControlCache
from engine.control.run import ControlStage, verified_specs
from engine.core.errors import Cancelled, EngineError, InvalidRequestError, OutOfMemoryError
from engine.fill import canonical_method
from engine.local.warm import WarmParts, tiny_vae_dir
from engine.lora.library import lora_metadata, with_prompt_loras
from engine.models import ModelInfo, resolve_model
from engine.request import MODES, Box, GenerationInputs, GenerationRequest, GenerationResult
from engine.schedulers import canonical_name
from engine.soft_inpaint import DifferentialBlend, SoftInpaintJob

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, "np.ndarray | None"], None]
CancelCheck = Callable[[], bool]

MAX_SIDE = 4096
MAX_SAMPLES = 16
MAX_STEPS = 500


class _Interrupt(Exception):
    """Raised from callback_on_step_end to stop the denoising loop at once."""


def validate_request(request: GenerationRequest) -> None:
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


def _as_rgba(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InvalidRequestError(
            f"The input image must be an RGB or RGBA uint8 array, not {img.dtype} {img.shape}."
        )
    if img.shape[2] == 3:
        img = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    return img


def _as_mask(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
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


def _gen_size(width: int, height: int, native: int) -> tuple[int, int]:
    """Generation size for a crop: scaled to about native² (small crops scaled UP)."""
    plan = region.plan_region(Box(0, 0, width, height), width, height, native)
    return plan.gen_width, plan.gen_height


def _round8(v: int) -> int:
    return max(64, int(round(v / 8)) * 8)


class Engine:
    """Runs generation jobs; keeps the last model loaded. Not thread-safe: one job at a time."""

    def __init__(self, extra_dirs: Sequence[Path] = (), config_root: Path | None = None) -> None:
        self.extra_dirs = tuple(Path(d) for d in extra_dirs)
        self.config_root = config_root  # None: resources/model_configs
        self.info: ModelInfo | None = None
        self._base: Any = None
        self._derived: dict[str, Any] = {}
        self._policy_key: tuple | None = None
        self._scheduler_config: Any = None
        self._hash: str | None = None
        self.warm = WarmParts()  # schedulers, prompt embeddings: no set-up cost per job
        self._controls = ControlCache()  # control models, kept between jobs

    # -- model management -------------------------------------------------------

    def unload(self) -> None:
        """Free the loaded model (before loading another, or to give memory back)."""
        if self._base is None:
            return
        from engine.local.loading import free_pipelines

        log.info("unloading %s", self.info.path if self.info else "model")
        self._derived.clear()
        self.warm.clear()
        self._controls.clear()
        base, self._base = self._base, None
        self.info = None
        self._policy_key = None
        free_pipelines(base)
        del base

    def load(self, request: GenerationRequest) -> ModelInfo:
        """Make the request's model the loaded one (no-op when it already is)."""
        from engine.local.loading import POLICY_OPTIONS, choose_device, load_pipeline, model_hash

        info = resolve_model(request.model, self.extra_dirs)
        options = dict(request.options)
        # Keyed on what the request asks for, not on the automatic choice: free VRAM drops
        # once the model is loaded, and re-deciding from it would reload on every job.
        explicit = tuple(sorted((k, str(options[k])) for k in POLICY_OPTIONS if k in options))
        key = (info.path.resolve(), info.family, explicit)
        if self._base is not None and self._policy_key == key:
            return info
        self.unload()
        policy = choose_device(info.family, options)
        self._base = load_pipeline(info, policy, self.config_root)
        self.info = info
        self._policy_key = key
        self._scheduler_config = dict(self._base.scheduler.config)
        self._hash = model_hash(info)
        return info

    def loaded_pipeline(self) -> tuple[ModelInfo, Any] | None:
        """The loaded model and its base pipeline (training borrows its weights), or None."""
        if self._base is None or self.info is None:
            return None
        return self.info, self._base

    def pipeline_for(self, mode: str) -> Any:
        from engine.local.loading import derive_pipeline

        assert self.info is not None
        key = "inpaint" if mode == "outpaint" else mode
        if key not in self._derived:
            self._derived[key] = derive_pipeline(self._base, key, self.info)
        return self._derived[key]

    # -- jobs ------------------------------------------------------------------------

    def run(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs | None = None,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        inputs = inputs or GenerationInputs()
        request = with_prompt_loras(request)
        validate_request(request)
        cancel = should_cancel or (lambda: False)
        try:
            if request.mode == "fill":
                return [self._run_fill(request, inputs)]
            if cancel():
                raise Cancelled()
            return self._run_diffusion(request, inputs, on_progress, cancel)
        except EngineError:
            raise
        except _Interrupt as e:
            raise Cancelled() from e
        except MemoryError as e:
            raise self._oom(request) from e
        except Exception as e:
            if _is_oom(e):
                raise self._oom(request) from e
            # Library text is for the log; the user gets what happened and what to try.
            log.exception("generation failed for %s", request.to_json())
            raise EngineError(
                f"Generation failed with an internal error ({type(e).__name__}); try other "
                "settings or another model (details are in the log)."
            ) from e

    def _oom(self, request: GenerationRequest) -> OutOfMemoryError:
        from engine.local.loading import free_pipelines

        free_pipelines()
        log.error("out of memory for %s", request.to_json())
        return OutOfMemoryError(
            "Out of memory while generating; try a smaller region or size, fewer samples, "
            "or turn on the low-memory options in the settings."
        )

    def _run_fill(self, request: GenerationRequest, inputs: GenerationInputs) -> GenerationResult:
        from engine.fill import classical_fill
        from engine.metadata import format_parameters

        if inputs.image is None or inputs.mask is None:
            raise InvalidRequestError("Fill needs an image and a mask.")
        original = _as_rgba(inputs.image)
        mask = _as_mask(inputs.mask, original.shape[:2])
        if not mask.any():
            raise InvalidRequestError("The mask is empty; paint the area to fill first.")
        method = str(request.option("fill_method", "telea"))
        filled = classical_fill(np.ascontiguousarray(original[..., :3]), mask, method)
        h, w = mask.shape
        patch = region.patch_from_generation(
            filled, w, h, mask, request.mask_blur, inside=request.feather_inside
        )
        x, y = (request.region.x, request.region.y) if request.region else (0, 0)
        params = format_parameters(request, request.seed, f"classical fill ({method})", None, w, h)
        return GenerationResult(request, patch, x, y, request.seed, params)

    def _run_diffusion(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs,
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
    ) -> list[GenerationResult]:
        from engine.lora.apply import apply_loras
        from engine.metadata import format_parameters

        mode = request.mode
        original, mask, init_rgb = self.prepare_inputs(request, inputs)
        verified_specs(request, inputs)  # a missing control image fails before loading
        info = self.load(request)
        pipe = self.pipeline_for(mode)
        apply_loras(pipe, request.loras, self.extra_dirs, info.name)
        lora_fields = lora_metadata(request.loras, self.extra_dirs)
        if request.option("live"):
            from engine.models import model_dirs

            pipe = self.warm.live_pipeline(
                pipe, mode, tiny_vae_dir(info.family, model_dirs(self.extra_dirs))
            )

        if original is not None:
            crop_h, crop_w = original.shape[:2]
        elif request.region is not None:
            crop_w, crop_h = request.region.width, request.region.height
        else:
            crop_w, crop_h = request.width, request.height
        if request.region is None and mode == "txt2img":
            gen_w, gen_h = _round8(request.width), _round8(request.height)
        else:
            gen_w, gen_h = _gen_size(crop_w, crop_h, info.native_size)

        call_args, warnings = self._call_args(pipe, request, info)
        soft = None
        if mode in ("inpaint", "outpaint"):
            soft = SoftInpaintJob.plan(request, original, mask, (gen_w, gen_h))
            init_rgb = soft.init_rgb
            call_args["mask_image"] = _pil(soft.support_mask)
        if init_rgb is not None:
            call_args["image"] = _pil(region.resize_rgb(init_rgb, gen_w, gen_h))
        if mode in ("img2img", "inpaint", "outpaint"):
            call_args["strength"] = float(request.strength)
        call_args["width"], call_args["height"] = gen_w, gen_h
        picture = (init_rgb if init_rgb is not None else original, mask)
        roots = () if self.config_root is None else (self.config_root,)
        control = ControlStage.build(
            self._controls, request, inputs, pipe, info.name, info.is_xl, (gen_w, gen_h),
            picture, self.extra_dirs, roots,
        )  # fmt: skip

        base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**31)
        n = request.n_samples
        results = []
        for i in range(n):
            if cancel():
                raise Cancelled()
            seed = base_seed + i
            rgb = self._generate(
                pipe,
                call_args,
                request.scheduler,
                seed,
                (i, n),
                info,
                (crop_w, crop_h),
                on_progress,
                cancel,
                None if soft is None else soft.step_blend(pipe, seed),
                control,
            )
            if soft is not None:
                rgb = soft.finish(region.resize_rgb(rgb, crop_w, crop_h))
            # No watermark here: it is embedded in the whole picture a user takes away
            # (editor export, CLI output); a mark on the crop could not be read there.
            feather = request.mask_blur if request.soft_edges else 0
            patch = region.patch_from_generation(
                rgb, crop_w, crop_h, mask, feather, inside=request.feather_inside
            )
            sample_request = request.replace(seed=seed, n_samples=1)
            if control is not None:  # hashes and control model names filled in
                sample_request = sample_request.replace(controls=control.specs)
            params = format_parameters(
                sample_request, seed, info.name, self._hash, gen_w, gen_h, lora_fields
            )
            x, y = (request.region.x, request.region.y) if request.region else (0, 0)
            results.append(
                GenerationResult(sample_request, patch, x, y, seed, params, tuple(warnings))
            )
        return results

    @staticmethod
    def prepare_inputs(
        request: GenerationRequest, inputs: GenerationInputs
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(original RGBA crop, repaint mask, RGB to start from) for the mode (shared with
        the ComfyUI engine, so both start from the same pixels)."""
        mode = request.mode
        if inputs.image is None:
            if mode != "txt2img":
                raise InvalidRequestError(f"{mode} needs an input image.")
            if inputs.mask is not None and request.region is not None:
                m = _as_mask(inputs.mask, (request.region.height, request.region.width))
                blank = np.zeros((*m.shape, 4), np.uint8)
                return blank, m, None
            return None, None, None
        original = _as_rgba(inputs.image)
        mask = _as_mask(inputs.mask, original.shape[:2])
        transparent = original[..., 3] == 0
        if mode in ("inpaint", "outpaint"):
            if mode == "outpaint" and transparent.any():
                mask = np.where(transparent, 255, 0 if mask is None else mask).astype(np.uint8)
            if mask is None or not mask.any():
                raise InvalidRequestError(
                    "The mask is empty; paint over the area to repaint first."
                )
        if mode == "txt2img":
            return original, mask, None
        rgb = np.ascontiguousarray(original[..., :3])
        if transparent.any():
            from engine.fill import prefill_transparent

            rgb = prefill_transparent(original)
        return original, mask, rgb

    def _call_args(
        self, pipe: Any, request: GenerationRequest, info: ModelInfo
    ) -> tuple[dict[str, Any], list[str]]:
        from engine.prompts import long_prompt_embeds, xl_prompt_warning

        args: dict[str, Any] = {
            "num_inference_steps": int(request.steps),
            "guidance_scale": float(request.guidance),
            "output_type": "np",
        }
        warnings: list[str] = []
        if info.is_xl:
            warning = xl_prompt_warning(pipe, request.prompt, request.negative_prompt)
            if warning:
                log.warning(warning)
                warnings.append(warning)
            embeds = None
        else:
            embeds = long_prompt_embeds(pipe, request.prompt, request.negative_prompt)
        if embeds is None:
            args.update(
                self.warm.prompt_args(
                    pipe, request.prompt, request.negative_prompt, request.loras, info.is_xl
                )
            )
        else:
            args["prompt_embeds"], args["negative_prompt_embeds"] = embeds
        return args, warnings

    def _generate(
        self,
        pipe: Any,
        call_args: dict[str, Any],
        scheduler: str,
        seed: int,
        sample: tuple[int, int],
        info: ModelInfo,
        preview_size: tuple[int, int],
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
        blend: DifferentialBlend | None = None,
        control: ControlStage | None = None,
    ) -> np.ndarray:
        import torch

        from engine.local.preview import preview_image
        from engine.local.result_checks import check_decoded, check_latents

        index, n_samples = sample
        pipe.scheduler = self.warm.scheduler(scheduler, self._scheduler_config)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))

        def on_step_end(p: Any, step: int, _timestep: Any, kwargs: dict) -> dict:
            if cancel():
                raise _Interrupt()
            if kwargs.get("latents") is not None:
                check_latents(kwargs["latents"])
            if on_progress is not None:
                per = max(int(getattr(p, "num_timesteps", 0) or 0), step + 1)
                preview = None
                latents = kwargs.get("latents")
                if latents is not None:
                    preview = preview_image(
                        latents.detach().float().cpu().numpy(), info.family, *preview_size
                    )
                on_progress(index * per + step + 1, n_samples * per, preview)
            return kwargs

        with torch.inference_mode(), control.attached(pipe) if control else nullcontext():
            callback = on_step_end if blend is None else blend.wrap(on_step_end)
            callback = callback if control is None else control.wrap(callback)
            out = pipe(**call_args, generator=generator, callback_on_step_end=callback)
        images = out.images
        return check_decoded(np.asarray(images[0], dtype=np.float32))


def _pil(arr: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(arr))


def _is_oom(e: BaseException) -> bool:
    name = type(e).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(e).lower()
