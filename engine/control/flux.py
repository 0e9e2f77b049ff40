"""ControlNets for FLUX.1 (dev, schnell, Krea and fine-tunes): diffusers'
`FluxControlNetModel` (InstantX, Shakker-Labs, Jasper and the like, in diffusers folders) run
inside whichever FLUX pipeline the engine already uses, as ControlStage does for the UNet.

For the length of one pipeline call the transformer's forward is wrapped: before each
evaluation every active ControlNet runs on the same packed latents, timestep, guidance and
text embeddings, and its block residuals (`controlnet_block_samples`,
`controlnet_single_block_samples`), summed and weighted, go into the transformer. That is
diffusers' FluxControlNetPipeline's computation, for txt2img, img2img and inpaint alike,
with the soft-inpainting step callback and the from_pipe sharing kept. The control picture
is preprocessed as for SD, VAE-encoded at generation size (the distribution's mean: the
same picture gives the same condition) and packed like the latents; ControlNets with a
pixel-space hint block (`input_hint_block`) take the picture itself.

Which families: FLUX.1's own transformer only. Fill and Kontext feed the transformer more
than the latents (extra channels, the reference's tokens), which these ControlNets were not
trained beside; SD 3.5's SD3ControlNetModel and Qwen-Image's ControlNets need their own
stage and are not wired yet (engine.local.families refuses control layers there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.control.loading import ControlCache
from engine.control.models import ControlModelInfo, discover_controls, inspect_control
from engine.control.run import ControlStage, _Active, _condition, _replace, verified_specs
from engine.core.errors import InvalidRequestError, ModelError
from engine.core.paths import user_models_dir
from engine.discovery import CONTROL_FOLDER
from engine.request import GenerationInputs, GenerationRequest
from engine.soft_inpaint import encode_latents

FLUX_CONTROLNET = "flux-controlnet"  # ControlModelInfo.model_type


def check_fits(info: ControlModelInfo, transformer_config: dict[str, Any], model_name: str) -> None:
    """ModelError (one sentence naming both) unless `info` is a FLUX ControlNet of the
    loaded transformer's width."""
    if info.model_type != FLUX_CONTROLNET:
        raise ModelError(
            f"The control model {info.name} is for SD 1.x, SD 2.x or SDXL, not for the "
            f"FLUX.1 model {model_name}; pick a FLUX.1 ControlNet."
        )
    keys = ("joint_attention_dim", "num_attention_heads", "attention_head_dim", "in_channels")
    mine = {k: info.config.get(k) for k in keys}
    theirs = {k: transformer_config.get(k) for k in keys}
    if mine != theirs:
        width = int(mine["num_attention_heads"] or 0) * int(mine["attention_head_dim"] or 0)
        want = int(theirs["num_attention_heads"] or 0) * int(theirs["attention_head_dim"] or 0)
        raise ModelError(
            f"The FLUX ControlNet {info.name} (width {width}) does not fit the loaded model "
            f"{model_name} (width {want}); pick a ControlNet made for that model."
        )


def resolve(
    kind: str,
    name_or_path: str,
    transformer_config: dict[str, Any],
    model_name: str,
    extra_dirs: Sequence[Path] = (),
) -> ControlModelInfo:
    """The FLUX ControlNet to use for `kind` (explicit, or the first installed one of that
    kind that fits); ModelError in one sentence when there is none."""
    text = (name_or_path or "").strip()
    if text:
        if Path(text).expanduser().exists():
            info = inspect_control(Path(text))
        else:
            matches = [
                i
                for i in discover_controls(extra_dirs)
                if text.lower() in (i.name.lower(), i.path.name.lower())
            ]
            if not matches:
                raise ModelError(
                    f"No control model named {text!r} was found in "
                    f"{user_models_dir() / CONTROL_FOLDER}."
                )
            info = matches[0]
        check_fits(info, transformer_config, model_name)
        return info
    for info in discover_controls(extra_dirs):
        if info.kind == kind and info.model_type == FLUX_CONTROLNET:
            try:
                check_fits(info, transformer_config, model_name)
            except ModelError:
                continue
            return info
    raise ModelError(
        f"No FLUX.1 {kind} ControlNet is installed for {model_name}; put one (a diffusers "
        f"folder) in {user_models_dir() / CONTROL_FOLDER} or pass --control-model {kind}:PATH."
    )


