"""What a training run is asked to do, and the per-device defaults it falls back on.

Defaults depend on where it runs: on a CPU the run must finish in minutes on the demo
model (small rank, few steps, a high learning rate); on a GPU the numbers are the
DreamBooth-LoRA recipe's for SD 1.5 and SDXL. The preset scales the step count.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.core.precision import PRECISIONS
from engine.training.data import DEFAULT_TEMPLATE, TrainingError

PRESETS = ("quick", "normal", "thorough")
# steps, rank, learning rate, batch
_CPU_DEFAULTS = {
    "quick": (120, 4, 2e-3, 4),
    "normal": (300, 8, 2e-3, 4),
    "thorough": (600, 8, 1e-3, 4),
}
_GPU_DEFAULTS = {
    "quick": (400, 8, 1e-4, 2),
    "normal": (1000, 16, 1e-4, 2),
    "thorough": (2000, 16, 1e-4, 2),
}
# Pictures the base model draws from the captions without the concept word (DreamBooth's
# prior preservation), trained on beside the user's: CPU, GPU.
_PRIOR_IMAGES = (8, 16)
# The new word's embedding learns faster than LoRA weights need to (pivotal tuning).
WORD_LR_FACTOR = 5.0
MAX_STEPS = 100_000
# Under "auto", a CPU trains in bf16 only models of at least this native size (cpu_precision).
BF16_MIN_NATIVE = 256
MAX_RANK = 256


def cpu_precision(precision: str, native_size: int) -> str:
    """The precision a CPU trains a model of this native size in: `precision`, except that
    "auto" is fp32 below BF16_MIN_NATIVE (and otherwise the machine's choice, as for
    generation: bf16 where the processor computes it faster, engine.core.precision).

    Measured on this AMX machine (one thread, benchmark P15's run): the demo model (128²:
    16x16 latents, 64-160 channels) took 187 s of CPU in bf16 against 160 s in fp32 and
    drew the concept in 75% of the held-out prompts against 85% (P15 wants 80%): layers
    that small gain less from bf16 arithmetic than autocast's casts and bf16's slow rank-8
    LoRA products and attention backward cost. SD 1.5's UNet at 256² (32x32 latents) takes
    a training step 1.7x faster in bf16 (3.3 s against 5.7 s)."""
    if precision == "auto" and native_size < BF16_MIN_NATIVE:
        return "fp32"
    return precision


@dataclass(frozen=True)
class TrainingSettings:
    images: Path
    concept: str
    out: Path | None = None  # None: <models>/loras/<concept>.safetensors
    model: str = ""  # name or path; "" is the default model
    preset: str = "normal"
    steps: int | None = None
    rank: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    seed: int = 0
    template: str = DEFAULT_TEMPLATE
    flip: bool = True
    bucket: bool = False
    train_text_encoder: bool = False
    prior_images: int | None = None  # None: the device default; 0: no prior preservation
    prior_weight: float = 1.0
    limit_word_norm: bool = True  # keep a new word's embedding as long as real words'
    checkpoint_every: int | None = None  # None: a quarter of the steps (at least 25)
    sample_every: int = 0  # 0: no sample pictures during the run
    sample_prompt: str = ""  # "": the first picture's caption
    device: str | None = None
    extra_dirs: tuple[Path, ...] = field(default_factory=tuple)
    threads: int = 0  # torch CPU threads; 0: all cores but one (see cpu_threads)
    # On a CPU: "auto" (bf16 where this processor computes it faster), "fp32" or "bf16".
    precision: str = "auto"

    def resolved(self, device: str) -> TrainingSettings:
        """These settings with every None filled in from the defaults for `device`."""
        if self.preset not in PRESETS:
            raise TrainingError(f"Unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}.")
        if self.precision not in PRECISIONS:
            raise TrainingError(
                f"Unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}."
            )
        table = _CPU_DEFAULTS if device == "cpu" else _GPU_DEFAULTS
        steps, rank, lr, batch = table[self.preset]
        done = replace(
            self,
            steps=self.steps if self.steps is not None else steps,
            rank=self.rank if self.rank is not None else rank,
            learning_rate=self.learning_rate if self.learning_rate is not None else lr,
            batch_size=self.batch_size if self.batch_size is not None else batch,
            prior_images=(
                self.prior_images
                if self.prior_images is not None
                else _PRIOR_IMAGES[device != "cpu"]
            ),
        )
        assert done.steps is not None and done.rank is not None and done.batch_size is not None
        if not 1 <= done.steps <= MAX_STEPS:
            raise TrainingError(f"Steps must be between 1 and {MAX_STEPS}, not {done.steps}.")
        if not 1 <= done.rank <= MAX_RANK:
            raise TrainingError(f"The rank must be between 1 and {MAX_RANK}, not {done.rank}.")
        if not 0 < float(done.learning_rate or 0) < 1:
            raise TrainingError(
                f"The learning rate must be above 0 and below 1, not {done.learning_rate}."
            )
        if not 0 <= int(done.prior_images or 0) <= 1000:
            raise TrainingError(
                f"The prior pictures must be between 0 and 1000, not {done.prior_images}."
            )
        if not 1 <= done.batch_size <= 64:
            raise TrainingError(f"The batch size must be between 1 and 64, not {done.batch_size}.")
        every = self.checkpoint_every or max(25, done.steps // 4)
        return replace(done, checkpoint_every=every)

    def cpu_threads(self, torch_default: int, cpus: int | None) -> int:
        """Torch's intra-op threads for the run: `threads` if set, else every core but one.

        Measured on this 2-core machine with the demo model while another process held a
        core: one batch-4 step took 0.55 s of CPU with 1 thread and 4.8 s with 2, whose
        parallel regions each wait for the descheduled thread (the generation engine's
        rule, engine.worker.cpu_threads_beside_ui, comes from the same effect)."""
        if self.threads > 0:
            return self.threads
        return max(1, min(torch_default, (cpus or torch_default) - 1))

    def continuation_fields(self) -> dict[str, Any]:
        """The settings a rerun must share with a cancelled run to continue its checkpoint,
        as JSON values (the step count may grow; like the device, the precision may change:
        the checkpoint's tensors are fp32). engine.training.checkpoint keeps them in the
        checkpoint, to tell a rerun, and the Train dialog, which of them changed."""
        data = asdict(self)
        for key in (
            "steps",
            "checkpoint_every",
            "sample_every",
            "sample_prompt",
            "out",
            "device",
            "threads",
            "precision",
        ):
            data.pop(key)
        data["images"] = str(Path(self.images).resolve())
        data["extra_dirs"] = [str(d) for d in self.extra_dirs]
        return json.loads(json.dumps(data, sort_keys=True, default=str))

    def fingerprint(self) -> str:
        """A short hash of continuation_fields: equal exactly when they are."""
        text = json.dumps(self.continuation_fields(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
