"""Seeded, resumable training of a scribble ControlNet for the demo model.

Data: the demo dataset's shapes (kind, colour, background) at ANY position and size, not
only the five named anchors, each paired with an outline scribble of the shape: white
strokes on black, with jittered vertices, broken strokes and sometimes a doubled line.
Captions name kind, colour and background but never a position: where the shape goes is
the scribble's to say. The demo model (VAE, UNet, text encoder) stays frozen; only the
ControlNet (made from the demo UNet, its zero convolutions starting at zero) learns, with
the demo model's own objective (v-prediction, zero-terminal-SNR schedule). Every random
draw of step N is seeded by (seed, N), so a run cut into chunks sees the same batches.

    nice -n 19 python -m engine.demo.train_control --work runs/scribble --minutes 30
    python -m engine.demo.train_control --work runs/scribble --export DIR   # no training

`--work` holds the checkpoint (ControlNet weights, optimizer, step); run the same command
again to resume. A new --work with `--init DIR` continues from an exported control (its
overpaint.json holds the step), with a fresh optimizer. `--export` writes a diffusers
ControlNet folder in fp16 (a few MB): resources/models/controlnet/overpaint-demo-scribble.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from engine.demo.chunks import chunk_arguments, train_chunk
from engine.demo.dataset import ANCHORS, COLOURS, KINDS, PALETTE

log = logging.getLogger("engine.demo.train_control")
DEMO_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "overpaint-demo"
SIZE = 128  # the demo model's native size
RADIUS = (0.09, 0.26)  # shape half-side as a fraction of the picture side
# Sample index from which captions may be empty or name another kind (steps 0-299 of the
# shipped run, batch 16, had only matching captions).
LINES_WIN_FROM = 300 * 16
# From step 960 on, 40% of captions name another kind (20% before): at CFG 7 the caption's
# kind still beat a square scribble in 9 of 10 held-out cases at step 900.
MORE_DISAGREEMENT_FROM = 960 * 16
# From step 1672 on (the first shipped file), 60% of captions name another kind and the
# noise levels lean towards the noisy end, where the shape is decided (the cubic draw of
# the T2I-Adapter SDXL recipe): at step 1672 a square scribble under a "circle" caption
# still came out round in 92% of held-out cases, even at control strength 3.
CORNERS_FROM = 1672 * 16
# At lr 2e-4 the share of squares swung between 56% and 84% from one save to the next;
# the mean of the weights saved between steps 3509 and 3686 (lr 1e-4) gave 90%. So from
# AVERAGE_FROM the weights after every AVERAGE_EVERY-th step are averaged, and the
# average is what --export writes (the stochastic weight averaging of Izmailov et al.).
AVERAGE_FROM = 3900
AVERAGE_EVERY = 10
HELDOUT_SEED = 987_654_321  # evaluation scenes; training draws from (seed, index) streams


@dataclass(frozen=True)
class ControlScene:
    """One shape anywhere: kind, colour, background, centre (cx, cy) and half-side r,
    all as fractions of the picture side."""

    background: str
    colour: str
    kind: str
    r: float
    cx: float
    cy: float

    def prompt(self) -> str:
        """Kind, colour and background; never a position."""
        return f"a {self.colour} {self.kind}, {self.background} background"


def _draw_scene(rng: np.random.Generator) -> ControlScene:
    background = COLOURS[rng.integers(len(COLOURS))]
    colour = [c for c in COLOURS if c != background][rng.integers(len(COLOURS) - 1)]
    kind = KINDS[rng.integers(len(KINDS))]
    r = rng.uniform(*RADIUS)
    return ControlScene(background, colour, kind, r, rng.uniform(r, 1 - r), rng.uniform(r, 1 - r))


def render_scene(
    scene: ControlScene, rng: np.random.Generator, size: int = SIZE, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(picture HxWx3, scribble HxWx3) of `scene`; `kind` overrides the scribbled shape."""
    ss = 2
    side = size * ss
    picture = Image.new("RGB", (side, side), PALETTE[scene.background])
    outline = _outline(scene.kind, scene.cx * side, scene.cy * side, scene.r * side)
    ImageDraw.Draw(picture).polygon(outline, fill=PALETTE[scene.colour])
    if kind is not None:
        outline = _outline(kind, scene.cx * side, scene.cy * side, scene.r * side)
    return np.asarray(picture.reduce(ss)), _scribble(outline, size, ss, rng)


