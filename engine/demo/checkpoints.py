"""The demo model's training state on disk: progress, full checkpoints and EMA shards.

Both the trainer (engine.demo.train) and the re-export from shards (engine.demo.export)
read and write these, so they live apart from either.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Progress:
    vae_step: int = 0
    vae_done: bool = False  # the VAE phase ended (step count or time limit)
    unet_step: int = 0
    seconds: float = 0.0  # compute time over all chunks
    scaling_factor: float = 1.0
    device_log: list[str] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)


def state_tensors(models: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{k}.{n}": t.detach().float().cpu().contiguous()
        for k, m in models.items()
        for n, t in m.state_dict().items()
    }


def load_tensors(models: dict[str, Any], tensors: dict[str, Any]) -> None:
    for k, m in models.items():
        sub = {n[len(k) + 1 :]: t for n, t in tensors.items() if n.startswith(k + ".")}
        if sub:
            m.load_state_dict(sub)


def save_checkpoint(work: Path, raw: dict, ema: dict, opts: dict, progress: Progress) -> None:
    import torch
    from safetensors.torch import save_file

    work.mkdir(parents=True, exist_ok=True)
    tensors = state_tensors(raw)
    tensors.update(state_tensors({f"ema_{k}": m for k, m in ema.items()}))
    tmp = work / "weights.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, work / "weights.safetensors")
    torch.save({k: o.state_dict() for k, o in opts.items()}, work / "optimizer.pt.tmp")
    os.replace(work / "optimizer.pt.tmp", work / "optimizer.pt")
    (work / "progress.json").write_text(json.dumps(asdict(progress), indent=1))


def save_shards(folder: Path, ema: dict, progress: Progress, limit: int = 15_000_000) -> None:
    """EMA weights in float32 shards below `limit` bytes each, plus progress.json."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = state_tensors(ema)
    shard: dict[str, Any] = {}
    size, index = 0, 0
    for name in sorted(tensors):
        nbytes = tensors[name].numel() * 4
        if shard and size + nbytes > limit:
            save_file(shard, str(folder / f"ema-{index}.safetensors"))
            shard, size, index = {}, 0, index + 1
        shard[name] = tensors[name]
        size += nbytes
    save_file(shard, str(folder / f"ema-{index}.safetensors"))
    (folder / "progress.json").write_text(json.dumps(asdict(progress), indent=1))


def load_shards(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    tensors: dict[str, Any] = {}
    for path in sorted(folder.glob("ema-*.safetensors")):
        tensors.update(load_file(str(path)))
    return tensors
