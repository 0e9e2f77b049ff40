"""SD 3.5 on a real ComfyUI server, proven by pixels: its split files (diffusion model,
text encoder, VAE) and the one checkpoint holding them, txt2img, img2img and soft
inpainting through the transformer families' graphs (engine/comfy/modern_workflow.py);
the server's list by family in the window and the CLI; and the Edit models' jobs up to
the server (their graphs and uploaded pictures; their files cannot run here).

SD 3.5 is the one transformer family the vendored ComfyUI 0.3.64 loads from a tiny test
file (tests/comfy/sd3_files.py says why the others cannot be); the graphs of the others
are checked against its node definitions in tests/engine/test_comfy_families.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from engine.cli.commands import main
from engine.comfy.engine import ComfyEngine, _Job
from engine.comfy.modern_workflow import ModernPlan, build_modern_workflow
from engine.comfy.server import ComfyServer
from engine.comfy.server_models import find_model, pick_parts, server_models
from engine.core.errors import InvalidRequestError, ModelError
from engine.jobs import image_composite, prepare_job
from engine.metadata import read_parameters
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationInputs, GenerationRequest
from tests.comfy import sd3_files
from tests.comfy.node_schema import graph_problems, load_schema
from tests.comfy.servers import (
    CHECKPOINT,
    ComfyProcess,
    check_soft_inpaint,
    files_linked,
    window_settings,
)

pytestmark = pytest.mark.timeout(900)
NATIVE = 128  # generation side: small, the servers run on a shared CPU
SPLIT, WHOLE = sd3_files.DIFFUSION_MODEL, sd3_files.CHECKPOINT
Z_IMAGE = "z_image_turbo-test.safetensors"


@pytest.fixture(scope="module")
def server(
    comfy_servers: list[ComfyProcess], comfy_cache: Path, comfy_checkpoint: Path
) -> Iterator[ComfyProcess]:
    """The first test server with the SD 3.5 files in its model folders (built once per
    machine in the cache, linked in; ComfyUI lists new files without a restart), taken
    out again afterwards: the other modules' servers offer the SD 1.5 checkpoint alone."""
    files = sd3_files.write_sd3_files(comfy_cache, comfy_checkpoint)
    first = comfy_servers[0]
    links = {f"{folder}/{name}": files / folder / name
             for folder, name in (("diffusion_models", SPLIT), ("text_encoders", sd3_files.CLIP_L),
                                  ("vae", sd3_files.VAE), ("checkpoints", WHOLE))}  # fmt: skip
    # A Z-Image file (its contents never read: the job is refused before it is queued).
    links[f"diffusion_models/{Z_IMAGE}"] = files / "diffusion_models" / SPLIT
    with files_linked(first.base / "models", links):
        yield first


def _request(mode: str = "txt2img", **changes: object) -> GenerationRequest:
    fields = {"prompt": "a red house", "negative_prompt": "blurry", "seed": 5, "steps": 2,
              "guidance": 4.0, "scheduler": "Euler", "width": 64, "height": 64,
              "model": SPLIT}  # fmt: skip
    return GenerationRequest(mode, **{**fields, **changes})  # type: ignore[arg-type]


def _picture(w: int = 160, h: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=-1).astype(np.uint8)
    return np.dstack([rgb, np.full((h, w), 255, np.uint8)])


def test_the_server_lists_its_sd3_files_under_their_family(server: ComfyProcess) -> None:
    info = ComfyServer(server.url).check()
    assert SPLIT in info.diffusion_models and WHOLE in info.checkpoints
    assert sd3_files.CLIP_L in info.text_encoders and sd3_files.VAE in info.vaes
    listed = [(m.label, m.name, m.loader) for m in server_models(info.checkpoints,
                                                                  info.diffusion_models)]  # fmt: skip
    assert ("SD 3.5", WHOLE, "checkpoint") in listed
    assert ("SD 3.5", SPLIT, "diffusion_model") in listed
    assert ("Z-Image", Z_IMAGE, "diffusion_model") in listed


def test_the_window_lists_the_servers_models_under_a_header_per_family(
    qtbot, tmp_path: Path, server: ComfyProcess, open_window
) -> None:
    win = open_window(window_settings(tmp_path, [server.url]))
    win.refresh_models()
    qtbot.waitUntil(lambda: len(win.servers.model_groups()) >= 3, timeout=60_000)
    assert win.servers.model_groups() == [
        ("SD 1.x / 2.x", [CHECKPOINT]),
        ("SD 3.5", [WHOLE, SPLIT]),
        ("Z-Image", [Z_IMAGE]),
    ]
    panel = win.generation_panel
    assert panel.model() == CHECKPOINT  # a model is chosen, never a header
    combo = panel.model_combo
    headers = [i for i in range(combo.count()) if combo.itemData(i) is None]
    assert [combo.itemText(i) for i in headers] == ["SD 1.x / 2.x", "SD 3.5", "Z-Image"]
    assert not any(combo.model().item(i).isEnabled() for i in headers)
    panel.set_model(SPLIT)
    assert panel.model() == SPLIT and panel.settings().model == SPLIT


