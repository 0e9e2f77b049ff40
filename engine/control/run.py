"""Running controls inside any Stable Diffusion pipeline the Engine already uses.

Instead of swapping to diffusers' ControlNet/Adapter pipeline classes, a ControlStage
wraps the shared UNet's forward for the length of one pipeline call: before each UNet
evaluation it runs every active ControlNet on the same latents, timestep and text
embeddings and passes their summed residuals (down_block_additional_residuals /
mid_block_additional_residual), and adds the T2I-Adapters' features
(down_intrablock_additional_residuals). That is the computation of diffusers'
(Multi)ControlNet pipelines, but it works unchanged for txt2img, img2img and inpaint
(9-channel UNets included: the ControlNet sees the first 4 channels), keeps the
soft-inpainting step callback, and keeps the from_pipe sharing: no pipeline is built for
controls. diffusers has no img2img or inpaint pipeline for T2I-Adapters at all.

Each control acts on the fraction [start, end] of the steps the pipeline runs (the
`control_guidance_start/end` rule); the step index comes from the step-end callback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import region
from engine.control.loading import ControlCache
from engine.control.models import ControlModelInfo, resolve_control
from engine.control.preprocess import as_control_image, inpaint_condition, preprocess
from engine.control.spec import ControlSpec, check_spec, control_image_hash
from engine.core.errors import InvalidRequestError
from engine.core.steps import StepCounter
from engine.request import GenerationInputs, GenerationRequest


@dataclass(eq=False)
class _Active:
    spec: ControlSpec
    model: Any
    model_type: str
    cond: Any  # 1xCxHxW tensor at generation size, [0, 1] (inpaint: -1 in the hole)


def verified_specs(request: GenerationRequest, inputs: GenerationInputs) -> tuple[ControlSpec, ...]:
    """The request's controls with each image hash checked (or filled in when the request
    has none yet); InvalidRequestError when an image is missing or different."""
    specs = []
    images = tuple(inputs.controls)
    for i, spec in enumerate(request.controls):
        problem = check_spec(spec)
        if problem:
            raise InvalidRequestError(problem)
        image = images[i] if i < len(images) else None
        if image is None:
            if spec.kind == "inpaint":
                specs.append(spec)
                continue
            raise InvalidRequestError(
                f"The request uses a {spec.kind} control (control {i}), but its control image "
                "is missing; give the same control image again."
            )
        digest = control_image_hash(image)
        if spec.image_hash and spec.image_hash != digest:
            raise InvalidRequestError(
                f"Control {i} ({spec.kind}) was recorded with another control image (hash "
                f"{spec.image_hash}, given {digest}); give the image it was made with."
            )
        specs.append(spec if spec.image_hash else _replace(spec, image_hash=digest))
    return tuple(specs)


def _replace(spec: ControlSpec, **changes: Any) -> ControlSpec:
    return dataclasses.replace(spec, **changes)


class ControlStage(StepCounter):
    """The controls of one job: models resolved and loaded, images prepared at generation
    size. `specs` is what the result's request records (hashes and model names filled)."""

    def __init__(self, specs: tuple[ControlSpec, ...], active: list[_Active]) -> None:
        self.specs = specs
        self._active = active
        self.step = 0

    @classmethod
    def build(
        cls,
        cache: ControlCache,
        request: GenerationRequest,
        inputs: GenerationInputs,
        pipe: Any,
        model_name: str,
        unet_is_xl: bool,
        gen_size: tuple[int, int],
        picture: tuple[np.ndarray | None, np.ndarray | None],
        extra_dirs: Sequence[Path] = (),
        config_roots: Sequence[Path] = (),
    ) -> ControlStage | None:
        """None without controls. `picture` is (RGB crop, repaint mask) for inpaint controls.
        The denoiser, how a control model is resolved and how its picture becomes a tensor
        are the hooks a subclass for another denoiser replaces."""
        if not request.controls:
            cache.clear()
            return None
        specs = verified_specs(request, inputs)
        denoiser = cls._denoiser(pipe, specs)
        config = dict(denoiser.config)
        infos = [
            cls._resolve(pipe, s, config, model_name, unet_is_xl, extra_dirs, config_roots)
            for s in specs
        ]
        specs, acting = named_and_acting(specs, infos, inputs.controls)
        device = getattr(pipe, "_execution_device", denoiser.device)
        # In the denoiser's dtype, bf16 included: fp32 bought no quality (engine.core.precision).
        models = cache.models_for([info for _, info, _ in acting], device, denoiser.dtype, config)
        gen_w, gen_h = gen_size
        active = []
        for (spec, info, image), model in zip(acting, models, strict=True):
            rgb = _condition(spec, image, picture, gen_w, gen_h)  # generation size
            cond = cls._tensor(pipe, info, model, rgb).to(device=device, dtype=denoiser.dtype)
            active.append(_Active(spec, model, info.model_type, cond))
        return cls(specs, active)

    @classmethod
    def _denoiser(cls, pipe: Any, specs: Sequence[ControlSpec]) -> Any:
        """The module the controls feed; InvalidRequestError for specs it cannot take."""
        return pipe.unet

    @classmethod
    def _resolve(
        cls,
        pipe: Any,
        spec: ControlSpec,
        config: dict[str, Any],
        model_name: str,
        unet_is_xl: bool,
        extra_dirs: Sequence[Path],
        config_roots: Sequence[Path],
    ) -> ControlModelInfo:
        return resolve_control(
            spec.kind, spec.model, config, model_name, unet_is_xl, extra_dirs, config_roots
        )

    @classmethod
    def _tensor(cls, pipe: Any, info: ControlModelInfo, model: Any, cond: np.ndarray) -> Any:
        """The control picture as the model takes it: 1xCxHxW."""
        import torch  # ~1.2 s to import: only when a job runs

        if info.model_type == "t2i-adapter" and int(model.config.in_channels) == 1:
            cond = cond.mean(axis=2, keepdims=True)
        return torch.from_numpy(np.ascontiguousarray(cond)).permute(2, 0, 1)[None]

    # -- running ---------------------------------------------------------------------

    @contextlib.contextmanager
    def attached(self, pipe: Any) -> Iterator[None]:
        """The pipeline's UNet runs the controls while inside the block."""
        original = pipe.unet.forward
        self.step = 0
        adapter_cache: dict[int, list[Any]] = {}

        def forward(sample: Any, timestep: Any, encoder_hidden_states: Any, *args, **kw):
            total = int(getattr(pipe, "_num_timesteps", 0) or 0)
            self._add_residuals(sample, timestep, encoder_hidden_states, kw, total, adapter_cache)
            return original(sample, timestep, encoder_hidden_states, *args, **kw)

        with forward_replaced(pipe.unet, forward):
            yield

    def _active_now(self, total: int) -> list[_Active]:
        i = self.step
        n = max(total, 1)
        return [a for a in self._active if not (i / n < a.spec.start or (i + 1) / n > a.spec.end)]

    def _add_residuals(
        self,
        sample: Any,
        timestep: Any,
        text: Any,
        kw: dict,
        total: int,
        adapter_cache: dict[int, list[Any]],
    ) -> None:
        down = mid = None
        features = None
        batch = sample.shape[0]
        for item in self._active_now(total):
            cond = item.cond.to(device=sample.device, dtype=sample.dtype)
            if item.model_type == "controlnet":
                x = sample[:, : int(item.model.config.in_channels)]
                d, m = item.model(
                    x,
                    timestep,
                    encoder_hidden_states=text,
                    controlnet_cond=cond.expand(batch, -1, -1, -1),
                    conditioning_scale=float(item.spec.weight),
                    timestep_cond=kw.get("timestep_cond"),
                    added_cond_kwargs=kw.get("added_cond_kwargs"),
                    return_dict=False,
                )
                down = list(d) if down is None else [a + b for a, b in zip(down, d, strict=True)]
                mid = m if mid is None else mid + m
            else:
                states = adapter_cache.get(id(item))
                if states is None:
                    states = _adapter_states(item, cond, sample.shape[-2:])
                    adapter_cache[id(item)] = states
                if features is None:
                    features = list(states)
                else:
                    features = [a + b for a, b in zip(features, states, strict=False)]
        if down is not None:
            kw["down_block_additional_residuals"] = tuple(down)
            kw["mid_block_additional_residual"] = mid
        if features is not None:
            kw["down_intrablock_additional_residuals"] = [
                f.expand(batch, -1, -1, -1).clone() for f in features
            ]


