"""Reference layers outside Edit on ComfyUI servers: IP-Adapter is not a core node, so a
job with them is refused in one sentence before anything is uploaded (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.comfy.engine import _Job
from engine.comfy.server import ComfyServer, ServerInfo
from engine.core.errors import InvalidRequestError
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationInputs, GenerationRequest

PICTURE = np.full((32, 32, 4), 200, np.uint8)


def _info(checkpoints: tuple[str, ...] = (), diffusion_models: tuple[str, ...] = ()) -> ServerInfo:
    return ServerInfo(
        "http://127.0.0.1:9", "0.3.64", "cpu", frozenset(), checkpoints, (), (), ("euler",),
        ("normal",), diffusion_models=diffusion_models,
    )  # fmt: skip


def _job(model: str, info: ServerInfo) -> None:
    request = GenerationRequest(
        "txt2img", prompt="a park", steps=2, width=64, height=64, model=model,
        references=(ReferenceSpec("style"),),
    )  # fmt: skip
    inputs = GenerationInputs(references=(PICTURE,), reference_masks=(None,))
    server = ComfyServer(info.url)
    _Job(request, inputs, [(server, info)], None, lambda: False, ())


def test_sd_reference_layers_are_refused_in_one_sentence() -> None:
    with pytest.raises(InvalidRequestError) as found:
        _job("sd15.safetensors", _info(checkpoints=("sd15.safetensors",)))
    assert str(found.value) == (
        "Reference layers need an IP-Adapter, which is not a core ComfyUI node, so they "
        "cannot run on ComfyUI servers; hide them or use the local engine."
    )


def test_flux_reference_layers_outside_edit_are_refused_in_one_sentence() -> None:
    info = _info(diffusion_models=("flux1-schnell.safetensors",))
    with pytest.raises(InvalidRequestError, match="^Reference layers steer FLUX models on"):
        _job("flux1-schnell.safetensors", info)
