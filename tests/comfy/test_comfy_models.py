"""A LoRA and a ControlNet on a real ComfyUI server, proven by pixels: each changes the
picture, repeats bit-identically, and is named in the metadata. Both files are made for
the test checkpoint (tests/comfy/extras.py) and put in the server's own model folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.comfy.engine import ComfyEngine
from engine.comfy.server import ComfyServer
from engine.control.spec import ControlSpec
from engine.core.errors import ModelError
from engine.request import GenerationInputs, GenerationRequest
from tests.comfy.extras import write_test_controlnet, write_test_lora
from tests.comfy.servers import CHECKPOINT, ComfyProcess

pytestmark = pytest.mark.timeout(900)
LORA = "overpaint-test-lora"
CONTROLNET = "overpaint-test-scribble.safetensors"


def _request(**changes: object) -> GenerationRequest:
    fields = {"prompt": "a red house", "negative_prompt": "blurry", "seed": 31, "steps": 2,
              "scheduler": "Euler", "width": 64, "height": 64, "model": CHECKPOINT}  # fmt: skip
    return GenerationRequest("txt2img", **{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(comfy_servers: list[ComfyProcess], comfy_checkpoint: Path) -> ComfyProcess:
    first = comfy_servers[0]
    models = first.base / "models"
    write_test_lora(comfy_checkpoint, models / "loras" / f"{LORA}.safetensors")
    write_test_controlnet(comfy_checkpoint, models / "controlnet" / CONTROLNET)
    return first


def test_a_lora_on_the_server_changes_the_pixels_and_repeats(server: ComfyProcess) -> None:
    info = ComfyServer(server.url).check()
    assert f"{LORA}.safetensors" in info.loras  # listed without restarting the server
    engine = ComfyEngine([server.url])
    with_lora = engine.run(_request(loras=((LORA, 1.0),)))[0]
    # The plain run between also clears ComfyUI's cache, so the repeat samples again.
    plain = engine.run(_request())[0]
    again = engine.run(_request(prompt=f"a red house <lora:{LORA}:1>"))[0]
    diff = np.abs(plain.rgba.astype(int) - with_lora.rgba).mean()
    assert diff > 2, f"the LoRA hardly changed the picture ({diff:.2f})"
    np.testing.assert_array_equal(with_lora.rgba, again.rgba)  # the prompt tag is the same
    assert f"<lora:{LORA}:1>" in with_lora.parameters
    assert (
        with_lora.parameters.split("Workflow hash: ")[1]
        == again.parameters.split("Workflow hash: ")[1]
    )
    with pytest.raises(ModelError, match="has no LoRA named 'missing-lora'"):
        engine.run(_request(loras=(("missing-lora", 1.0),)))


def test_a_controlnet_on_the_server_steers_the_picture_and_repeats(server: ComfyProcess) -> None:
    assert CONTROLNET in ComfyServer(server.url).check().controlnets
    scribble = np.zeros((64, 64, 3), np.uint8)
    scribble[20:44, 30:34] = 255
    scribble[30:34, 12:52] = 255
    spec = ControlSpec("scribble", prepared=True)
    inputs = GenerationInputs(controls=(scribble,))
    engine = ComfyEngine([server.url])
    steered = engine.run(_request(controls=(spec,)), inputs)[0]
    # Another control image in between: it must steer elsewhere (so the control acts,
    # through its image), and it clears ComfyUI's cache, so the repeat samples again.
    other = engine.run(_request(controls=(spec,)), GenerationInputs(controls=(255 - scribble,)))[0]
    again = engine.run(_request(controls=(spec,)), inputs)[0]
    diff = np.abs(other.rgba.astype(int) - steered.rgba).mean()
    assert diff > 2, f"the control image hardly changed the picture ({diff:.2f})"
    np.testing.assert_array_equal(steered.rgba, again.rgba)
    # Recorded with the server file it ran with, not the empty "installed one" name.
    assert steered.request.controls[0].model == CONTROLNET
    assert f'ControlNet 0: "Module: none, Model: {CONTROLNET},' in steered.parameters
