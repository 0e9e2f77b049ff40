"""Seeded, resumable training of a reference adapter (IP-Adapter) for the demo model.

Data: pairs of pictures from the demo dataset's renderer. The reference shows one shape
(kind, colour, background) anywhere, at any size; the target is the same kind, colour
and background drawn as the demo model draws it (at one of its five places, small or
large), somewhere else than the reference. The caption is always empty, so everything
the picture must show comes through the adapter: it learns what, never where.

Model: a tiny CLIPVisionModelWithProjection (64 px, 8 px patches, 3 layers, width 96,
128-wide projection) trained from scratch together with a plain IP-Adapter (the
projection to 4 tokens of the text encoder's width, `to_k_ip`/`to_v_ip` per
cross-attention, initialised from the cross-attention's own `to_k`/`to_v` as the
IP-Adapter paper does). The demo model (VAE, UNet, text encoder) stays frozen; the loss
is the demo model's own (v-prediction, zero-terminal-SNR schedule) plus a small
classification loss (colour, kind, background) on the encoder's embedding, which gives
the encoder a direct signal long before the UNet's gradient is informative. 10% of the
references are dropped (a zero embedding, what the engine's unconditional half sends).
Every random draw of step N is seeded by (seed, N), so a run cut into chunks sees the
same batches.

    nice -n 19 python -m engine.demo.train_reference --work runs/reference --minutes 30
    python -m engine.demo.train_reference --work runs/reference --export resources/models

`--work` holds the checkpoint (weights, their average, optimizer, step); run the same
command again to resume. `--export DIR` writes, in fp16, the adapter in h94/IP-Adapter's
layout as DIR/ipadapter/NAME.safetensors and the encoder as DIR/clip_vision/NAME/ (the
models folder layout engine.reference.adapters reads). A new --work with `--init DIR`
continues from such an export (without its optimizer).
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
from engine.demo.dataset import (
    ANCHORS,
    COLOURS,
    KINDS,
    PALETTE,
    POSITIONS,
    Scene,
    Shape,
    draw_shape,
    jitter_colour,
    render,
)

log = logging.getLogger("engine.demo.train_reference")
DEMO_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "overpaint-demo"
NAME = "overpaint-demo-reference"
SIZE = 128  # the demo model's native size
REFERENCE_SIZES = (96, 128, 192, 256)  # reference pictures come at any size
RADIUS = (0.08, 0.3)  # reference shape half-side, as a fraction of the picture side
MIN_DISTANCE = 0.12  # between the reference's centre and the target's
DROP = 0.1  # share of references dropped (zero embedding)
AUX_WEIGHT = 0.1  # of the classification loss on the embedding
# The adapter's 4 tokens are pulled towards what the frozen text encoder says at the words
# colour, kind, background colour and "background" of the reference's caption: with
# to_k_ip/to_v_ip copied from to_k/to_v, such tokens already mean something to the
# frozen UNet, which a 2-core CPU run could not afford to find out through it alone.
TOKEN_WEIGHT = 0.1
TOKEN_POSITIONS = (2, 3, 5, 6)  # of "<start> a red circle , blue background"
AVERAGE_DECAY = 0.998  # exponential average of the weights, what --export writes
ENCODER = {
    "image_size": 64,
    "patch_size": 8,
    "hidden_size": 96,
    "intermediate_size": 384,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "projection_dim": 128,
}
# By step 1082 the encoder read colour and background perfectly but the kind at chance
# (its cross-entropy stayed at ln 3): the diffusion loss's gradient says little about the
# kind. From CLASSIFY_FROM every step adds a batch of CLASSIFY_BATCH references for the
# classification loss alone (its own seed stream), at full weight.
CLASSIFY_FROM = 1082
CLASSIFY_BATCH = 64
CLASSIFY_WEIGHT = 1.0
HELDOUT_SEED = 246_813_579  # evaluation references; training draws from (seed, index)


@dataclass(frozen=True)
class ReferenceScene:
    """What a reference shows and where: kind, colour, background, centre (cx, cy) and
    half-side r as fractions of the picture side."""

    background: str
    colour: str
    kind: str
    r: float
    cx: float
    cy: float


def draw_reference(rng: np.random.Generator) -> ReferenceScene:
    background = COLOURS[rng.integers(len(COLOURS))]
    colour = [c for c in COLOURS if c != background][rng.integers(len(COLOURS) - 1)]
    kind = KINDS[rng.integers(len(KINDS))]
    r = rng.uniform(*RADIUS)
    return ReferenceScene(background, colour, kind, r, rng.uniform(r, 1 - r), rng.uniform(r, 1 - r))


def render_reference(scene: ReferenceScene, size: int, rng: np.random.Generator) -> np.ndarray:
    """`scene` as a size x size x 3 picture (2x supersampled, colours jittered as the
    demo dataset jitters them)."""
    ss = 2
    side = size * ss
    picture = Image.new("RGB", (side, side), jitter_colour(PALETTE[scene.background], rng))
    fill = jitter_colour(PALETTE[scene.colour], rng)
    draw_shape(
        ImageDraw.Draw(picture), scene.kind, scene.cx * side, scene.cy * side, scene.r * side, fill
    )
    return np.asarray(picture.reduce(ss))


def reference_sample(seed: int, index: int) -> tuple[np.ndarray, np.ndarray, ReferenceScene]:
    """Training pair `index`: (reference picture, target picture 128x128x3, reference)."""
    rng = np.random.default_rng([seed, index])
    scene = draw_reference(rng)
    positions = [
        p
        for p in POSITIONS
        if np.hypot(ANCHORS[p][0] - scene.cx, ANCHORS[p][1] - scene.cy) >= MIN_DISTANCE
    ]
    position = positions[rng.integers(len(positions))]
    size = "large" if rng.random() < 0.5 else "small"
    target = Scene(scene.background, (Shape(scene.kind, scene.colour, position, size),))
    reference = render_reference(scene, int(rng.choice(REFERENCE_SIZES)), rng)
    return reference, render(target, SIZE, SIZE, rng), scene


def classify_sample(seed: int, index: int) -> tuple[np.ndarray, ReferenceScene]:
    """Reference `index` of the classification stream: (picture, what it shows)."""
    rng = np.random.default_rng([seed, 1, index])
    scene = draw_reference(rng)
    return render_reference(scene, int(rng.choice(REFERENCE_SIZES)), rng), scene


def heldout_references(count: int, seed: int = HELDOUT_SEED) -> list[tuple[ReferenceScene, Any]]:
    """(scene, 128 px picture) references the training sampler never drew (another seed
    stream)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        scene = draw_reference(rng)
        out.append((scene, render_reference(scene, SIZE, rng)))
    return out


