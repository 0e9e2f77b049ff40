"""What a warm live job leaves out (engine.local.warm, engine.local.engine): diffusers'
walks over every module to find the pipeline's device, and the step previews Live never
shows; with the same pixels as a Generate job with the tiny VAE would make."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers.hooks import group_offloading

from engine.local.engine import Engine
from engine.request import GenerationInputs
from tests.engine.test_live_unet import _live, _picture


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _run(engine: Engine, request, steps: list) -> np.ndarray:
    (result,) = engine.run(
        request, GenerationInputs(image=_picture()), lambda *a: steps.append(a[2])
    )
    return result.rgba


def test_a_warm_live_job_walks_no_modules_for_its_device(engine, monkeypatch):
    walks: list[int] = []
    walk = group_offloading._get_top_level_group_offload_hook
    monkeypatch.setattr(
        group_offloading,
        "_get_top_level_group_offload_hook",
        lambda module: walks.append(1) or walk(module),
    )
    first = _run(engine, _live("fp32", 5), [])
    (live,) = engine.warm._live_pipes.values()
    base = engine.pipeline_for("img2img")
    assert (live._execution_device, live.device, live.dtype) == (
        base._execution_device,
        base.device,
        base.dtype,
    )
    assert type(live).__name__ == type(base).__name__
    live.unet.wait_for_traces()  # the UNet's trace is made on a thread meanwhile
    walks.clear()
    again = _run(engine, _live("fp32", 5), [])
    assert walks == []  # diffusers looks for offload hooks module by module otherwise
    assert np.array_equal(first, again)
    _run(engine, _live("fp32", 5, live=False), [])  # Generate's pipeline: as diffusers has it
    assert walks


def test_live_jobs_report_their_steps_without_previews(engine):
    live_steps: list = []
    _run(engine, _live("fp32", 5), live_steps)
    assert len(live_steps) == 3 and all(p is None for p in live_steps)
    generate_steps: list = []
    _run(engine, _live("fp32", 5, live=False), generate_steps)
    assert generate_steps and all(p.shape == (128, 128, 3) for p in generate_steps)