def test_split_files_and_their_checkpoint_paint_the_same_picture(server: ComfyProcess) -> None:
    engine = ComfyEngine([server.url])
    [split] = engine.run(_request())
    [whole] = engine.run(_request(model=WHOLE))
    assert split.rgba.shape == (64, 64, 4) and (split.rgba[..., 3] == 255).all()
    assert split.rgba[..., :3].std() > 1.0, "a flat image: the model did not run"
    # The same tensors, loaded by UNETLoader + CLIPLoader + VAELoader or by one loader.
    np.testing.assert_array_equal(split.rgba, whole.rgba)
    assert f"Model: {SPLIT}" in split.parameters and f"Model: {WHOLE}" in whole.parameters
    assert "Server: ComfyUI 0.3.64" in split.parameters
    # What the engine ran is the graph the builder makes, posted as it is.
    info = ComfyServer(server.url).check()
    model = find_model(SPLIT, info.checkpoints, info.diffusion_models, server.url)
    parts = pick_parts(model, info.text_encoders, info.vaes, server.url)
    assert parts.text_encoders == (sd3_files.CLIP_L,) and parts.clip_type == "sd3"
    plan = ModernPlan(model, parts, 64, 64, "euler", "normal")
    direct = ComfyServer(server.url).run(build_modern_workflow(_request(), plan))
    np.testing.assert_array_equal(split.rgba[..., :3], direct)


def test_the_prompt_seed_and_shift_steer_the_picture_and_a_request_repeats(
    server: ComfyProcess,
) -> None:
    engine = ComfyEngine([server.url])
    first = engine.run(_request(seed=8))[0].rgba
    other_prompt = engine.run(_request(seed=8, prompt="a green boat at night"))[0].rgba
    other_seed = engine.run(_request(seed=9))[0].rgba
    other_shift = engine.run(_request(seed=8, shift=6.0))[0].rgba  # the family's is 3
    again = engine.run(_request(seed=8))[0].rgba
    # In 2 steps a shift moves only the middle sigma, so it changes less (0.7 measured).
    for what, other, least in (("prompt", other_prompt, 1.0), ("seed", other_seed, 1.0),
                               ("shift", other_shift, 0.3)):  # fmt: skip
        diff = np.abs(other.astype(int) - first).mean()
        assert diff > least, f"another {what} hardly changed the picture ({diff:.2f})"
    np.testing.assert_array_equal(first, again)


def test_img2img_and_soft_inpaint_keep_every_pixel_outside_bit_identical(
    server: ComfyProcess,
) -> None:
    picture = _picture()
    engine = ComfyEngine([server.url], native=NATIVE)
    params = {"prompt": "a red house", "steps": 4, "seed": 3, "guidance": 4.0,
              "scheduler": "Euler", "model": SPLIT}  # fmt: skip
    job = prepare_job({**params, "mode": "img2img", "strength": 0.7}, 160, 128,
                      image_composite(picture), native=NATIVE)  # fmt: skip
    [repainted] = engine.run(job.request, job.inputs)
    assert repainted.rgba.shape[:2] == (128, 160)
    assert np.abs(repainted.rgba[..., :3].astype(int) - picture[..., :3]).mean() > 5

    yy, xx = np.mgrid[0:128, 0:160]
    mask = np.where((xx - 80) ** 2 + (yy - 64) ** 2 < 28**2, 255, 0).astype(np.uint8)
    job = prepare_job({**params, "mode": "inpaint", "strength": 1.0, "soft_edges": True},
                      160, 128, image_composite(picture), mask=mask, native=NATIVE)  # fmt: skip
    [result] = engine.run(job.request, job.inputs)
    check_soft_inpaint(picture, mask, result, 8000)


