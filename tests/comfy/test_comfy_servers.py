"""Generation through real ComfyUI servers, proven by pixels.

Two servers run for the whole module (session fixture); the test that kills one comes
last. Sizes and steps are tiny: the servers share 2 CPU cores with everything else.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.comfy.engine import ComfyEngine
from engine.comfy.server import ComfyServer
from engine.comfy.workflow import WorkflowPlan, build_workflow
from engine.core.errors import Cancelled
from engine.jobs import image_composite, prepare_job
from engine.request import GenerationRequest
from tests.comfy.servers import CHECKPOINT, ComfyProcess, check_soft_inpaint

NATIVE = 128  # generation side: small, the servers run on a shared CPU
# The first test also waits for the session fixture to start two servers.
pytestmark = pytest.mark.timeout(900)

PARAMS = {"prompt": "a red house", "negative_prompt": "blurry", "steps": 4, "seed": 11,
          "guidance": 6.0, "scheduler": "Euler", "model": CHECKPOINT}  # fmt: skip


def _picture(w: int = 192, h: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=-1).astype(np.uint8)
    return np.dstack([rgb, np.full((h, w), 255, np.uint8)])


def _disc(w: int = 192, h: int = 160, r: int = 30) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where((xx - w // 2) ** 2 + (yy - h // 2) ** 2 < r * r, 255, 0).astype(np.uint8)


def _txt2img(**changes: object) -> GenerationRequest:
    fields = {"prompt": PARAMS["prompt"], "negative_prompt": "blurry", "seed": 5, "steps": 2,
              "scheduler": "Euler", "width": 64, "height": 64, "model": CHECKPOINT}  # fmt: skip
    return GenerationRequest("txt2img", **{**fields, **changes})  # type: ignore[arg-type]


def _prompts_seen(server: ComfyProcess) -> int:
    return server.log.read_text(errors="replace").count("got prompt")


def test_txt2img_equals_the_same_workflow_posted_straight_to_the_server(
    comfy_servers: list[ComfyProcess],
) -> None:
    url = comfy_servers[0].url
    [result] = ComfyEngine([url]).run(_txt2img())
    assert result.rgba.shape == (64, 64, 4) and (result.rgba[..., 3] == 255).all()
    assert result.rgba[..., :3].std() > 1.0, "a flat image: the model did not run"
    assert "Server: ComfyUI 0.3.64" in result.parameters
    assert f"Model: {CHECKPOINT}" in result.parameters and "Workflow hash: " in result.parameters
    plan = WorkflowPlan(CHECKPOINT, 64, 64, "euler", "normal")
    direct = ComfyServer(url).run(build_workflow(_txt2img(), plan))
    np.testing.assert_array_equal(result.rgba[..., :3], direct)


def test_img2img_repaints_the_whole_region(comfy_servers: list[ComfyProcess]) -> None:
    picture = _picture()
    job = prepare_job({**PARAMS, "mode": "img2img", "strength": 0.6}, 192, 160,
                      image_composite(picture), native=NATIVE)  # fmt: skip
    [result] = ComfyEngine([comfy_servers[0].url], native=NATIVE).run(job.request, job.inputs)
    assert result.rgba.shape[:2] == (160, 192)
    assert (result.rgba[..., 3] == 255).all()
    changed = np.abs(result.rgba[..., :3].astype(int) - picture[..., :3]).mean()
    assert changed > 5, f"img2img left the picture almost as it was ({changed:.2f})"


def test_soft_inpaint_changes_the_mask_and_keeps_every_pixel_outside_bit_identical(
    comfy_servers: list[ComfyProcess],
) -> None:
    picture, mask = _picture(), _disc()
    job = prepare_job({**PARAMS, "mode": "inpaint", "strength": 1.0, "inpaint_mode": "add",
                       "soft_edges": True}, 192, 160, image_composite(picture),
                      mask=mask, native=NATIVE)  # fmt: skip
    assert job.request.soft_edges and job.request.mask_blur > 0
    [result] = ComfyEngine([comfy_servers[0].url], native=NATIVE).run(job.request, job.inputs)
    check_soft_inpaint(picture, mask, result, 10000)
    assert "Soft inpainting: on" in result.parameters


def test_the_same_request_repeats_bit_identically(comfy_servers: list[ComfyProcess]) -> None:
    engine = ComfyEngine([comfy_servers[0].url])
    previews: list[object] = []
    first = engine.run(_txt2img(seed=21), None, lambda _s, _t, p: previews.append(p))[0].rgba
    # The server's preview frames come through as pictures, as the local engine's do.
    pictures = [p for p in previews if isinstance(p, np.ndarray)]
    assert pictures and pictures[-1].ndim == 3 and pictures[-1].shape[2] == 3
    assert pictures[-1].dtype == np.uint8
    other = engine.run(_txt2img(seed=22))[0].rgba  # clears ComfyUI's cache of the sampler
    again = engine.run(_txt2img(seed=21))[0].rgba
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(first, again)


def test_cancel_stops_the_server_and_leaves_nothing_queued(
    comfy_servers: list[ComfyProcess],
) -> None:
    url = comfy_servers[0].url
    stop = threading.Event()
    steps: list[int] = []

    def on_progress(step: int, total: int, _preview: object) -> None:
        steps.append(step)
        stop.set()

    with pytest.raises(Cancelled):
        ComfyEngine([url]).run(_txt2img(steps=200, width=128, height=128), None,
                               on_progress, stop.is_set)  # fmt: skip
    assert steps and max(steps) < 200
    info = ComfyServer(url).check()
    assert info.queue == 0, "the cancelled prompt is still queued or running"
    # The server is free and answers the next job at once.
    [result] = ComfyEngine([url]).run(_txt2img())
    assert result.rgba.shape == (64, 64, 4)


def test_two_servers_share_four_samples_and_equal_a_one_server_run(
    comfy_servers: list[ComfyProcess],
) -> None:
    a, b = comfy_servers
    request = _txt2img(n_samples=4, seed=40)
    alone = ComfyEngine([a.url]).run(request)
    seen = (_prompts_seen(a), _prompts_seen(b))
    both = ComfyEngine([a.url, b.url]).run(request)
    assert _prompts_seen(a) > seen[0] and _prompts_seen(b) > seen[1], "one server did nothing"
    assert [r.seed for r in both] == [40, 41, 42, 43]
    for one, two in zip(alone, both, strict=True):
        np.testing.assert_array_equal(one.rgba, two.rgba)
        assert one.parameters == two.parameters


def test_a_server_killed_mid_job_leaves_its_samples_to_the_other(
    comfy_servers: list[ComfyProcess],
) -> None:
    a, b = comfy_servers
    request = _txt2img(n_samples=4, seed=60, steps=4)
    expected = ComfyEngine([a.url]).run(request)
    killed = threading.Event()

    def on_progress(step: int, total: int, _preview: object) -> None:
        if not killed.is_set() and _prompts_seen(b) > before:
            killed.set()
            b.kill()

    before = _prompts_seen(b)
    results = ComfyEngine([a.url, b.url]).run(request, None, on_progress)
    assert killed.is_set() and not b.alive
    for want, got in zip(expected, results, strict=True):
        np.testing.assert_array_equal(want.rgba, got.rgba)
