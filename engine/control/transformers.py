"""ControlNets for the transformer families that diffusers has them for: FLUX.1 (dev,
schnell, Krea and fine-tunes; `FluxControlNetModel`: InstantX, Shakker-Labs, Jasper...),
SD 3.5 (`SD3ControlNetModel`: InstantX, Stability's own) and Qwen-Image
(`QwenImageControlNetModel`: InstantX's) and Z-Image (`ZImageControlNetModel`), in diffusers
folders, run inside
whichever pipeline the engine already uses, as ControlStage does for the UNet.

For the length of one pipeline call the transformer's forward is wrapped: before each
evaluation every active ControlNet runs on the same latents, timestep and text embeddings
(FLUX: and guidance), and its block residuals, weighted and summed, go into the
transformer (FLUX: `controlnet_block_samples` / `controlnet_single_block_samples`; SD 3:
`block_controlnet_hidden_states`; Qwen-Image: `controlnet_block_samples`). That is diffusers'
FluxControlNetPipeline's, StableDiffusion3ControlNetPipeline's and
QwenImageControlNetPipeline's computation, for txt2img, img2img and inpaint alike,
with the soft-inpainting step callback and the from_pipe sharing kept. The control picture
is preprocessed as for SD and VAE-encoded at generation size (the distribution's mean, so
the same picture gives the same condition; FLUX's packed like its latents); FLUX
ControlNets with a pixel-space hint block take the picture itself.

FLUX.1's own transformer only: Fill and Kontext feed it more than the latents (extra
channels, the reference's tokens), beside which these ControlNets were not trained.
Z-Image's ControlNets (`ZImageControlNetModel`, Alibaba's Union ones) run on the loaded
transformer's own embedders and refiners (`from_transformer` before each job) and return
their residuals per transformer layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.control.models import ControlModelInfo, discover_controls, find_control
from engine.control.run import ControlStage, _Active, forward_replaced
from engine.control.spec import ControlSpec
from engine.core.errors import InvalidRequestError, ModelError
from engine.core.paths import user_models_dir
from engine.discovery import CONTROL_FOLDER
from engine.soft_inpaint import encode_latents


@dataclass(frozen=True)
class Architecture:
    label: str
    article: str  # before the label: "a FLUX.1", "an SD 3.5"
    model_type: str  # ControlModelInfo.model_type of its ControlNets
    transformer: str  # the transformer's class name
    # ControlNet and transformer must agree on these to run together.
    fit_keys: tuple[str, ...] = (
        "joint_attention_dim",
        "num_attention_heads",
        "attention_head_dim",
        "in_channels",
    )


FLUX = Architecture("FLUX.1", "a", "flux-controlnet", "FluxTransformer2DModel")
SD3 = Architecture("SD 3.5", "an", "sd3-controlnet", "SD3Transformer2DModel")
QWEN = Architecture("Qwen-Image", "a", "qwen-image-controlnet", "QwenImageTransformer2DModel")
ZIMAGE = Architecture(
    "Z-Image",
    "a",
    "z-image-controlnet",
    "ZImageTransformer2DModel",
    ("dim", "n_heads", "n_kv_heads"),
)
ARCHITECTURES = (FLUX, SD3, QWEN, ZIMAGE)


def architecture_of(pipe: Any) -> Architecture:
    name = type(pipe.transformer).__name__
    for arch in ARCHITECTURES:
        if arch.transformer == name:
            return arch
    raise InvalidRequestError(f"Control layers do not work with {name} models yet; hide them.")


def _width(config: dict[str, Any]) -> int:
    if config.get("dim"):  # Z-Image's
        return int(config["dim"])
    return int(config.get("num_attention_heads") or 0) * int(config.get("attention_head_dim") or 0)


def check_fits(
    info: ControlModelInfo, arch: Architecture, transformer_config: dict[str, Any], model_name: str
) -> None:
    """ModelError (one sentence naming both) unless `info` is a ControlNet of `arch` for the
    loaded transformer's width."""
    if info.model_type != arch.model_type:
        made_for = next(
            (a.label for a in ARCHITECTURES if a.model_type == info.model_type),
            "SD 1.x, SD 2.x or SDXL",
        )
        raise ModelError(
            f"The control model {info.name} is for {made_for}, not for the {arch.label} "
            f"model {model_name}; pick {arch.article} {arch.label} ControlNet."
        )
    mine = {k: info.config.get(k) for k in arch.fit_keys}
    theirs = {k: transformer_config.get(k) for k in arch.fit_keys}
    if mine != theirs:
        raise ModelError(
            f"The {arch.label} ControlNet {info.name} (width {_width(mine)}) does not fit the "
            f"loaded model {model_name} (width {_width(theirs)}); pick a ControlNet made for "
            "that model."
        )