def control_sample(seed: int, index: int, size: int = SIZE) -> tuple[np.ndarray, str, np.ndarray]:
    """Training sample `index`: (picture HxWx3, caption, scribble HxWx3)."""
    rng = np.random.default_rng([seed, index, size])
    scene = _draw_scene(rng)
    words = ["a"] if rng.random() < 0.8 else []
    if rng.random() < 0.3:
        words.append("large" if scene.r > 0.17 else "small")
    text = " ".join([*words, scene.colour, scene.kind])
    if rng.random() < 0.85:
        text += f", {scene.background} background"
    picture, scribble = render_scene(scene, rng, size)
    if index >= LINES_WIN_FROM:
        # The ControlNet recipe's empty prompts, plus captions naming another kind: the
        # caption alone must never be enough, so the lines win where the two disagree.
        draw = rng.random()
        disagree = 0.6 if index >= MORE_DISAGREEMENT_FROM else 0.4
        if index >= CORNERS_FROM:
            disagree = 0.8
        if draw < 0.2:
            text = ""
        elif draw < disagree:
            other = [k for k in KINDS if k != scene.kind][draw < (0.2 + disagree) / 2]
            text = text.replace(scene.kind, other)
    return picture, text, scribble


def heldout_scenes(count: int, seed: int = HELDOUT_SEED) -> list[ControlScene]:
    """Scenes the training sampler never drew (another seed stream), with centres at least
    0.1 of the side away from every named position, so no caption could place them."""
    scenes: list[ControlScene] = []
    rng = np.random.default_rng(seed)
    while len(scenes) < count:
        scene = _draw_scene(rng)
        if all(np.hypot(scene.cx - ax, scene.cy - ay) >= 0.1 for ax, ay in ANCHORS.values()):
            scenes.append(scene)
    return scenes


def _outline(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if kind == "circle":
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
    if kind == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]


def _scribble(
    outline: list[tuple[float, float]], size: int, ss: int, rng: np.random.Generator
) -> np.ndarray:
    """The outline as a hand would sketch it: resampled, wobbling, sometimes broken,
    sometimes traced twice; white on black, HxWx3."""
    pts = np.array(outline + outline[:1], np.float64) / ss
    dense = []
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        n = max(2, int(np.hypot(*(b - a)) / 3))
        dense.extend(a + (b - a) * t for t in np.linspace(0, 1, n, endpoint=False))
    dense = np.array(dense + [pts[-1]])
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    passes = 2 if rng.random() < 0.3 else 1
    for _ in range(passes):
        wobble = rng.normal(0, size * 0.008, dense.shape).cumsum(axis=0) * 0.3
        offset = rng.normal(0, size * 0.01, 2)
        line = dense + wobble + offset
        width = int(rng.integers(1, 4))
        breaks = rng.random(len(line) - 1) < (0.06 if rng.random() < 0.5 else 0.0)
        for i in range(len(line) - 1):
            if not breaks[i]:
                draw.line([tuple(line[i]), tuple(line[i + 1])], fill=255, width=width)
    grey = np.asarray(image)
    return np.ascontiguousarray(np.dstack([grey] * 3))


