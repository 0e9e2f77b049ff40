"""What a loaded model keeps between jobs so that a run of small jobs (Live mode) pays
no set-up cost: one scheduler per sampler name, the text embeddings of recent prompts,
and the tiny VAE Live decodes with: the model's own (`vae_tiny` in its folder, as the
demo model has), else an installed TAESD of its family. Live's pipeline also runs a
small UNet's steps traced (engine.local.live_unet).

Everything here belongs to one loaded model: the Engine drops it (`clear`) when it
unloads the model.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.core.devices import dtype_keyword
from engine.core.errors import ModelError
from engine.core.precision import fast_layout
from engine.discovery import read_json_object
from engine.schedulers import canonical_name, make_scheduler

log = logging.getLogger(__name__)

PROMPT_CACHE_SIZE = 8
# Folder names of TAESD-style tiny autoencoders (diffusers AutoencoderTiny format), per
# family, looked for in the models folders and their "vae-approx" subfolder.
TINY_VAE_NAMES = {"sd1": ("taesd",), "sd2": ("taesd",), "sdxl": ("taesdxl",)}
# A model's own tiny VAE (the demo model's): this folder inside a diffusers model folder.
OWN_TINY_VAE = "vae_tiny"
# The latent scale of each family's VAE: a folder whose VAE scales otherwise (the demo
# model) has a latent space of its own, which the family's TAESD would decode wrongly.
FAMILY_LATENT_SCALES = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025}


def _has_family_latents(model: Path, family: str) -> bool:
    config = model / "vae" / "config.json"
    if family not in FAMILY_LATENT_SCALES or not config.is_file():
        return True  # a single file, or a folder without a VAE config: the family's VAE
    try:
        scale = float(read_json_object(config).get("scaling_factor", 0.18215))
    except (ModelError, TypeError, ValueError):
        return False
    return abs(scale - FAMILY_LATENT_SCALES[family]) < 1e-3


def tiny_vae_dir(family: str, dirs: Sequence[Path], model: Path | None = None) -> Path | None:
    """The tiny VAE for a model: its own `vae_tiny` folder, else the installed one of its
    family (TAESD), unless the model's VAE has a latent space of its own; None if none."""
    base = family.split("-")[0].split("_")[0]
    if model is not None:
        own = Path(model) / OWN_TINY_VAE
        if (own / "config.json").is_file():
            return own
        if not _has_family_latents(Path(model), base):
            return None
    names = TINY_VAE_NAMES.get(base, ())
    for root in dirs:
        for sub in (Path(root), Path(root) / "vae-approx"):
            for name in names:
                folder = sub / name
                if (folder / "config.json").is_file():
                    return folder
    return None


_PINNED: dict[type, type] = {}


def _pinned_class(cls: type) -> type:
    """`cls` with the device and dtype read once, when Live's pipeline is made: diffusers
    finds them by walking every module of every part (several full walks per call,
    5-8 ms of a live job on this machine), and a live pipeline's parts do not move:
    loading another way unloads the model, and its warm parts with it."""
    if cls not in _PINNED:
        pinned = {
            name: property(lambda self, i=i: self._pinned[i])
            for i, name in enumerate(("_execution_device", "device", "dtype"))
        }
        _PINNED[cls] = type(cls.__name__, (cls,), {**pinned, "__qualname__": cls.__qualname__})
    return _PINNED[cls]


