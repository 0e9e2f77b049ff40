"""The trained LoRA as one .safetensors file, and loading such a file for generation.

Keys follow diffusers/peft (`unet.<module>.lora_A.weight`, `text_encoder.<module>...`),
which diffusers' `load_lora_weights` reads and kohya/A1111 converters know; a new concept
word rides along as `bundle_emb.WORD...` (see concept_words). The header metadata uses
kohya's `ss_*` names for what other tools show (rank, alpha, steps, base model), plus
`overpaint_concept`.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from safetensors import safe_open

from engine.lora.concept_words import BUNDLE_PREFIX, load_words, unload_words
from engine.lora.families import normalise

log = logging.getLogger(__name__)


def lora_state(unet: Any, text_encoders: dict[str, Any]) -> dict[str, Any]:
    """The LoRA weights of the UNet (and trained text encoders) under diffusers' prefixes."""
    from peft.utils import get_peft_model_state_dict  # peft: ~4 s to import, training only

    tensors = {f"unet.{k}": v for k, v in get_peft_model_state_dict(unet).items()}
    for prefix, encoder in text_encoders.items():
        tensors.update({f"{prefix}.{k}": v for k, v in get_peft_model_state_dict(encoder).items()})
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def save_lora(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write atomically: a half-written LoRA must never sit where the panel lists LoRAs."""
    from safetensors.torch import save_file  # loads torch (~1.2 s): only when saving

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
    tmp.replace(path)


def read_metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def base_model_hash(model_path: Path) -> str:
    """sha256[:10] of a single-file model, or of a diffusers folder's UNet weights."""
    path = Path(model_path)
    if path.is_dir():
        candidates = sorted((path / "unet").glob("*.safetensors")) or sorted(
            (path / "unet").glob("*.bin")
        )
        if not candidates:
            return ""
        path = candidates[0]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:10]


# ----------------------------------------------------------------------------------
# loading (engine.lora.apply.apply_loras calls these)


def denoiser(pipe: Any) -> Any:
    """The network LoRAs patch: the UNet, or the transformer families' transformer."""
    unet = getattr(pipe, "unet", None)
    return unet if unet is not None else pipe.transformer


def load_lora_file(pipe: Any, path: Path, adapter: str) -> None:
    """diffusers' load_lora_weights, plus the concept words bundled in the file."""
    from safetensors.torch import load_file  # loads torch (~1.2 s): only when a job runs

    tensors = load_file(str(path))
    words = {k: v for k, v in tensors.items() if k.startswith(BUNDLE_PREFIX)}
    lora = {k: v for k, v in tensors.items() if not k.startswith(BUNDLE_PREFIX)}
    if words:
        added = load_words(pipe, words)
        # Tracked on the UNet like apply_loras' own state: every from_pipe pipeline shares it.
        pipe.unet._overpaint_words = tuple(getattr(pipe.unet, "_overpaint_words", ())) + tuple(
            added
        )
    if lora:
        pipe.load_lora_weights(normalise(lora), adapter_name=adapter)


def unload_lora_files(pipe: Any) -> None:
    """Undo every load_lora_file: adapters and bundled words."""
    pipe.unload_lora_weights()
    holder = denoiser(pipe)
    words = list(getattr(holder, "_overpaint_words", ()))
    holder._overpaint_words = ()
    unload_words(pipe, words)