def control_batch(seed: int, start: int, count: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    items = [control_sample(seed, i) for i in range(start, start + count)]
    return (
        np.stack([p for p, _, _ in items]),
        [t for _, t, _ in items],
        np.stack([s for _, _, s in items]),
    )


class ControlTrainer:
    def __init__(
        self, work: Path, seed: int, batch: int, lr: float, model: Path, init: Path | None = None
    ) -> None:
        import torch
        from diffusers import ControlNetModel, StableDiffusionPipeline

        self.work, self.seed, self.batch = work, seed, batch
        pipe = StableDiffusionPipeline.from_pretrained(str(model), safety_checker=None)
        self.pipe = pipe
        for part in (pipe.vae, pipe.unet, pipe.text_encoder):
            part.requires_grad_(False)
            part.eval()
        state = work / "checkpoint.pt"
        self.step = 0
        if (work / "controlnet" / "config.json").exists():
            self.controlnet = ControlNetModel.from_pretrained(
                str(work / "controlnet"), torch_dtype=torch.float32
            )
        elif init is not None:
            # An exported (fp16) control and its step: the run goes on from there with a
            # fresh optimizer, as from a later session that has only the shipped weights.
            self.controlnet = ControlNetModel.from_pretrained(str(init), torch_dtype=torch.float32)
            self.step = int(json.loads((init / "overpaint.json").read_text())["steps"])
            log.info("continuing from %s at step %d", init, self.step)
        else:
            self.controlnet = ControlNetModel.from_unet(
                pipe.unet, conditioning_embedding_out_channels=(16, 32, 64, 128)
            )
        self.controlnet.train()
        self.opt = torch.optim.AdamW(self.controlnet.parameters(), lr=lr, weight_decay=0.0)
        if state.exists():
            saved = torch.load(state, weights_only=True)
            self.opt.load_state_dict(saved["optimizer"])
            for group in self.opt.param_groups:  # the command's rate wins on resume
                group["lr"] = lr
            self.step = int(saved["step"])
            log.info("resumed at step %d", self.step)
        self.average: dict[str, Any] | None = None
        self.averaged = 0
        if (work / "average.safetensors").exists():
            from safetensors.torch import load_file

            self.average = load_file(str(work / "average.safetensors"))
            self.averaged = int(json.loads((work / "progress.json").read_text())["averaged"])
        self.alphas = pipe.scheduler.alphas_cumprod
        self.scale = float(pipe.vae.config.scaling_factor)

    def _text(self, captions: list[str]) -> Any:
        import torch

        tok = self.pipe.tokenizer(
            captions, padding="max_length", max_length=self.pipe.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        )  # fmt: skip
        with torch.no_grad():
            return self.pipe.text_encoder(tok.input_ids)[0]

    def train_step(self) -> float:
        import torch

        images, captions, scribbles = control_batch(self.seed, self.step * self.batch, self.batch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        cond = torch.from_numpy(scribbles).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            x0 = self.pipe.vae.encode(x).latent_dist.mean * self.scale
        text = self._text(captions)
        noise = torch.randn(x0.shape, generator=gen)
        if self.step * self.batch >= CORNERS_FROM:
            u = torch.rand(self.batch, generator=gen)
            t = ((1 - u**3) * len(self.alphas)).long().clamp(max=len(self.alphas) - 1)
        else:
            t = torch.randint(0, len(self.alphas), (self.batch,), generator=gen)
        a = self.alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v-prediction, as the demo model
        down, mid = self.controlnet(
            noisy, t, encoder_hidden_states=text, controlnet_cond=cond, return_dict=False
        )
        pred = self.pipe.unet(
            noisy, t, text, down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample  # fmt: skip
        loss = torch.nn.functional.mse_loss(pred, target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.controlnet.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        if self.step >= AVERAGE_FROM and (self.step - AVERAGE_FROM) % AVERAGE_EVERY == 0:
            self._fold_into_average()
        return float(loss.detach())

    def _fold_into_average(self) -> None:
        import torch

        with torch.no_grad():
            weights = self.controlnet.state_dict()
            if self.average is None:
                self.average = {k: v.detach().clone() for k, v in weights.items()}
            else:
                for k, v in weights.items():
                    self.average[k] += (v - self.average[k]) / (self.averaged + 1)
        self.averaged += 1

    def save(self) -> None:
        import torch

        self.work.mkdir(parents=True, exist_ok=True)
        self.controlnet.save_pretrained(str(self.work / "controlnet"), safe_serialization=True)
        tmp = self.work / "checkpoint.pt.tmp"
        torch.save({"optimizer": self.opt.state_dict(), "step": self.step}, tmp)
        tmp.replace(self.work / "checkpoint.pt")
        if self.average is not None:
            from safetensors.torch import save_file

            save_file(self.average, str(self.work / "average.safetensors.tmp"))
            (self.work / "average.safetensors.tmp").replace(self.work / "average.safetensors")
        progress = {"step": self.step, "averaged": self.averaged}
        (self.work / "progress.json").write_text(json.dumps(progress))

    def export(self, folder: Path) -> None:
        """fp16 weights (the average when there is one), plus the kind the engine offers it
        for (engine.control.models)."""
        import copy

        import torch

        model = self.controlnet
        if self.average is not None:
            model = copy.deepcopy(model)
            model.load_state_dict(self.average)
        model.to(torch.float16).save_pretrained(str(folder), safe_serialization=True)
        self.controlnet.to(torch.float32)
        meta = {"control_kind": "scribble", "base_model": "overpaint-demo", "steps": self.step}
        if self.average is not None:
            meta["averaged"] = {
                "from": AVERAGE_FROM,
                "every": AVERAGE_EVERY,
                "count": self.averaged,
            }
        (folder / "overpaint.json").write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    chunk_arguments(parser, lr=1e-4, model=DEMO_MODEL)
    parser.add_argument("--export", type=Path, help="write the ControlNet (fp16) here and stop")
    parser.add_argument(
        "--init", type=Path, help="an exported control to continue from when --work is new"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    trainer = ControlTrainer(args.work, args.seed, args.batch, args.lr, args.model, args.init)
    if args.export:
        trainer.export(args.export)
        return 0
    train_chunk(trainer, args, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