def resolve(
    kind: str,
    name_or_path: str,
    arch: Architecture,
    transformer_config: dict[str, Any],
    model_name: str,
    extra_dirs: Sequence[Path] = (),
) -> ControlModelInfo:
    """The ControlNet to use for `kind` (explicit, or the first installed one of that kind
    that fits); ModelError in one sentence when there is none."""
    text = (name_or_path or "").strip()
    if text:
        info = find_control(text, extra_dirs)
        check_fits(info, arch, transformer_config, model_name)
        return info
    for info in discover_controls(extra_dirs):
        if info.kind == kind and info.model_type == arch.model_type:
            try:
                check_fits(info, arch, transformer_config, model_name)
            except ModelError:
                continue
            return info
    raise ModelError(
        f"No {arch.label} {kind} ControlNet is installed for {model_name}; put one (a "
        f"diffusers folder) in {user_models_dir() / CONTROL_FOLDER} or pass "
        f"--control-model {kind}:PATH."
    )


def _latent_condition(pipe: Any, model: Any, arch: Architecture, rgb: np.ndarray) -> Any:
    """The control picture ([0, 1], generation size) as the ControlNet takes it."""
    import torch  # ~1.2 s to import: only when a job runs

    if arch is FLUX and model.input_hint_block is not None:  # a pixel-space hint block
        return torch.from_numpy(np.ascontiguousarray(rgb * 2 - 1)).permute(2, 0, 1)[None]
    if arch is QWEN:
        return _qwen_condition(pipe, rgb)
    latents = encode_latents(pipe, np.rint(rgb * 255).astype(np.uint8))
    if arch is ZIMAGE:  # one frame; version 2's extra (inpaint) channels left zero
        missing = int(model.config.control_in_dim) - latents.shape[1]
        latents = torch.cat([latents, latents.new_zeros(1, missing, *latents.shape[2:])], 1)
        return latents[:, :, None]
    if arch is FLUX:
        b, c, h, w = latents.shape
        return pipe._pack_latents(latents, b, c, h, w)
    if model.config.force_zeros_for_pooled_projection:  # InstantX's: trained unshifted
        config = pipe.vae.config
        latents = latents + (getattr(config, "shift_factor", None) or 0.0) * config.scaling_factor
    return latents


def _qwen_condition(pipe: Any, rgb: np.ndarray) -> Any:
    """QwenImageControlNetPipeline's condition: the video VAE's latents of the picture as
    one frame, normalised by its per-channel mean and deviation, packed like the latents."""
    import torch  # ~1.2 s to import: only when a job runs

    vae = pipe.vae
    device = getattr(pipe, "_execution_device", vae.device)
    x = torch.from_numpy(np.ascontiguousarray(rgb * 2 - 1, np.float32)).permute(2, 0, 1)
    with torch.inference_mode():
        latents = vae.encode(x[None, :, None].to(device=device, dtype=vae.dtype)).latent_dist.mean
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents)
    std = torch.tensor(vae.config.latents_std).view(shape).to(latents)
    latents = ((latents - mean) / std)[:, :, 0]
    b, c, h, w = latents.shape
    return pipe._pack_latents(latents, b, c, h, w)