def test_what_the_server_cannot_run_is_one_sentence_before_any_work(
    server: ComfyProcess,
) -> None:
    engine = ComfyEngine([server.url])
    prompts_before = server.log.read_text(errors="replace").count("got prompt")
    with pytest.raises(ModelError, match=r"^Z-Image models do not run on ComfyUI servers"):
        engine.run(_request(model="z_image_turbo-test"))
    edit = _request("edit", prompt="make it night")
    with pytest.raises(InvalidRequestError, match=r"cannot edit by instruction; pick a FLUX\.1 "
                       r"Kontext or Qwen-Image-Edit model for Edit\.$"):  # fmt: skip
        engine.run(edit, GenerationInputs(image=_picture(64, 64)))
    assert server.log.read_text(errors="replace").count("got prompt") == prompts_before


def test_the_cli_lists_the_servers_models_by_family_and_paints_with_a_diffusion_model(
    server: ComfyProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url
    assert main(["models", "--server", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{CHECKPOINT}\tsd1\tcheckpoint\t{url}" in lines
    assert lines.index(f"{WHOLE}\tsd3\tcheckpoint\t{url}") + 1 == lines.index(
        f"{SPLIT}\tsd3\tdiffusion model\t{url}"
    )
    out = tmp_path / "house.png"
    code = main(["txt2img", "--prompt", "a red house", "--server", url, "--model", SPLIT,
                 "--steps", "2", "--width", "64", "--height", "64", "--seed", "4",
                 "--out", str(out), "--no-history"])  # fmt: skip
    assert code == 0 and out.is_file()
    assert f"Model: {SPLIT}" in (read_parameters(out) or "")


# Edit models' files by name only: their graphs are built and their pictures uploaded, but
# never run (the contents are the SD 3.5 test files; ComfyUI would build a full-size
# FLUX or Qwen encoder from them).
EDITORS = {
    "flux1-kontext-dev-test.safetensors": ("t5xxl-test.safetensors", "ae-test.safetensors"),
    "qwen_image_edit_2509-test.safetensors": (
        "qwen_2.5_vl-test.safetensors", "qwen_image_vae-test.safetensors",
    ),
}  # fmt: skip


@pytest.mark.parametrize("model", list(EDITORS))
def test_an_edit_uploads_its_picture_and_references_for_the_edit_graph(
    server: ComfyProcess, model: str
) -> None:
    encoder, vae = EDITORS[model]
    target = server.base / "models" / "diffusion_models" / SPLIT
    links = {f"diffusion_models/{model}": target, f"text_encoders/{encoder}": target,
             f"vae/{vae}": target}  # fmt: skip
    picture = _picture(160, 128)
    yy, xx = np.mgrid[0:48, 0:96]
    reference = np.stack([xx * 2, yy * 5, 255 - xx * 2], axis=-1).astype(np.uint8)
    request = _request("edit", model=model, prompt="make it night", references=(ReferenceSpec(),))
    inputs = GenerationInputs(image=picture, references=(reference,))
    with files_linked(server.base / "models", links):
        servers = ComfyEngine([server.url], native=NATIVE).pool.live()
        job = _Job(request, inputs, servers, None, lambda: False, (), NATIVE)
        graph = job.graph_for(*servers[0], job.job.sample_request(0))
    assert graph_problems(graph, load_schema()) == []
    assert graph["unet"]["inputs"]["unet_name"] == model
    width, height = job.gen
    assert graph["latent"]["inputs"] == {"width": width, "height": height, "batch_size": 1}
    uploaded = {node: _fetched(server, graph[node]["inputs"]["image"]) for node in
                ("image", "reference0")}  # fmt: skip
    # The picture at the generation size; the reference scaled to about its area, its
    # aspect (2:1) kept as its sides are rounded to multiples of 16.
    np.testing.assert_array_equal(uploaded["image"], job.job.init_image())
    h, w = uploaded["reference0"].shape[:2]
    assert w % 16 == 0 and h % 16 == 0 and abs(h - w / 2) <= 16
    assert 0.7 < (w * h) / (width * height) < 1.4
    if "kontext" in model:
        encoded = [_linked_pixels(graph, f"reference_latent{i}") for i in range(2)]
        assert encoded == ["image", "reference0"]
    else:
        inputs_ = graph["positive"]["inputs"]
        assert graph["positive"]["class_type"] == "TextEncodeQwenImageEditPlus"
        assert (inputs_["image1"][0], inputs_["image2"][0]) == ("image", "reference0")


def _linked_pixels(graph: dict, node: str) -> str:
    return graph[node]["inputs"]["pixels"][0]


def _fetched(server: ComfyProcess, name: str) -> np.ndarray:
    """A picture from the server's input folder, as it holds it."""
    response = requests.get(f"{server.url}/view", params={"filename": name, "type": "input"},
                            timeout=30)  # fmt: skip
    assert response.status_code == 200, f"{name} is not on the server"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
