"""Engine.run on the tiny model: sizes, determinism, samples, progress, cancel, regions, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import (
    Cancelled,
    EngineError,
    InvalidRequestError,
    ModelError,
    OutOfMemoryError,
)
from engine.local.engine import Engine
from engine.region import apply_patch
from engine.request import Box, GenerationInputs, GenerationRequest

STEPS = 4


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine()
    yield eng
    eng.unload()


@pytest.fixture
def base(tiny_model_dir: Path) -> GenerationRequest:
    return GenerationRequest(
        mode="txt2img",
        prompt="a red square on a blue background",
        model=str(tiny_model_dir),
        steps=STEPS,
        width=128,
        height=96,
        seed=11,
        watermark=False,
    )


def _canvas(h: int = 160, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    img[..., 3] = 255
    return img


def test_txt2img_size_and_bit_identical_reruns(engine: Engine, base: GenerationRequest) -> None:
    first = engine.run(base)
    again = engine.run(base)
    other_seed = engine.run(base.replace(seed=12))
    assert len(first) == 1
    res = first[0]
    assert res.rgba.shape == (96, 128, 4) and res.rgba.dtype == np.uint8
    assert (res.rgba[..., 3] == 255).all()
    assert (res.x, res.y, res.seed) == (0, 0, 11)
    assert np.array_equal(res.rgba, again[0].rgba)
    assert not np.array_equal(res.rgba, other_seed[0].rgba)
    assert "Seed: 11" in res.parameters and "Size: 128x96" in res.parameters


def test_results_are_never_watermarked_by_the_engine(
    engine: Engine, base: GenerationRequest
) -> None:
    from engine.watermark import embed_watermark, read_watermark

    # 256² is large enough to carry the mark; the request asks for one.
    marked = base.replace(width=256, height=256, watermark=True)
    rgb = np.ascontiguousarray(engine.run(marked)[0].rgba[..., :3])
    # Whoever writes the whole picture embeds it (CLI, export); the patch stays as made.
    assert read_watermark(rgb) is None
    assert read_watermark(embed_watermark(rgb)) == "OVERPAINT"
    unmarked = engine.run(marked.replace(watermark=False))[0].rgba
    assert np.array_equal(unmarked[..., :3], rgb)


def test_sample_i_equals_single_run_with_seed_plus_i(
    engine: Engine, base: GenerationRequest
) -> None:
    batch = engine.run(base.replace(n_samples=2))
    assert [r.seed for r in batch] == [11, 12]
    assert [r.request.seed for r in batch] == [11, 12]
    assert all(r.request.n_samples == 1 for r in batch)
    single = engine.run(base.replace(seed=12))
    assert np.array_equal(batch[1].rgba, single[0].rgba)
    assert not np.array_equal(batch[0].rgba, batch[1].rgba)
    # Replaying a sample's recorded request reproduces it exactly.
    assert np.array_equal(engine.run(batch[0].request)[0].rgba, batch[0].rgba)


def test_progress_every_step_with_preview(engine: Engine, base: GenerationRequest) -> None:
    calls = []
    engine.run(base.replace(n_samples=2), on_progress=lambda s, t, p: calls.append((s, t, p)))
    assert [c[0] for c in calls] == list(range(1, 2 * STEPS + 1))
    assert {c[1] for c in calls} == {2 * STEPS}
    for _s, _t, preview in calls:
        assert preview.shape == (96, 128, 3) and preview.dtype == np.uint8
    # The preview follows the latents: it changes while denoising.
    assert not np.array_equal(calls[0][2], calls[-1][2])


def test_cancel_stops_within_a_step_and_engine_stays_usable(
    engine: Engine, base: GenerationRequest
) -> None:
    reference = engine.run(base)[0].rgba
    steps = []
    with pytest.raises(Cancelled):
        engine.run(
            base.replace(steps=20),
            on_progress=lambda s, t, p: steps.append(s),
            should_cancel=lambda: len(steps) >= 2,
        )
    assert steps == [1, 2]
    assert np.array_equal(engine.run(base)[0].rgba, reference)


def test_inpaint_region_leaves_pixels_outside_mask_bit_identical(
    engine: Engine, base: GenerationRequest
) -> None:
    canvas = _canvas()
    box = Box(40, 30, 120, 104)
    crop = canvas[box.y : box.bottom, box.x : box.right].copy()
    mask = np.zeros(crop.shape[:2], np.uint8)
    mask[30:70, 40:90] = 255
    req = base.replace(
        mode="inpaint", region=box, canvas_width=200, canvas_height=160, strength=0.9
    )
    (res,) = engine.run(req, GenerationInputs(image=crop, mask=mask))
    assert res.rgba.shape == (104, 120, 4)
    assert (res.x, res.y) == (40, 30)
    out = apply_patch(canvas, res.rgba, res.x, res.y)
    untouched = np.ones(canvas.shape[:2], bool)
    untouched[box.y : box.bottom, box.x : box.right] = res.rgba[..., 3] == 0
    assert untouched.sum() > canvas.shape[0] * canvas.shape[1] // 2
    assert np.array_equal(out[untouched], canvas[untouched])
    inside = out[box.y + 30 : box.y + 70, box.x + 40 : box.x + 90]
    assert (res.rgba[30:70, 40:90, 3] == 255).all()
    assert not np.array_equal(inside, crop[30:70, 40:90])
    assert "Denoising strength: 0.9" in res.parameters


def test_img2img_runs_strength_fraction_of_steps(engine: Engine, base: GenerationRequest) -> None:
    crop = _canvas(96, 128)
    totals = []
    req = base.replace(mode="img2img", steps=8, strength=0.5)
    (res,) = engine.run(
        req, GenerationInputs(image=crop), on_progress=lambda s, t, p: totals.append(t)
    )
    assert totals and set(totals) == {4}
    assert res.rgba.shape == (96, 128, 4) and (res.rgba[..., 3] == 255).all()


def test_outpaint_fills_transparent_area(engine: Engine, base: GenerationRequest) -> None:
    crop = _canvas(96, 128)
    crop[:, 80:, 3] = 0  # right part of the context lies beyond the painted canvas
    req = base.replace(mode="outpaint", strength=1.0, region=Box(0, 0, 128, 96))
    (res,) = engine.run(req, GenerationInputs(image=crop))
    assert (res.rgba[:, 80:, 3] == 255).all()
    assert (res.rgba[:, :60, 3] == 0).all()


def test_long_prompt_is_not_cut(engine: Engine, base: GenerationRequest) -> None:
    head = " ".join(f"word{i}" for i in range(80))
    short = engine.run(base.replace(prompt=head))[0].rgba
    longer = engine.run(base.replace(prompt=head + " and a big green circle at the end"))[0].rgba
    assert not np.array_equal(short, longer)


def test_fill_mode_needs_no_model(engine: Engine) -> None:
    crop = _canvas(64, 64)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    req = GenerationRequest(mode="fill", model="/nonexistent/model.safetensors", mask_blur=2)
    (res,) = engine.run(req, GenerationInputs(image=crop, mask=mask))
    out = apply_patch(crop, res.rgba, 0, 0)
    keep = res.rgba[..., 3] == 0
    assert keep.sum() > 0 and np.array_equal(out[keep], crop[keep])
    assert not np.array_equal(out[25:35, 25:35], crop[25:35, 25:35])


def test_fill_with_an_unknown_method_is_refused_up_front(engine: Engine) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    req = GenerationRequest(mode="fill", options=(("fill_method", "smudge"),))
    with pytest.raises(InvalidRequestError, match="Unknown fill method 'smudge'"):
        engine.run(req, GenerationInputs(image=_canvas(64, 64), mask=mask))


@pytest.mark.parametrize(
    ("changes", "inputs", "needle"),
    [
        (
            {"mode": "inpaint"},
            GenerationInputs(image=_canvas(64, 64), mask=np.zeros((32, 64), np.uint8)),
            "same size",
        ),
        (
            {"mode": "inpaint"},
            GenerationInputs(image=_canvas(64, 64), mask=np.zeros((64, 64), np.uint8)),
            "mask is empty",
        ),
        ({"mode": "img2img"}, GenerationInputs(), "needs an input image"),
        ({"scheduler": "Heun++"}, GenerationInputs(), "Unknown scheduler"),
        ({"steps": 0}, GenerationInputs(), "Steps"),
        ({"mode": "img2img", "strength": 0.0}, GenerationInputs(image=_canvas(64, 64)), "Strength"),
    ],
)
def test_invalid_requests_name_the_problem(
    engine: Engine, base: GenerationRequest, changes: dict, inputs: GenerationInputs, needle: str
) -> None:
    with pytest.raises(InvalidRequestError, match=needle):
        engine.run(base.replace(**changes), inputs)


def test_missing_model_is_a_model_error(
    engine: Engine, base: GenerationRequest, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        engine.run(base.replace(model=str(tmp_path / "nope.safetensors")))


def test_inpainting_model_refuses_txt2img_but_inpaints(
    tmp_path: Path, base: GenerationRequest
) -> None:
    from tests.tiny_model import build_tiny_sd_folder

    folder = build_tiny_sd_folder(tmp_path / "tiny-inpaint", inpainting_unet=True)
    eng = Engine()
    try:
        with pytest.raises(ModelError, match="inpainting model"):
            eng.run(base.replace(model=str(folder)))
        crop = _canvas(64, 64)
        mask = np.zeros((64, 64), np.uint8)
        mask[16:48, 16:48] = 255
        req = base.replace(model=str(folder), mode="inpaint", strength=1.0)
        (res,) = eng.run(req, GenerationInputs(image=crop, mask=mask))
        assert res.rgba.shape == (64, 64, 4)
        assert eng.info is not None and eng.info.family == "sd1-inpaint"
    finally:
        eng.unload()


def test_random_seed_is_recorded_and_replayable(engine: Engine, base: GenerationRequest) -> None:
    (res,) = engine.run(base.replace(seed=-1))
    assert res.seed >= 0 and res.request.seed == res.seed
    assert np.array_equal(engine.run(res.request)[0].rgba, res.rgba)


@pytest.mark.parametrize(
    ("error", "expected", "needle"),
    [
        (
            RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            OutOfMemoryError,
            "Out of memory",
        ),
        (
            ValueError("something odd\nwith details"),
            EngineError,
            r"Generation failed with an internal error \(ValueError\)",
        ),
    ],
)
def test_failures_mid_job_are_typed_and_engine_recovers(
    engine: Engine, base: GenerationRequest, error: Exception, expected: type, needle: str
) -> None:
    reference = engine.run(base)[0].rgba

    def fail_at_step_two(step: int, total: int, preview: object) -> None:
        if step == 2:
            raise error

    with pytest.raises(expected, match=needle) as info:
        engine.run(base, on_progress=fail_at_step_two)
    assert "\n" not in str(info.value)
    assert np.array_equal(engine.run(base)[0].rgba, reference)