class FluxControlStage(ControlStage):
    """The FLUX ControlNets of one job; `wrap` and the step range are ControlStage's."""

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
    ) -> FluxControlStage | None:
        """ControlStage.build's arguments, for a FLUX.1 pipeline (`unet_is_xl` unused)."""
        if not request.controls:
            cache.clear()
            return None
        import torch  # ~1.2 s to import: only when a job runs

        specs = verified_specs(request, inputs)
        for spec in specs:
            if spec.kind == "inpaint":
                raise InvalidRequestError(
                    "An inpaint control does not work with FLUX.1 models; remove it, the "
                    "FLUX inpaint pipeline repaints the mask by itself."
                )
        transformer = pipe.transformer
        config = dict(transformer.config)
        infos = [resolve(s.kind, s.model, config, model_name, extra_dirs) for s in specs]
        specs = tuple(
            s if s.model else _replace(s, model=info.name)
            for s, info in zip(specs, infos, strict=True)
        )
        device = getattr(pipe, "_execution_device", transformer.device)
        images = tuple(inputs.controls) + (None,) * len(specs)
        acting = [
            (spec, info, image)
            for spec, info, image in zip(specs, infos, images, strict=False)
            if spec.weight != 0  # recorded, but neither loaded nor run
        ]
        models = cache.models_for([i for _, i, _ in acting], device, transformer.dtype, config)
        gen_w, gen_h = gen_size
        active = []
        for (spec, _info, image), model in zip(acting, models, strict=True):
            rgb = _condition(spec, image, picture, gen_w, gen_h)  # [0, 1], generation size
            if model.input_hint_block is None:  # the usual kind: on VAE latents, packed
                latents = encode_latents(pipe, np.rint(rgb * 255).astype(np.uint8))
                b, c, h, w = latents.shape
                cond = pipe._pack_latents(latents, b, c, h, w)
            else:
                cond = torch.from_numpy(np.ascontiguousarray(rgb * 2 - 1)).permute(2, 0, 1)[None]
            active.append(_Active(spec, model, FLUX_CONTROLNET, cond.to(device, transformer.dtype)))
        return cls(specs, active)

    @contextlib.contextmanager
    def attached(self, pipe: Any) -> Iterator[None]:
        """The pipeline's transformer runs the ControlNets while inside the block."""
        transformer = pipe.transformer
        had_own = "forward" in transformer.__dict__
        previous = transformer.__dict__.get("forward")
        original = transformer.forward
        self.step = 0

        def forward(*args: Any, **kw: Any) -> Any:
            total = int(getattr(pipe, "_num_timesteps", 0) or 0)
            self._add_samples(kw, total)
            return original(*args, **kw)

        transformer.forward = forward
        try:
            yield
        finally:
            if had_own:
                transformer.forward = previous
            else:
                del transformer.forward

    def _add_samples(self, kw: dict, total: int) -> None:
        blocks = singles = None
        hidden = kw["hidden_states"]  # FLUX pipelines call their transformer by keyword
        repeat = False
        for item in self._active_now(total):
            model = item.model
            block, single = model(
                hidden_states=hidden,
                controlnet_cond=item.cond.expand(hidden.shape[0], *item.cond.shape[1:]),
                conditioning_scale=float(item.spec.weight),
                timestep=kw.get("timestep"),
                guidance=kw.get("guidance") if model.config.guidance_embeds else None,
                pooled_projections=kw.get("pooled_projections"),
                encoder_hidden_states=kw.get("encoder_hidden_states"),
                txt_ids=kw.get("txt_ids"),
                img_ids=kw.get("img_ids"),
                joint_attention_kwargs=kw.get("joint_attention_kwargs"),
                return_dict=False,
            )
            repeat = repeat or model.input_hint_block is not None
            blocks = _summed(blocks, block)
            singles = _summed(singles, single)
        if blocks is not None or singles is not None:
            kw["controlnet_block_samples"] = blocks
            kw["controlnet_single_block_samples"] = singles
            kw["controlnet_blocks_repeat"] = repeat


def _summed(total: list[Any] | None, samples: Any) -> list[Any] | None:
    if samples is None:
        return total
    if total is None:
        return list(samples)
    return [a + b for a, b in zip(total, samples, strict=True)]
