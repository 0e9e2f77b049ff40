"""Both engines check requests through engine.base: the same bad request gets the same one
sentence from each, before any model is loaded or any server is asked."""

from __future__ import annotations

import numpy as np
import pytest

from engine.base import EngineBase
from engine.comfy.engine import ComfyEngine
from engine.core.errors import InvalidRequestError
from engine.local.engine import Engine
from engine.request import GenerationInputs, GenerationRequest

# Nothing listens here: a request that reached the server would fail differently.
UNREACHABLE = "http://127.0.0.1:9"

BAD = [
    (GenerationRequest(mode="txt2img", steps=0), None, "Steps must be between 1 and 500"),
    (GenerationRequest(mode="txt2img", n_samples=99), None, "number of samples"),
    (GenerationRequest(mode="img2img", steps=2, strength=0.2), None, "leave no denoising"),
    (GenerationRequest(mode="txt2img", width=4), None, "Width and height"),
    (GenerationRequest(mode="fill"), None, "Fill needs an image and a mask"),
    (
        GenerationRequest(mode="fill"),
        GenerationInputs(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint8)),
        "The mask is empty",
    ),
]


@pytest.mark.parametrize(("request_", "inputs", "says"), BAD)
def test_both_engines_refuse_a_bad_request_with_the_same_sentence(
    request_: GenerationRequest, inputs: GenerationInputs | None, says: str
) -> None:
    messages = []
    engines: list[EngineBase] = [Engine(), ComfyEngine([UNREACHABLE])]
    for engine in engines:
        with pytest.raises(InvalidRequestError) as caught:
            engine.run(request_, inputs)
        messages.append(str(caught.value))
    assert says in messages[0]
    assert messages[0] == messages[1]


def test_both_engines_fill_alike_without_a_model() -> None:
    """Classical fill runs in the base, so a ComfyUI user's fill is the local one."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (48, 64, 4), dtype=np.uint8)
    image[..., 3] = 255
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 255
    request = GenerationRequest(mode="fill", seed=5)
    local = Engine().run(request, GenerationInputs(image, mask))
    comfy = ComfyEngine([UNREACHABLE]).run(request, GenerationInputs(image, mask))
    assert np.array_equal(local[0].rgba, comfy[0].rgba)
    assert local[0].parameters == comfy[0].parameters
    # The patch covers the hole and leaves the picture outside the feathered mask alone.
    alpha = local[0].rgba[..., 3]
    assert (alpha[15:25, 25:35] == 255).all() and (alpha[:4, :4] == 0).all()