class TransformerControlStage(ControlStage):
    """The ControlNets of one job on FLUX.1 or SD 3.5 (the architecture told from the
    pipeline's transformer); building, `wrap` and the step range are ControlStage's."""

    @classmethod
    def _denoiser(cls, pipe: Any, specs: Sequence[ControlSpec]) -> Any:
        arch = architecture_of(pipe)
        for spec in specs:
            if spec.kind == "inpaint":
                raise InvalidRequestError(
                    f"An inpaint control does not work with {arch.label} models; remove it, "
                    "the inpaint pipeline repaints the mask by itself."
                )
        return pipe.transformer

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
        # These ControlNets come as diffusers folders: no single-file configs to find.
        arch = architecture_of(pipe)
        return resolve(spec.kind, spec.model, arch, config, model_name, extra_dirs)

    @classmethod
    def _tensor(cls, pipe: Any, info: ControlModelInfo, model: Any, cond: np.ndarray) -> Any:
        arch = architecture_of(pipe)
        if arch is ZIMAGE:  # it runs on this transformer's own embedders and refiners
            type(model).from_transformer(model, pipe.transformer)
        return _latent_condition(pipe, model, arch, cond)

    @contextlib.contextmanager
    def attached(self, pipe: Any) -> Iterator[None]:
        """The pipeline's transformer runs the ControlNets while inside the block."""
        original = pipe.transformer.forward
        arch = architecture_of(pipe)
        add = {FLUX: self._add_flux, SD3: self._add_sd3, QWEN: self._add_qwen}.get(arch)
        self.step = 0

        def forward(*args: Any, **kw: Any) -> Any:
            total = int(getattr(pipe, "_num_timesteps", 0) or 0)
            active = self._active_now(total)
            if active and add is None:  # Z-Image's pipelines pass x, t, cap_feats first
                kw["controlnet_block_samples"] = self._zimage_samples(active, *args[:3])
            elif active:  # the others call their transformer by keyword
                add(active, kw)
            return original(*args, **kw)

        with forward_replaced(pipe.transformer, forward):
            yield

    @staticmethod
    def _add_flux(active: list[_Active], kw: dict) -> None:
        blocks = singles = None
        hidden = kw["hidden_states"]
        repeat = False
        for item in active:
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
        kw["controlnet_block_samples"] = blocks
        kw["controlnet_single_block_samples"] = singles
        kw["controlnet_blocks_repeat"] = repeat

    @staticmethod
    def _add_sd3(active: list[_Active], kw: dict) -> None:
        import torch  # ~1.2 s to import: only when a job runs

        blocks = None
        hidden = kw["hidden_states"]
        pooled = kw.get("pooled_projections")
        for item in active:
            config = item.model.config
            (samples,) = item.model(
                hidden_states=hidden,
                controlnet_cond=item.cond.expand(hidden.shape[0], *item.cond.shape[1:]),
                conditioning_scale=float(item.spec.weight),
                # What StableDiffusion3ControlNetPipeline gives each kind of ControlNet.
                encoder_hidden_states=(
                    kw.get("encoder_hidden_states") if config.joint_attention_dim else None
                ),
                pooled_projections=(
                    torch.zeros_like(pooled) if config.force_zeros_for_pooled_projection else pooled
                ),
                timestep=kw.get("timestep"),
                joint_attention_kwargs=kw.get("joint_attention_kwargs"),
                return_dict=False,
            )
            blocks = _summed(blocks, samples)
        kw["block_controlnet_hidden_states"] = blocks

    @staticmethod
    def _add_qwen(active: list[_Active], kw: dict) -> None:
        blocks = None
        hidden = kw["hidden_states"]
        for item in active:
            samples = item.model(
                hidden_states=hidden,
                controlnet_cond=item.cond.expand(hidden.shape[0], *item.cond.shape[1:]),
                conditioning_scale=float(item.spec.weight),
                timestep=kw.get("timestep"),
                encoder_hidden_states=kw.get("encoder_hidden_states"),
                encoder_hidden_states_mask=kw.get("encoder_hidden_states_mask"),
                img_shapes=kw.get("img_shapes"),
                return_dict=False,
            )
            blocks = _summed(blocks, samples)
        kw["controlnet_block_samples"] = blocks

    @staticmethod
    def _zimage_samples(active: list[_Active], x: list, t: Any, cap_feats: list) -> dict:
        total: dict[int, Any] = {}
        for item in active:
            cond = item.cond.expand(len(x), *item.cond.shape[1:])
            samples = item.model(x, t, cap_feats, cond, conditioning_scale=float(item.spec.weight))
            for layer, sample in samples.items():
                total[layer] = total[layer] + sample if layer in total else sample
        return total


def _summed(total: list[Any] | None, samples: Any) -> list[Any] | None:
    if samples is None:
        return total
    if total is None:
        return list(samples)
    return [a + b for a, b in zip(total, samples, strict=True)]
