"""Upscale & refine (engine.upscale.run): sizes, the x4 upscaler in tiles, Lanczos without
one, refine in feathered tiles with the demo model, progress, cancel, memory per tile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.core.errors import Cancelled, InvalidRequestError, ModelError
from engine.local.engine import Engine
from engine.request import GenerationRequest
from engine.upscale.run import UpscaleJob, run_upscale, target_size
from engine.upscale.tiles import plan_tiles
from engine.upscale.upscalers import find_upscalers, resolve_upscaler
from tests.bench.upscale import bench_picture, edge_deviation, seam_ratio, shapes_picture

DEMO = "Overpaint demo (shapes)"


@pytest.fixture(scope="module")
def upscaler_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding a tiny random-weight x4 upscaler where the model manager
    puts them (upscalers/<name>)."""
    from tests.tiny_upscaler import build_tiny_upscaler_folder

    root = tmp_path_factory.mktemp("up-models")
    build_tiny_upscaler_folder(root / "upscalers" / "tiny-x4")
    return root


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _request(**changes: object) -> GenerationRequest:
    base = GenerationRequest(mode="img2img", prompt="", seed=4, steps=4, strength=0.5,
                             model=DEMO, scheduler="Euler a", watermark=False)  # fmt: skip
    return base.replace(**changes)


def test_target_sizes() -> None:
    assert target_size(300, 200, scale=2) == (600, 400)
    assert target_size(300, 200, scale=4) == (1200, 800)
    assert target_size(300, 200, out_width=450) == (450, 300)
    assert target_size(300, 200, out_height=100) == (150, 100)
    assert target_size(300, 200, out_width=640, out_height=480) == (640, 480)
    with pytest.raises(InvalidRequestError, match="either a scale or a size"):
        target_size(300, 200, scale=2, out_width=10)
    with pytest.raises(InvalidRequestError, match="between 1 and 16384"):
        target_size(3000, 2000, scale=8)
    with pytest.raises(InvalidRequestError, match="Give a scale"):
        target_size(300, 200)


def test_lanczos_when_no_upscaler_is_installed(engine: Engine, tmp_path: Path) -> None:
    picture = bench_picture(40)
    assert find_upscalers([tmp_path]) == []
    result = run_upscale(engine, picture, UpscaleJob(80, 60, _request()), extra_dirs=[tmp_path])
    expected = np.asarray(Image.fromarray(picture).resize((80, 60), Image.Resampling.LANCZOS))
    assert result.upscaler == "Lanczos" and result.tiles == 0
    assert np.array_equal(result.rgba[..., :3], expected)
    assert (result.rgba[..., 3] == 255).all()
    assert engine.info is None  # no model was loaded for a plain upscale
    assert "Upscaler: Lanczos" in result.parameters and "Size: 80x60" in result.parameters


def test_upscaler_is_found_and_a_wrong_folder_is_refused(upscaler_root: Path) -> None:
    (found,) = find_upscalers([upscaler_root])
    assert found.name == "tiny-x4"
    assert resolve_upscaler("auto", [upscaler_root]) == found
    assert resolve_upscaler("lanczos", [upscaler_root]) is None
    assert resolve_upscaler("tiny-x4", [upscaler_root]) == found
    with pytest.raises(ModelError, match="not a Stable Diffusion x4 upscaler folder"):
        resolve_upscaler(str(upscaler_root), [upscaler_root])


