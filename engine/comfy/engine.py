"""ComfyEngine: the engine interface (`run`, `unload`) on one or more ComfyUI servers.

Overpaint keeps everything around the sampling: it plans the region, pre-fills the hole
(engine/inpaint_modes), feathers the mask, uploads the generation-size picture and
graded mask, and after each sample comes back it colour-matches and composites exactly
as the in-process engine does (the shared JobPlan in engine/base.py). So
pixels outside the feathered mask are bit-identical to the input, whichever engine ran.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from engine import region
from engine.base import CancelCheck, EngineBase, JobPlan, ProgressCallback, prepare_inputs
from engine.comfy.modern_workflow import ModernPlan, build_modern_workflow, check_modern_request
from engine.comfy.pool import ServerPool
from engine.comfy.redux import ReduxPlan, pick_redux_files, reference_refusal
from engine.comfy.regions import region_pictures, region_plans
from engine.comfy.samplers import comfy_sampler
from engine.comfy.server import ComfyServer, ServerInfo, plain_http_warning
from engine.comfy.server_models import (
    SD_FAMILIES,
    ServerModel,
    check_family,
    family_from_name,
    find_model,
    pick_file,
    pick_parts,
)
from engine.comfy.workflow import (
    CONTROL_NODES,
    REGION_NODES,
    REQUIRED_NODES,
    ControlPlan,
    WorkflowPlan,
    build_workflow,
    nodes_needed,
    sampling_steps,
    workflow_hash,
)
from engine.control.preprocess import as_control_image, preprocess
from engine.control.run import verified_specs
from engine.core.errors import EngineError, InvalidRequestError, ModelError
from engine.models import MODERN_FAMILIES
from engine.reference.stage import reference_picture
from engine.request import GenerationInputs, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

_WARNED_HTTP: set[str] = set()  # plain-http warnings are given once per server per run


def native_size(checkpoint: str) -> int:
    """The model's native side, guessed from its file name (the server does not say):
    1024 for SDXL and the transformer families, else 512."""
    family = family_from_name(checkpoint)
    return 512 if family is None or family == "sd1" else 1024


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


class _Uploads:
    """The job's pictures, uploaded once per server under content-hash names (the same
    pixels get the same name, so the workflow and its hash repeat exactly)."""

    def __init__(self, pictures: dict[str, np.ndarray]) -> None:
        self.png = {key: _png(pixels) for key, pixels in pictures.items()}
        self.names = {
            key: f"overpaint-{hashlib.sha256(data).hexdigest()[:20]}.png"
            for key, data in self.png.items()
        }
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def ensure(self, server: ComfyServer) -> dict[str, str]:
        with self._lock:
            if server.url in self._done:
                return dict(self.names)
        for key, data in self.png.items():
            server.upload(self.names[key], data)
        with self._lock:
            self._done.add(server.url)
        return dict(self.names)


class ComfyEngine(EngineBase):
    """Runs jobs on ComfyUI servers; checks, fill and compositing come from EngineBase."""

    def __init__(
        self, servers: Sequence[tuple[str, str]] | Sequence[str], native: int | None = None
    ) -> None:
        """`native`: the side regions are generated at (None: guessed per checkpoint name,
        since a server does not say what family a checkpoint is)."""
        pairs = [(s, "") if isinstance(s, str) else (s[0], s[1]) for s in servers]
        self.pool = ServerPool(pairs)
        self.native = native

    def unload(self) -> None:
        """Nothing is held here: the servers keep their own models loaded."""

    def generate(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs,
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
    ) -> list[GenerationResult]:
        servers = self.pool.live()
        warnings = [w for s, _ in servers if (w := self._http_warning(s.url))]
        job = _Job(request, inputs, servers, on_progress, cancel, tuple(warnings), self.native)
        return job.run(self.pool)

    @staticmethod
    def _http_warning(url: str) -> str | None:
        warning = plain_http_warning(url)
        if warning is None or url in _WARNED_HTTP:
            return None
        _WARNED_HTTP.add(url)
        log.warning(warning)
        return warning


class _Job:
    """One request on the pool: planned once, each sample built for the server it runs on."""

    def __init__(
        self,
        request: GenerationRequest,
        inputs: GenerationInputs,
        servers: list[tuple[ComfyServer, ServerInfo]],
        on_progress: ProgressCallback | None,
        cancel: CancelCheck,
        warnings: tuple[str, ...],
        native: int | None = None,
    ) -> None:
        self.request, self.servers, self.cancel = request, servers, cancel
        self.on_progress, self.warnings = on_progress, warnings
        self.controls = verified_specs(request, inputs)
        prepared = prepare_inputs(request, inputs)
        model = _server_model(request, *servers[0])
        unet = model.family in SD_FAMILIES
        refusing = unet and request.references and request.mode != "edit"
        if refusing and (refusal := reference_refusal(model.family, model.label)):
            raise InvalidRequestError(refusal)
        if not unet:
            check_modern_request(request, model)
        multiple = 8 if unet else MODERN_FAMILIES[model.family].multiple  # latent multiple
        self.job = JobPlan.make(request, prepared, native or native_size(model.name), multiple)
        self.gen = self.job.gen
        request, masks = region_pictures(
            request, inputs, (model.name, model.family, unet), self.gen
        )
        if masks:  # the masks' hashes recorded in every sample's request
            self.request = request
            self.job = dataclasses.replace(self.job, request=request)
        pictures: dict[str, np.ndarray] = {}
        if (soft := self.job.soft) is not None:
            pictures["mask"] = soft.gen_mask if request.soft_edges else soft.support_mask
        if (image := self.job.init_image()) is not None:
            pictures["image"] = image
        for i, spec in enumerate(self.controls):
            pictures[f"control{i}"] = self._control_image(spec, inputs.controls[i])
        for i, spec in enumerate(request.references):
            picture = reference_picture(i, spec, inputs.references)
            pictures[f"reference{i}"] = _fit_area(picture, *self.gen)
        pictures.update(masks)
        self.uploads = _Uploads(pictures)
        self._progress: dict[int, int] = {}
        self._lock = threading.Lock()

    def _control_image(self, spec: Any, image: np.ndarray | None) -> np.ndarray:
        if spec.kind == "inpaint" or image is None:
            raise InvalidRequestError(
                "The inpaint control does not run on ComfyUI servers; use soft inpainting "
                "(the default) or the local engine."
            )
        # A control layer's image is already a control image, as in the local engine.
        image = np.asarray(image)
        control = as_control_image(image) if spec.prepared else preprocess(spec, image)
        return region.resize_rgb(control, *self.gen)

    def plan_for(self, server: ComfyServer, info: ServerInfo) -> WorkflowPlan | ModernPlan:
        model = _server_model(self.request, server, info)
        if model.family not in SD_FAMILIES:
            return self._modern_plan(server, info, model)
        request, url = self.request, server.url
        needed = set(REQUIRED_NODES) | (set(CONTROL_NODES) if self.controls else set())
        needed |= set(REGION_NODES) if request.regions else set()
        _check_nodes(server, info, needed)  # before anything is uploaded
        sampler, scheduler = comfy_sampler(request.scheduler, url, info.samplers, info.schedulers)
        names = self.uploads.ensure(server)
        loras = tuple(
            (pick_file(name, info.loras, "LoRA", url), weight) for name, weight in request.loras
        )
        controls = tuple(
            ControlPlan(
                pick_file(spec.model or spec.kind, info.controlnets, "ControlNet model", url)
                if spec.model
                else _control_for_kind(spec.kind, info.controlnets, url),
                names[f"control{i}"],
                spec.weight,
                spec.start,
                spec.end,
            )
            for i, spec in enumerate(self.controls)
        )
        regions, root_mask = region_plans(request, names)
        return WorkflowPlan(
            checkpoint=model.name,
            width=self.gen[0],
            height=self.gen[1],
            sampler=sampler,
            scheduler=scheduler,
            image=names.get("image"),
            mask=names.get("mask"),
            loras=loras,
            controls=controls,
            regions=regions,
            root_mask=root_mask,
        )

    def _modern_plan(self, server: ComfyServer, info: ServerInfo, model: ServerModel) -> ModernPlan:
        url = server.url
        parts = None
        if model.loader == "diffusion_model":
            parts = pick_parts(model, info.text_encoders, info.vaes, url)
        sampler, scheduler = comfy_sampler(self.request.scheduler, url, info.samplers,
                                           info.schedulers)  # fmt: skip
        specs = self.request.references
        edit = self.request.mode == "edit"
        files = None if edit or not specs else pick_redux_files(
            self.request, info.style_models, info.clip_visions, url)  # fmt: skip
        names = self.uploads.ensure(server)
        loras = tuple((pick_file(n, info.loras, "LoRA", url), w) for n, w in self.request.loras)
        references = tuple(names[f"reference{i}"] for i in range(len(specs)))
        redux = None
        if files is not None:  # Redux outside Edit, each picture at its weight
            weighted = tuple(zip(references, (s.weight for s in specs), strict=True))
            redux = ReduxPlan(*files, weighted)
        return ModernPlan(model, parts, *self.gen, sampler, scheduler, names.get("image"),
                          names.get("mask"), references if edit else (), loras, redux)  # fmt: skip

    def graph_for(
        self,
        server: ComfyServer,
        info: ServerInfo,
        request: GenerationRequest,
        plan: WorkflowPlan | ModernPlan | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The sample's graph on this server; one sentence when the server lacks a node."""
        plan = plan or self.plan_for(server, info)
        if isinstance(plan, ModernPlan):
            graph = build_modern_workflow(request, plan)
        else:
            graph = build_workflow(request, plan)
        _check_nodes(server, info, nodes_needed(graph))
        return graph

    def run(self, pool: ServerPool) -> list[GenerationResult]:
        # Check the request against the first server before anything is queued, so a
        # missing model or sampler is one sentence and no server does any work.
        self.graph_for(*self.servers[0], self.job.sample_request(0))
        return pool.run_samples(self.request.n_samples, self.sample, self.cancel, self.servers)

    def _step(self, index: int, value: int, preview: np.ndarray | None = None) -> None:
        """Progress over all samples; `preview` is the server's picture of this sample so
        far (sent when the server runs with --preview-method), shown like a local one."""
        if self.on_progress is None:
            return
        per = sampling_steps(self.request)
        with self._lock:
            self._progress[index] = min(value, per)
            done = sum(self._progress.values())
            self.on_progress(done, per * self.request.n_samples, preview)

    def sample(self, server: ComfyServer, info: ServerInfo, index: int) -> GenerationResult:
        sample_request = self.job.sample_request(index)
        plan = self.plan_for(server, info)
        if self.controls and isinstance(plan, WorkflowPlan):
            # recorded with the server's file each control ran with
            used = tuple(
                dataclasses.replace(spec, model=control.model)
                for spec, control in zip(self.controls, plan.controls, strict=True)
            )
            sample_request = sample_request.replace(controls=used)
        if isinstance(plan, ModernPlan) and plan.redux is not None:
            # recorded with the server's Redux model the references ran through
            style = plan.redux.style_model
            used_refs = tuple(
                dataclasses.replace(r, model=style) for r in sample_request.references
            )
            sample_request = sample_request.replace(references=used_refs)
        graph = self.graph_for(server, info, sample_request, plan)
        rgb = server.run(graph, lambda v, _m, p: self._step(index, v, p), self.cancel)
        extra = {"Server": f"ComfyUI {info.version}", "Workflow hash": workflow_hash(graph)}
        model = plan.model.name if isinstance(plan, ModernPlan) else plan.checkpoint
        return self.job.result(rgb, sample_request, model, None, extra, self.warnings)


