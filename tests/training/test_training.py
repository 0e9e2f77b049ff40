"""Training a LoRA on the shipped demo model: a new word, resume, seeds, the CLI.

The demo model has never seen a star and its tokenizer does not know the word, so the
word becomes a new token (pivotal tuning) and its embedding travels inside the LoRA file.
The runs here are short; tests/bench (P15) measures the full run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file

from engine.core.errors import Cancelled
from engine.lora.file import read_metadata
from engine.models import DEMO_MODEL_DIR
from engine.training.checkpoint import Continuation, continuation
from engine.training.data import write_caption
from engine.training.settings import TrainingSettings
from engine.training.trainer import train_lora, work_dir
from tests.bench.training import KEPT_TARGET
from tests.training import background as in_background
from tests.training.carry_over import Ask, base_prompts, generate, judge, kept_share
from tests.training.stars import main_blob_solidity, star_caption, write_star_folder

# The default command's run on a CPU (preset "normal"): 300 batch-4 steps beside 8 prior
# pictures. The "quick" preset's 120 steps draw the star but change the base model's
# colours in 2 of the first 3 base prompts below. Shorter runs measured on 2026-12-06: 150
# steps get a base colour wrong with the LoRA on, 200 pass the solidity check by 0.003
# (0.797 < 0.8), 250 draw no star for the carried prompt; 300's stars are at 0.57-0.63.
TEST_STEPS = 300
# That run takes about 160 s of CPU: past the suite's 300 s limit once neighbours share
# the cores. The tests that use it (the first one pays for it) get longer.
DEFAULT_RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def star_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_star_folder(tmp_path_factory.mktemp("pictures") / "stars")


def _settings(folder: Path, out: Path, **kw) -> TrainingSettings:
    # One prior picture: the short runs check that it, too, is the same on every run.
    base = dict(model=str(DEMO_MODEL_DIR), batch_size=1, rank=4, steps=6, prior_images=1)
    return TrainingSettings(images=folder, concept="star", out=out, **{**base, **kw})


@pytest.fixture(scope="module")
def trained(star_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every training setting at its default: run by a child process from the session's
    start where one was started (tests/training/background.py), else here."""
    done = in_background.result(DEFAULT_RUN_TIMEOUT_S)
    if done is None:
        done = in_background.train(
            star_folder, tmp_path_factory.mktemp("loras") / "star.safetensors"
        )
    return done


def _request(prompt: str, lora: Path | None):
    from engine.request import GenerationRequest

    return GenerationRequest(
        mode="txt2img",
        prompt=prompt,
        seed=3,
        steps=12,
        width=128,
        height=128,
        model=str(DEMO_MODEL_DIR),
        loras=((lora.stem, 1.0),) if lora else (),
        watermark=False,
    )


def _generate(engine, prompt: str, lora: Path | None) -> np.ndarray:
    return engine.run(_request(prompt, lora))[0].rgba[..., :3]


@pytest.mark.timeout(DEFAULT_RUN_TIMEOUT_S)
def test_the_lora_file_carries_the_new_word_and_kohya_metadata(trained) -> None:
    result, seen, checkpoint_left = trained
    assert result.new_word and result.steps == TEST_STEPS and result.resumed_from == 0
    assert result.path.stat().st_size < 5_000_000
    with safe_open(str(result.path), framework="pt") as f:
        keys = set(f.keys())
    assert "bundle_emb.star.string_to_param.*" in keys
    assert any(k.startswith("unet.") and ".lora_A." in k for k in keys)
    meta = read_metadata(result.path)
    assert meta["overpaint_concept"] == meta["modelspec.trigger_phrase"] == "star"
    assert meta["ss_steps"] == str(TEST_STEPS) and meta["ss_network_dim"] == "8"
    assert meta["ss_num_reg_images"] == "8" and meta["ss_flip_aug"] == "True"
    # Under auto the demo model trains in fp32 (settings.cpu_precision).
    assert meta["ss_mixed_precision"] == "no"
    assert len(meta["ss_sd_model_hash"]) == 10
    # Progress: every step, a falling loss, the time left reaching 0, samples every 150.
    assert [p.step for p in seen] == list(range(1, TEST_STEPS + 1))
    # (Each progress loss is the mean of the last 20 steps: the first 10 against the last.)
    assert seen[-1].seconds_left == 0 and seen[-1].loss < seen[9].loss
    samples = [p.step for p in seen if p.sample is not None]
    assert samples == [150, 300] == [in_background.SAMPLE_EVERY, TEST_STEPS] and seen[
        -1
    ].sample.shape == (128, 128, 3)
    assert not checkpoint_left  # the checkpoint goes once the file is written


@pytest.mark.timeout(DEFAULT_RUN_TIMEOUT_S)
def test_the_lora_moves_the_picture_toward_the_concept_and_unloads_cleanly(trained) -> None:
    from engine.local.engine import Engine

    result, _, _ = trained
    engine = Engine((result.path.parent,))
    plain, starry = [], []
    for colour, position, background in (("red", "left", "blue"), ("yellow", "left", "purple")):
        prompt = star_caption(colour, position, background)
        before = _generate(engine, prompt, None)
        plain.append(main_blob_solidity(before))
        starry.append(main_blob_solidity(_generate(engine, prompt, result.path)))
    # Without the LoRA the model draws filled, convex shapes; with it, pointed ones (a
    # star's area is about 0.6 of its convex hull's).
    assert min(plain) > 0.85 and max(starry) < 0.8, (plain, starry)
    # Unloading removes the word too: the plain model gives its own pixels again.
    assert np.array_equal(_generate(engine, prompt, None), before)
    assert "star" not in engine.pipeline_for("txt2img").tokenizer.get_vocab()