@contextlib.contextmanager
def forward_replaced(module: Any, forward: Any) -> Iterator[None]:
    """`module.forward` is `forward` inside the block, and what it was after it."""
    had_own = "forward" in module.__dict__
    previous = module.__dict__.get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if had_own:
            module.forward = previous
        else:
            del module.forward


def named_and_acting(
    specs: tuple[ControlSpec, ...], infos: Sequence[Any], images: Sequence[Any]
) -> tuple[tuple[ControlSpec, ...], list[tuple[ControlSpec, Any, Any]]]:
    """The specs with their resolved model's name filled in, and the (spec, model info,
    image) of those that act: a zero-weight control is recorded but neither loaded nor run."""
    specs = tuple(
        s if s.model else _replace(s, model=info.name) for s, info in zip(specs, infos, strict=True)
    )
    padded = tuple(images) + (None,) * len(specs)
    acting = [
        (spec, info, image)
        for spec, info, image in zip(specs, infos, padded, strict=False)
        if spec.weight != 0
    ]
    return specs, acting


def _adapter_states(item: _Active, cond: Any, latent_hw: Any) -> list[Any]:
    """The adapter's features for the latent grid, times the weight. The picture is padded
    to a multiple of the adapter's total downscale and each feature cropped back to the
    size the UNet has at that level (ceil division, like its stride-2 convolutions)."""
    import torch  # ~1.2 s to import: only when a job runs

    model = item.model
    factor = int(model.total_downscale_factor)
    h, w = cond.shape[-2:]
    ph, pw = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    if (ph, pw) != (h, w):
        cond = torch.nn.functional.pad(cond, (0, pw - w, 0, ph - h), mode="replicate")
    out = []
    for feature in model(cond):
        scale = ph // feature.shape[-2]
        fh, fw = math.ceil(h / scale), math.ceil(w / scale)
        out.append(feature[..., :fh, :fw] * float(item.spec.weight))
    return out


def _condition(
    spec: ControlSpec,
    image: np.ndarray | None,
    picture: tuple[np.ndarray | None, np.ndarray | None],
    gen_w: int,
    gen_h: int,
) -> np.ndarray:
    """HxWxC float32 at generation size: the preprocessed control image in [0, 1]."""
    if spec.kind == "inpaint":
        rgb, mask = picture
        source = rgb if image is None else np.asarray(image)[..., :3]
        if source is None:
            raise InvalidRequestError("An inpaint control needs a picture; open one first.")
        if mask is None:
            raise InvalidRequestError("An inpaint control needs a mask; paint the area first.")
        rgb_gen = region.resize_rgb(np.ascontiguousarray(source[..., :3]), gen_w, gen_h)
        mask_gen = region.resize_mask(mask, gen_w, gen_h)
        return inpaint_condition(rgb_gen, mask_gen)
    assert image is not None
    image = np.asarray(image)
    control = as_control_image(image) if spec.prepared else preprocess(spec, image)
    if control.shape[:2] != (gen_h, gen_w):
        control = region.resize_rgb(control, gen_w, gen_h)
    return control.astype(np.float32) / 255
