"""The Engine: a GenerationRequest + GenerationInputs in, RGBA patches out. No Qt.

One model is loaded at a time and kept between jobs; txt2img, img2img and inpaint
pipelines are derived from it with from_pipe (shared modules). Each sample gets its own
seeded CPU generator and a fresh scheduler, so sample i of a batch is bit-identical to a
single-sample run with seed + i, and a re-run of a recorded request reproduces it.
What every engine shares (checks, input pixels, fill, compositing) is in engine/base.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.base import (
    CancelCheck,
    EngineBase,
    JobPlan,
    ProgressCallback,
    prepare_inputs,
)
from engine.control.loading import ControlCache
from engine.control.run import ControlStage, verified_specs
from engine.control.transformers import TransformerControlStage
from engine.core.errors import Cancelled, OutOfMemoryError
from engine.local import families, flow_sampling
from engine.local.edit import EditStage
from engine.local.loading import (
    POLICY_OPTIONS,
    choose_device,
    derive_pipeline,
    free_pipelines,
    load_pipeline,
    model_hash,
)
from engine.local.memory import plan_memory
from engine.local.preview import preview_image
from engine.local.result_checks import InvalidNumbers, check_decoded, check_latents
from engine.local.warm import WarmParts, tiny_vae_dir
from engine.lora.apply import apply_loras
from engine.lora.library import lora_metadata
from engine.models import ModelInfo, model_dirs, resolve_model
from engine.prompts import long_prompt_embeds, xl_prompt_warning
from engine.reference.regional import RegionalReferences, band
from engine.reference.stage import AdapterCache, ReferenceStage, check_references
from engine.regions.stage import RegionStage
from engine.request import GenerationInputs, GenerationRequest, GenerationResult
from engine.schedulers import step_progress
from engine.soft_inpaint import DifferentialBlend

log = logging.getLogger(__name__)
# Wraps a step-end callback (a regional reference's Trajectory.record or .pin).
Wrap = Callable[[Callable], Callable]


class _Interrupt(Exception):
    """Raised from callback_on_step_end to stop the denoising loop at once."""


class Engine(EngineBase):
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
        self._references = AdapterCache()  # IP-Adapters and reference embeddings
        self.precision = ""  # what the loaded model computes in: "fp32", "bf16" or "fp16"
        self.device = ""  # where it computes: "cpu", "cuda" or "mps"
        self._notes: list[str] = []  # warnings for the next job's results

    # -- model management -------------------------------------------------------

    def unload(self) -> None:
        """Free the loaded model (before loading another, or to give memory back)."""
        if self._base is None:
            return

        log.info("unloading %s", self.info.path if self.info else "model")
        self._derived.clear()
        self.warm.clear()
        self._controls.clear()
        self._references.clear()
        base, self._base = self._base, None
        self.info = None
        self._policy_key = None
        free_pipelines(base)
        del base

    def load(self, request: GenerationRequest) -> ModelInfo:
        """Make the request's model the loaded one (no-op when it already is)."""

        info = resolve_model(request.model, self.extra_dirs)
        options = dict(request.options)
        policy = choose_device(info.family, options, request.precision)
        # Keyed on what the request asks for and the dtype it gets, not on the automatic
        # switches: free VRAM drops once the model is loaded, and re-deciding from it would
        # reload on every job. On a GPU the CPU precision changes nothing, so no reload.
        explicit = tuple(sorted((k, str(options[k])) for k in POLICY_OPTIONS if k in options))
        key = (info.path.resolve(), info.family, explicit, policy.dtype)
        if policy.warning:
            self._notes.append(policy.warning)
        if self._base is not None and self._policy_key == key:
            return info
        # Refused (too big for this machine) before the loaded model is let go.
        policy, note = plan_memory(info, policy, set(options), int(request.steps))
        if note:
            self._notes.append(note)
        self.unload()
        self._base = load_pipeline(info, policy, self.config_root, self.extra_dirs)
        self.precision = policy.precision
        self.device = policy.device
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

        assert self.info is not None
        key = "inpaint" if mode == "outpaint" else mode
        if key not in self._derived:
            self._derived[key] = derive_pipeline(self._base, key, self.info)
        return self._derived[key]

    # -- jobs ------------------------------------------------------------------------

    def out_of_memory(self, request: GenerationRequest) -> OutOfMemoryError:

        free_pipelines()
        return super().out_of_memory(request)

    @contextmanager
    def failures(self, request: GenerationRequest) -> Iterator[None]:
        with super().failures(request):
            try:
                yield
            except _Interrupt as e:  # the step callback's way out of the denoising loop
                raise Cancelled() from e

    def generate(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs,
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
    ) -> list[GenerationResult]:
        with self.failures(request):
            try:
                return self._run_diffusion(request, inputs, on_progress, cancel)
            except InvalidNumbers as e:
                if self.precision != "bf16":
                    raise
                # bf16 has fp32's range, so this is rare (a LoRA or VAE on the edge); the
                # job's result must not depend on it: this job runs again in fp32.
                log.warning("%s in bf16 with %s; running the job again in fp32", e, request.model)
                return self._run_diffusion(
                    request.replace(precision="fp32"), inputs, on_progress, cancel
                )

    def _pin_cpu_threads(self, request: GenerationRequest) -> GenerationRequest:
        """On a CPU the torch thread count is part of the picture (bf16 kernels split their
        sums by thread: the window's one thread and the CLI's two gave pictures up to 64
        levels apart). Record it; a request that records one (a rerun) runs with it."""
        if self.device != "cpu":
            return request
        import torch  # loaded already: a model is

        recorded = request.option("cpu_threads")
        if recorded:
            if torch.get_num_threads() != int(recorded):
                torch.set_num_threads(int(recorded))
            return request
        options = {**dict(request.options), "cpu_threads": torch.get_num_threads()}
        return request.replace(options=tuple(sorted(options.items())))

    def _run_diffusion(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs,
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
    ) -> list[GenerationResult]:

        mode = request.mode
        prepared = prepare_inputs(request, inputs)
        verified_specs(request, inputs)  # a missing control image fails before loading
        edit = None
        if mode == "edit":  # refused in one sentence before a model loads
            edit = EditStage.make(request, inputs, resolve_model(request.model, self.extra_dirs))
        elif request.references:  # refused in one sentence before a model loads
            model = resolve_model(request.model, self.extra_dirs)
            check_references(request, inputs, model, self.extra_dirs)
        info = self.load(request)
        request = request.replace(precision=self.precision)  # recorded: a rerun repeats it
        request = self._pin_cpu_threads(request)
        notes, self._notes = tuple(self._notes), []
        sampler: Any = request.scheduler
        if info.is_modern:  # the transformer families: engine.local.families
            families.check_request(request, info)
            sampler = flow_sampling.FlowSampler.of(request)
            request = request.replace(scheduler=sampler.name)  # recorded as it ran
        pipe = self.pipeline_for(mode if edit is None else edit.pipeline)
        apply_loras(pipe, request.loras, self.extra_dirs, info.name, info)
        lora_fields = lora_metadata(request.loras, self.extra_dirs)
        lora_fields.update(flow_sampling.parameters(request))
        if request.option("live"):
            pipe = self.warm.live_pipeline(
                pipe, mode, tiny_vae_dir(info.family, model_dirs(self.extra_dirs), info.path)
            )

        plan = JobPlan.make(request, prepared, info.native_size, info.latent_multiple)
        if info.is_modern:
            call_args, warnings = families.call_args(request, info, plan.gen)
        else:
            call_args, warnings = self._call_args(pipe, request, info)
        if plan.soft is not None:
            call_args["mask_image"] = _pil(plan.soft.support_mask)
        if (image := plan.init_image()) is not None:
            call_args["image"] = _pil(image)
        if mode in ("img2img", "inpaint", "outpaint"):
            call_args["strength"] = float(request.strength)
        if edit is not None:  # the selection, the references
            edit.add_args(call_args, plan.mask, plan.gen, request.strength)
        call_args["width"], call_args["height"] = plan.gen
        start = plan.init_rgb if plan.init_rgb is not None else plan.original
        roots = () if self.config_root is None else (self.config_root,)
        stage = TransformerControlStage if info.is_modern else ControlStage
        control = stage.build(
            self._controls, request, inputs, pipe, info.name, info.is_xl, plan.gen,
            (start, plan.mask), self.extra_dirs, roots,
        )  # fmt: skip
        regions = RegionStage.build(
            request, inputs, info, plan.gen,
            lambda p, q: self._call_args(pipe, request.replace(prompt=p, negative_prompt=q), info)[0],
            int(getattr(pipe, "vae_scale_factor", 8)),
        )  # fmt: skip
        if regions is not None:  # every segment's embeddings, the root's first
            call_args.update(regions.args)
        without = dict(call_args)  # the call without references
        references = ReferenceStage.build(
            self._references, request, inputs, pipe, info, plan.gen, self.extra_dirs
        )
        if references is not None:  # the pictures' embeddings (and region masks)
            call_args.update(references.args)
        regional = RegionalReferences.split(request, inputs, plan.crop)
        global_refs = None  # the references without a region, when some have one
        if regional is not None:  # each sample runs without the regional references first
            global_refs = ReferenceStage.build(
                self._references, regional.request, regional.inputs, pipe, info, plan.gen,
                self.extra_dirs,
            )  # fmt: skip
            without.update(global_refs.args if global_refs is not None else {})
        scale = int(getattr(pipe, "vae_scale_factor", 8))

        def sample(
            seed: int,
            args: dict[str, Any],
            refs: ReferenceStage | None,
            slot: tuple[int, int],
            wrap: Wrap | None = None,
            previews: bool = True,
        ) -> np.ndarray:
            return self._generate(
                pipe,
                args,
                sampler,
                seed,
                slot,
                info,
                # Live shows no step previews
                plan.crop if previews and not request.option("live") else None,
                on_progress,
                cancel,
                flow_sampling.step_blend(plan.soft, pipe)
                if info.is_modern
                else (None if plan.soft is None else plan.soft.step_blend(pipe, seed)),
                control,
                regions,
                refs,
                wrap,
            )

        n = request.n_samples
        results = []
        # One union at one size for every sample: each sample's record() starts its
        # trajectory afresh.
        trajectory = None if regional is None else regional.trajectory(plan.gen, scale)
        fade = band(plan.crop, plan.gen, scale)
        for i in range(n):
            if cancel():
                raise Cancelled()
            sample_request = plan.sample_request(i)
            seed = sample_request.seed
            if regional is None or trajectory is None:
                rgb = plan.finish(sample(seed, call_args, references, (i, n)))
            else:
                # The progress counts both runs; the previews show the second only, whose
                # outside follows the first step by step: one picture forming, not two.
                plain = sample(
                    seed, without, global_refs, (2 * i, 2 * n), trajectory.record, previews=False
                )
                steered = sample(seed, call_args, references, (2 * i + 1, 2 * n), trajectory.pin)
                rgb = regional.combine(plan.finish(plain), plan.finish(steered), fade)
            if control is not None:  # hashes and control model names filled in
                sample_request = sample_request.replace(controls=control.specs)
            if regions is not None:  # the masks' hashes filled in
                sample_request = sample_request.replace(regions=regions.specs)
            if references is not None:  # the pictures' hashes and the adapter's name
                sample_request = sample_request.replace(references=references.specs)
            results.append(
                plan.result(
                    rgb,
                    sample_request,
                    info.name,
                    self._hash,
                    lora_fields,
                    (*warnings, *notes),
                    finished=True,
                )
            )
        return results

    def _call_args(
        self, pipe: Any, request: GenerationRequest, info: ModelInfo
    ) -> tuple[dict[str, Any], list[str]]:

        args: dict[str, Any] = {
            "num_inference_steps": int(request.steps),
            "guidance_scale": float(request.guidance),
            "output_type": "np",
        }
        warnings: list[str] = []
        prompt = (pipe, request.prompt, request.negative_prompt, request.loras, info.is_xl)
        if info.is_xl:
            warning = xl_prompt_warning(pipe, request.prompt, request.negative_prompt)
            if warning:
                log.warning(warning)
                warnings.append(warning)
            embeds = None
        elif self.warm.has_prompt(*prompt):
            embeds = None  # only prompts that fit are kept: no need to count tokens again
        else:
            embeds = long_prompt_embeds(pipe, request.prompt, request.negative_prompt)
        if embeds is None:
            args.update(self.warm.prompt_args(*prompt))
        else:
            args["prompt_embeds"], args["negative_prompt_embeds"] = embeds
        return args, warnings

    def _generate(
        self,
        pipe: Any,
        call_args: dict[str, Any],
        scheduler: str | flow_sampling.FlowSampler,
        seed: int,
        sample: tuple[int, int],
        info: ModelInfo,
        preview_size: tuple[int, int] | None,
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
        blend: DifferentialBlend | flow_sampling.FlowBlend | None = None,
        control: ControlStage | None = None,
        regions: RegionStage | None = None,
        references: ReferenceStage | None = None,
        trajectory: Wrap | None = None,
    ) -> np.ndarray:
        import torch  # torch: ~1.2 s to import, only when a job runs

        index, n_samples = sample
        if isinstance(scheduler, flow_sampling.FlowSampler):  # a fresh one per sample
            pipe.scheduler = scheduler.make(self._scheduler_config)
        else:
            pipe.scheduler = self.warm.scheduler(scheduler, self._scheduler_config)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        reported = [0]  # steps this sample has reported ended

        def on_step_end(p: Any, step: int, _timestep: Any, kwargs: dict) -> dict:
            if cancel():  # after every evaluation, a warm-up's too
                raise _Interrupt()
            if kwargs.get("latents") is not None:
                check_latents(kwargs["latents"])
            evaluations = max(int(getattr(p, "num_timesteps", 0) or 0), step + 1)
            done, per = step_progress(getattr(p, "scheduler", None), step, evaluations)
            # The progress counts the steps asked for: an evaluation that ends none
            # (PLMS's warm-up) reports nothing, so a job never reads "Step 21/21" for 20.
            if on_progress is not None and done > reported[0]:
                reported[0] = done
                preview = None
                latents = kwargs.get("latents")
                # The transformer families' latents are 16-channel (FLUX's packed): no
                # projection for them yet.
                if latents is not None and preview_size is not None and not info.is_modern:
                    preview = preview_image(
                        latents.detach().float().cpu().numpy(), info.family, *preview_size
                    )
                on_progress(index * per + done, n_samples * per, preview)
            return kwargs

        with (
            torch.inference_mode(),
            control.attached(pipe) if control else nullcontext(),
            regions.attached([pipe.unet]) if regions else nullcontext(),
            references.attached(pipe) if references else nullcontext(),
        ):
            # A regional reference's trajectory sees the latents after the soft blend.
            callback = on_step_end if trajectory is None else trajectory(on_step_end)
            callback = callback if blend is None else blend.wrap(callback)
            callback = callback if control is None else control.wrap(callback)
            callback = callback if references is None else references.wrap(callback)
            out = pipe(**call_args, generator=generator, callback_on_step_end=callback)
        images = out.images
        return check_decoded(np.asarray(images[0], dtype=np.float32))


def _pil(arr: np.ndarray) -> Any:

    return Image.fromarray(np.ascontiguousarray(arr))
