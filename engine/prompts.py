"""Prompts longer than CLIP's 77-token window.

SD 1.x/2.x: the prompt is split into 75-token chunks, each wrapped in BOS/EOS and encoded
separately, and the embeddings are concatenated (the AUTOMATIC1111 approach), so nothing
is cut. SDXL: its two encoders and pooled embedding make chunking a different model
behaviour, so the prompt is left to the pipeline and the user is warned instead.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)


def token_count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, truncation=False, add_special_tokens=False, verbose=False).input_ids)


def _chunk_ids(tokenizer: Any, text: str, n_chunks: int) -> list[list[int]]:
    window = tokenizer.model_max_length
    body = window - 2
    ids = tokenizer(text, truncation=False, add_special_tokens=False, verbose=False).input_ids
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    chunks = []
    for k in range(n_chunks):
        part = ids[k * body : (k + 1) * body]
        row = [tokenizer.bos_token_id, *part, tokenizer.eos_token_id]
        chunks.append(row + [pad] * (window - len(row)))
    return chunks


def long_prompt_embeds(pipe: Any, prompt: str, negative: str) -> tuple[Any, Any] | None:
    """(prompt_embeds, negative_prompt_embeds) when a prompt overflows; None if it fits."""
    import torch  # ~1.2 s to import: only when a job runs

    tokenizer, encoder = pipe.tokenizer, pipe.text_encoder
    body = tokenizer.model_max_length - 2
    longest = max(token_count(tokenizer, prompt), token_count(tokenizer, negative))
    if longest <= body:
        return None
    n_chunks = math.ceil(longest / body)
    log.info("prompt of %d tokens encoded in %d chunks", longest, n_chunks)
    device = pipe._execution_device
    out = []
    for text in (prompt, negative):
        ids = torch.tensor(_chunk_ids(tokenizer, text, n_chunks), device=device)
        with torch.no_grad():
            hidden = encoder(ids)[0]  # (n_chunks, window, dim)
        out.append(hidden.reshape(1, -1, hidden.shape[-1]).to(dtype=encoder.dtype))
    return out[0], out[1]


def xl_prompt_warning(pipe: Any, prompt: str, negative: str) -> str | None:
    tokenizer = pipe.tokenizer
    body = tokenizer.model_max_length - 2
    for label, text in (("prompt", prompt), ("negative prompt", negative)):
        n = token_count(tokenizer, text)
        if n > body:
            return (
                f"The {label} has {n} tokens; SDXL models read only the first {body}, "
                "so the rest was ignored."
            )
    return None