class WarmParts:
    """Schedulers, prompt embeddings and the tiny VAE of the loaded model."""

    def __init__(self) -> None:
        self._schedulers: dict[str, Any] = {}
        self._prompts: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._tiny_vae: dict[Path, Any] = {}
        self._live_pipes: dict[tuple[str, Path], Any] = {}
        self.prompt_encodings = 0  # how many times a prompt really went through the encoder

    def clear(self) -> None:
        self._schedulers.clear()
        self._prompts.clear()
        self._tiny_vae.clear()
        self._live_pipes.clear()

    def scheduler(self, name: str, base_config: Any) -> Any:
        """The sampler `name`, built once per model. Reusing it is safe: every diffusers
        scheduler resets its per-run state (step index, solver history) in set_timesteps,
        which each pipeline call starts with."""

        key = canonical_name(name)
        if key not in self._schedulers:
            self._schedulers[key] = make_scheduler(key, base_config)
        return self._schedulers[key]

    def _prompt_key(
        self, pipe: Any, prompt: str, negative: str, loras: tuple, is_xl: bool
    ) -> tuple:
        return (id(pipe.text_encoder), prompt, negative, tuple(loras), is_xl)

    def has_prompt(self, pipe: Any, prompt: str, negative: str, loras: tuple, is_xl: bool) -> bool:
        """Whether prompt_args has these embeddings already (no encoder call)."""
        return self._prompt_key(pipe, prompt, negative, loras, is_xl) in self._prompts

    def prompt_args(
        self, pipe: Any, prompt: str, negative: str, loras: tuple, is_xl: bool
    ) -> dict[str, Any]:
        """Pipeline keyword arguments carrying the prompt's embeddings, encoded once per
        (prompt, negative prompt, LoRA set): a LoRA may change the text encoder."""
        key = self._prompt_key(pipe, prompt, negative, loras, is_xl)
        cached = self._prompts.get(key)
        if cached is not None:
            self._prompts.move_to_end(key)
            return dict(cached)
        import torch  # torch: ~1.2 s to import, only when a job runs

        with torch.inference_mode():
            out = pipe.encode_prompt(
                prompt=prompt,
                device=pipe._execution_device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=True,
                negative_prompt=negative,
            )
        self.prompt_encodings += 1
        names = ["prompt_embeds", "negative_prompt_embeds"]
        if is_xl:
            names += ["pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
        # Tensors made under inference_mode cannot be saved for autograd; the pipelines
        # run under no_grad/inference_mode, so that is fine, but clone to be plain tensors.
        args = {n: t.clone() for n, t in zip(names, out, strict=False) if t is not None}
        self._prompts[key] = args
        while len(self._prompts) > PROMPT_CACHE_SIZE:
            self._prompts.popitem(last=False)
        return dict(args)

    def live_pipeline(self, pipe: Any, mode: str, vae_dir: Path | None) -> Any:
        """`pipe` with the tiny VAE in place of the full one (None: `pipe` itself). The
        swap lives on a pipeline of its own, so ordinary jobs keep the full VAE."""
        if vae_dir is None:
            return pipe
        key = (mode, vae_dir)
        if key not in self._live_pipes:
            from diffusers import AutoencoderTiny  # ~2 s to import: only for Live

            if vae_dir not in self._tiny_vae:
                vae = AutoencoderTiny.from_pretrained(str(vae_dir), local_files_only=True)
                vae = vae.to(pipe.device, dtype=pipe.unet.dtype).eval()
                self._tiny_vae[vae_dir] = fast_layout(vae)
                log.info("live previews decode with the tiny VAE in %s", vae_dir)

            from engine.local.live_unet import TracedUNet, worth_tracing  # torch: ~1.2 s, Live only

            # Live's own UNet stand-in runs a small UNet's steps traced (engine.local.live_unet).
            parts: dict[str, Any] = {"vae": self._tiny_vae[vae_dir]}
            if worth_tracing(pipe.unet):
                parts["unet"] = TracedUNet(pipe.unet)
            # The dtype keeps from_pipe from casting the shared modules to float32.
            live = type(pipe).from_pipe(pipe, **parts, **{dtype_keyword(): pipe.unet.dtype})
            live.set_progress_bar_config(disable=True)
            live._pinned = (live._execution_device, live.device, live.dtype)
            live.__class__ = _pinned_class(type(live))
            self._live_pipes[key] = live
        return self._live_pipes[key]
