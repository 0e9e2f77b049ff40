"""LoRA training on a loaded model: the DreamBooth-LoRA recipe, rewritten for Overpaint.

The model is loaded with the generation engine's device policy (CUDA bf16/fp16 with
gradient checkpointing; CPU bf16 where it is faster, else fp32: cpu_precision); the VAE
encodes every picture (and its mirror image, whose caption says right for left) once, then
each step noises a batch of latents and trains LoRA layers on the UNet's attention and
feed-forward projections (and, if asked, the text encoders), plus the new concept word's
embedding (pivotal tuning, kept within the length of the model's own word embeddings), on
the scheduler's own target (noise or v). Beside the user's pictures it trains on pictures
the model itself drew from the captions without the concept word (DreamBooth's prior
preservation), so that the words around the concept keep their meaning.

Measured with benchmark P15 (a star taught to the demo model, judged on prompts unlike
the captions): flips without the caption swap, 45% stars and 88% of the base model's
colours/places/backgrounds kept; with the swap 55% / 97%; plus the length limit 70% /
98%; plus 8 prior pictures 85% / 98% (rank 4 instead of 8: 70%; dropping caption words
at 30%: 50% / 88%).

Every random draw of step N comes from a generator seeded with (seed, N), and a
checkpoint holds the trainable tensors and the optimizer state, so a run cut anywhere and
continued gives the same weights, bit for bit, as one uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import Cancelled
from engine.lora.concept_words import TrainableWord, is_known_word, text_parts
from engine.lora.file import base_model_hash, lora_state, save_lora
from engine.training import checkpoint
from engine.training.data import (
    TrainingError,
    check_concept,
    check_model,
    load_pictures,
    mirrored_caption,
    without_word,
)
from engine.training.settings import WORD_LR_FACTOR, TrainingSettings, cpu_precision

log = logging.getLogger(__name__)

UNET_TARGETS = [
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "proj_in",
    "proj_out",
    "ff.net.0.proj",
    "ff.net.2",
]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
TEXT_PREFIXES = ("text_encoder", "text_encoder_2")
SAMPLE_STEPS = 20
PRIOR_STEPS = 20


@dataclass(frozen=True)
class TrainingProgress:
    step: int
    total: int
    loss: float | None  # mean of the last steps
    seconds_left: float | None
    sample: np.ndarray | None = None  # HxWx3 uint8, every sample_every steps


@dataclass(frozen=True)
class TrainingResult:
    path: Path
    steps: int
    resumed_from: int
    loss: float
    seconds: float
    new_word: bool
    metadata: dict[str, str]
    shared_weights: bool = False  # trained on a borrowed pipeline (no model loaded)


ProgressFn = Callable[[TrainingProgress], None]


def default_out(concept: str) -> Path:
    from engine.core.paths import user_models_dir  # cheap: to be hoisted (issue 23)

    return user_models_dir() / "loras" / f"{concept}.safetensors"


def work_dir(out: Path) -> Path:
    """Where the checkpoint of a run writing `out` lives until the run is finished: in the
    user data folder, never beside `out`, where model scans would list its weights as a
    LoRA. Named after `out`'s full path, so two runs never share one."""
    import hashlib  # cheap: to be hoisted (issue 23)

    from engine.core.paths import user_data_dir  # cheap: to be hoisted (issue 23)

    where = str(Path(out).expanduser().resolve())
    key = hashlib.sha256(where.encode()).hexdigest()[:12]
    return user_data_dir() / "training" / f"{Path(out).stem}-{key}"


