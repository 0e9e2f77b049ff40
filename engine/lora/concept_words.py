"""New concept words: a token added to the tokenizer(s) with a trained embedding.

Pivotal tuning: when the concept word is not one token of the model's vocabulary (the demo
model knows only its caption words, so "star" would be read letter by letter), it becomes
a new token whose embedding row is trained together with the LoRA. The row lives in its own
small parameter and is swapped into the embedding output by a forward hook, so the text
encoder's own weights stay frozen and untouched.

In the LoRA file the embedding is stored the way A1111 and kohya bundle them:
`bundle_emb.WORD.string_to_param.*` (SD 1/2) or `bundle_emb.WORD.clip_l` and
`bundle_emb.WORD.clip_g` (SDXL), so one file carries the whole concept.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

BUNDLE_PREFIX = "bundle_emb."


def text_parts(pipe: Any) -> list[tuple[str, Any, Any]]:
    """(bundle key, tokenizer, text encoder) for each text encoder of the pipeline."""
    if getattr(pipe, "text_encoder_2", None) is not None:
        parts = [("clip_l", pipe.tokenizer, pipe.text_encoder)]
        parts.append(("clip_g", pipe.tokenizer_2, pipe.text_encoder_2))
        # SDXL refiners have only the second encoder.
        return [p for p in parts if p[1] is not None and p[2] is not None]
    return [("string_to_param.*", pipe.tokenizer, pipe.text_encoder)]


def is_known_word(tokenizer: Any, word: str) -> bool:
    return len(tokenizer(word, add_special_tokens=False).input_ids) == 1


class TrainableWord:
    """A new token in every tokenizer of `pipe`, its embedding rows trainable parameters."""

    def __init__(self, pipe: Any, word: str) -> None:
        import torch  # ~1.2 s to import: only when a job runs

        self.word = word
        self.params: list[Any] = []
        self._keys: list[str] = []
        self._hooks: list[Any] = []
        self._max_norms: list[float] = []
        for key, tokenizer, encoder in text_parts(pipe):
            # The starting row: the mean of the pieces the word was read as until now, so a
            # word the encoder half knows ("stars" in CLIP) starts near its meaning.
            old_ids = tokenizer(word, add_special_tokens=False).input_ids
            table = encoder.get_input_embeddings().weight
            start = table[old_ids].detach().float().mean(0).clone()
            if tokenizer.add_tokens([word]) != 1:
                raise ValueError(f"the tokenizer already has a token {word!r}")
            token_id = tokenizer.convert_tokens_to_ids(word)
            # The table's new row is never read (the hook replaces it): no mean resizing.
            encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            param = torch.nn.Parameter(start.to(table.device))
            self._hooks.append(
                encoder.get_input_embeddings().register_forward_hook(_substitute(token_id, param))
            )
            self.params.append(param)
            self._keys.append(key)
            self._max_norms.append(float(table.detach().float().norm(dim=1).max()))

    def limit_norm(self) -> None:
        """Pull each row back within the longest of its table's own rows.

        Left free, the row grows to several times any real word's (6x on the demo model
        in 300 steps) and drowns the words after it in the causal text encoder: "on the
        right" after the concept came out on the left. diffusers' pivotal-tuning script
        retracts new embeddings the same way."""
        import torch  # ~1.2 s to import: only when a job runs

        with torch.no_grad():
            for p, limit in zip(self.params, self._max_norms, strict=True):
                norm = float(p.norm())
                if norm > limit:
                    p.mul_(limit / norm)

    def state_dict(self) -> dict[str, Any]:
        return {
            f"{BUNDLE_PREFIX}{self.word}.{key}": p.detach().float().cpu()[None].contiguous()
            for key, p in zip(self._keys, self.params, strict=True)
        }

    def load_state_dict(self, tensors: dict[str, Any]) -> None:
        import torch  # ~1.2 s to import: only when a job runs

        with torch.no_grad():
            for key, p in zip(self._keys, self.params, strict=True):
                p.copy_(tensors[f"{BUNDLE_PREFIX}{self.word}.{key}"][0])

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()


def _substitute(token_id: int, param: Any):
    import torch  # ~1.2 s to import: only when a job runs

    def hook(_module: Any, inputs: tuple, output: Any) -> Any:
        hit = inputs[0] == token_id
        if not bool(hit.any()):
            return output
        return torch.where(hit[..., None], param.to(output.dtype), output)

    return hook


# ----------------------------------------------------------------------------------
# loading for generation


def bundled_words(tensors: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """WORD -> {bundle key: (n, dim) tensor} for the embeddings inside a LoRA state dict."""
    words: dict[str, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name.startswith(BUNDLE_PREFIX):
            word, _, key = name[len(BUNDLE_PREFIX) :].partition(".")
            words.setdefault(word, {})[key] = tensor
    return words


def load_words(pipe: Any, tensors: dict[str, Any]) -> list[str]:
    """Add the bundled words of a LoRA to the pipeline's tokenizers and text encoders."""
    loaded = []
    for word, keyed in bundled_words(tensors).items():
        for key, tokenizer, encoder in text_parts(pipe):
            tensor = keyed.get(key)
            if tensor is None and key == "string_to_param.*":
                tensor = next(iter(keyed.values()))
            if tensor is None:
                raise ValueError(f"no embedding for {word!r} in {key}")
            if word in tokenizer.get_vocab():
                raise ValueError(f"the word {word!r} is loaded already by another LoRA")
            pipe.load_textual_inversion(
                tensor.to(encoder.dtype)[0] if tensor.shape[0] == 1 else tensor,
                token=word,
                tokenizer=tokenizer,
                text_encoder=encoder,
            )
        loaded.append(word)
    return loaded


def unload_words(pipe: Any, words: list[str]) -> None:
    if not words:
        return
    for _key, tokenizer, encoder in text_parts(pipe):
        present = [w for w in words if w in tokenizer.get_vocab()]
        if present:
            pipe.unload_textual_inversion(present, tokenizer=tokenizer, text_encoder=encoder)
