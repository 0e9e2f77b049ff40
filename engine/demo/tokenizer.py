"""A small CLIP BPE tokenizer for the demo model's caption vocabulary.

The files have the same format as CLIP's (vocab.json + merges.txt), so
`CLIPTokenizer.from_pretrained(folder)` loads them like any SD tokenizer. The vocabulary
holds CLIP's 512 byte-level base symbols (so any prompt still tokenizes, letter by letter),
one merge chain per caption word and the two special tokens: 609 entries instead of CLIP's
49,408 keep the text encoder tiny. BPE applies merges by rank, so where chains of different
words collide a word ends in a few pieces ("orange", "triangle"); the shipped weights were
trained on exactly this split, so the builder must stay as it is for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"


def _bytes_to_unicode() -> list[str]:
    """CLIP/GPT-2's reversible byte -> printable character table, in CLIP's order."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def build_vocab(words: Iterable[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merge list that turn each of `words` into a single token."""
    base = _bytes_to_unicode()
    tokens = base + [c + "</w>" for c in base]
    merges: list[tuple[str, str]] = []
    seen = set(tokens)
    for word in words:
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        current = symbols[0]
        for symbol in symbols[1:]:
            pair = (current, symbol)
            current += symbol
            if current not in seen:
                merges.append(pair)
                tokens.append(current)
                seen.add(current)
    tokens += [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


def write_vocab_files(folder: Path, words: Iterable[str]) -> None:
    """vocab.json + merges.txt in CLIP's format."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab(words)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_tokenizer(folder: Path, words: Iterable[str], model_max_length: int = 77) -> Path:
    """Write a CLIPTokenizer folder for `words` and return it."""
    write_vocab_files(folder, words)
    # Written by hand: with transformers 5, CLIPTokenizer(vocab_file=...) silently builds a
    # 3-token vocabulary, so the folder must be complete for from_pretrained on its own.
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "do_lower_case": True,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "errors": "replace",
        "clean_up_tokenization_spaces": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    return folder