def reference_caption(scene: ReferenceScene) -> str:
    return f"a {scene.colour} {scene.kind}, {scene.background} background"


def labels(scene: ReferenceScene) -> tuple[int, int, int]:
    return COLOURS.index(scene.colour), KINDS.index(scene.kind), COLOURS.index(scene.background)


def encoder_pixels(pictures: list[np.ndarray]) -> Any:
    """The encoder's input, made exactly as engine.reference.ip_adapter makes it."""
    from transformers import CLIPImageProcessor

    size = int(ENCODER["image_size"])
    processor = CLIPImageProcessor(size=size, crop_size=size)
    return processor([Image.fromarray(p) for p in pictures], return_tensors="pt").pixel_values


def new_encoder(seed: int) -> Any:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**ENCODER))


def initial_adapter(unet: Any, seed: int) -> dict[str, Any]:
    """A plain adapter in h94's layout: a random projection to 4 tokens, and each
    cross-attention's `to_k_ip`/`to_v_ip` copied from its `to_k`/`to_v`."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    text = int(unet.config.cross_attention_dim)
    embeds = int(ENCODER["projection_dim"])
    bound = 1 / embeds**0.5
    tensors = {
        "image_proj.proj.weight": (torch.rand(4 * text, embeds, generator=gen) * 2 - 1) * bound,
        "image_proj.proj.bias": torch.zeros(4 * text),
        "image_proj.norm.weight": torch.ones(text),
        "image_proj.norm.bias": torch.zeros(text),
    }
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            attn = unet.get_submodule(name.rsplit(".", 1)[0])
            tensors[f"ip_adapter.{key}.to_k_ip.weight"] = attn.to_k.weight.detach().clone()
            tensors[f"ip_adapter.{key}.to_v_ip.weight"] = attn.to_v.weight.detach().clone()
            key += 2
    return tensors


def install(unet: Any, tensors: dict[str, Any]) -> Any:
    """Load h94-layout `tensors` into `unet` as diffusers' load_ip_adapter does; returns
    the trainable adapter modules (projection, then each cross-attention's processor)."""
    import torch

    split: dict[str, dict[str, Any]] = {"image_proj": {}, "ip_adapter": {}}
    for k, v in tensors.items():
        part, rest = k.split(".", 1)
        split[part][rest] = v.float()
    unet._load_ip_adapter_weights([split], low_cpu_mem_usage=False)
    processors = [p for p in unet.attn_processors.values() if hasattr(p, "to_k_ip")]
    return torch.nn.ModuleDict(
        {"proj": unet.encoder_hid_proj, "ip": torch.nn.ModuleList(processors)}
    )


def adapter_tensors(adapter: Any) -> dict[str, Any]:
    """The adapter modules' weights back in h94's layout."""
    layer = adapter["proj"].image_projection_layers[0]
    tensors = {
        "image_proj.proj.weight": layer.image_embeds.weight,
        "image_proj.proj.bias": layer.image_embeds.bias,
        "image_proj.norm.weight": layer.norm.weight,
        "image_proj.norm.bias": layer.norm.bias,
    }
    for i, processor in enumerate(adapter["ip"]):
        tensors[f"ip_adapter.{2 * i + 1}.to_k_ip.weight"] = processor.to_k_ip[0].weight
        tensors[f"ip_adapter.{2 * i + 1}.to_v_ip.weight"] = processor.to_v_ip[0].weight
    return {k: v.detach().clone().contiguous() for k, v in tensors.items()}


class ReferenceTrainer:
    def __init__(
        self,
        work: Path,
        seed: int,
        batch: int,
        lr: float,
        model: Path,
        init: Path | None = None,
        bf16: bool = True,
    ) -> None:
        import torch
        from diffusers import StableDiffusionPipeline
        from safetensors.torch import load_file

        self.work, self.seed, self.batch = work, seed, batch
        self.bf16 = bf16
        pipe = StableDiffusionPipeline.from_pretrained(
            str(model), safety_checker=None, torch_dtype=torch.float32, local_files_only=True
        )
        self.pipe = pipe
        for part in (pipe.vae, pipe.unet, pipe.text_encoder):
            part.requires_grad_(False)
            part.eval()
        self.step = 0
        if init is not None and not (work / "weights.safetensors").exists():
            # An export and its step: the run goes on from there with a fresh optimizer.
            tensors = load_file(str(init / "ipadapter" / f"{NAME}.safetensors"))
            encoder = _load_encoder(init / "clip_vision" / NAME)
            meta = json.loads((init / "clip_vision" / NAME / "overpaint.json").read_text())
            self.step = int(meta["steps"])
            log.info("continuing from %s at step %d", init, self.step)
        else:
            tensors = initial_adapter(pipe.unet, seed)
            encoder = new_encoder(seed)
        adapter = install(pipe.unet, tensors)
        torch.manual_seed(seed + 1)
        head = torch.nn.Linear(int(ENCODER["projection_dim"]), 2 * len(COLOURS) + len(KINDS))
        self.trainable = torch.nn.ModuleDict({"encoder": encoder, "adapter": adapter, "head": head})
        if (work / "weights.safetensors").exists():
            self.trainable.load_state_dict(load_file(str(work / "weights.safetensors")))
        self.trainable.float().train()
        params = [p for p in self.trainable.parameters()]
        for p in params:
            p.requires_grad_(True)
        self.opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        self.average = {k: v.detach().clone() for k, v in self.trainable.state_dict().items()}
        state = work / "checkpoint.pt"
        if state.exists():
            saved = torch.load(state, weights_only=True)
            self.opt.load_state_dict(saved["optimizer"])
            for group in self.opt.param_groups:  # the command's rate wins on resume
                group["lr"] = lr
            self.step = int(saved["step"])
            self.average = load_file(str(work / "average.safetensors"))
            log.info("resumed at step %d", self.step)
        self.alphas = pipe.scheduler.alphas_cumprod
        self.scale = float(pipe.vae.config.scaling_factor)
        tok = pipe.tokenizer(
            [""], padding="max_length", max_length=pipe.tokenizer.model_max_length,
            return_tensors="pt",
        )  # fmt: skip
        with torch.no_grad():
            self.empty = pipe.text_encoder(tok.input_ids)[0]

    def _words(self, scenes: list[ReferenceScene]) -> Any:
        """The text encoder's features at TOKEN_POSITIONS of each scene's caption."""
        import torch

        tok = self.pipe.tokenizer(
            [reference_caption(s) for s in scenes], padding="max_length",
            max_length=self.pipe.tokenizer.model_max_length, return_tensors="pt",
        )  # fmt: skip
        with torch.no_grad():
            return self.pipe.text_encoder(tok.input_ids)[0][:, list(TOKEN_POSITIONS)]

    def train_step(self) -> tuple[float, float, float]:
        import torch
        import torch.nn.functional as F

        start = self.step * self.batch
        items = [reference_sample(self.seed, i) for i in range(start, start + self.batch)]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step)
        x = torch.from_numpy(np.stack([t for _, t, _ in items])).permute(0, 3, 1, 2)
        x = x.float() / 127.5 - 1
        # bf16 autocast: 1.6x faster steps on a CPU with AVX512-BF16; the weights, the
        # optimizer and the losses stay fp32.
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)
        with torch.no_grad(), autocast:
            x0 = (self.pipe.vae.encode(x).latent_dist.mean * self.scale).float()
        pixels = encoder_pixels([r for r, _, _ in items])
        with autocast:
            embeds = self.trainable["encoder"](pixels).image_embeds
        embeds = embeds.float()
        truth = torch.tensor([labels(s) for _, _, s in items])
        logits = self.trainable["head"](embeds)
        aux = _classification(logits, truth)
        extra = torch.zeros(())
        if self.step >= CLASSIFY_FROM:
            first = self.step * CLASSIFY_BATCH
            more = [classify_sample(self.seed, i) for i in range(first, first + CLASSIFY_BATCH)]
            with autocast:
                found = self.trainable["encoder"](encoder_pixels([p for p, _ in more]))
            extra = _classification(
                self.trainable["head"](found.image_embeds.float()),
                torch.tensor([labels(s) for _, s in more]),
            )
        keep = (torch.rand(self.batch, generator=gen) >= DROP).float()[:, None]
        tokens = self.trainable["adapter"]["proj"].image_projection_layers[0](embeds)
        words = F.mse_loss(tokens, self._words([s for _, _, s in items]))
        noise = torch.randn(x0.shape, generator=gen)
        # Leaning towards the noisy end, where kind and colour are decided.
        u = torch.rand(self.batch, generator=gen)
        t = ((1 - u**2) * len(self.alphas)).long().clamp(max=len(self.alphas) - 1)
        a = self.alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v-prediction, as the demo model
        with autocast:
            pred = self.pipe.unet(
                noisy, t, self.empty.expand(self.batch, -1, -1),
                added_cond_kwargs={"image_embeds": [(embeds * keep)[:, None]]},
            ).sample  # fmt: skip
        diffusion = F.mse_loss(pred.float(), target)
        loss = diffusion + AUX_WEIGHT * aux + TOKEN_WEIGHT * words + CLASSIFY_WEIGHT * extra
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trainable.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        with torch.no_grad():
            decay = min(AVERAGE_DECAY, (1 + self.step) / (10 + self.step))
            for k, v in self.trainable.state_dict().items():
                self.average[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        return float(diffusion.detach()), float(aux.detach()), float(words.detach())

    def save(self) -> None:
        import torch
        from safetensors.torch import save_file

        self.work.mkdir(parents=True, exist_ok=True)
        weights = {k: v.contiguous() for k, v in self.trainable.state_dict().items()}
        for name, tensors in (("weights", weights), ("average", self.average)):
            save_file(tensors, str(self.work / f"{name}.safetensors.tmp"))
            (self.work / f"{name}.safetensors.tmp").replace(self.work / f"{name}.safetensors")
        tmp = self.work / "checkpoint.pt.tmp"
        torch.save({"optimizer": self.opt.state_dict(), "step": self.step}, tmp)
        tmp.replace(self.work / "checkpoint.pt")
        (self.work / "progress.json").write_text(json.dumps({"step": self.step}))

    def export(self, folder: Path, latest: bool = False) -> tuple[Path, Path]:
        """The averaged weights (`latest`: the last ones) in fp16: (adapter file, encoder
        folder) under `folder`'s ipadapter/ and clip_vision/."""
        import torch
        from safetensors.torch import save_file

        current = {k: v.detach().clone() for k, v in self.trainable.state_dict().items()}
        if not latest:
            self.trainable.load_state_dict(self.average)
        try:
            tensors = {k: v.half() for k, v in adapter_tensors(self.trainable["adapter"]).items()}
            path = folder / "ipadapter" / f"{NAME}.safetensors"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file(tensors, str(path), metadata={"steps": str(self.step)})
            encoder_dir = folder / "clip_vision" / NAME
            encoder = self.trainable["encoder"]
            encoder.to(torch.float16).save_pretrained(str(encoder_dir), safe_serialization=True)
            encoder.to(torch.float32)
        finally:
            self.trainable.load_state_dict(current)
        meta = {
            "base_model": "overpaint-demo",
            "adapter": path.name,
            "steps": self.step,
            "batch": self.batch,
            "average_decay": None if latest else AVERAGE_DECAY,
        }
        (encoder_dir / "overpaint.json").write_text(json.dumps(meta, indent=2) + "\n")
        return path, encoder_dir


def _classification(logits: Any, truth: Any) -> Any:
    """Cross-entropy of colour, kind and background, summed."""
    import torch.nn.functional as F

    n, k = len(COLOURS), len(KINDS)
    return (
        F.cross_entropy(logits[:, :n], truth[:, 0])
        + F.cross_entropy(logits[:, n : n + k], truth[:, 1])
        + F.cross_entropy(logits[:, n + k :], truth[:, 2])
    )


def _load_encoder(folder: Path) -> Any:
    import torch
    from transformers import CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection.from_pretrained(
        str(folder), torch_dtype=torch.float32, local_files_only=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    chunk_arguments(parser, lr=3e-4, model=DEMO_MODEL)
    parser.add_argument("--steps", type=int, default=0, help="stop at this step (0: no limit)")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--export", type=Path, help="write the adapter and encoder here, stop")
    parser.add_argument("--latest", action="store_true", help="export the last weights")
    parser.add_argument("--init", type=Path, help="an export to continue from (new --work)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    trainer = ReferenceTrainer(
        args.work, args.seed, args.batch, args.lr, args.model, args.init, args.precision == "bf16"
    )
    if args.export:
        trainer.export(args.export, args.latest)
        return 0
    train_chunk(trainer, args, log, ("loss", "aux", "words"), args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