def test_x4_upscaler_runs_in_tiles_with_progress_and_keeps_alpha(
    engine: Engine, upscaler_root: Path
) -> None:
    picture = np.dstack([bench_picture(48)[:40], np.full((40, 48), 255, np.uint8)])
    picture[:8, :8, 3] = 0  # a transparent corner stays transparent
    job = UpscaleJob(96, 80, _request(steps=2), upscaler="auto", upscaler_tile=32)
    steps: list[tuple[int, int]] = []
    result = run_upscale(engine, picture, job, lambda d, t, _p: steps.append((d, t)),
                         extra_dirs=[upscaler_root])  # fmt: skip
    tiles = len(plan_tiles(48, 40, 32, 16))
    assert tiles == 4
    assert result.upscaler == "tiny-x4" and result.rgba.shape == (80, 96, 4)
    assert [d for d, _t in steps] == list(range(1, tiles * 2 + 1))
    assert {t for _d, t in steps} == {tiles * 2}
    assert result.rgba[:8, :8, 3].max() < 40 and (result.rgba[30:, 30:, 3] == 255).all()
    lanczos = np.asarray(Image.fromarray(picture).resize((96, 80), Image.Resampling.LANCZOS))
    assert np.abs(result.rgba[..., :3].astype(int) - lanczos[..., :3]).mean() > 1
    again = run_upscale(engine, picture, job, extra_dirs=[upscaler_root])
    assert np.array_equal(again.rgba, result.rgba)  # same seed, same pixels


def test_refine_in_feathered_tiles_without_seams(engine: Engine) -> None:
    picture = bench_picture(96)
    job = UpscaleJob(192, 192, _request(strength=0.5), refine=True, upscaler="lanczos")
    steps: list[tuple[int, int]] = []
    seen: list[tuple[int, ...]] = []
    run = engine.run

    def spy(request, inputs, *args):  # the model only ever sees one tile
        seen.append(inputs.image.shape)
        return run(request, inputs, *args)

    engine.run = spy
    try:
        result = run_upscale(engine, picture, job, lambda d, t, _p: steps.append((d, t)))
    finally:
        del engine.run
    plan = plan_tiles(192, 192, 128, 32)
    assert result.tiles == len(plan) == 4
    assert set(seen) == {(128, 128, 4)}
    assert steps[-1] == (8, 8) and [d for d, _t in steps] == sorted(d for d, _t in steps)
    plain = run_upscale(engine, picture, UpscaleJob(192, 192, _request(), upscaler="lanczos"))
    assert np.abs(result.rgba.astype(int) - plain.rgba).mean() > 1  # it did repaint
    assert seam_ratio(result.rgba, plan) <= 1.2
    assert "Denoising strength: 0.5" in result.parameters
    assert "Refine tiles: 4 of 128x128" in result.parameters


def test_refine_keeps_the_outlines_of_shapes_that_cross_tile_borders(engine: Engine) -> None:
    """Each tile used to redraw its piece of a big shape's outline a pixel or two off, its
    own way: a bump per tile along the edge."""
    picture = shapes_picture(96)
    lanczos = run_upscale(engine, picture, UpscaleJob(192, 192, _request(), upscaler="lanczos"))
    job = UpscaleJob(192, 192, _request(strength=0.3), refine=True, upscaler="lanczos")
    refined = run_upscale(engine, picture, job).rgba
    dev = edge_deviation(refined, lanczos.rgba)
    assert dev.size > 200  # the outlines were found, on both sides of every tile border
    assert np.percentile(dev, 95) <= 0.5 and dev.max() < 1.5
    # Away from the outlines the refine still repaints.
    changed = np.abs(refined[..., :3].astype(int) - lanczos.rgba[..., :3]).max(axis=2)
    assert (changed > 4).mean() > 0.02


def test_cancel_raises_and_returns_nothing(engine: Engine) -> None:
    calls: list[int] = []

    def progress(done: int, _total: int, _preview: object) -> None:
        calls.append(done)

    job = UpscaleJob(192, 192, _request(), refine=True, upscaler="lanczos")
    with pytest.raises(Cancelled):
        run_upscale(engine, bench_picture(96), job, progress, lambda: len(calls) >= 1)
    assert calls == [1]


def test_refine_settings_are_checked_before_any_work(engine: Engine) -> None:
    job = UpscaleJob(192, 192, _request(steps=1, strength=0.5), refine=True, upscaler="lanczos")
    with pytest.raises(InvalidRequestError, match="leave no denoising step"):
        run_upscale(engine, bench_picture(96), job)
