"""A job's reference pictures, ready for the local engine's UNet (outside Edit mode, where
references are the edit models' extra pictures instead).

`check_references` refuses, in one sentence and before a model loads, what cannot run:
a transformer family, a bad spec, a missing or different picture, no adapter installed. `ReferenceStage.build` picks the IP-Adapter that fits the model
(engine.reference.adapters), loads it once (engine.reference.ip_adapter), takes each
picture's embedding from the cache or the image encoder, and gives the pipeline its
`ip_adapter_image_embeds` (and region masks). The engine runs the sampling inside
`attached`, which puts the adapter in the UNet and sets each picture's scale per step.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import InvalidRequestError
from engine.core.images import picture_hash
from engine.core.steps import StepCounter
from engine.models import ModelInfo
from engine.reference.adapters import (
    Adapter,
    choose_adapter,
    find_adapters,
    no_adapter,
    unet_widths,
)
from engine.reference.spec import ReferenceSpec, check_reference
from engine.request import GenerationInputs, GenerationRequest


def uses_adapter(request: GenerationRequest) -> bool:
    """Whether the request's references go through an IP-Adapter (every mode but Edit)."""
    return bool(request.references) and request.mode != "edit"


def reference_picture(i: int, spec: ReferenceSpec, pictures: Sequence[Any]) -> np.ndarray:
    """Reference `i`'s picture (RGB or RGBA uint8), checked against the hash `spec`
    records; InvalidRequestError in one sentence when it is missing, not a picture or not
    the recorded one. IP-Adapter references and an Edit's extra pictures both use it."""
    picture = pictures[i] if i < len(pictures) else None
    if picture is None:
        raise InvalidRequestError(
            f"Reference picture {i + 1} is missing; give it again (on the command line: "
            "--reference-image)."
        )
    picture = np.asarray(picture)
    if (
        picture.dtype != np.uint8
        or picture.ndim != 3
        or picture.shape[2] not in (3, 4)
        or picture.size == 0
    ):
        raise InvalidRequestError(
            f"Reference picture {i + 1} is not an RGB or RGBA picture ({picture.dtype} "
            f"{picture.shape}); give a picture file."
        )
    if spec.image_hash and picture_hash(picture) != spec.image_hash:
        raise InvalidRequestError(
            f"Reference picture {i + 1} is not the one the request was made with (its hash "
            "differs); give the same picture."
        )
    return picture


def check_references(
    request: GenerationRequest,
    inputs: GenerationInputs,
    info: ModelInfo,
    extra_dirs: Sequence[Path] | None = None,
) -> tuple[Any, ...]:
    """The reference pictures' region masks (None: the whole picture), once the request's
    references are known to be runnable; InvalidRequestError with one sentence otherwise.
    With `extra_dirs` (before a model loads), no IP-Adapter installed at all is refused
    too; whether one fits is told once the UNet is loaded."""
    if not uses_adapter(request):
        return ()
    if info.is_modern:
        raise InvalidRequestError(
            f"Reference layers outside Edit need an IP-Adapter, which works with SD 1.x and "
            f"SDXL models; {info.name} ({info.family}) cannot use one, so hide the reference "
            "layers or pick another model."
        )
    pictures = inputs.references
    masks = tuple(inputs.reference_masks) + (None,) * len(request.references)
    for i, spec in enumerate(request.references):
        problem = check_reference(spec)
        if problem:
            raise InvalidRequestError(problem)
        reference_picture(i, spec, pictures)
        if spec.mask_hash and masks[i] is None:
            raise InvalidRequestError(
                f"Reference {i + 1} is limited to a region whose mask is missing; give it again."
            )
        if masks[i] is not None and masks[i].ndim != 2:
            raise InvalidRequestError(
                f"The region mask of reference {i + 1} must be one channel (HxW), not "
                f"{masks[i].shape}."
            )
        if spec.mask_hash and picture_hash(masks[i]) != spec.mask_hash:
            raise InvalidRequestError(
                f"The region mask of reference {i + 1} is not the one the request was made "
                "with (its hash differs); give the same mask."
            )
    # The bundled demo model may run the bundled adapter made for it.
    bundled = info.kind == "bundled"
    if extra_dirs is not None and not find_adapters(extra_dirs, bundled=bundled):
        raise InvalidRequestError(no_adapter(info.name, info.family))
    return masks[: len(request.references)]


def pipeline_unet(pipe: Any) -> Any:
    """The pipeline's UNet itself, also when Live's traced stand-in holds it
    (engine.local.live_unet): the adapter's modules go into the UNet."""
    inner = getattr(pipe.unet, "_modules", {}).get("unet")
    return pipe.unet if inner is None else inner


def _adapter_name(specs: Sequence[ReferenceSpec]) -> str:
    names = {s.model for s in specs if s.model}
    if len(names) > 1:
        raise InvalidRequestError(
            f"The references ask for different IP-Adapters ({', '.join(sorted(names))}); one "
            "job runs one adapter, so pick the same for all."
        )
    return names.pop() if names else ""


KEPT_EMBEDDINGS = 16  # reference pictures whose embedding is kept


