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
from engine.demo.checkpoints import Progress, load_shards, load_tensors
from engine.demo.dataset import all_words
from engine.demo.tokenizer import write_tokenizer, write_vocab_files

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
    (folder / "README.md").write_text(readme(record), encoding="utf-8")
    return folder


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def readme(record: dict) -> str:
    """The model folder's README: what it is, its sizes, its training and its quality."""
    p = record["parameters"]
    total = sum(p.values())
    lines = [
        f"# {DISPLAY_NAME}",
        "",
        "A small text-to-image model that Overpaint trains itself, from scratch, on procedural",
        "pictures (engine/demo/dataset.py): a flat background with one or two circles, squares",
        "or triangles in eight colours (red, green, blue, yellow, orange, purple, white,",
        "black), on the left/right/top/bottom/centre, small or large. It understands captions",
        'such as "a large red circle on the left, blue background" (shorter ones too) and',
        "nothing else: it cannot draw people, scenes or textures. It is a normal diffusers",
        "StableDiffusionPipeline folder, so the engine runs txt2img, img2img and inpainting",
        "with it exactly as with any Stable Diffusion 1.x model.",
        "",
        "## Architecture",
        "",
        f"- native resolution {arch.NATIVE_RESOLUTION} px (latent {arch.NATIVE_RESOLUTION // 8}x"
        f"{arch.NATIVE_RESOLUTION // 8}x{arch.LATENT_CHANNELS}); trained at 128, 192 and 256 px",
        f"- VAE (AutoencoderKL, x8, channels {list(arch.VAE_CONFIG['block_out_channels'])}, "
        f"8 norm groups, no attention): {p['vae'] / 1e6:.2f}M parameters",
        f"- UNet (UNet2DConditionModel, channels {list(arch.UNET_CONFIG['block_out_channels'])}, "
        f"1 layer per block, heads {list(arch.UNET_CONFIG['attention_head_dim'])}, "
        f"8 norm groups): {p['unet'] / 1e6:.2f}M parameters",
        f"- text encoder (CLIPTextModel, {arch.TEXT_CONFIG['num_hidden_layers']} layers, "
        f"width {arch.TEXT_WIDTH}, {arch.MAX_TOKENS} tokens) with a caption-sized CLIP BPE "
        f"tokenizer (tokenizer/vocab.json + merges.txt): {p['text_encoder'] / 1e6:.2f}M "
        "parameters",
        f"- total {total / 1e6:.2f}M parameters; UNet and VAE stored as float16, the text "
        "encoder as float32 (load with torch_dtype=float32 on CPU)",
        "- scheduler: v-prediction, zero-terminal-SNR betas (rescale_betas_zero_snr),",
        "  trailing timestep spacing; keep these three keys when swapping samplers",
        "",
        "## Training",
        "",
        f"- VAE: {record['vae_step']} steps (batch 64, MSE + 0.1 L1 + 1e-6 KL); "
        f"latent scaling factor {record['scaling_factor']:.4f}",
        f"- UNet + text encoder: {record['unet_step']} steps of AdamW with EMA 0.999, "
        "10% empty captions for classifier-free guidance, on fixed pools of 120k/24k/30k "
        "pictures at 128/192/256 px drawn 60/15/25% of the steps (batch as below at 128 px, "
        "times (128/size)^2 at larger sizes); every chunk's random draws are seeded by step",
        f"- total compute time {record['seconds'] / 60:.1f} min, in chunks:",
        *[f"  - {entry}" for entry in record["device_log"]],
        "- reproduce: `python -m engine.demo.train --work runs/demo --until SECONDS` (repeat to",
        "  resume), then `--export resources/models/overpaint-demo`",
        "",
        "## Quality (python -m engine.demo.evaluate)",
        "",
        "100 held-out captions (shape/colour/position/background combinations the training",
        "sampler never drew), Euler a, 20 steps, CFG 7, judged by pixel statistics.",
        "",
        "| UNet step | compute s | shape colour | background | position | shape type | one shape |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in record["curve"]:
        lines.append(
            f"| {c['unet_step']} | {c['seconds']:.0f} | {_pct(c['colour'])} | "
            f"{_pct(c['background'])} | {_pct(c['position'])} | {_pct(c['kind'])} | "
            f"{_pct(c['single'])} |"
        )
    if record.get("final_metrics"):
        lines += [
            "",
            "Final model (targets: colour >= 90%, background >= 90%, position >= 75%, type >= 70%):",
        ]
        lines += quality_lines(record["final_metrics"])
    checks = record.get("verification")
    if checks:
        lines += ["", "Re-checks of the shipped folder (float16 files loaded as float32):", ""]
        lines += [f"- {c}" for c in checks]
    if record.get("regions_fine_tune"):
        lines += regions_lines(record["regions_fine_tune"])
    if record.get("vae_tiny"):
        lines += tiny_vae_lines(record["vae_tiny"])
    return "\n".join(lines) + "\n"


def quality_lines(m: dict) -> list[str]:
    """engine.demo.evaluate's figures (native, 2x, img2img, inpaint) as README lines."""
    n, d, i, q = m["native"], m["double"], m["img2img"], m["inpaint"]
    return [
        "",
        f"- native {arch.NATIVE_RESOLUTION} px: shape colour {_pct(n['colour'])}, background "
        f"{_pct(n['background'])}, position {_pct(n['position'])}, shape type {_pct(n['kind'])}",
        f"- 2x native ({2 * arch.NATIVE_RESOLUTION} px, 50 captions): exactly one shape in "
        f"{_pct(d['single'])}; colour {_pct(d['colour'])}, position {_pct(d['position'])}, "
        f"type {_pct(d['kind'])}",
        f"- img2img from a blob sketch (strength 0.7, 50 captions): colour {_pct(i['colour'])}, "
        f"position {_pct(i['position'])}, background {_pct(i['background'])}; shape type "
        f"{_pct(i['kind'])} after vs {_pct(i['sketch_kind'])} in the sketch",
        f"- inpaint right half with another colour (50 captions): new colour in "
        f"{_pct(q['right_follows_prompt'])}; the unmasked half differs by "
        f"{q['left_mean_abs_diff']:.1f}/255 on average before Overpaint composites the "
        "original back (after compositing it is bit-identical)",
    ]


def regions_lines(r: dict) -> list[str]:
    """The README's section on the regional fine-tune (engine.demo.train_regions), whose
    UNet (and text encoder, unless the run froze it) are the ones in this folder."""
    both = r.get("train_text_encoder") is not False
    lines = [
        "",
        "## Regional fine-tune (the UNet "
        + (
            "and text encoder in this folder)"
            if both
            else "in this folder; the text encoder is the one above)"
        ),
        "",
        f"- `python -m engine.demo.train_regions{'' if both else ' --freeze-text-encoder'}`: "
        f"{r['step']} steps of AdamW (batch 32 at "
        "128 px, lr 1.5e-4, EMA 0.99) from the model above, trained through the engine's "
        "masked cross-attention (engine.regions.attention) on scenes of two or three shapes "
        "with one region prompt each, 60% of the steps; the rest replays the original "
        f"scenes ({r['note']}); {r['seconds'] / 60:.0f} min on a 2-core CPU, in chunks:",
        *[f"  - {entry}" for entry in r["log"]],
        "- reproduce: `python -m engine.demo.train_regions --work runs/regions --until SECONDS"
        f"{'' if both else ' --freeze-text-encoder'}`",
        "  (repeat to resume), then `--export resources/models/overpaint-demo`; retrain the",
        "  scribble ControlNet on the result (engine.demo.train_control)",
    ]
    if r.get("regions"):
        g = r["regions"]
        lines += [
            "",
            f"Held-out regional layouts (python -m engine.demo.evaluate_regions, "
            f"{g['count_per_layout']} of each kind, {g['size']} px, {g['steps']} steps; a "
            "layout is right when every region shows its colour and kind):",
            "",
            "| | " + " | ".join(g["regions, scene root"]) + " |",
            "| --- |" + " --- |" * len(g["regions, scene root"]),
        ]
        for key, rates in g.items():
            if isinstance(rates, dict):
                lines.append(
                    f"| {key} | " + " | ".join(_pct(v["both"]) for v in rates.values()) + " |"
                )
        if r.get("regions_before"):
            lines += ["", f"Before the fine-tune: {r['regions_before']}"]
    if r.get("quality"):
        lines += ["", "Single shapes after the fine-tune (python -m engine.demo.evaluate):"]
        lines += quality_lines(r["quality"])
    return lines


def _judged(rates: dict) -> str:
    return (
        f"colour {_pct(rates['colour'])}, position {_pct(rates['position'])}, "
        f"background {_pct(rates['background'])}, type {_pct(rates['kind'])}"
    )


def tiny_vae_lines(t: dict) -> list[str]:
    """The README's section on vae_tiny (engine.demo.tiny_vae) from its training record."""
    c, a, live = t["config"], t["metrics"]["autoencoder"], t["metrics"]["live"]
    lines = [
        "",
        "## Tiny VAE (vae_tiny/, for Live)",
        "",
        f"- AutoencoderTiny, {c['encoder_block_out_channels'][0]} channels, encoder blocks "
        f"{c['num_encoder_blocks']}, decoder blocks {c['num_decoder_blocks']}: "
        f"{t['parameters'] / 1e3:.0f}k parameters, float16; the engine's Live jobs encode and "
        "decode with it (the model's own tiny VAE wins over an installed TAESD, whose latent "
        "space is SD's)",
        f"- distilled from the VAE above: {t['steps']} steps of Adam (batch {t['batch']} crops "
        f"of {t['crop']} px) towards the VAE's scaled latents and its decodes of "
        f"{t['pool']['scenes']} training scenes and {t['pool']['sketches']} blob sketches at "
        f"{t['pool']['size']} px, and its decodes of the UNet's latents of "
        f"{t['pool']['live_latents']} Live-like refines (strength "
        f"{t['pool']['live_strengths'][0]}-{t['pool']['live_strengths'][1]}), the loss "
        f"weighted x{1 + t['edge_weight']:g} near edges; "
        f"{(t['train_seconds'] + t['pool_seconds']) / 60:.0f} min on "
        f"{t['threads']} CPU thread; reproduce with `python -m engine.demo.tiny_vae --steps "
        f"{t['steps']} --export resources/models/overpaint-demo` (again whenever the VAE changes)",
        f"- {a['pictures']} held-out scenes: tiny decode vs full decode "
        f"{a['tiny_decode_vs_full_decode_psnr']['mean']:.1f} dB PSNR (full decode vs the "
        f"picture {a['full_decode_vs_picture_psnr']['mean']:.1f} dB); tiny encode + full decode "
        f"vs the full round trip {a['tiny_encode_full_decode_vs_full_round_trip_psnr']['mean']:.1f}"
        " dB (python -m engine.demo.evaluate_tiny_vae)",
        f"- Live setting (img2img strength {live['setting']['strength']}, "
        f"{live['setting']['denoise_steps']} steps, CFG {live['setting']['guidance']:g}, "
        f"{live['setting']['scheduler']}) on {live['sketches']} held-out blob sketches: full VAE "
        f"{_judged(live['full_vae'])}; tiny VAE {_judged(live['tiny_vae'])}; the two differ by "
        f"{live['tiny_vs_full_psnr']['mean']:.1f} dB PSNR",
    ]
    for timing in t.get("live_timing", ()):
        lines.append(
            f"- one Live job at {timing['size']} px through the engine ({timing['precision']}, "
            f"{timing['threads']} CPU thread, median of {timing['rounds']} interleaved, "
            f"{timing['machine']}): {timing['full_vae']:.3f} s with the full VAE, "
            f"{timing['tiny_vae']:.3f} s with the tiny one "
            "(`python -m engine.demo.evaluate_tiny_vae --time 21`)"
        )
    return lines


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    """Rebuild the model folder from EMA shards (from a training run on another machine)."""
    import argparse

    import torch
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--shards", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, help="metrics.json of the final evaluation")
    args = parser.parse_args(argv)
    tok_dir = write_tokenizer(args.out / "tokenizer", all_words())
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    models = {"vae": arch.build_vae(), "unet": arch.build_unet()}
    models["text"] = arch.build_text_encoder(tokenizer)
    load_tensors(models, load_shards(args.shards))
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