def training_policy(family: str, device: str | None, precision: str = "auto") -> Any:
    """The generation engine's device policy, with bf16 instead of fp16 where CUDA has it.

    On a CPU `precision` ("auto", "fp32" or "bf16", from settings.cpu_precision) decides
    as for generation (engine.core.precision): bf16 where the processor computes it faster."""
    import torch  # torch: ~1.2 s to import, only when training runs

    from engine.local.loading import choose_device  # cheap: to be hoisted (issue 23)

    options: dict[str, Any] = {"device": device, "cpu_offload": False}
    options.update(attention_slicing=False, vae_tiling=False)
    wanted = device or ("cuda" if torch.cuda.is_available() else "")
    if wanted.startswith("cuda") and torch.cuda.is_bf16_supported():
        # bf16 has fp32's range: no loss scaling needed, unlike fp16.
        options["dtype"] = "bfloat16"
    elif wanted == "mps":
        options["dtype"] = "float32"
    return choose_device(family, options, precision)


class _Run:
    """One training run's state: the pipeline, the trainable tensors and the data."""

    def __init__(
        self, settings: TrainingSettings, config_root: Path | None, pipe: Any = None
    ) -> None:
        import torch  # torch: ~1.2 s to import, only when training runs

        from engine.local.loading import load_pipeline  # cheap: to be hoisted (issue 23)
        from engine.models import resolve_model

        self.info = resolve_model(settings.model, settings.extra_dirs)
        check_model(self.info)
        precision = cpu_precision(settings.precision, self.info.native_size)
        self.policy = training_policy(self.info.family, settings.device, precision)
        self.settings = settings.resolved(self.policy.device)
        s = self.settings
        self.pictures = load_pictures(
            s.images, s.concept, self.info.native_size, s.template, s.bucket
        )
        check_concept(s.concept, self.pictures)
        # A borrowed pipeline (shared_model.borrow) shares the window's loaded weights.
        self.borrowed = pipe is not None
        if pipe is None:
            pipe = load_pipeline(self.info, self.policy, config_root, settings.extra_dirs)
        self.pipe = pipe
        self.device = torch.device(self.policy.device)
        self.dtype = getattr(torch, self.policy.dtype)
        log.info("training on %s, mixed precision: %s", self.device.type, self.precision)
        pipe = self.pipe
        for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
            module = getattr(pipe, part, None)
            if module is not None:
                module.requires_grad_(False)
        self.latents = self._encode_pictures()
        self.prior_weight = float(s.prior_weight)
        self.prior: tuple[Any, list[list[Any]]] | None = None  # draw_prior fills it
        self.word = None
        if not all(is_known_word(tok, s.concept) for _k, tok, _e in text_parts(pipe)):
            self.word = TrainableWord(pipe, s.concept)
        self.ids = [self._token_ids(p.caption) for p in self.pictures]
        self.mirror_ids = [self._token_ids(mirrored_caption(p.caption)) for p in self.pictures]
        self.empty_ids = self._token_ids("")
        self._add_lora()
        self.scheduler = self._noise_scheduler()
        groups = [{"params": self.lora_params, "lr": s.learning_rate, "weight_decay": 1e-2}]
        if self.word is not None:
            groups.append(
                {
                    "params": self.word.params,
                    "lr": float(s.learning_rate) * WORD_LR_FACTOR,
                    "weight_decay": 0.0,
                }
            )
        self.optimizer = torch.optim.AdamW(groups)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.device.type == "cuda":
            pipe.unet.enable_gradient_checkpointing()

    @property
    def precision(self) -> str:
        """kohya's ss_mixed_precision: "bf16" or "fp16" (the frozen weights stored in it,
        the LoRA and the new word fp32 master weights, forward and backward under autocast)
        or "no" (all fp32). Frozen weights in bf16, not fp32 ones that CPU autocast casts
        again at every step: SD 1.5's UNet with the LoRA, one 256² step on one thread of
        this AMX machine, fp32 5.7 s, fp32 weights under autocast 4.3 s, bf16 ones 3.3 s."""
        return "no" if self.policy.precision == "fp32" else self.policy.precision

    # -- setup -------------------------------------------------------------------------

    def _encode_pictures(self) -> list[Any]:
        """The latents of each picture and its mirror image (2xCxhxw), from a float32 VAE.

        The posterior's mean, not a draw from it as in the DreamBooth recipe: a draw blurs
        the targets of a VAE with a wide posterior such as the demo model's (whose UNet was
        itself trained on means). P15 on 20 held-out prompts, same 300 steps: 60% stars
        with draws, 85% with means; for SD's VAEs the two hardly differ.

        float32 because SDXL's VAE overflows in fp16; it runs once per picture. A half
        precision VAE is encoded with a float32 copy: casting it in place would change the
        weights a borrowed pipeline shares with the generation engine."""
        import copy  # cheap: to be hoisted (issue 23)

        import torch  # torch: ~1.2 s to import, only when training runs

        vae = self.pipe.vae
        if vae.dtype != torch.float32:
            vae = copy.deepcopy(vae).to(torch.float32)
        out = []
        with torch.no_grad():
            for p in self.pictures:
                x = torch.from_numpy(np.stack([p.pixels, p.pixels[:, ::-1]]).copy())
                x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(self.device)
                dist = vae.encode(x).latent_dist
                scale = vae.config.scaling_factor
                out.append(dist.mean.float() * scale)
        return out

    def _token_ids(self, text: str) -> list[Any]:
        return [
            tok(
                text,
                padding="max_length",
                max_length=tok.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids[0]
            for _k, tok, _e in text_parts(self.pipe)
        ]

    def _add_lora(self) -> None:
        import torch  # torch: ~1.2 s to import, only when training runs
        from peft import LoraConfig

        s = self.settings
        rank = int(s.rank or 4)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        # LoRA's random init draws from the global generator: seed it, and leave it as found.
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(s.seed)
            self.pipe.unet.add_adapter(
                LoraConfig(
                    r=rank,
                    lora_alpha=rank,
                    init_lora_weights="gaussian",
                    target_modules=UNET_TARGETS,
                )
            )
            self.text_encoders: dict[str, Any] = {}
            if s.train_text_encoder:
                for prefix, (_k, _t, encoder) in zip(
                    TEXT_PREFIXES, text_parts(self.pipe), strict=False
                ):
                    encoder.add_adapter(
                        LoraConfig(
                            r=rank,
                            lora_alpha=rank,
                            init_lora_weights="gaussian",
                            target_modules=TEXT_TARGETS,
                        )
                    )
                    self.text_encoders[prefix] = encoder
        self.lora_params = []
        for module in [self.pipe.unet, *self.text_encoders.values()]:
            for p in module.parameters():
                if p.requires_grad:
                    # Trainable weights in fp32 even when the frozen model is half precision.
                    p.data = p.data.float()
                    self.lora_params.append(p)

    def _noise_scheduler(self) -> Any:
        from diffusers import DDPMScheduler  # ~2 s to import: only when training runs

        return DDPMScheduler.from_config(self.pipe.scheduler.config)

    # -- state -------------------------------------------------------------------------

    def trainable_state(self) -> dict[str, Any]:
        tensors = lora_state(self.pipe.unet, self.text_encoders)
        if self.word is not None:
            tensors.update(self.word.state_dict())
        return {k: v.float() for k, v in tensors.items()}

    def load_trainable_state(self, tensors: dict[str, Any]) -> None:
        from peft.utils import set_peft_model_state_dict  # peft: ~4 s, training only

        unet = {k[5:]: v for k, v in tensors.items() if k.startswith("unet.")}
        set_peft_model_state_dict(self.pipe.unet, unet)
        for prefix, encoder in self.text_encoders.items():
            part = {
                k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")
            }
            set_peft_model_state_dict(encoder, part)
        if self.word is not None:
            self.word.load_state_dict(tensors)
        for p in self.lora_params:
            p.data = p.data.float()

    # -- one step ------------------------------------------------------------------------

    def _encode_text(self, ids: list[Any]) -> tuple[Any, dict[str, Any] | None]:
        import torch  # torch: ~1.2 s to import, only when training runs

        encoders = [e for _k, _t, e in text_parts(self.pipe)]
        if len(encoders) == 1:
            return encoders[0](ids[0].to(self.device))[0], None
        # SDXL: penultimate hidden states of both encoders, pooled output of the second.
        states = []
        pooled = None
        for encoder, part in zip(encoders, ids, strict=True):
            out = encoder(part.to(self.device), output_hidden_states=True)
            states.append(out.hidden_states[-2])
            pooled = out[0]
        return torch.cat(states, dim=-1), {"text_embeds": pooled}

    def step_loss(self, step: int) -> Any:
        import torch  # torch: ~1.2 s to import, only when training runs

        s = self.settings
        g = torch.Generator().manual_seed(s.seed * 1_000_003 + step)
        batch = int(s.batch_size or 1)
        shapes = [tuple(m.shape[2:]) for m in self.latents]
        first = int(torch.randint(len(self.pictures), (1,), generator=g))
        # A batch holds one size: pictures of the first one's bucket.
        same = [i for i, shape in enumerate(shapes) if shape == shapes[first]]
        picks = [first] + [
            same[int(j)] for j in torch.randint(len(same), (batch - 1,), generator=g)
        ]
        flips = torch.rand(batch, generator=g) < (0.5 if s.flip else 0.0)
        x0 = torch.stack([self.latents[i][int(f)] for i, f in zip(picks, flips, strict=True)])
        captions = [
            (self.mirror_ids if f else self.ids)[i] for i, f in zip(picks, flips, strict=True)
        ]
        loss = self._denoise_loss(x0, captions, g)
        if self.prior is not None:
            latents, ids = self.prior
            chosen = torch.randint(len(ids), (batch,), generator=g)
            prior_x0 = latents[chosen]
            loss = loss + self.prior_weight * self._denoise_loss(
                prior_x0, [ids[int(i)] for i in chosen], g
            )
        return loss

    def _denoise_loss(self, x0: Any, captions: list[list[Any]], g: Any) -> Any:
        """The scheduler's training loss on clean latents x0 with these captions' token ids."""
        import torch  # torch: ~1.2 s to import, only when training runs

        batch = x0.shape[0]
        noise = torch.randn(x0.shape, generator=g).to(self.device)
        t = torch.randint(self.scheduler.config.num_train_timesteps, (batch,), generator=g)
        t = t.to(self.device)
        noisy = self.scheduler.add_noise(x0, noise, t)
        if self.scheduler.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(x0, noise, t)
        else:
            target = noise
        ids = [torch.stack([c[k] for c in captions]) for k in range(len(captions[0]))]
        autocast = (
            torch.autocast(self.device.type, dtype=self.dtype)
            if self.device.type in ("cuda", "cpu") and self.dtype != torch.float32
            else contextlib.nullcontext()
        )
        with autocast:
            cond, added = self._encode_text(ids)
            if added is not None:
                h, w = (d * 8 for d in x0.shape[2:])
                added["time_ids"] = torch.tensor(
                    [[h, w, 0, 0, h, w]] * batch, device=self.device, dtype=cond.dtype
                )
            pred = self.pipe.unet(
                noisy.to(self.dtype), t, cond.to(self.dtype), added_cond_kwargs=added
            ).sample
        return torch.nn.functional.mse_loss(pred.float(), target.float())

    def draw_prior(self, cancel: Callable[[], bool], drawn: Any = None) -> None:
        """DreamBooth's prior preservation: what the model itself draws for the captions
        with the concept word left out, as latents, with those captions' token ids.

        Trained on beside the concept, they keep the LoRA from rewriting what the words
        around the concept (colours, places, backgrounds) meant to the model. Drawn with the
        LoRA layers still zero; a continued run gets them from its checkpoint (`drawn`)."""
        import torch  # torch: ~1.2 s to import, only when training runs

        s = self.settings
        count = int(s.prior_images or 0)
        if count <= 0:
            return
        prompts = [
            without_word(self.pictures[i % len(self.pictures)].caption, s.concept)
            for i in range(count)
        ]
        ids = [self._token_ids(p) for p in prompts]
        if drawn is not None and len(drawn) == count:
            self.prior = drawn.to(self.device), ids
            return
        from diffusers import DDIMScheduler  # ~2 s to import: only when training runs

        size = self.info.native_size
        self.pipe.unet.eval()
        latents = []
        # DDIM on the training schedule, not the pipeline's sampler: a borrowed pipeline
        # has whichever sampler the window used last, and must draw the same pictures.
        # (set_alpha_to_one as in SD's own scheduler configs.)
        sampler = self.pipe.scheduler
        self.pipe.scheduler = DDIMScheduler.from_config(
            self.scheduler.config, set_alpha_to_one=False
        )
        try:
            with torch.no_grad():
                for i, prompt in enumerate(prompts):
                    if cancel():
                        raise Cancelled("Training cancelled before its first step.")
                    out = self.pipe(
                        prompt,
                        num_inference_steps=PRIOR_STEPS,
                        guidance_scale=7.0,
                        height=size,
                        width=size,
                        generator=torch.Generator().manual_seed(s.seed * 7919 + i),
                        output_type="latent",
                    ).images
                    latents.append(out[0].float())
        finally:
            self.pipe.scheduler = sampler
        self.prior = torch.stack(latents).to(self.device), ids

    def train_step(self, step: int) -> float:
        import torch  # torch: ~1.2 s to import, only when training runs

        s = self.settings
        warmup = max(1, min(50, int(s.steps or 1) // 10))
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * min(1.0, (step + 1) / warmup)
        self.pipe.unet.train()
        loss = self.step_loss(step)
        loss.backward()
        params = self.lora_params + (self.word.params if self.word else [])
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.word is not None and s.limit_word_norm:
            self.word.limit_norm()
        return float(loss.detach())

    def sample(self, prompt: str, seed: int) -> np.ndarray:
        import torch  # torch: ~1.2 s to import, only when training runs

        self.pipe.unet.eval()
        size = self.info.native_size
        images = self.pipe(
            prompt,
            num_inference_steps=SAMPLE_STEPS,
            guidance_scale=7.0,
            height=size,
            width=size,
            generator=torch.Generator().manual_seed(seed),
            output_type="np",
        ).images
        return (np.clip(images[0], 0, 1) * 255).round().astype(np.uint8)

    def metadata(self, steps: int) -> dict[str, str]:
        s = self.settings
        # kohya's tag counts: the comma-separated parts of the captions.
        tags: dict[str, int] = {}
        for p in self.pictures:
            for tag in filter(None, (t.strip() for t in p.caption.split(","))):
                tags[tag] = tags.get(tag, 0) + 1
        return {
            "ss_network_module": "peft.lora",
            "ss_network_dim": str(s.rank),
            "ss_network_alpha": str(s.rank),
            "ss_steps": str(steps),
            "ss_max_train_steps": str(s.steps),
            "ss_learning_rate": str(s.learning_rate),
            "ss_batch_size_per_device": str(s.batch_size),
            "ss_seed": str(s.seed),
            "ss_mixed_precision": self.precision,
            "ss_num_train_images": str(len(self.pictures)),
            # kohya's names for DreamBooth's regularisation (prior preservation) pictures.
            "ss_num_reg_images": str(0 if self.prior is None else len(self.prior[1])),
            "ss_prior_loss_weight": str(self.prior_weight),
            "ss_resolution": str((self.info.native_size, self.info.native_size)),
            "ss_flip_aug": str(s.flip),
            "ss_enable_bucket": str(s.bucket),
            "ss_sd_model_name": self.info.name,
            "ss_sd_model_hash": base_model_hash(self.info.path),
            "ss_base_model_version": self.info.family,
            "ss_v2": str(self.info.family.startswith("sd2")),
            "ss_tag_frequency": json.dumps({Path(s.images).name: tags}),
            "modelspec.trigger_phrase": s.concept,
            "ss_training_comment": f"Overpaint LoRA for the concept word {s.concept!r}",
            "overpaint_concept": s.concept,
            "overpaint_new_word": str(self.word is not None),
            "overpaint_train_text_encoder": str(s.train_text_encoder),
            "format": "pt",
        }


def train_lora(
    settings: TrainingSettings,
    on_progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
    config_root: Path | None = None,
    pipe: Any = None,
) -> TrainingResult:
    """Train, checkpointing as it goes; a rerun with the same settings continues.

    `pipe`: a pipeline of the settings' model to train on instead of loading one, from
    shared_model.borrow (it is changed: LoRA layers, a new word)."""
    from engine.local.loading import free_pipelines  # cheap: to be hoisted (issue 23)

    out = Path(settings.out) if settings.out else default_out(settings.concept)
    if out.suffix.lower() != ".safetensors":
        raise TrainingError(f"The LoRA file must end in .safetensors, not {out.name!r}.")
    import os  # cheap: to be hoisted (issue 23)

    import torch  # torch: ~1.2 s to import, only when training runs

    # Per calling thread with torch's OpenMP backend: the window's engine keeps its own.
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.cpu_threads(threads, os.cpu_count()))
    try:
        run = _Run(replace(settings, out=out), config_root, pipe)
        try:
            return _train(run, out, on_progress, should_cancel or (lambda: False))
        finally:
            if run.word is not None:
                run.word.remove()
            pipe, run.pipe = run.pipe, None
            free_pipelines(pipe)
    finally:
        torch.set_num_threads(threads)


def _train(
    run: _Run, out: Path, on_progress: ProgressFn | None, cancel: Callable[[], bool]
) -> TrainingResult:
    import torch  # torch: ~1.2 s to import, only when training runs

    s = run.settings
    total = int(s.steps or 0)
    every = int(s.checkpoint_every or total)
    folder = work_dir(out)
    key = checkpoint.run_key(s, [(p.path, p.caption) for p in run.pictures])
    # Before a checkpoint's weights come in: the prior is what the model drew without them.
    run.draw_prior(cancel, checkpoint.saved_prior(folder, key))
    start, losses = checkpoint.load_checkpoint(folder, run, key)
    if start:
        log.info("continuing %s from step %d", out.name, start)
    t0 = time.monotonic()
    prompt = s.sample_prompt or run.pictures[0].caption
    step = start
    while step < total:
        if cancel():
            checkpoint.save_checkpoint(folder, run, step, key, losses)
            raise Cancelled(
                f"Training cancelled at step {step} of {total}; run it again to continue."
            )
        losses.append(run.train_step(step))
        step += 1
        if step % every == 0 and step < total:
            checkpoint.save_checkpoint(folder, run, step, key, losses)
        if on_progress is not None:
            rate = (time.monotonic() - t0) / (step - start)
            sample = None
            if s.sample_every and (step % s.sample_every == 0 or step == total):
                sample = run.sample(prompt, s.seed)
            recent = losses[-20:]
            on_progress(
                TrainingProgress(step, total, float(np.mean(recent)), rate * (total - step), sample)
            )
    metadata = run.metadata(total)
    tensors = run.trainable_state()
    if run.dtype != torch.float32:
        # A half-precision model gets a half-precision LoRA: half the file size.
        tensors = {k: v.to(torch.float16) for k, v in tensors.items()}
    save_lora(out, tensors, metadata)
    shutil.rmtree(folder, ignore_errors=True)
    return TrainingResult(
        path=out,
        steps=total,
        resumed_from=start,
        loss=float(np.mean(losses[-20:])) if losses else float("nan"),
        seconds=time.monotonic() - t0,
        new_word=run.word is not None,
        metadata=metadata,
        shared_weights=run.borrowed,
    )
