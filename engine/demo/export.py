"""Write the trained demo model as a normal diffusers folder the engine loads like any other.

The folder gets float16 safetensors (the engine converts to float32 on CPU), the caption
tokenizer, the scheduler config the model was trained with (v-prediction, trailing
timesteps, zero-terminal-SNR), `overpaint.json` (display name, native resolution),
`training.json` (steps, compute time, quality curve) and a README with those figures.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine.demo import architecture as arch
from engine.demo.dataset import all_words
from engine.demo.tokenizer import write_vocab_files

DISPLAY_NAME = "Overpaint demo (shapes)"


def export_model(pipe: Any, folder: Path, progress: Any, metrics: dict | None = None) -> Path:
    """Save `pipe` (kept untouched) in float16 to `folder` with Overpaint's metadata."""
    import torch
    from diffusers import StableDiffusionPipeline

    # The text encoder is tiny and stays float32: transformers 5 loads weights in their
    # stored dtype unless told otherwise, and half-precision layers fail on CPU.
    dtypes = {"vae": torch.float16, "text_encoder": torch.float32, "unet": torch.float16}
    parts = {
        name: copy.deepcopy(getattr(pipe, name)).to("cpu", dtype) for name, dtype in dtypes.items()
    }
    out = StableDiffusionPipeline(
        tokenizer=pipe.tokenizer,
        scheduler=arch.build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        **parts,
    )
    folder.mkdir(parents=True, exist_ok=True)
    out.save_pretrained(str(folder), safe_serialization=True)
    # CLIP's own file format beside transformers' tokenizer.json, for any other loader.
    write_vocab_files(folder / "tokenizer", all_words())
    meta = {"display_name": DISPLAY_NAME, "native_resolution": arch.NATIVE_RESOLUTION}
    (folder / "overpaint.json").write_text(json.dumps(meta, indent=2) + "\n")
    record = asdict(progress) if not isinstance(progress, dict) else dict(progress)
    record["parameters"] = {
        "vae": arch.parameter_count(pipe.vae),
        "unet": arch.parameter_count(pipe.unet),
        "text_encoder": arch.parameter_count(pipe.text_encoder),
    }
    if metrics is not None:
        record["final_metrics"] = metrics
    (folder / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return folder


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    """Rebuild the model folder from EMA shards (from a training run on another machine)."""
    import argparse

    import torch
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    from engine.demo.tokenizer import write_tokenizer
    from engine.demo.train import Progress, _load, load_shards

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--shards", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, help="metrics.json of the final evaluation")
    args = parser.parse_args(argv)
    tok_dir = write_tokenizer(args.out / "tokenizer", all_words())
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    models = {"vae": arch.build_vae(), "unet": arch.build_unet()}
    models["text"] = arch.build_text_encoder(tokenizer)
    _load(models, load_shards(args.shards))
    progress = Progress(**json.loads((args.shards / "progress.json").read_text()))
    models["vae"].register_to_config(scaling_factor=progress.scaling_factor)
    pipe = StableDiffusionPipeline(
        vae=models["vae"],
        text_encoder=models["text"],
        tokenizer=tokenizer,
        unet=models["unet"],
        scheduler=arch.build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    with torch.no_grad():
        export_model(pipe, args.out, progress, metrics)
    print(f"{args.out}: {folder_size(args.out) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