class AdapterCache:
    """Adapters loaded into the engine's UNet and reference embeddings, kept between jobs."""

    def __init__(self) -> None:
        self._adapters: dict[tuple[Path, int], Any] = {}
        self._embeddings: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self.encoder_loads = 0  # how often an image encoder was loaded (tests read it)

    def clear(self) -> None:
        self._adapters.clear()
        self._embeddings.clear()

    def adapter(self, pipe: Any, adapter: Adapter) -> Any:
        """The adapter's engine.reference.ip_adapter.LoadedAdapter for the pipeline's UNet."""
        # diffusers: seconds to import, only when a job has references
        from engine.reference import ip_adapter

        key = (adapter.path.resolve(), id(pipeline_unet(pipe)))
        if key not in self._adapters:
            self._adapters[key] = ip_adapter.load_adapter(pipe, adapter)
        return self._adapters[key]

    def embeddings(
        self, adapter: Adapter, pictures: Sequence[Any], hashes: Sequence[str], unet: Any
    ) -> list[tuple[Any, Any]]:
        """(picture, empty picture) embeddings of each picture, in the UNet's dtype and on
        its device; the encoder is loaded only for pictures not seen before, and let go
        afterwards."""
        where = (str(unet.dtype), str(unet.device))
        keys = [(adapter.encoder.resolve(), adapter.shape.hidden, h, where) for h in hashes]
        missing = [i for i, k in enumerate(keys) if k not in self._embeddings]
        if missing:
            # torch and transformers: only when a picture must be encoded
            from engine.reference import ip_adapter

            self.encoder_loads += 1
            encoded = ip_adapter.encode_pictures(adapter, [pictures[i] for i in missing], unet)
            for i, pair in zip(missing, encoded, strict=True):
                self._embeddings[keys[i]] = pair
        out = []
        for key in keys:
            self._embeddings.move_to_end(key)
            out.append(self._embeddings[key])
        while len(self._embeddings) > KEPT_EMBEDDINGS:
            self._embeddings.popitem(last=False)
        return out


class ReferenceStage(StepCounter):
    """One job's adapter, embeddings and per-step scales."""

    def __init__(self, specs: tuple[ReferenceSpec, ...], args: dict[str, Any], run: Any) -> None:
        self.specs = specs  # what the results record: hashes and the adapter's name
        self.args = args  # ip_adapter_image_embeds (and cross_attention_kwargs' masks)
        self._run = run  # (LoadedAdapter, Scales)
        self.step = 0

    @classmethod
    def build(
        cls,
        cache: AdapterCache,
        request: GenerationRequest,
        inputs: GenerationInputs,
        pipe: Any,
        info: ModelInfo,
        gen: tuple[int, int],
        extra_dirs: Sequence[Path] = (),
    ) -> ReferenceStage | None:
        """None without references (or in Edit). `cache` is the engine's AdapterCache;
        `gen` the generation size."""
        if not uses_adapter(request):
            return None
        masks = check_references(request, inputs, info)
        # torch and diffusers: seconds to import, only when a job has references
        from engine.reference import ip_adapter

        unet = pipeline_unet(pipe)
        widths = unet_widths(dict(unet.config), list(unet.attn_processors))
        adapter: Adapter = choose_adapter(
            _adapter_name(request.references), info.name, info.family, widths, extra_dirs
        )
        loaded = cache.adapter(pipe, adapter)
        pictures = inputs.references[: len(request.references)]
        hashes = [picture_hash(p) for p in pictures]
        pairs = cache.embeddings(adapter, pictures, hashes, unet)
        cfg = float(request.guidance) > 1 and unet.config.time_cond_proj_dim is None
        args: dict[str, Any] = {"ip_adapter_image_embeds": [ip_adapter.image_embeds(pairs, cfg)]}
        per_picture = len(pairs) > 1 or any(m is not None for m in masks)
        if per_picture:
            mask = ip_adapter.region_masks(masks, gen)
            args["cross_attention_kwargs"] = {"ip_adapter_masks": [mask]}
        specs = tuple(
            dataclasses.replace(
                s,
                image_hash=h,
                model=adapter.name,
                mask_hash=s.mask_hash or ("" if m is None else picture_hash(m)),
            )
            for s, h, m in zip(request.references, hashes, masks, strict=True)
        )
        return cls(specs, args, (loaded, ip_adapter.Scales(loaded, specs, per_picture)))

    @contextmanager
    def attached(self, pipe: Any) -> Iterator[None]:
        """The pipeline's UNet runs the adapter while inside the block, each picture at
        its scale for the step; the stock UNet comes back after it."""
        from engine.reference import ip_adapter  # diffusers: already loaded by build

        loaded, scales = self._run
        scales.reset()
        unet = pipeline_unet(pipe)
        had_own = "forward" in unet.__dict__
        previous = unet.__dict__.get("forward")
        original = unet.forward
        self.step = 0

        def forward(*args: Any, **kw: Any) -> Any:
            scales.set(self.step, int(getattr(pipe, "_num_timesteps", 0) or 0))
            return original(*args, **kw)

        saved = ip_adapter.attach(unet, loaded)
        unet.forward = forward
        try:
            yield
        finally:
            if had_own:
                unet.forward = previous
            else:
                del unet.forward
            ip_adapter.detach(unet, saved)