def _check_nodes(server: ComfyServer, info: ServerInfo, needed: set[str]) -> None:
    missing = sorted(needed - info.nodes)
    if missing:
        raise EngineError(
            f"The ComfyUI server at {server.url} (version {info.version}) lacks the node(s) "
            f"{', '.join(missing)}; update ComfyUI to 0.3.64 or newer."
        )


def _server_model(request: GenerationRequest, server: ComfyServer, info: ServerInfo) -> ServerModel:
    model = find_model(request.model, info.checkpoints, info.diffusion_models, server.url)
    check_family(model, server.url, info.version)
    return model


def _fit_area(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """A reference picture scaled to the generation's area, its aspect kept, its sides
    multiples of 16: a larger one would only cost the server time."""
    rgb = np.asarray(picture)[..., :3]
    scale = ((width * height) / (rgb.shape[0] * rgb.shape[1])) ** 0.5
    w, h = (max(16, round(side * scale / 16) * 16) for side in (rgb.shape[1], rgb.shape[0]))
    return region.resize_rgb(np.ascontiguousarray(rgb), w, h)


def _control_for_kind(kind: str, offered: Sequence[str], server: str) -> str:
    matches = [o for o in offered if kind in o.lower()]
    if not matches:
        raise ModelError(
            f"The ComfyUI server at {server} has no ControlNet model for {kind}; install one "
            "in its models/controlnet folder."
        )
    return matches[0]