@pytest.mark.timeout(DEFAULT_RUN_TIMEOUT_S)
def test_the_concept_carries_to_a_new_prompt_and_the_base_skills_survive(trained) -> None:
    from engine.local.engine import Engine

    result, _, _ = trained
    engine = Engine((result.path.parent,))
    # Wording the captions never use, in a colour/place/background no picture shows.
    ask = Ask("large orange star on the right, green background", "orange", "right", "green")
    verdict = judge(generate(engine, ask.prompt, 0, result.path, 12), ask)
    assert verdict.star and verdict.attributes, verdict.line()
    # Prompts without the concept: of the colours, places and backgrounds the model gets
    # right alone, it keeps P15's share with the LoRA on. Judged on 12 prompts, not all of
    # 3: the shipped model and its regional fine-tune each lose 1 of 36 with this LoRA
    # (2026-12-06), at a different prompt, and 3 prompts only say where that one falls.
    base = base_prompts(12)
    alone = [judge(generate(engine, a.prompt, i, None, 12), a) for i, a in enumerate(base)]
    assert all(v.attributes for v in alone), [v.line() for v in alone]
    with_lora = [
        judge(generate(engine, a.prompt, i, result.path, 12), a) for i, a in enumerate(base)
    ]
    assert kept_share(alone, with_lora) >= KEPT_TARGET, [v.line() for v in with_lora]


def test_a_cancelled_run_continues_bit_exactly(star_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut" / "star.safetensors"
    calls = []

    def cancel_before_step_3() -> bool:
        calls.append(1)
        # Asked once before drawing the prior picture, then before each step.
        return len(calls) > 1 + 3

    with pytest.raises(Cancelled) as e:
        train_lora(_settings(star_folder, out), should_cancel=cancel_before_step_3)
    assert "step 3 of 6" in str(e.value) and "run it again" in str(e.value)
    assert not out.exists() and (work_dir(out) / "state.json").is_file()
    # Nothing beside the LoRA-to-be, where model scans would list the checkpoint's weights.
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert (work_dir(out) / "prior.safetensors").is_file()
    asked = []
    resumed = train_lora(_settings(star_folder, out), should_cancel=lambda: asked.append(1))
    # Only before steps 3, 4 and 5: the prior picture comes from the checkpoint, not drawn.
    assert resumed.resumed_from == 3 and len(asked) == 3
    straight = train_lora(_settings(star_folder, tmp_path / "straight" / "star.safetensors"))
    assert straight.resumed_from == 0
    a, b = load_file(str(resumed.path)), load_file(str(straight.path))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # The same seed gives the same weights; another seed other ones.
    again = train_lora(_settings(star_folder, tmp_path / "again" / "star.safetensors"))
    c = load_file(str(again.path))
    assert all(np.array_equal(b[k], c[k]) for k in b)
    other = train_lora(_settings(star_folder, tmp_path / "other" / "star.safetensors", seed=1))
    d = load_file(str(other.path))
    assert not all(np.array_equal(b[k], d[k]) for k in b)


def test_a_checkpoint_from_other_settings_is_not_continued(
    star_folder: Path, tmp_path: Path
) -> None:
    # A copy: a caption is changed below.
    pictures = Path(shutil.copytree(star_folder, tmp_path / "stars"))
    out = tmp_path / "star.safetensors"
    with pytest.raises(Cancelled):
        train_lora(
            _settings(pictures, out, steps=2), should_cancel=iter([False, False, True]).__next__
        )
    # What a rerun would do, asked before any model is loaded (the Train dialog asks it).
    folder = work_dir(out)
    same = continuation(folder, _settings(pictures, out, steps=50, precision="bf16"))
    assert same.continues and same == Continuation(1)
    other = continuation(folder, _settings(pictures, out, rank=2, seed=3, flip=False))
    assert not other.continues and other.step == 1
    assert other.differences == ("rank was 4, now 2", "seed was 0, now 3", "flips were on, now off")
    write_caption(pictures / "2.png", "a star drawn badly")
    (pictures / "2.png").with_name("9.png").write_bytes((pictures / "0.png").read_bytes())
    assert continuation(folder, _settings(pictures, out)).differences == (
        "9.png added",
        "the caption of 2.png changed",
    )
    assert train_lora(_settings(pictures, out, steps=2)).resumed_from == 0
    assert continuation(folder, _settings(pictures, out)) == Continuation(0)  # finished: gone


def test_overpaint_train_cli(star_folder: Path, tmp_path: Path, capsys) -> None:
    from editor.app import main

    out = tmp_path / "cli" / "star.safetensors"
    args = ["train", "--images", str(star_folder), "--concept", "star", "--out", str(out)]
    args += ["--model", str(DEMO_MODEL_DIR), "--steps", "2", "--rank", "2", "--seed", "5"]
    # One prior picture, not the default 8: drawing them was most of this test's time.
    assert main([*args, "--no-flip", "--batch-size", "1", "--prior-images", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out) and "step 2/2" in captured.err
    meta = read_metadata(out)
    assert meta["ss_seed"] == "5" and meta["ss_num_reg_images"] == "1"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--images", str(empty), "--concept", "star"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "holds no pictures" in err[0]
    assert main(["train", "--concept", "star"]) == 2  # --images is required
