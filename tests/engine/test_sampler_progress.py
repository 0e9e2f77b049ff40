"""The progress counts the steps the user asked for, whatever the sampler evaluates:
PLMS evaluates its first step twice (20 steps are 21 UNet calls), second-order samplers
twice a step; the bar still reads 1..N of N and ends at N, on the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.core.errors import Cancelled
from engine.local.engine import Engine
from engine.metadata import read_request
from engine.request import GenerationInputs, GenerationRequest
from engine.schedulers import SCHEDULER_NAMES, step_progress

STEPS = 4


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


@pytest.fixture
def plms(tiny_model_dir: Path) -> GenerationRequest:
    return GenerationRequest(
        mode="txt2img",
        prompt="a red square on a blue background",
        model=str(tiny_model_dir),
        steps=STEPS,
        width=64,
        height=64,
        seed=7,
        scheduler="PLMS",
        watermark=False,
    )


def test_plms_reads_1_to_n_of_n_though_it_evaluates_once_more_and_reruns_identically(
    engine: Engine, plms: GenerationRequest
) -> None:
    engine.run(plms)  # loads the model, so that its UNet can be watched
    evaluations: list[int] = []
    unet = engine.pipeline_for("txt2img").unet
    hook = unet.register_forward_hook(lambda *_: evaluations.append(1))
    calls: list[tuple[int, int, object]] = []
    try:
        batch = engine.run(
            plms.replace(n_samples=2), on_progress=lambda s, t, p: calls.append((s, t, p))
        )
    finally:
        hook.remove()
    # The sampler really does run one warm-up evaluation per picture (CFG: one UNet
    # call per evaluation, the batch holds both halves).
    assert len(evaluations) == 2 * (STEPS + 1)
    assert [c[0] for c in calls] == list(range(1, 2 * STEPS + 1))
    assert {c[1] for c in calls} == {2 * STEPS}
    assert calls[-1][0] == calls[-1][1]  # ends at exactly 100 %
    for _s, _t, preview in calls:  # every reported step shows the picture forming
        assert isinstance(preview, np.ndarray) and preview.shape == (64, 64, 3)
    # What is recorded is what was asked for, and replaying it gives the same pixels.
    for result in batch:
        assert result.request.steps == STEPS and result.request.scheduler == "PLMS"
        assert f"Steps: {STEPS}, Sampler: PLMS" in result.parameters
    assert np.array_equal(engine.run(batch[1].request)[0].rgba, batch[1].rgba)
    assert np.array_equal(engine.run(plms.replace(seed=8))[0].rgba, batch[1].rgba)


def test_plms_img2img_counts_the_strengths_share_of_the_steps(
    engine: Engine, plms: GenerationRequest
) -> None:
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    picture[..., 3] = 255
    calls: list[tuple[int, int]] = []
    request = plms.replace(mode="img2img", steps=8, strength=0.5)
    engine.run(
        request, GenerationInputs(image=picture), on_progress=lambda s, t, p: calls.append((s, t))
    )
    # 4 of the 8 steps (the window says so); counting evaluations said 5.
    assert calls == [(s, 4) for s in range(1, 5)]


def test_plms_cancel_after_the_first_reported_step(engine: Engine, plms: GenerationRequest) -> None:
    reference = engine.run(plms)[0].rgba
    steps: list[int] = []
    with pytest.raises(Cancelled):
        engine.run(
            plms.replace(steps=20),
            on_progress=lambda s, t, p: steps.append(s),
            should_cancel=lambda: len(steps) >= 1,
        )
    assert steps == [1]
    assert np.array_equal(engine.run(plms)[0].rgba, reference)


@pytest.mark.parametrize("sampler", SCHEDULER_NAMES)
def test_every_sampler_reports_each_step_once(
    engine: Engine, plms: GenerationRequest, sampler: str
) -> None:
    calls: list[tuple[int, int]] = []
    engine.run(
        plms.replace(scheduler=sampler, steps=3), on_progress=lambda s, t, p: calls.append((s, t))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_cli_plms_prints_the_steps_asked_for_and_reruns_identically(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plms.png"
    args = ["txt2img", "--prompt", "a red square", "--model", str(tiny_model_dir),
            "--steps", "3", "--scheduler", "PLMS", "--width", "64", "--height", "64",
            "--seed", "5", "--no-watermark", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("step ")]
    assert lines == ["step 1/3", "step 2/3", "step 3/3"]
    assert (read_request(out).steps, read_request(out).scheduler) == (3, "PLMS")
    again = tmp_path / "again.png"
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    with Image.open(out) as first, Image.open(again) as second:
        assert np.array_equal(np.asarray(first), np.asarray(second))


@pytest.mark.parametrize("kind", ["HeunDiscreteScheduler", "KDPM2DiscreteScheduler"])
def test_second_order_samplers_would_count_steps_not_evaluations(
    tiny_model_dir: Path, kind: str
) -> None:
    """Not offered (engine.schedulers.SCHEDULERS has none): should one be added, the
    rule already counts its two evaluations a step as one."""
    import diffusers

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(
        tiny_model_dir, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = getattr(diffusers, kind).from_config(pipe.scheduler.config)
    seen: list[tuple[int, int]] = []

    def on_step_end(p, step: int, _t, kwargs: dict) -> dict:
        seen.append(step_progress(p.scheduler, step, p.num_timesteps))
        return kwargs

    pipe("a red square", num_inference_steps=STEPS, height=64, width=64, output_type="np",
         callback_on_step_end=on_step_end)  # fmt: skip
    assert len(seen) == 2 * STEPS - 1  # two evaluations a step, one for the last
    assert sorted({done for done, _ in seen} - {0}) == list(range(1, STEPS + 1))
    assert {total for _, total in seen} == {STEPS} and seen[-1] == (STEPS, STEPS)
