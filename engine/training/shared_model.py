"""Training on the model the window already has loaded, without loading a second copy.

Training changes a pipeline's structure: peft wraps the UNet's projections in LoRA layers,
a new concept word resizes the text encoder's embedding table and grows the tokenizer,
and the UNet is put in train mode. None of that may reach the pipeline the generation
engine keeps using meanwhile. So training gets a *structural* copy: every module, config,
tokenizer and scheduler is copied, but the weight tensors are the loaded ones, shared
(deepcopy with the tensors pre-entered in its memo). The copy costs milliseconds and no
weight memory. The frozen weights are only ever read by training (the LoRA factors and
the new word's row are separate tensors), and the trainer never casts modules in place.
The one exception is the text encoders' token tables: transformers' resize_token_embeddings
swaps a grown table into the *old* parameter's `.data`, so those tables (a few MB to
~130 MB for SDXL in fp16) are real copies.

Borrowing is refused, and training loads its own copy, when the loaded pipeline is not a
plain one for the same device and precision: LoRAs applied (their layers would be
trained on), CPU offload hooks, or a precision training would not use (fp16 on CUDA,
where training uses bf16 for want of loss scaling; on a CPU, bf16 where training resolves
fp32, as under auto for the demo model (settings.cpu_precision), or the other way round).
Training keeps the frozen weights in the dtype it computes in, so a model the engine holds
in bf16 on a CPU is lent as it is to a bf16 run.
"""

from __future__ import annotations

import copy
import itertools
import logging
from pathlib import Path
from typing import Any

from engine.core.precision import SHORT

log = logging.getLogger(__name__)


def shared_copy(pipe: Any) -> Any:
    """A copy of `pipe` whose modules are new objects holding the same weight tensors."""
    import torch  # torch: ~1.2 s to import, only when training runs

    memo: dict[int, Any] = {}
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            for tensor in itertools.chain(component.parameters(), component.buffers()):
                memo[id(tensor)] = tensor
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, name, None)
        if encoder is not None:
            memo.pop(id(encoder.get_input_embeddings().weight), None)
    return copy.deepcopy(pipe, memo)


def borrowable(pipe: Any, dtype: str, device: str) -> str | None:
    """Why `pipe` cannot lend its weights to training, or None when it can."""
    import torch  # torch: ~1.2 s to import, only when training runs

    unet = getattr(pipe, "unet", None)
    if unet is None:
        return "it has no UNet"
    if getattr(unet, "_overpaint_loras", ()) or getattr(unet, "peft_config", None):
        return "LoRAs are applied to the loaded model"
    if getattr(unet, "_hf_hook", None) is not None:
        return "the loaded model is offloaded to the CPU piece by piece"
    if unet.dtype != getattr(torch, dtype) or unet.device.type != torch.device(device).type:
        have, want = str(unet.dtype).removeprefix("torch."), SHORT.get(dtype, dtype)
        return (
            f"the loaded model is {SHORT.get(have, have)} on {unet.device.type}, "
            f"training wants {want} on {torch.device(device).type}"
        )
    return None


def borrow(
    engine: Any, model: str, device: str | None = None, precision: str = "auto"
) -> Any | None:
    """A shared copy of `engine`'s loaded pipeline when it is `model` in the dtype training
    would load it in (`device`, `precision`: TrainingSettings'), else None.

    Call it on the engine's own thread (an engine task), between jobs: a job may be
    applying LoRAs or wrapping the UNet's forward, and the copy must not see that."""
    from engine.models import resolve_model  # cheap: to be hoisted (issue 23)
    from engine.training.settings import cpu_precision  # cheap: to be hoisted (issue 23)
    from engine.training.trainer import training_policy

    loaded = engine.loaded_pipeline() if hasattr(engine, "loaded_pipeline") else None
    if loaded is None:  # nothing loaded, or a ComfyUI engine (no local weights)
        return None
    info, base = loaded
    wanted = resolve_model(model, getattr(engine, "extra_dirs", ()))
    if wanted.path.resolve() != Path(info.path).resolve():
        log.info("training loads %s: the window has %s loaded", wanted.name, info.name)
        return None
    policy = training_policy(wanted.family, device, cpu_precision(precision, wanted.native_size))
    why = borrowable(base, policy.dtype, policy.device)
    if why is not None:
        log.info("training loads its own copy of %s: %s", info.name, why)
        return None
    return shared_copy(base)
