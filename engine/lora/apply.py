"""Applying LoRAs to a loaded pipeline: exactly the requested set, checked to fit first.

The set applied is recorded on the denoiser (the UNet, or the transformer families'
transformer), which every from_pipe pipeline shares, so a mode switch keeps it and a
repeat of the same set costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.core.errors import ModelError
from engine.lora.families import check_family
from engine.lora.file import denoiser, load_lora_file, unload_lora_files
from engine.lora.library import check_width, find_lora, inspect_lora
from engine.models import ModelInfo

log = logging.getLogger(__name__)


def apply_loras(
    pipe: Any,
    loras: Sequence[tuple[str, float]],
    extra_dirs: Sequence[Path] = (),
    model_name: str = "",
    model: ModelInfo | None = None,
) -> None:
    """Load exactly `loras` (name, weight) into the pipeline, unloading previous ones.
    `model`: the loaded model, whose family each LoRA must be made for."""
    # Every named LoRA must exist and fit this model (one sentence otherwise), even at
    # weight 0; a weight-0 one is then left out, so it gives the pixels of no LoRA.
    unet = getattr(pipe, "unet", None)
    width = getattr(unet.config, "cross_attention_dim", None) if unet is not None else None
    for name, _weight in loras:
        info = inspect_lora(find_lora(str(name), extra_dirs))
        if model is not None:
            check_family(info.path, model)
        check_width(info, width, model_name or "loaded")
    wanted = tuple((str(n), float(w)) for n, w in loras if float(w) != 0.0)
    # Tracked on the denoiser: every from_pipe pipeline shares it, so the state is common.
    holder = denoiser(pipe)
    if getattr(holder, "_overpaint_loras", ()) == wanted:
        return
    if getattr(holder, "_overpaint_loras", ()):
        unload_lora_files(pipe)
    holder._overpaint_loras = ()
    if not wanted:
        return
    try:
        names = []
        for i, (name, _weight) in enumerate(wanted):
            path = find_lora(name, extra_dirs)
            if path.suffix.lower() != ".safetensors":
                raise ModelError(f"LoRA {path} is not a .safetensors file; pickles are refused.")
            adapter = f"lora{i}"
            try:
                # A trained concept's LoRA carries its new word's embedding too.
                load_lora_file(pipe, path, adapter)
            except Exception as e:
                log.exception("loading LoRA %s failed", path)
                raise ModelError(
                    f"Cannot apply LoRA {path.name}: it does not fit this model or is damaged "
                    "(details are in the log)."
                ) from e
            names.append(adapter)
        pipe.set_adapters(names, adapter_weights=[w for _n, w in wanted])
    except BaseException:
        # Leave no half-applied set behind: the recorded state says "no LoRA".
        unload_lora_files(pipe)
        raise
    holder._overpaint_loras = wanted
